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
    assert set(out) == {"system", "depth", "candidates", "fitted", "failed", "survivors",
                        "laws", "seconds"}
    assert out["system"] == "spring" and out["depth"] == 3 and out["candidates"] > 0
    # a rerun resumes from the store and gives the same numbers
    again = CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "3", "--json",
                                     "--workers", "1", "--out", str(tmp_path / "s")])
    out2 = json.loads(again.stdout.strip().splitlines()[-1])
    assert {k: v for k, v in out2.items() if k != "seconds"} == \
        {k: v for k, v in out.items() if k != "seconds"}


def test_fit_table(tmp_path):
    res = CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "3", "--workers", "1",
                                   "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "Conservation laws of spring" in res.output and "survivors" in res.output


def test_scheduler_needs_dask(tmp_path):
    res = CliRunner().invoke(cli, ["fit", "--system", "spring", "--scheduler", "tcp://x:1",
                                   "--out", str(tmp_path / "s")])
    assert res.exit_code == 2
    assert "--scheduler needs --backend dask" in res.output
    assert "Traceback" not in res.output
