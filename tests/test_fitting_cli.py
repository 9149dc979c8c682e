"""`noether-search fit` command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from noether_search.cli import cli


def test_fit_json(tmp_path):
    res = CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "3", "--workers", "1",
                                   "--json", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(out) == {"system", "depth", "test", "candidates", "fitted", "failed",
                        "survivors", "laws", "seconds", "independent", "n_independent", "sums"}
    assert out["test"] == "calibrated"
    assert out["system"] == "spring" and out["depth"] == 3 and out["candidates"] > 0
    # depth 3 is too small for p**2 + c*q**2; the sum search finds it
    assert [law["search"] for law in out["laws"]] == ["sums"]
    law = out["laws"][0]
    assert law["evidence"]["test"] == "calibrated" and law["evidence"]["p_value"] <= 0.01
    for c in law["constants"]:   # each constant with its interval and unit
        assert set(c) == {"name", "value", "low", "high", "unit"}
        assert c["low"] <= c["value"] <= c["high"]
    assert out["n_independent"] == 1 and len(out["independent"]) == 1
    assert out["sums"]["front"] and out["sums"]["library"] <= out["sums"]["terms"]
    # a rerun resumes from the store and gives the same numbers
    again = CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "3", "--json",
                                     "--workers", "1", "--out", str(tmp_path / "s")])
    out2 = json.loads(again.stdout.strip().splitlines()[-1])
    assert {k: v for k, v in out2.items() if k != "seconds"} == \
        {k: v for k, v in out.items() if k != "seconds"}


def test_fit_search_option(tmp_path):
    def run(*extra):
        res = CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "3", "--workers",
                                       "1", "--json", "--out", str(tmp_path / "s"), *extra])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout.strip().splitlines()[-1])

    exhaustive = run("--search", "exhaustive")
    assert "sums" not in exhaustive and exhaustive["laws"] == []
    assert exhaustive["independent"] == [] and exhaustive["n_independent"] == 0
    sums = run("--search", "sums", "--term-size", "3", "--max-terms", "2")
    assert sums["candidates"] == 0 and [law["search"] for law in sums["laws"]] == ["sums"]
    assert max(p["n_terms"] for p in sums["sums"]["front"]) <= 2
    bad = CliRunner().invoke(cli, ["fit", "--system", "spring", "--search", "all",
                                   "--out", str(tmp_path / "s")])
    assert bad.exit_code == 2 and "--search" in bad.output


def test_fit_table(tmp_path):
    res = CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "3", "--workers", "1",
                                   "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "Conservation laws of spring" in res.output and "survivors" in res.output
    assert "independent law" in res.output and "sum search" in res.output


def test_scheduler_needs_dask(tmp_path):
    res = CliRunner().invoke(cli, ["fit", "--system", "spring", "--scheduler", "tcp://x:1",
                                   "--out", str(tmp_path / "s")])
    assert res.exit_code == 2
    assert "--scheduler needs --backend dask" in res.output
    assert "Traceback" not in res.output
