"""CLI: ``systems``, ``data export`` (round trip through the loader) and ``baseline``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hamiltonian_data import load
from noether_search.cli import cli


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)   # the baseline command sets one thread


def test_systems_table():
    result = CliRunner().invoke(cli, ["systems"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("pendulum", "spring", "real-pendulum", "kg*m**2/s", "3*cos(q)"):
        assert text in result.stdout


def test_systems_json():
    result = CliRunner().invoke(cli, ["systems", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["pendulum"]["variables"] == [{"name": "q", "unit": "rad"},
                                             {"name": "p", "unit": "kg*m**2/s"}]
    assert rows["spring"]["invariant"] == "q**2 + p**2"
    assert rows["pendulum"]["trajectories"]["count"] == 50
    assert rows["real-pendulum"]["invariant"] == "p**2 - 2.4*cos(q)"


@pytest.mark.parametrize("suffix,extra", [(".csv", []), (".h5", []),
                                          (".dat", ["--format", "h5"])])
def test_export_round_trip(tmp_path, suffix, extra):
    out = tmp_path / f"pend{suffix}"
    result = CliRunner().invoke(cli, ["data", "export", "--system", "pendulum", "-o", str(out),
                                      *extra])
    assert result.exit_code == 0, result.output
    if suffix == ".csv":
        assert out.read_text().splitlines()[0] == "trajectory,t [s],q [rad],p [kg*m**2/s]"
    back = load(data=out) if suffix != ".dat" else None
    if back is None:
        import h5py
        with h5py.File(out) as f:
            assert f.attrs["encoding-type"] == "noether-search-trajectories"
        return
    ds = load("pendulum")
    assert back.variables == ds.variables
    assert len(back.train) == len(back.test) == 25
    np.testing.assert_array_equal(back.x_train, ds.x_train)
    np.testing.assert_array_equal(back.x_test, ds.x_test)
    np.testing.assert_array_equal(back.train[3].t, ds.train[3].t)


def test_export_usage_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["data", "export", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "--system" in result.output
    result = runner.invoke(cli, ["data", "export", "--system", "real-pendulum", "--noise", "0.1",
                                 "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "measured data" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_baseline_bad_file_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("trajectory,t [s],q [rad]\n0,0,1\n0,0.1,oops\n0,0.2,1\n")
    result = CliRunner().invoke(cli, ["baseline", "--data", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "line 3, column 3" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_baseline_json_and_reuse(tmp_path):
    data = tmp_path / "spring.csv"
    runner = CliRunner()
    assert runner.invoke(cli, ["data", "export", "--system", "spring", "-o", str(data)]).exit_code == 0
    args = ["baseline", "--data", str(data), "--out", str(tmp_path / "run"), "--json",
            "--steps", "30"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert set(report) == {"system", "deriv_mse_train", "deriv_mse_test", "rollout_rmse",
                           "rollout_rmse_by_step", "horizon", "seconds", "reused"}
    assert report["system"] == "spring" and report["reused"] is False
    assert report["horizon"] == 29 and len(report["rollout_rmse_by_step"]) == 29
    second = json.loads(runner.invoke(cli, args).stdout)
    assert second["reused"] is True
    assert second["deriv_mse_test"] == report["deriv_mse_test"]
    assert second["rollout_rmse"] == report["rollout_rmse"]
    table = runner.invoke(cli, args[:-3] + ["--steps", "30", "--horizon", "5"])
    assert table.exit_code == 0, table.output
    assert "rollout RMSE (5 RK4 steps" in table.stdout and "reused" in table.stdout
    too_long = runner.invoke(cli, args + ["--horizon", "500"])
    assert too_long.exit_code == 2 and "choose horizon <= 29" in too_long.output


@pytest.mark.slow
def test_baseline_builtin_system(tmp_path):
    result = CliRunner().invoke(cli, ["baseline", "--system", "real-pendulum", "--json",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["horizon"] == 19 and report["deriv_mse_test"] < 4e-3
