"""`fit --backend dask --scheduler ADDR` against real `dask scheduler` / `dask worker`
processes: identical results to joblib; no workers or an unreachable address fail fast with
a message naming --scheduler, before anything is written."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import hamiltonian_data
from dslsearch.fitting import FitConfig
from dslsearch.fitting.backends import SchedulerError, check_scheduler
from noether_search.cli import cli
from noether_search.stages import fit_laws

pytest.importorskip("distributed")

DATA = Path(__file__).parent / "data"
CSV = DATA / "spring_dimless_small.csv"
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", *args], stdout=fh, stderr=subprocess.STDOUT,
                            env=ENV, cwd=log.parent)
    fh.close()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def scheduler(tmp_path):
    """A real `dask scheduler` process; yields its address (read from its scheduler file)."""
    sfile = tmp_path / "scheduler.json"
    proc = _start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                   "--no-dashboard", "--scheduler-file", str(sfile)], tmp_path / "scheduler.log")
    deadline = time.monotonic() + 60
    while not sfile.is_file() or not sfile.read_text().strip():
        assert proc.poll() is None, (tmp_path / "scheduler.log").read_text()
        assert time.monotonic() < deadline, "the scheduler did not start"
        time.sleep(0.2)
    yield json.loads(sfile.read_text())["address"]
    _stop(proc)


def test_no_workers_fails_fast_naming_scheduler(scheduler):
    with pytest.raises(SchedulerError, match=rf"--scheduler {scheduler}: the scheduler has no "
                                             r"workers after 2 s.*dask worker"):
        check_scheduler(scheduler, worker_wait=2)


def test_unreachable_scheduler_fails_fast_naming_scheduler():
    addr = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(SchedulerError, match=rf"--scheduler {addr}: cannot connect to a dask "
                                             r"scheduler within 2 s.*check the address"):
        check_scheduler(addr, connect_timeout=2)


@pytest.mark.parametrize("command", ["fit", "rank"])
def test_cli_with_unreachable_scheduler_writes_nothing(tmp_path, command):
    addr = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, [command, "--data", str(CSV), "--depth", "3", "--backend",
                                   "dask", "--scheduler", addr, "--out", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"--scheduler {addr}" in res.output
    assert not out.exists()
    bad = CliRunner().invoke(cli, [command, "--data", str(CSV), "--scheduler", addr,
                                   "--out", str(out)])
    assert bad.exit_code == 2 and "--scheduler needs --backend dask" in bad.output


@pytest.mark.slow
def test_dask_cluster_gives_the_joblib_results(scheduler, tmp_path):
    worker = _start(["distributed.cli.dask_worker", scheduler, "--nworkers", "1",
                     "--nthreads", "1", "--no-dashboard"], tmp_path / "worker.log")
    try:
        assert check_scheduler(scheduler, worker_wait=60) == 1
        dataset = hamiltonian_data.load(data=CSV)
        ref = fit_laws(dataset, 4, FitConfig(workers=1))
        got = fit_laws(dataset, 4, FitConfig(workers=1, backend="dask", scheduler=scheduler))
    finally:
        _stop(worker)
    assert [str(law) for law in got.laws] == [str(law) for law in ref.laws]
    assert got.key == ref.key
    for name in ("status", "R_true", "R_random", "params"):
        np.testing.assert_array_equal(getattr(got.fits, name), getattr(ref.fits, name))
