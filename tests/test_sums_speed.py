"""The sum search's shortcuts give the results of the plain computation, bit for bit:
products shared between the two searches of a round (`Cross.subset`), the partial sort of
each extension's best terms (`smallest`), the sets' sizes in one gather, the unit rules of
composite chains memoised, and the stencil of the finite-difference gradients."""

from __future__ import annotations

import numpy as np
import pytest

from dslsearch.acceptance import gradients
from dslsearch.fitting.objective import Segments, centred, within
from dslsearch.sums.select import Cross, TermSet, _ordered, beam_search, smallest


def _library(seed: int, n: int = 300, M: int = 240):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(8), M // 8)
    X = rng.standard_normal((n, M)) + rng.standard_normal((n, 8))[:, labels]
    X[: n // 3] = np.round(X[: n // 3], 1)                   # ties among the terms' R
    Z = centred(X)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return Z, within(Z, Segments(labels)), rng.integers(1, 9, n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_subset_of_shared_products_equals_a_fresh_cross(seed):
    Z, Zw, _ = _library(seed)
    keep = np.sort(np.random.default_rng(seed).choice(Z.shape[0], 170, replace=False))
    shared = Cross(Z, Zw)
    shared.rows([int(keep[3]), 5])                            # rows computed before the subset
    sub, fresh = shared.subset(keep), Cross(Z[keep], Zw[keep])
    terms = [3, 0, 169, 42]
    for a, b in zip(sub.rows(terms), fresh.rows(terms)):
        assert np.array_equal(a, b)
    assert np.array_equal(sub.w_diag, fresh.w_diag)


@pytest.mark.parametrize("seed", [0, 1])
def test_beam_search_on_a_shared_cross_is_unchanged(seed):
    Z, Zw, size = _library(seed)
    keep = np.arange(0, Z.shape[0], 2)
    shared = Cross(Z, Zw)
    full = beam_search(Z, Zw, size, 4, 6, 1e-13, node_weight=0.06)
    assert full == beam_search(Z, Zw, size, 4, 6, 1e-13, node_weight=0.06,
                               cross=shared.subset(np.arange(Z.shape[0])))
    assert beam_search(Z[keep], Zw[keep], size[keep], 4, 6, 1e-13, node_weight=0.06) == \
        beam_search(Z[keep], Zw[keep], size[keep], 4, 6, 1e-13, node_weight=0.06,
                    cross=shared.subset(keep))


@pytest.mark.parametrize("k", [0, 1, 5, 37, 400])
def test_smallest_is_the_head_of_a_stable_argsort(k):
    rng = np.random.default_rng(k)
    key = np.round(rng.standard_normal(300), 1)               # many ties
    key[rng.integers(0, 300, 20)] = np.inf
    key[:3] = -1.0 / np.array([2, 3, 2])
    assert np.array_equal(smallest(key, k), np.argsort(key, kind="stable")[:k])


def test_sets_ordered_by_one_gather_as_one_by_one():
    rng = np.random.default_rng(4)
    size = rng.integers(1, 9, 50)
    sets = [TermSet(tuple(sorted(rng.choice(50, 3, replace=False).tolist())),
                    float(np.round(rng.uniform(0.01, 1), 2))) for _ in range(200)]
    mixed = sets + [TermSet((1, 2), 0.5), TermSet((7,), 0.5)]
    for group in (sets, mixed):
        expected = sorted(group, key=lambda ts: (ts.R * 10.0 ** (0.06 * size[list(ts.terms)]
                                                                   .sum()), ts.terms))
        assert _ordered(group, size, 1e-13, 0.06) == expected


def test_stacked_gradients_equal_column_by_column_differences():
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 2.0, (300, 3))
    x[:, 2] = 1.0                                             # a constant column: step 1
    fn = lambda z: np.cos(z[:, 1] / z[:, 0] ** 4) + z[:, 2] * z[:, 0]       # noqa: E731
    G = gradients(fn, x)
    scale = x.std(axis=0)
    for j in range(3):
        h = 1e-6 * (scale[j] if scale[j] > 0 else 1.0)
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        assert np.array_equal(G[:, j], (fn(xp) - fn(xm)) / (2 * h))


def test_node_weight_factors_computed_once_give_the_same_keys():
    from dslsearch.sums.select import _Factors, rank_key

    rng = np.random.default_rng(6)
    size = rng.integers(1, 9, 500)
    R = rng.uniform(0, 1, 500)
    R[:5] = 1e-15
    factors = _Factors(size)
    for nodes in (3, 7, 3):
        for nw in (0.0, 0.06):
            total, factor = factors(np.int64(nodes), nw)
            assert np.array_equal(rank_key(R, total, 1e-13, nw, factor),
                                  rank_key(R, size[:1].sum() * 0 + nodes + size, 1e-13, nw))


@pytest.mark.parametrize("seed", range(6))
def test_secular_screen_keeps_the_smallest_bit_for_bit(seed, monkeypatch):
    from dslsearch.sums import select
    from dslsearch.sums.select import smallest_roots

    rng = np.random.default_rng(seed)
    r, n, keep = int(rng.integers(2, 6)), 2000, 24
    lam = np.sort(rng.uniform(0.5, 1, r)) * 10.0 ** -rng.integers(0, 4)
    beta = rng.standard_normal((r, n)) * rng.uniform(0, 1, n) * lam[0]
    beta[1:] *= 0.5                      # the upper bound (first entry) nearly exact
    # positive semi-definite, as every pencil of R: gamma >= sum beta² / lam
    gamma = (beta ** 2 / lam[:, None]).sum(0) + lam[0] * rng.uniform(0.001, 2, n) ** 2
    gamma[rng.integers(0, n, 30)] = np.inf
    scale = np.stack([np.ones(n), 10.0 ** (0.06 * rng.integers(1, 9, n))])
    screened = []
    real = select._above
    monkeypatch.setattr(select, "_above",
                        lambda *a: screened.append(real(*a)) or screened[-1])
    for sc in (None, scale):
        plain = smallest_roots(lam, beta, gamma, keep, sc)
        fast = smallest_roots(lam, beta, gamma, keep, sc, floor=1e-13)
        for f in (np.ones((1, n)) if sc is None else sc):
            top = np.argsort(plain * f, kind="stable")[:keep]
            assert np.array_equal(np.argsort(fast * f, kind="stable")[:keep], top)
            assert np.array_equal(fast[top], plain[top])
        # every value is still a lower bound of the exact smallest eigenvalue
        ok = np.isfinite(gamma)
        A = np.zeros((ok.sum(), r + 1, r + 1))
        A[:, np.arange(r), np.arange(r)] = lam
        A[:, :r, r] = A[:, r, :r] = beta[:, ok].T
        A[:, r, r] = gamma[ok]
        exact = np.clip(np.linalg.eigvalsh(A)[:, 0], 0, None)
        assert np.all(fast[ok] <= exact * (1 + 1e-9) + 1e-300)
    assert sum(int(s.sum()) for s in screened) > 0          # the screen did decide


@pytest.mark.parametrize("nw", [0.03, 0.06, 0.25])
def test_looked_up_pair_factors_equal_computed_ones(nw):
    from dslsearch.sums.select import rank_key

    rng = np.random.default_rng(7)
    pair_size = rng.integers(2, 17, 512 * 300)
    R = rng.uniform(0, 1, pair_size.size)
    R[::97] = 1e-15
    table = 10.0 ** (nw * np.arange(17))
    assert np.array_equal(rank_key(R, pair_size, 1e-13, nw, table[pair_size]),
                          rank_key(R, pair_size, 1e-13, nw))


def test_sets_of_one_size_ordered_by_lexsort_as_by_tuples():
    rng = np.random.default_rng(8)
    size = rng.integers(1, 9, 40)
    sets = [TermSet(tuple(sorted(rng.choice(40, 2, replace=False).tolist())),
                    float(rng.choice([0.5, 0.25, 1e-15, 0.125]))) for _ in range(300)]
    from dslsearch.sums.select import rank_key

    for nw in (0.0, 0.06):
        keys = rank_key(np.asarray([ts.R for ts in sets]),
                        np.asarray([size[list(ts.terms)].sum() for ts in sets]), 1e-13,
                        nw).tolist()
        expected = [sets[i] for i in sorted(range(len(sets)),
                                            key=lambda i: (keys[i], sets[i].terms))]
        assert _ordered(sets, size, 1e-13, nw) == expected
