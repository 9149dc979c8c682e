"""Backward-elimination seeds of the beam on noisy data (dslsearch.sums.seed)."""

import numpy as np

from dslsearch.fitting.objective import Segments, within
from dslsearch.fitting.optimise import solve_scatter
from dslsearch.sums import SumsConfig
from dslsearch.sums.seed import eliminate, elimination_seeds, held_out_r, removals
from dslsearch.sums.select import Cross, beam_search


def _split(K: int, n: int):
    labels = np.repeat(np.arange(K), n)
    fit = np.zeros(labels.size, bool)
    fit[::3] = True
    relabel = lambda lab: np.unique(lab, return_inverse=True)[1]
    return labels, fit, Segments(relabel(labels[fit])), relabel(labels[~fit])


def _cancelling(seed: int = 0, K: int = 12, n: int = 90, distractors: int = 14):
    """Rows: three terms whose sum is constant per trajectory while every one or two of
    them vary a lot (they cancel only together), then ``distractors`` smooth terms, each
    with measurement noise; the law's terms are rows 0, 1, 2 placed among the others."""
    rng = np.random.default_rng(seed)
    labels, fit, seg_fit, labels_out = _split(K, n)
    N = labels.size
    t = np.linspace(0, 60, N)
    level = np.repeat(rng.normal(size=K), n)
    a = np.sin(t) + 0.5 * np.sin(2.3 * t)
    b = np.cos(1.7 * t) - 0.8 * a
    c = level - a - b
    others = [np.sin(w * t + p) for w, p in rng.uniform(0.3, 3.0, size=(distractors, 2))]
    rows = np.stack([a, b, c, *others]) + 0.02 * rng.normal(size=(3 + distractors, N))
    return rows, labels, fit, seg_fit, labels_out


def _standard(rows, fit, seg_fit):
    Ff = rows[:, fit]
    mean = Ff.mean(1, keepdims=True)
    norm = np.sqrt(((Ff - mean) ** 2).sum(1, keepdims=True))
    Zf = (Ff - mean) / norm
    return Zf, within(Zf, seg_fit), (rows[:, ~fit] - mean) / norm


def test_each_removal_in_closed_form_is_the_exact_fit_of_the_rest():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(7, 60))
    Aw = A - A.mean(1, keepdims=True) + 0.3 * rng.normal(size=(7, 60))
    T, W = A @ A.T, Aw @ Aw.T
    R, C = removals(T, W)
    for i in range(7):
        rest = [j for j in range(7) if j != i]
        r, v = solve_scatter(T[np.ix_(rest, rest)][None], [W[np.ix_(rest, rest)][None]])
        assert np.isclose(R[i], r[0, 0], rtol=1e-9)
        assert abs(C[i, i]) < 1e-12 and np.isclose(C[i] @ T @ C[i], 1.0)
        assert np.isclose(C[i] @ W @ C[i], R[i], rtol=1e-9)


def test_elimination_reaches_terms_that_cancel_only_together():
    rows, labels, fit, seg_fit, labels_out = _cancelling()
    Zf, Zfw, Zo = _standard(rows, fit, seg_fit)
    # no partial sum of the law is conserved: a beam from single terms has no lead
    pairs = [held_out_r(np.stack([Zo[i] + s * Zo[j] for s in (-1.0, 1.0)]), labels_out).min()
             for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(pairs) > 0.1
    path = eliminate(Zf, Zfw, Zo, labels_out)
    assert path[3][0][0] == (0, 1, 2) and path[3][0][1] < 0.01
    assert sorted(path) == list(range(1, rows.shape[0]))


def test_the_seeds_reach_the_law_and_the_beam_keeps_them():
    rows, labels, fit, seg_fit, labels_out = _cancelling(2)
    order = np.r_[3:rows.shape[0], 0:3]          # the law's terms last: the least simple
    rows = rows[order]
    law = tuple(range(rows.shape[0] - 3, rows.shape[0]))
    Zf, Zfw, _ = _standard(rows, fit, seg_fit)
    cross = Cross(Zf, Zfw)
    # the pool leaves the law's last term out: the second pass's extensions bring it in
    seeds = elimination_seeds(lambda j: rows[j], np.arange(rows.shape[0] - 1), cross, fit,
                              seg_fit, labels_out, 4)
    assert law in seeds
    size = np.ones(rows.shape[0], np.int64)
    plain = beam_search(Zf, Zfw, size, 4, 2, 1e-13, refine=0)
    seeded = beam_search(Zf, Zfw, size, 4, 2, 1e-13, refine=0, seeds=tuple(seeds))
    assert law in {ts.terms for ts in seeded[2]}
    assert all(len(a) <= len(b) for a, b in zip(plain, seeded))


def test_terms_not_finite_are_left_out_and_small_pools_give_no_seeds():
    rows, labels, fit, seg_fit, labels_out = _cancelling(3, distractors=2)
    Zf, Zfw, _ = _standard(rows, fit, seg_fit)
    values = lambda j: None if j > 0 else rows[j]
    assert elimination_seeds(values, np.arange(5), Cross(Zf, Zfw), fit, seg_fit,
                             labels_out, 3) == []


def test_the_settings_key_changes_with_the_seeds():
    assert SumsConfig(seed_pool=0).key() != SumsConfig().key()
