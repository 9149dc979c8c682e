"""Phase stamps of a fit run (dslsearch.fitting.timeline): off by default, written by every
process of a forked run when on; and the results of a run with them on are those without."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dslsearch.fitting import FitConfig, fit_table, timeline


def test_stamps_are_off_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(timeline, "_PATH", None)
    timeline.stamp("plan")
    assert not timeline.enabled() and list(tmp_path.iterdir()) == []


def test_phases_and_seconds_alone():
    stamps = [  # two threads of one process; the second works from 1 to 3 s
        (1, 1, "plan", 0.0, 0.0), (1, 2, "noise floor", 1.0, 0.0), (1, 1, "wait:x", 2.0, 1.5),
        (1, 2, "end", 3.0, 1.0), (1, 1, "merge", 4.0, 1.5), (1, 1, "end", 5.0, 2.5)]
    spans = timeline.phases(stamps)
    assert [s[2] for s in spans] == ["plan", "noise floor", "wait:x", "merge"]
    got = timeline.alone(spans)
    # plan 0-2 (alone 0-1), noise floor 1-3 (alone 2-3), merge 4-5 (alone)
    assert got["plan"] == pytest.approx((1.5, 2.0, 1.0, 0.75))
    assert got["noise floor"] == pytest.approx((1.0, 2.0, 1.0, 0.5))
    assert got["merge"] == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert got["wait:x"] == pytest.approx((0.0, 2.0, 0.0, 0.0))
    numbered = timeline.phases([(1, 1, "shard 12", 0.0, 0.0), (1, 1, "idle", 1.0, 0.5)])
    assert numbered[0][2] == "shard"
    assert timeline.phases([(1, 1, "shard 12", 0.0, 0.0), (1, 1, "idle", 1.0, 0.5)],
                           numbered=True)[0][2] == "shard 12"


@pytest.mark.skipif(sys.platform != "linux", reason="forked workers: Linux only")
def test_a_forked_run_stamps_every_process_and_gives_the_same_results(
        tmp_path, monkeypatch, table5, pendulum):
    config = FitConfig(workers=2, shard_cost=300, start="fork", min_parallel=0)
    plain = fit_table(table5, pendulum, config)
    path = tmp_path / "stamps.tsv"
    monkeypatch.setattr(timeline, "_PATH", str(path))
    stamped = fit_table(table5, pendulum, config)
    monkeypatch.setattr(timeline, "_PATH", None)
    stamps = timeline.read(str(path))
    phases = {s[2] for s in stamps}
    assert {"plan", "values", "worker start", "noise floor", "wait:shards", "evidence",
            "merge members", "end"} <= phases
    assert any(p[6:].isdigit() for p in phases if p.startswith("shard "))
    caller = stamps[0][0]
    by_phase = {s[2]: s[0] for s in stamps}
    assert by_phase["plan"] == caller and by_phase["values"] != caller
    workers = {s[0] for s in stamps if s[2].startswith("shard ") and s[2][6:].isdigit()}
    assert caller not in workers and len(workers) == 2
    for name in ("candidate_index", "node", "params", "R_true", "R_random", "status"):
        assert np.array_equal(getattr(plain.fits, name), getattr(stamped.fits, name),
                              equal_nan=True), name
    assert [str(law) for law in plain.laws] == [str(law) for law in stamped.laws]


def _children() -> set[int]:
    import glob
    import os

    kids = set()
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        try:
            with open(path) as f:
                kids |= {int(c) for c in f.read().split()}
        except FileNotFoundError:     # the thread ended since the listing
            continue
    return kids


@pytest.mark.skipif(sys.platform != "linux", reason="forked workers: Linux only")
def test_workers_exit_beside_the_merge_and_before_its_own_fork(monkeypatch, table5, pendulum):
    from dslsearch.acceptance import AcceptanceConfig
    from dslsearch.fitting import backends, laws

    # a lenient test, so that the merge has candidates to test (at most 40)
    lenient = AcceptanceConfig(max_r=0.9, max_tested=40)
    config = FitConfig(workers=2, shard_cost=300, start="fork", acceptance=lenient,
                       min_parallel=0)
    before = _children()
    ref = fit_table(table5, pendulum, FitConfig(workers=1, shard_cost=300, acceptance=lenient))
    assert _children() == before
    forks = []
    real = backends.map_forked

    def map_forked(*a):
        forks.append(_children() - before)   # the shards' workers have exited by now
        return real(*a)

    monkeypatch.setattr(laws, "FORK_EVIDENCE_MIN", 8)   # the merge forks workers too
    monkeypatch.setattr(backends, "map_forked", map_forked)
    got = fit_table(table5, pendulum, config)
    assert forks == [set()]
    assert _children() == before   # nothing left running once fit_table returns
    for name in ("candidate_index", "node", "params", "R_true", "R_random", "status"):
        assert np.array_equal(getattr(ref.fits, name), getattr(got.fits, name),
                              equal_nan=True), name
    assert [(str(law), repr(law.evidence)) for law in ref.laws] == \
        [(str(law), repr(law.evidence)) for law in got.laws]
