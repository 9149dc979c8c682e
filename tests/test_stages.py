"""Stages run in memory; a store makes them reuse and save their artifacts."""

from __future__ import annotations

import numpy as np
import pytest

import hamiltonian_data
from dslsearch.fitting import FitConfig
from noether_search.baseline import BaselineConfig
from noether_search.stages import (enumerate_candidates, fit_laws, load_fits, train_baseline)
from noether_search.store import ResultsStore

CONFIG = FitConfig(workers=1, shard_cost=3)
SMALL = BaselineConfig(hidden=8, steps=5)


@pytest.fixture(scope="module")
def spring():
    return hamiltonian_data.load(system="spring")


def test_without_a_store_nothing_touches_the_disk(tmp_path, monkeypatch, spring):
    monkeypatch.chdir(tmp_path)
    table = enumerate_candidates(spring, 3)
    result = fit_laws(spring, 3, CONFIG, table=table)
    base = train_baseline(spring, SMALL)
    assert list(tmp_path.iterdir()) == []
    assert result.n_candidates == table.n_candidates and len(result.fits) == table.n_candidates
    assert result.shards_done == 0 and base.trained


def test_a_store_is_reused(tmp_path, spring):
    store = ResultsStore.open(tmp_path / "run")
    first = fit_laws(spring, 3, CONFIG, store=store)
    files = {p: p.stat().st_mtime_ns for p in store.root.rglob("*.h5")}
    assert store.exists("candidates/d3") and store.exists(f"fits/{first.key}/laws")
    assert first.shards_total > 1 and len(store.keys(f"fits/{first.key}")) == \
        first.shards_total + 3          # + the laws, the sum search and the fit outcome

    sizes = []
    enumerate_candidates(spring, 3, store=store, progress=lambda s, n: sizes.append(s))
    calls = []
    again = fit_laws(spring, 3, CONFIG, store=store, progress=lambda d, n: calls.append(d))
    assert sizes == [] and again.shards_done == again.shards_total
    assert calls == [again.n_candidates]                 # everything done from the start
    assert {p: p.stat().st_mtime_ns for p in store.root.rglob("*.h5")} == files
    assert [str(law) for law in again.laws] == [str(law) for law in first.laws]
    np.testing.assert_array_equal(load_fits(store, first.key).R_true, first.fits.R_true)

    memory = fit_laws(spring, 3, CONFIG)                 # the same numbers without a store
    assert memory.key == first.key
    np.testing.assert_array_equal(memory.fits.params, first.fits.params)

    base = train_baseline(spring, SMALL, store=store)
    steps = []
    reused = train_baseline(spring, SMALL, store=store, progress=lambda *a: steps.append(a))
    assert base.trained and not reused.trained and steps == []
    assert reused.key == base.key and reused.metrics == pytest.approx(base.metrics)


def test_stored_table_of_other_variables_is_refused(tmp_path, spring):
    store = ResultsStore.open(tmp_path / "run")
    enumerate_candidates(hamiltonian_data.load(system="pendulum"), 3, store=store)
    with pytest.raises(ValueError, match="enumerated for variables .* use another --out"):
        enumerate_candidates(spring, 3, store=store)
