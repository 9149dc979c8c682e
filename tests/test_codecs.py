"""One codec per artifact kind: each round-trips, and files of a newer version are refused."""

from __future__ import annotations

import numpy as np
import pytest

from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting import FitRows
from dslsearch.law import Law
from noether_search.store import ResultsStore, StoreError
from noether_search.store.codecs import (BASELINE, CANDIDATE_TABLE, FIT_LAWS, FIT_SHARD,
                                         BaselineRecord)

SPRING = (("q", "m"), ("p", "kg*m/s"))


@pytest.fixture
def store(tmp_path):
    return ResultsStore.open(tmp_path / "s")


@pytest.fixture(scope="module")
def table():
    return enumerate_formulas(SPRING, 4)


def test_candidate_table(store, table):
    store.save("candidates/d4", CANDIDATE_TABLE, table)
    back = store.load("candidates/d4", CANDIDATE_TABLE)
    for name in ("op", "a", "b", "size", "candidates"):
        np.testing.assert_array_equal(getattr(back, name), getattr(table, name))
    assert (back.variables, back.depth, back.counts_by_size) == \
        (table.variables, table.depth, table.counts_by_size)
    with store.read("candidates/d4", "candidate-table") as f:
        assert [s.decode() for s in f["candidates/expr"][:3]] == list(table.expr_strings())[:3]


def test_fit_shard(store):
    rows = FitRows(np.array([2, 0]), np.array([7, 3]), np.array([[1.5, np.nan], [np.nan, np.nan]]),
                   np.array([1e-3, np.nan]), np.array([0.9, np.nan]),
                   np.array([0, 2], np.int8), ["fitted", "produces NaN or inf on the data"])
    store.save("fits/x/shard-00000", FIT_SHARD, rows)
    back = store.load("fits/x/shard-00000", FIT_SHARD)
    for name in ("candidate_index", "node", "params", "R_true", "R_random", "status"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rows, name))
    assert back.message == rows.message
    merged = FitRows.concat([back, FitRows(np.array([1]), np.array([5]), np.array([[2.0]]),
                                           np.array([0.5]), np.array([0.6]),
                                           np.array([0], np.int8), ["fitted"])])
    assert merged.candidate_index.tolist() == [0, 1, 2] and merged.params.shape == (3, 2)


def test_fit_laws_come_back_as_laws(store, table):
    node = next(int(c) for c in table.candidates[::-1] if table.formula(c).n_params == 1)
    law = Law(table.formula(node), [0.25], SPRING, R_true=1e-8, R_random=0.7,
              variants=("a", "b"), n_merged=2, node=node)
    store.save("fits/x/laws", FIT_LAWS, [law])
    (record,) = store.load("fits/x/laws", FIT_LAWS)
    assert record.expr == str(law)
    back = record.to_law(table, table.variables)
    assert back.formula == law.formula and back.node == node
    np.testing.assert_array_equal(back.params, law.params)
    assert (back.R_true, back.R_random, back.variants) == (law.R_true, law.R_random,
                                                           law.variants)
    assert str(record.to_law(None, SPRING)) == str(law)       # no table: parsed from text


def test_baseline(store):
    rec = BaselineRecord(state={"linear1.weight": np.ones((4, 2), np.float32)},
                         config='{"hidden": 4}', data_hash="ab" * 32, seed=0, dim=2,
                         dataset_name="spring", metrics={"deriv_mse_train": 0.1})
    store.save("baseline/0", BASELINE, rec)
    back = store.load("baseline/0", BASELINE)
    np.testing.assert_array_equal(back.state["linear1.weight"], rec.state["linear1.weight"])
    assert (back.config, back.data_hash, back.seed, back.dim, back.dataset_name, back.metrics) \
        == (rec.config, rec.data_hash, rec.seed, rec.dim, rec.dataset_name, rec.metrics)


def test_newer_version_and_other_kind_refused(store, table):
    store.save("candidates/d4", CANDIDATE_TABLE, table)
    with pytest.raises(StoreError, match="expected 'fit-shard'"):
        store.load("candidates/d4", FIT_SHARD)
    with store.write("candidates/d9", "candidate-table", 2):
        pass
    with pytest.raises(StoreError, match="upgrade noether-search"):
        store.load("candidates/d9", CANDIDATE_TABLE)
