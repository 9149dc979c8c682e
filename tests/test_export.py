"""`noether-search export`: one row per candidate, with or without fit results.

Stores are FIXTURES: a real enumeration plus, where fits are needed, a fit shard written in
the layout of ``noether_search/store/codecs.py`` with made-up scores (see tests/test_report.py).
"""

import csv
import io
import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from dslsearch.enumerate import enumerate_formulas
from noether_search.cli import cli
from noether_search.report import collect, write_csv, write_json
from noether_search.report.export import COLUMNS
from noether_search.store import ResultsStore
from noether_search.store.codecs import CANDIDATE_TABLE

PENDULUM = (("q", "rad"), ("p", "kg*m**2/s"))


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(enumeration-only store, store with a FIXTURE fit shard of the first 100 candidates)."""
    base = tmp_path_factory.mktemp("export")
    table = enumerate_formulas(PENDULUM, 5)
    out = []
    for name in ("enum_only", "fitted"):
        store = ResultsStore.open(base / name)
        store.save("candidates/d5", CANDIDATE_TABLE, table)
        out.append(base / name)
    store = ResultsStore.open(base / "fitted")
    exprs = list(table.expr_strings())
    n = 100
    params = np.full((n, 2), np.nan)
    for i in range(n):
        params[i, : table.formula(int(table.candidates[i])).n_params] = 1.5
    k = exprs.index("p*c0")
    params[k, 0] = -2.0
    status = np.zeros(n, np.int8)
    status[3] = 3
    message = ["fitted"] * n
    message[3] = "parameter fit did not converge"
    r_true = np.full(n, 0.5)
    r_true[k] = 1e-6
    with store.write("fits/d5-fixture0000/shard-00000", "fit-shard", 1) as f:
        f.create_dataset("candidate_index", data=np.arange(n, dtype=np.int64))
        f.create_dataset("node", data=table.candidates[:n].astype(np.int64))
        f.create_dataset("params", data=params)
        f.create_dataset("R_true", data=r_true)
        f.create_dataset("R_random", data=np.full(n, 0.9))
        f.create_dataset("status", data=status)
        f.create_dataset("message", data=np.array(message, dtype=object),
                         dtype=h5py.string_dtype())
    return out[0], out[1], exprs, k


def test_csv_one_row_per_candidate_without_fits(stores, tmp_path):
    enum_only, _, exprs, _ = stores
    res = run("export", enum_only, "--csv", tmp_path / "all_candidates.csv")
    assert res.exit_code == 0, res.output
    assert "960 candidates" in res.output and "fit stage has not run" in res.output
    rows = list(csv.DictReader((tmp_path / "all_candidates.csv").open()))
    assert len(rows) == 960 and tuple(rows[0]) == COLUMNS
    assert [r["formula"] for r in rows] == exprs
    assert {r["status"] for r in rows} == {"not fitted"}
    assert all(r["R_true"] == "" and r["R_random"] == "" and r["fitted_formula"] == ""
               for r in rows)
    row = next(r for r in rows if r["formula"] == "p - c0")  # c0 takes p's unit
    assert row["size"] == "3" and row["parameters"] == "c0=? [kg*m**(2)*s**(-1)]"
    assert row["unit"] == "kg*m**(2)*s**(-1)"


def test_csv_and_json_with_fits(stores, tmp_path):
    _, fitted, exprs, k = stores
    res = run("export", fitted, "--csv", tmp_path / "a.csv", "--json", tmp_path / "a.json")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert len(rows) == 960
    assert rows[k]["formula"] == "p*c0" and rows[k]["fitted_formula"] == "p*(-2)"
    assert rows[k]["parameters"] == "c0=-2 [kg**(-1)*m**(-2)*s]"  # makes p*c0 dimensionless
    assert rows[k]["status"] == "ok" and rows[k]["passed_filter"] == "true"
    assert float(rows[k]["R_true"]) == 1e-6 and float(rows[k]["R_random"]) == 0.9
    assert rows[3]["status"] == "not converged" and rows[3]["passed_filter"] == "false"
    assert rows[3]["message"] == "parameter fit did not converge"
    assert rows[100]["status"] == "not fitted" and rows[100]["R_true"] == ""
    obj = json.loads((tmp_path / "a.json").read_text())
    assert obj["format"] == "noether-search-candidates" and obj["depth"] == 5
    assert obj["variables"] == [{"name": "q", "unit": "rad"}, {"name": "p", "unit": "kg*m**2/s"}]
    assert len(obj["candidates"]) == 960 and obj["fits"] == "fits/d5-fixture0000"
    c = obj["candidates"][k]
    assert c["parameters"] == [{"name": "c0", "value": -2.0, "unit": "kg**(-1)*m**(-2)*s"}]
    assert obj["candidates"][100]["R_true"] is None


def test_library_writers_to_streams(stores):
    data = collect(stores[1])
    buf = io.StringIO()
    assert write_csv(data, buf) == 960 and buf.getvalue().count("\n") == 961
    buf = io.StringIO()
    assert write_json(data, buf) == 960 and json.loads(buf.getvalue())["depth"] == 5


def test_export_to_stdout(stores):
    res = run("export", stores[0], "--csv", "-")
    assert res.exit_code == 0 and res.stdout.splitlines()[0].startswith("index,formula")
    assert len(res.stdout.splitlines()) == 961


def test_export_errors(tmp_path, stores):
    res = run("export", tmp_path / "nope", "--csv", tmp_path / "x.csv")
    assert res.exit_code == 1 and "no such folder" in res.output
    res = run("export", stores[0])
    assert res.exit_code == 2 and "give --csv FILE and/or --json FILE" in res.output
    ResultsStore.open(tmp_path / "empty")
    res = run("export", tmp_path / "empty", "--csv", tmp_path / "x.csv")
    assert res.exit_code == 1 and "no enumeration in the store" in res.output
    res = run("export", stores[0], "--csv", tmp_path / "missing_dir" / "x.csv", "--depth", "7")
    assert res.exit_code == 1 and "no enumeration of depth 7" in res.output
    assert "Traceback" not in res.output
