"""The enumeration computes the check-point values of many nodes with one numpy call per
operation: the table must be the one that adding nodes in small groups gives, and the
constant test on whole rows must decide as the test of one node."""

from __future__ import annotations

import numpy as np
import pytest

import hamiltonian_data
from dslsearch import enumerate as enum_mod
from dslsearch.enumerate import enumerate_formulas


def _arrays(table):
    return [(arr.dtype.str, arr.tobytes()) for arr in
            (table.op, table.a, table.b, table.size, table.candidates)] + \
        [sorted(table.counts_by_size.items())]


@pytest.mark.parametrize("system, depth, kwargs", [
    ("pendulum", 6, {}),
    ("double-pendulum", 5, {}),
    ("pendulum", 5, {"ops": "all"}),
    ("double-pendulum", 5, {"ops": "all", "keep_last": False}),
])
def test_batch_size_changes_nothing(monkeypatch, system, depth, kwargs):
    variables = hamiltonian_data.load(system=system).variables
    whole = enumerate_formulas(variables, depth, **kwargs)
    monkeypatch.setattr(enum_mod._PairBatch, "MAX_PAIRS", 1)   # a flush per (node, op)
    small = enumerate_formulas(variables, depth, **kwargs)
    assert _arrays(small) == _arrays(whole)
    assert len(whole.candidates) > 1000


def test_constant_rows_decide_as_one_node():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 12))
    rows = [base[0], np.full(12, 2.5), np.full(12, 1e300), np.full(12, -7.0)]
    for eps in (1e-12, 5e-10, 1e-9, 2e-9, 1e-8):   # spreads around the 1e-9 threshold
        r = np.full(12, 3.0)
        r[5] += eps * 4.0
        rows.append(r)
    for bad in (np.nan, np.inf, -np.inf):
        r = np.full(12, 1.0)
        r[7] = bad
        rows.append(r)
    rows += list(base[1:])
    V = np.asarray(rows)
    got = enum_mod._constant_rows(V)
    want = [enum_mod._is_constant(v) for v in V]
    assert got.tolist() == want
    assert 3 < sum(want) < len(want) - 10   # both decisions occur
