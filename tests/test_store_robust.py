"""The store never lies: damaged artifacts are detected and recomputed, temp files of live
writers survive, concurrent processes share one store, a diverged baseline is not stored.

Real files and real processes throughout (no mocks).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import hamiltonian_data
from dslsearch.fitting import FitConfig
from noether_search.cli import cli
from noether_search.stages import fit_laws, laws_key, load_fits, shard_key
from noether_search.store import (DamagedArtifact, DamagedArtifactWarning, Integrity,
                                  ResultsStore)
from noether_search.store.codecs import FIT_LAWS, FIT_SHARD

DATA = Path(__file__).parent / "data"
CSV = DATA / "spring_dimless_small.csv"
ROOT = Path(__file__).resolve().parents[1]
DEPTH = 4


@pytest.fixture(scope="module")
def dataset():
    return hamiltonian_data.load(data=CSV)


@pytest.fixture(scope="module")
def clean(dataset):
    """A clean in-memory fit: what every repaired run must reproduce."""
    return fit_laws(dataset, DEPTH, FitConfig(workers=1))


def _fresh(tmp_path, dataset):
    store = ResultsStore.open(tmp_path / "run")
    result = fit_laws(dataset, DEPTH, FitConfig(workers=1), store=store)
    return store, result


def _same(a, b):
    assert [str(law) for law in a.laws] == [str(law) for law in b.laws]
    np.testing.assert_array_equal(a.fits.status, b.fits.status)
    np.testing.assert_array_equal(a.fits.R_true, b.fits.R_true)
    np.testing.assert_array_equal(a.fits.R_random, b.fits.R_random)


def _flip_dataset_bytes(path: Path, name: str) -> None:
    with h5py.File(path, "r") as f:
        offset = f[name].id.get_offset()
    assert offset is not None
    with open(path, "r+b") as fh:
        fh.seek(offset + 3)
        byte = fh.read(1)
        fh.seek(offset + 3)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)


# -- checksums -------------------------------------------------------------------------------
def test_new_artifacts_verify_and_old_ones_are_unverified(tmp_path, dataset):
    store, result = _fresh(tmp_path, dataset)
    assert set(store.check().values()) == {Integrity.OK}
    import shutil

    shutil.copytree(DATA / "store-v1", tmp_path / "v1")
    v1 = ResultsStore.open(tmp_path / "v1", create=False)
    assert set(v1.check().values()) == {Integrity.UNVERIFIED}


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_shard_is_reported_and_recomputed(tmp_path, dataset, clean, damage):
    store, _ = _fresh(tmp_path, dataset)
    key = shard_key(clean.key, 0)
    path = store.path(key)
    _truncate(path) if damage == "truncate" else _flip_dataset_bytes(path, "R_true")
    with pytest.raises(DamagedArtifact, match="shard-00000.*damaged.*rerun"):
        store.load(key, FIT_SHARD)
    assert store.integrity(key) is Integrity.DAMAGED
    reopened = ResultsStore.open(store.root)
    with pytest.warns(DamagedArtifactWarning, match="shard-00000"):
        again = fit_laws(dataset, DEPTH, FitConfig(workers=1), store=reopened)
    assert [d.key for d in reopened.damaged] == [key]
    assert again.shards_done == again.shards_total - 1
    assert reopened.integrity(key) is Integrity.OK
    _same(again, clean)
    _same(again, type(clean)(**{**clean.__dict__, "fits": load_fits(reopened, clean.key)}))


def test_truncated_laws_file_is_rewritten(tmp_path, dataset, clean):
    store, _ = _fresh(tmp_path, dataset)
    _truncate(store.path(laws_key(clean.key)))
    with pytest.warns(DamagedArtifactWarning, match="laws"):
        again = fit_laws(dataset, DEPTH, FitConfig(workers=1), store=store)
    _same(again, clean)
    records = store.load(laws_key(clean.key), FIT_LAWS)
    # the artifact holds the exhaustive search's laws (the sum search has its own)
    assert [r.expr for r in records] == [str(law) for law in clean.laws
                                         if law.search.startswith("exhaustive")]


def test_fit_cli_reports_and_recomputes_a_truncated_table(tmp_path, clean):
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["fit", "--data", str(CSV), "--depth", str(DEPTH), "--workers", "1", "--out",
            str(out), "--json"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    _truncate(out / "candidates" / f"d{DEPTH}.h5")
    _truncate(out / "fits" / clean.key / "shard-00000.h5")
    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert "Traceback" not in second.output
    assert "damaged" in second.stderr and "recomputed" in second.stderr
    assert json.loads(second.stdout)["laws"] == json.loads(first.stdout)["laws"]
    assert set(ResultsStore.open(out).check().values()) == {Integrity.OK}


def test_fit_cli_reports_an_unusable_artifact_without_traceback(tmp_path):
    out = tmp_path / "run"
    store = ResultsStore.open(out)
    with store.write(f"candidates/d{DEPTH}", "rank-screen"):  # wrong kind under the key
        pass
    res = CliRunner().invoke(cli, ["fit", "--data", str(CSV), "--depth", str(DEPTH),
                                    "--workers", "1", "--out", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "encoding-type" in res.output


# -- temp files and concurrent processes -----------------------------------------------------
_HOLD_TMP = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from noether_search.store._store import _atomic_target
    fd, tmp = _atomic_target(Path(sys.argv[1]) / "fits" / "x.h5")
    print(tmp, flush=True)
    time.sleep(120)
""")


def test_open_keeps_a_live_writers_temp_file_and_removes_a_dead_ones(tmp_path):
    store = ResultsStore.open(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, "-c", _HOLD_TMP, str(store.root)],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        tmp = Path(writer.stdout.readline().strip())
        assert tmp.is_file() and str(writer.pid) in tmp.name
        ResultsStore.open(store.root)              # e.g. a concurrent `export`
        assert tmp.is_file()
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    ResultsStore.open(store.root)
    assert not tmp.exists()


def test_foreign_old_temp_file_is_removed_only_when_stale(tmp_path):
    store = ResultsStore.open(tmp_path / "run")
    tmp = store.root / "x.h5.otherhost.123.abc.tmp"
    tmp.write_bytes(b"partial")
    ResultsStore.open(store.root)
    assert tmp.exists()
    os.utime(tmp, (0, 0))
    ResultsStore.open(store.root)
    assert not tmp.exists()


_READ_WRITE = textwrap.dedent("""
    import sys
    import numpy as np
    from noether_search.store import ResultsStore
    from noether_search.store.codecs import FIT_SHARD
    from dslsearch.fitting.rows import FitRows
    store = ResultsStore.open(sys.argv[1])
    role, n = sys.argv[2], int(sys.argv[3])
    for i in range(60):
        if role == "write":
            rows = FitRows(np.arange(n), np.arange(n), np.full((n, 2), float(i)),
                           np.full(n, float(i)), np.full(n, float(i)), np.zeros(n, np.int8),
                           [str(i)] * n)
            store.save("fits/k/shard-00000", FIT_SHARD, rows)
        elif store.exists("fits/k/shard-00000"):
            rows = store.load("fits/k/shard-00000", FIT_SHARD)   # raises if ever partial
            assert len(set(rows.R_true.tolist())) == 1, "mixed content"
    print("done", role)
""")


def test_two_processes_write_and_read_one_store(tmp_path):
    root = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _READ_WRITE, str(root), role, "20000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)
             for role in ("write", "write", "read")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    store = ResultsStore.open(root)
    assert store.check() == {"fits/k/shard-00000": Integrity.OK}
    assert not list(root.rglob("*.tmp"))


@pytest.mark.slow
def test_two_fit_commands_at_once_give_the_clean_result(tmp_path, clean):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from noether_search.cli import main; main()", "fit", "--data", str(CSV), "--depth",
           str(DEPTH), "--workers", "1", "--out", str(out), "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr
        outs.append(json.loads(stdout))
    assert outs[0]["laws"] == outs[1]["laws"]
    assert [law["formula"] for law in outs[0]["laws"]] == [str(law) for law in clean.laws]
    assert set(ResultsStore.open(out).check().values()) == {Integrity.OK}


# -- non-finite results are not stored -------------------------------------------------------
def test_diverged_baseline_is_not_stored_and_not_reused(tmp_path, dataset):
    from noether_search.baseline import BaselineConfig
    from noether_search.stages import TrainingDiverged, baseline_key, train_baseline

    store = ResultsStore.open(tmp_path / "run")
    config = BaselineConfig(hidden=8, steps=20, lr=1e30)
    with pytest.raises(TrainingDiverged, match="diverged.*nothing was stored.*learning rate"):
        train_baseline(dataset, config, store=store)
    assert not store.exists(baseline_key(dataset, config))
    ok = BaselineConfig(hidden=8, steps=20)
    first = train_baseline(dataset, ok, store=store)
    assert first.trained
    assert not train_baseline(dataset, ok, store=store).trained
    _truncate(store.path(first.key))                         # damaged: trained again
    with pytest.warns(DamagedArtifactWarning):
        assert train_baseline(dataset, ok, store=store).trained
