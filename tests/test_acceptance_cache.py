"""The cache of perturbed points of the Monte Carlo noise variance: the same values as
drawn afresh, bit for bit, and a new entry for other points, noise or draws."""

from __future__ import annotations

import numpy as np
import pytest

from dslsearch import acceptance
from dslsearch.acceptance import NOISE_DRAWS, noise_variance, perturbed


def _fresh(x, sigma, draws, seed):
    e = np.random.default_rng(seed).standard_normal((draws, *x.shape)) * np.asarray(sigma)
    return (x[None] + e).reshape(-1, x.shape[1])


def test_perturbed_points_equal_fresh_draws_bit_for_bit():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (300, 3))
    sigma = np.array([0.1, 0.02, 0.3])
    acceptance._points.clear()
    first = perturbed(x, sigma, NOISE_DRAWS, 0)
    again = perturbed(x.copy(), sigma.copy(), NOISE_DRAWS, 0)     # equal bytes: reused
    assert again is first
    assert np.array_equal(first, _fresh(x, sigma, NOISE_DRAWS, 0))
    assert not first.flags.writeable


@pytest.mark.parametrize("change", ["x", "sigma", "draws", "seed"])
def test_other_points_noise_draws_or_seed_are_drawn_afresh(change):
    rng = np.random.default_rng(2)
    x, sigma, draws, seed = rng.uniform(-1, 1, (200, 2)), np.array([0.1, 0.2]), 8, 0
    acceptance._points.clear()
    first = perturbed(x, sigma, draws, seed)
    if change == "x":
        x = x.copy()
        x[7, 1] += 1e-12
    elif change == "sigma":
        sigma = sigma * 2
    elif change == "draws":
        draws = 9
    else:
        seed = 1
    other = perturbed(x, sigma, draws, seed)
    assert other is not first
    assert np.array_equal(other, _fresh(x, sigma, draws, seed))


def test_noise_variance_is_the_same_with_the_cache_warm_or_cold():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (400, 2))
    sigma = np.array([0.1, 0.05])
    fns = [lambda z: z[:, 0] * z[:, 1], lambda z: np.cos(z[:, 1] / z[:, 0] ** 4)]
    cold = []
    for fn in fns:
        acceptance._points.clear()
        cold.append(noise_variance(fn, x, sigma))
    warm = [noise_variance(fn, x, sigma) for fn in fns]
    for a, b in zip(cold, warm):
        assert np.array_equal(a, b)
    assert len(acceptance._points) == 1


def test_point_sets_beyond_the_byte_limit_are_not_kept(monkeypatch):
    monkeypatch.setattr(acceptance, "POINTS_CACHE_BYTES", 100_000)
    acceptance._points.clear()
    rng = np.random.default_rng(4)
    small, big = rng.uniform(size=(100, 2)), rng.uniform(size=(1000, 2))
    perturbed(small, np.ones(2), 4, 0)                     # 6.4 kB: kept
    assert len(acceptance._points) == 1
    pts = perturbed(big, np.ones(2), 16, 0)                # 256 kB: built, not kept
    assert np.array_equal(pts, _fresh(big, np.ones(2), 16, 0))
    assert len(acceptance._points) == 1 and acceptance._points[0][1].shape == (400, 2)
    for _ in range(2):                                     # 51 kB each: the oldest leaves
        perturbed(rng.uniform(size=(400, 2)), np.ones(2), 8, 0)
    assert [v.shape for _, v in acceptance._points] == [(3200, 2)]
