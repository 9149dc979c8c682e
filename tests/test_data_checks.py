"""Data that float64 fitting cannot handle is refused with file, line and column (or argument,
trajectory and sample); odd separators and units get messages that say how to fix them."""

from pathlib import Path

import numpy as np
import pytest

import hamiltonian_data
from hamiltonian_data import DataError, Dataset
from hamiltonian_data.arrays import DataWarning

DATA = Path(__file__).parent / "data"
CSV = DATA / "spring_dimless_small.csv"


def _edit_cell(tmp_path, line: int, column: int, value: str, name="data.csv") -> Path:
    lines = CSV.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[column - 1] = value
    lines[line - 1] = ",".join(cells)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("value, match", [
    ("1e300", r"line 5, column 3 \('q'\): 1e\+300 is too large: its square overflows"),
    ("1e20", r"line 5, column 3 \('q'\): 1e\+20 is .* times the column's typical magnitude"),
])
def test_huge_cell_in_csv_names_line_and_column(tmp_path, value, match):
    path = _edit_cell(tmp_path, 5, 3, value)
    with pytest.raises(DataError, match=match):
        hamiltonian_data.load(data=path)


def test_huge_time_in_csv(tmp_path):
    path = _edit_cell(tmp_path, 240, 2, "1e200")
    with pytest.raises(DataError, match=r"line 240, column 2 \('t \[s\]'\): .*square overflows"):
        hamiltonian_data.load(data=path)


def test_huge_value_in_h5_names_key_row_and_column(tmp_path):
    ds = hamiltonian_data.load(data=CSV)
    path = hamiltonian_data.trajfile.write_h5(tmp_path / "d.h5", ds)
    import h5py

    with h5py.File(path, "r+") as f:
        f["x"][7, 1] = 1e300
    with pytest.raises(DataError, match=r"key 'x', row 7, column 1: 1e\+300 is too large"):
        hamiltonian_data.load(data=path)


def test_huge_value_in_arrays_names_argument_trajectory_and_sample():
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(20, 2)) for _ in range(3)]
    x[2][11, 0] = 1e300
    with pytest.raises(DataError, match=r"x\[2\], sample 11, column 0: 1e\+300 is too large"):
        Dataset.from_arrays(x, 0.1, ["q", "p"], ["", ""])
    x[2][11, 0] = 1e18
    with pytest.raises(DataError, match=r"x\[2\], sample 11, column 0: .*spanning more than"):
        Dataset.from_arrays(x, 0.1, ["q", "p"], ["", ""])


def test_fit_cli_reports_the_huge_cell_instead_of_failing(tmp_path):
    from click.testing import CliRunner

    from noether_search.cli import cli

    path = _edit_cell(tmp_path, 5, 3, "1e300")
    res = CliRunner().invoke(cli, ["fit", "--data", str(path), "--depth", "3", "--workers", "1",
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "line 5, column 3" in res.output and "overflows" in res.output
    assert not (tmp_path / "run").exists()


def test_semicolon_separated_file_is_told_its_separator(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(CSV.read_text().replace(",", ";"))
    with pytest.raises(DataError, match=r"line 1: the file separates cells with semicolons "
                                        r"\(';'\).*',' as the separator"):
        hamiltonian_data.load(data=path)


def test_tab_separated_file_is_told_its_separator(tmp_path):
    path = tmp_path / "tabs.csv"
    path.write_text(CSV.read_text().replace(",", "\t"))
    with pytest.raises(DataError, match="separates cells with tabs"):
        hamiltonian_data.load(data=path)


@pytest.mark.parametrize("unit", ["m**", "kg*", "1/", "(m"])
def test_malformed_unit_gets_a_message_not_an_assertion(tmp_path, unit):
    path = tmp_path / "u.csv"
    text = CSV.read_text().splitlines()
    text[0] = f"trajectory,t [s],q [{unit}],p"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"column 3 \('q'\): unit .*malformed: an operator "
                                        r"without a unit after it, or unbalanced parentheses") as e:
        hamiltonian_data.load(data=path)
    assert "AssertionError" not in str(e.value) and "TokenError" not in str(e.value)


def test_constant_column_warns_and_all_constant_is_refused():
    rng = np.random.default_rng(1)
    x = [np.stack([rng.normal(size=20), np.full(20, 3.0)], axis=1) for _ in range(2)]
    with pytest.warns(DataWarning, match=r"variable 'p' \(state column 1\) is constant"):
        Dataset.from_arrays(x, 0.1, ["q", "p"], ["", ""])
    with pytest.raises(DataError, match="every state variable is constant"):
        Dataset.from_arrays([np.ones((20, 2))] * 2, 0.1, ["q", "p"], ["", ""])


def test_constant_within_each_trajectory_is_not_warned():
    rng = np.random.default_rng(2)
    x = [np.stack([rng.normal(size=20), np.full(20, float(k))], axis=1) for k in range(2)]
    Dataset.from_arrays(x, 0.1, ["q", "E"], ["", ""])   # warnings are errors in tests
