"""Rich tables of the CLI fold long formulas and units instead of cutting them with "…"."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from noether_search.cli import cli

NARROW = {"COLUMNS": "60"}


def table_cells(output: str, which: int = 0) -> list[list[str]]:
    """Cells of table number ``which`` in ``output``, one list per row, whitespace removed.

    A row starts where the first column is non-empty; the folded lines of a cell are joined,
    so a formula split over several lines reads back whole.
    """
    rows: list[list[str]] = []
    for line in output.splitlines():
        if line.startswith("└"):
            if which == 0:
                break
            which -= 1
        if not line.startswith("│") or which:
            continue
        parts = [re.sub(r"\s+", "", p) for p in line.strip("│").split("│")]
        if parts[0] or not rows:
            rows.append(parts)
        else:
            rows[-1] = [a + b for a, b in zip(rows[-1], parts)]
    return rows


def no_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_table_cells_joins_folded_lines():
    out = "┏━┓\n│ 1 │ p**2 + │\n│   │ q**2/c │\n│ 2 │ x │\n└─┘\n│ 9 │ y │\n│   │ z │\n└─┘\n"
    assert table_cells(out) == [["1", "p**2+q**2/c"], ["2", "x"]]
    assert table_cells(out, 1) == [["9", "yz"]]


def test_systems_table_is_readable_in_a_narrow_terminal():
    res = CliRunner().invoke(cli, ["systems"], env=NARROW, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "…" not in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 60
    rows = {r[0]: r for r in table_cells(res.output)}
    assert rows["pendulum"][1] == no_space("q [rad], p [kg*m**2/s]")
    assert rows["pendulum"][2] == no_space("p**2 - 3*cos(q)")
    assert rows["real-pendulum"][1] == no_space("q [rad], p [rad/s]")
    assert rows["real-pendulum"][2] == no_space("p**2 - 2.4*cos(q) *")


def test_rank_tables_fold_formulas_with_units(monkeypatch, capsys, tmp_path):
    from noether_search.cli.rank import _print_tables

    pretty = "p**2 + c0*q**2  (c0 = -0.3333 s²/(kg²·m²))"
    law = {"formula": "p**2 - 0.33333*q**2", "pretty": pretty, "R_true": 1e-9,
           "R_random": 0.9, "screen_gain": 1e-3, "meta_train_loss": 2e-3,
           "train_rollout_rmse": 0.01}
    summary = {"system": "spring", "depth": 7, "top": [law], "best": law, "horizon": 58,
               "baseline_rmse": 0.2, "noether_rmse": 0.1, "oracle_rmse": 0.05,
               "oracle": {"formula": "q**2 + p**2"}, "stage_seconds": {"fit": 1.0},
               "candidates": 13386, "survivors": 14, "laws": 1, "seconds": 2.0}
    monkeypatch.setenv("COLUMNS", "60")
    _print_tables(summary, tmp_path)
    out = capsys.readouterr().out
    assert "…" not in out
    top = table_cells(out)
    assert top[0][1] == no_space(pretty + " ★")
    comparison = {r[0]: r for r in table_cells(out, 1)}
    assert comparison["Noether"][1] == no_space("p**2 - 0.3333*q**2")


@pytest.mark.slow
def test_fit_table_is_readable_in_a_narrow_terminal(tmp_path):
    res = CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "7", "--workers", "1",
                                   "--out", str(tmp_path / "s")], env=NARROW,
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "…" not in res.output
    rows = table_cells(res.output)
    law = rows[0][1] if rows else ""     # the formula, then each constant on a line
    assert law.startswith("p**2+q**2/c0**2c0=")
    # the constant, its interval and its unit: |c0| = 1 up to round-off (its last digits
    # and the interval's width depend on the machine's floating-point kernels)
    got = re.match(r"-?([0-9.e+-]+)±([0-9.e+-]+)s/kg", law.removeprefix("p**2+q**2/c0**2c0="))
    assert got is not None, law
    assert abs(float(got[1]) - 1) < 1e-9 and float(got[2]) < 1e-9
