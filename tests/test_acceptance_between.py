"""A law is a function of better laws when its trajectory constants are a function of
theirs: on noisy points the pointwise rule (:func:`explained_ratio`) is asked of the
trajectory means too (:func:`between_ratio`, :func:`is_explained`)."""

from __future__ import annotations

import math

import numpy as np

from dslsearch.acceptance import (between_ratio, drop_explained, explained_ratio,
                                  gradients, is_explained, noise_floor)


def _trajectories(K=15, n=80, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(K), n)
    b = rng.normal(size=K)
    return rng, labels, b


def test_the_means_of_a_function_of_a_law_are_within_their_noise():
    rng, labels, b = _trajectories()
    N = labels.size
    noise_b, noise_g = 0.01 * rng.normal(size=N), 0.3 * rng.normal(size=N)
    better = [b[labels] + noise_b]
    grads = np.full((N, 1), 0.35)          # its predicted noise: 0.35 per point (0.3 drawn)
    sigma = np.ones(1)
    g = (b ** 3 - b)[labels] + noise_g                   # a cubic of the better law
    assert between_ratio(g, grads, better, labels, sigma) < 3
    assert is_explained(g, grads, better, sigma, labels)
    other = rng.normal(size=15)[labels] + noise_g        # constants of their own
    assert between_ratio(other, grads, better, labels, sigma) > 100
    assert not is_explained(other, grads, better, sigma, labels)


def test_too_few_trajectories_cannot_tell():
    rng, labels, b = _trajectories(K=8)
    N = labels.size
    grads, sigma = np.full((N, 1), 0.3), np.ones(1)
    better = [b[labels], rng.normal(size=8)[labels]]     # a cubic in two: 10 coefficients
    other = rng.normal(size=8)[labels] + 0.3 * rng.normal(size=N)
    assert math.isnan(between_ratio(other, grads, better, labels, sigma))


def _kepler(noise, seed):
    import hamiltonian_data

    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.law import Law

    ds = hamiltonian_data.SYSTEMS["kepler"].generate(noise=noise, seed=seed)
    x, labels = segments(ds, FitConfig(seed=seed))
    laws = {name: Law.parse(text, ds) for name, text in (
        ("L", "px*y - 1.0*py*x"),
        ("Ay", "px**2*y - 1.0*px*py*x - 1.0*y/sqrt(x**2 + y**2)"),
        ("E", "px**2 + py**2 - 2.0/sqrt(x**2 + y**2)"),
        ("L2", "(px*y - 1.0*py*x)**2 + 0.3*(px*y - 1.0*py*x)"))}
    return ds, x, labels, laws


def test_keplers_energy_is_not_a_function_of_the_angular_momentum_and_a_runge_lenz_component():
    """At σ = 0.05 (seed 7) a cubic in the angular momentum and one Runge–Lenz component
    comes within the energy's own noise at every point (15 trajectories, 10 coefficients,
    the laws' noise shared); their trajectory means do not explain the energy's."""
    ds, x, labels, laws = _kepler(0.05, 7)
    sigma = noise_floor(ds.train, robust=True)
    E, better = laws["E"], [laws["L"](x), laws["Ay"](x)]
    v, g = E(x), gradients(E, x)
    assert explained_ratio(v, g, better, sigma) < 1                   # pointwise: explained
    assert between_ratio(v, g, better, labels, sigma) > 10
    assert is_explained(v, g, better, sigma)                          # without trajectories
    assert not is_explained(v, g, better, sigma, labels)
    L2 = laws["L2"]                                                   # a function of L
    assert is_explained(L2(x), gradients(L2, x), [laws["L"](x)], sigma, labels)
    basis = [laws["L"], laws["Ay"], E]
    assert len(drop_explained(basis, x, noise_floor(ds.train))) == 2
    assert len(drop_explained(basis, x, noise_floor(ds.train), labels=labels)) == 3


def test_the_judge_asks_the_means_on_noisy_points_only():
    from dslsearch.fitting import FitConfig
    from noether_search.stages.fit import calibrated_judge

    ds, x, labels, laws = _kepler(0.05, 7)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 1, FitConfig())
    assert not judge.explained(laws["E"], [laws["L"], laws["Ay"]])
    assert judge.explained(laws["L2"], [laws["L"]])


def test_a_term_noisy_at_a_few_points_does_not_hide_constants_of_their_own():
    """Each trajectory's level is the inverse-variance weighted mean of its values: a tiny
    term with a pole inside the data (huge predicted noise at a few points) does not make
    the noise of every mean so large that constants of their own pass as explained
    (Kepler's second Runge–Lenz component beside the first and the angular momentum at
    σ = 0.01, seed 12, with ``4.5e-5 y / log(x²/y²)``: 0.56 with plain means)."""
    rng, labels, b = _trajectories()
    N = labels.size
    sigma = np.ones(1)
    grads = np.full((N, 1), 0.01)
    pole = rng.choice(N, 3, replace=False)
    grads[pole] = 1e3                                   # the pole's predicted noise
    own = rng.normal(size=15)[labels]                   # constants of their own
    values = own + grads[:, 0] * rng.normal(size=N)
    better = [b[labels] + 0.001 * rng.normal(size=N)]
    assert between_ratio(values, grads, better, labels, sigma) > 1e3
    assert not is_explained(values, grads, better, sigma, labels, limit=math.inf)
    # plain means: the three points' noise swamps every trajectory's
    counts = np.bincount(labels).astype(float)
    plain = (np.bincount(labels, grads[:, 0] ** 2) / counts).sum()
    means = np.bincount(labels, values) / counts
    assert ((means - means.mean()) ** 2 * counts).sum() < plain    # would pass as noise
    cubic = (b ** 3 - b)[labels] + grads[:, 0] * rng.normal(size=N)  # a function of it
    assert between_ratio(cubic, grads, better, labels, sigma) < 3
