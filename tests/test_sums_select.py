"""The node-weighted second beam of the sum search's selection (`beam_search(node_weight=)`)."""

import numpy as np
import pytest

from dslsearch.fitting.objective import Segments, centred, within
from dslsearch.sums.select import _kept, beam_search, rank_key, smallest_roots, TermSet, weights


def _standardised(X: np.ndarray, labels: np.ndarray):
    Z = centred(X)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return Z, within(Z, Segments(labels))


def _trap(seed: int = 0):
    """Four one-node terms whose sum alone is conserved (every partial sum is far from it),
    beside six six-node terms that are each nearly conserved (a trajectory constant plus a
    little independent noise: no sum of them is exact). By R alone the nearly conserved
    terms fill a narrow beam at every size."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), 30)
    offset = lambda: rng.standard_normal(10)[labels]                       # noqa: E731
    u, v, w = (rng.standard_normal(labels.size) for _ in range(3))
    true = [u + offset(), v + offset(), w + offset(), -(u + v + w) + offset()]
    decoys = [offset() + 0.2 * rng.standard_normal(labels.size) for _ in range(6)]
    Z, Zw = _standardised(np.stack(true + decoys), labels)
    size = np.array([1] * 4 + [6] * 6)
    return Z, Zw, size


@pytest.mark.parametrize("seed", [0, 1])
def test_the_node_weighted_beam_reaches_a_law_whose_partial_sums_are_not_conserved(seed):
    Z, Zw, size = _trap(seed)
    by_r = beam_search(Z, Zw, size, max_terms=4, beam=2, exact=1e-13, refine=2)
    assert by_r[-1][0].R > 1e-3                                 # trapped: no exact set
    both = beam_search(Z, Zw, size, max_terms=4, beam=2, exact=1e-13, refine=2,
                       node_weight=0.3)
    assert both[-1][0].terms == (0, 1, 2, 3) and both[-1][0].R < 1e-13


def test_without_node_weight_the_beam_is_the_ranking_by_r_alone():
    """node_weight 0 keeps one ranking; a positive weight adds sets, never drops the
    best by R."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(6), 40)
    X = rng.standard_normal((40, labels.size)) + rng.standard_normal((40, 6))[:, labels]
    Z, Zw = _standardised(X, labels)
    size = rng.integers(1, 8, 40)
    plain = beam_search(Z, Zw, size, max_terms=4, beam=5, exact=1e-13)
    both = beam_search(Z, Zw, size, max_terms=4, beam=5, exact=1e-13, node_weight=0.1)
    assert all(len(level) <= 5 for level in plain)
    assert any(len(level) > 5 for level in both)                # the second beam's sets
    assert [ts.R for ts in both[0][:5]] == [ts.R for ts in plain[0]]
    for a, b in zip(plain, both):
        assert b[0].R <= a[0].R * (1 + 1e-12)


def test_kept_takes_the_best_of_each_ranking_in_the_order_by_r():
    size = np.array([1, 1, 9, 9])
    sets = [TermSet((2,), 0.1), TermSet((3,), 0.2), TermSet((0,), 0.5), TermSet((1,), 0.6)]
    assert _kept(sets, size, 1e-13, 2, (0.0,)) == sets[:2]
    got = _kept(sets, size, 1e-13, 1, (0.0, 0.2))     # 0.1·10^1.8 > 0.5·10^0.2
    assert got == [sets[0], sets[2]]
    # exact sets come first whatever the weight, the fewest nodes first
    key = rank_key(np.array([0.0, 0.0, 0.3]), np.array([9, 2, 1]), 1e-13, 0.5)
    assert list(np.argsort(key)) == [1, 0, 2]


def test_arrowhead_roots_are_exact_for_the_best_of_each_scaled_ranking():
    rng = np.random.default_rng(4)
    r, n = 3, 400
    lam = np.sort(rng.uniform(0.1, 1.0, r))
    beta = rng.normal(0, 0.3, (r, n)) * rng.uniform(0, 1, n)
    gamma = rng.uniform(0.05, 1.5, n) + (beta ** 2).sum(0) / lam[0]
    A = np.zeros((n, r + 1, r + 1))
    A[:, np.arange(r), np.arange(r)] = lam
    A[:, :r, r] = A[:, r, :r] = beta.T
    A[:, r, r] = gamma
    exact = np.linalg.eigvalsh(A)[:, 0]
    scale = weights(rng.integers(1, 12, n), (0.0, 0.15))
    got = smallest_roots(lam, beta, gamma, keep=8, scale=scale)
    assert (got <= exact + 1e-12).all()
    for f in scale:
        best = np.argsort(exact * f)[:8]
        assert np.allclose(got[best], exact[best], rtol=1e-10, atol=1e-14)
        assert set(np.argsort(got * f)[:8]) == set(best)
