"""`rank --seeds` in worker processes: the same numbers as in one process, resumable,
progress forwarded."""

import hamiltonian_data
import pytest
from noether_search.baseline import BaselineConfig
from noether_search.stages import RankConfig, rank
from noether_search.stages.rank import _check_config, seed_jobs
from noether_search.store import ResultsStore

CFG = RankConfig(depth=5, top=1, epochs=2, outer_lrs=(1e-3,), select="rollout", seeds=2)
BASE = BaselineConfig(steps=60)


@pytest.fixture(scope="module")
def spring(tmp_path_factory):
    """The ideal spring with dimensionless q and p (its invariant q² + p² has 5 nodes), few
    trajectories: a depth-5 run takes seconds."""
    ds = hamiltonian_data.load(system="spring")
    path = tmp_path_factory.mktemp("data") / "spring_dimless.csv"
    rows = ["trajectory,t [s],q,p"]
    for k, tr in enumerate(ds.train[:6] + ds.test[:4]):
        rows += [f"{k},{float(t)!r},{float(q)!r},{float(p)!r}" for t, (q, p) in zip(tr.t, tr.x)]
    path.write_text("\n".join(rows) + "\n")
    return hamiltonian_data.load(data=path)


def _numbers(summary: dict) -> dict:
    """The summary without wall times and the jobs setting."""
    out = {k: v for k, v in summary.items() if k not in ("stage_seconds", "config")}
    out["config"] = {k: v for k, v in summary["config"].items() if k != "jobs"}
    return out


@pytest.mark.slow  # about a minute on 2 busy cores (two runs of two seeds, worker start-up)
def test_parallel_seeds_give_the_sequential_numbers_and_rerun_reuses_them(spring, tmp_path):
    import torch

    threads = torch.get_num_threads()   # this process's: the in-process seed uses one
    seq = rank(spring, RankConfig(**{**CFG.__dict__, "jobs": 1}),
               ResultsStore.open(tmp_path / "seq"), baseline_config=BASE).to_json()
    assert torch.get_num_threads() == threads   # restored
    calls = []
    store = ResultsStore.open(tmp_path / "par")
    par = rank(spring, RankConfig(**{**CFG.__dict__, "jobs": 2}), store,
               lambda stage, done, total: calls.append(stage), baseline_config=BASE).to_json()
    assert par["config"]["jobs"] == 2 and seq["config"]["jobs"] == 1
    assert [r["seed"] for r in par["per_seed"]] == [0, 1]
    assert len({r["noether_rmse"] for r in par["per_seed"]}) == 2  # the seeds differ
    assert _numbers(par) == _numbers(seq)
    assert set(par["stage_seconds"]) == set(seq["stage_seconds"])
    # progress of every seed reached the caller from the workers
    assert {"meta-tailor", "meta-tailor (seed 1)", "evaluate (seed 1)"} <= set(calls)
    # a rerun (here in one process) reuses every seed's stored runs: nothing is rewritten
    files = sorted((tmp_path / "par" / "rank").rglob("*.h5"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = rank(spring, RankConfig(**{**CFG.__dict__, "jobs": 1}), store,
                 baseline_config=BASE).to_json()
    assert _numbers(again) == _numbers(par)
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_jobs_default_and_bad_values():
    assert seed_jobs(RankConfig(seeds=1)) == 1
    assert seed_jobs(RankConfig(seeds=5, jobs=8)) == 5
    assert seed_jobs(RankConfig(seeds=5, jobs=1)) == 1
    assert 1 <= seed_jobs(RankConfig(seeds=5)) <= 5
    assert RankConfig(jobs=3).key("f", "b") == RankConfig().key("f", "b")
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="jobs"):
            _check_config(RankConfig(jobs=bad))  # what rank() calls first
