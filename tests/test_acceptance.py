"""The calibrated acceptance test, constants' intervals, noise as a fraction of each
variable's std, and the negative-control systems."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import hamiltonian_data
from dslsearch.acceptance import (AcceptanceConfig, Evidence, evidence, gradients,
                                  law_evidence, noise_floor, noise_variance, passes)
from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from dslsearch.uncertainty import constant_intervals, interval, jackknife_interval
from hamiltonian_data import CONTROLS, SYSTEMS, load
from hamiltonian_data.units import parse_unit

CONTROL_NAMES = [c.name for c in CONTROLS]


def _points(ds):
    return segments(ds, FitConfig())


# -- noise as a fraction of each variable's std ---------------------------------------------
@pytest.mark.parametrize("name", ["pendulum", "kepler", "lorenz"])
def test_noise_is_a_fraction_of_each_variables_std(name):
    clean, noisy = load(name, noise=0.0, seed=3), load(name, noise=0.05, seed=3)
    spread = np.concatenate([clean.x_train, clean.x_test]).std(axis=0)
    ratio = (noisy.x_train - clean.x_train).std(axis=0) / spread
    assert np.all(np.abs(ratio - 0.05) < 0.006), ratio
    again = SYSTEMS[name].generate(noise=0.05, seed=3)
    np.testing.assert_array_equal(again.x_train, noisy.x_train)      # seeded
    assert load(name, noise=0.05, seed=4).content_hash() != noisy.content_hash()


def test_noise_floor_estimates_the_added_noise():
    for frac in (0.01, 0.05, 0.1):
        clean, noisy = load("pendulum"), load("pendulum", noise=frac)
        spread = np.concatenate([clean.x_train, clean.x_test]).std(axis=0)
        est = noise_floor(noisy.train) / spread
        assert np.all(np.abs(est / frac - 1) < 0.1), (frac, est)
    # noise-free: only the smoother's own error on smooth trajectories
    assert np.all(noise_floor(load("pendulum").train) < 2e-3)


def test_the_robust_noise_floor_ignores_samples_where_a_trajectory_is_not_smooth():
    # the double pendulum's angular velocities swing fast at a few samples: the mean square
    # residual of a cubic smoother reads them as noise of 0.23 of the spread, noise-free
    clean = load("double-pendulum")
    spread = np.concatenate([clean.x_train, clean.x_test]).std(axis=0)
    assert np.all(noise_floor(clean.train, robust=True) / spread < 0.02)
    assert np.max(noise_floor(clean.train) / spread) > 0.1
    noisy = load("double-pendulum", noise=0.1)
    assert np.all(np.abs(noise_floor(noisy.train, robust=True) / spread / 0.1 - 1) < 0.2)
    # a smooth signal with one narrow bump per trajectory (3 samples wide), white noise of
    # std 0.01: the mean square residual of a cubic smoother says 0.0131
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1.0, 80)
    xs = [np.stack([np.sin(3 * t + k) + 0.2 * np.exp(-((t - 0.3 - 0.04 * k) / 0.02) ** 2),
                    np.cos(2 * t - k)], 1) + 0.01 * rng.standard_normal((80, 2))
          for k in range(10)]
    ds = hamiltonian_data.Dataset.from_arrays(np.stack(xs), t, ["a", "b"], ["", ""])
    np.testing.assert_allclose(noise_floor(ds.train, robust=True), 0.01, rtol=0.08)
    assert noise_floor(ds.train)[0] > 0.0125


def test_noise_floor_needs_long_enough_trajectories():
    short = hamiltonian_data.Dataset.from_arrays(np.zeros((2, 5, 2)) + np.arange(5)[:, None],
                                                 np.arange(5.0), ["a", "b"], ["", ""])
    with pytest.raises(ValueError, match="at least 7 samples"):
        noise_floor(short.train)


# -- the negative controls ------------------------------------------------------------------
@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_controls_generate_with_units_and_no_invariant(name):
    system = SYSTEMS[name]
    assert system.invariants == () and system.invariant is None
    for v in system.variables:
        parse_unit(v.unit)                                   # every unit is valid
    ds = load(name)
    assert ds.system is system and ds.invariant is None
    assert [(v.name, v.unit) for v in ds.variables] == [(v.name, v.unit)
                                                         for v in system.variables]
    for tr in ds.train[:3]:
        np.testing.assert_allclose(tr.dxdt, system.vector_field(tr.x), atol=1e-12)
    row = system.describe()
    assert row["invariants"] == [] and row["trajectories"]["train"] == len(ds.train)


# -- the evidence of a law ------------------------------------------------------------------
def _evidence(name, text, noise, seed=0, params=None):
    ds = load(name, noise=noise, seed=seed)
    x, labels = _points(ds)
    law = Law.parse(text, ds)
    if params is not None:
        law = Law(law.formula, params, ds)
    return law_evidence(law, x, labels, noise_floor(ds.train), 10 ** 6)


@pytest.mark.parametrize("noise", [0.0, 0.01, 0.05, 0.1])
def test_the_true_energy_passes_at_every_noise_level(noise):
    ev = _evidence("pendulum", "p**2 - 3*cos(q)", noise)
    assert passes(ev), ev
    assert ev.p_value < 1e-100 and ev.test == "calibrated"


@pytest.mark.parametrize("text,noise", [("p**2", 0.05), ("p**2 - 2*cos(q)", 0.05),
                                        ("p**2 - 2.97*cos(q)", 0.0)])
def test_non_laws_fail_the_noise_floor(text, noise):
    ev = _evidence("pendulum", text, noise)
    assert not passes(ev) and ev.noise_ratio > AcceptanceConfig().max_noise_ratio


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.1])
def test_a_decaying_energy_fails(noise):
    # twice the energy times the mass, p² + m k q² (m k = 1 kg²/s²)
    ev = _evidence("damped-oscillator", "p**2 + c0*q**2", noise, params=[1.0])
    assert not passes(ev), ev


@pytest.mark.parametrize("noise,c", [(0.0, 0.0251), (0.1, 0.0219)])
def test_a_formula_singular_on_the_data_fails(noise, c):
    # cos(c/(p q)) is ~1 except near p q = 0, where its gradient (and so its linearly
    # predicted noise) explodes: the pointwise median of the noise ratio is not fooled
    ev = _evidence("spring", "cos(c0/(p*q))", noise, params=[c])
    assert not passes(ev) and ev.noise_ratio > 10


def test_noise_variance_by_monte_carlo():
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 2.0, (400, 2))
    sigma = np.array([0.1, 0.05])
    # linear formula: the linear propagation, up to the draws' sampling error
    lin = noise_variance(lambda z: 3 * z[:, 0] - 2 * z[:, 1], x, sigma)
    assert abs(lin.mean() / (9 * 0.01 + 4 * 0.0025) - 1) < 0.05
    # steep at the noise scale: bounded by the formula's range, not by its gradient
    steep = noise_variance(lambda z: np.cos(z[:, 1] / z[:, 0] ** 4), x, sigma)
    grads = gradients(lambda z: np.cos(z[:, 1] / z[:, 0] ** 4), x)
    assert np.all(steep <= 2.0)
    assert ((grads ** 2) @ sigma ** 2).sum() > 10 * steep.sum()


def test_a_sum_steep_at_the_noise_scale_fails():
    # a five-term sum fitted to the Van der Pol oscillator at noise 0.1: cos(y/x⁴) is steep
    # near x = 0, where the linear propagation predicts noise that excuses its drift
    # (linear noise ratio 1.08); the Monte Carlo noise does not (2.6)
    text = "c0*sin(sin(cos(x - y))) + cos(x) + cos(y) - c1*cos(c2*x + y) - c3*cos(y/x**4)"
    ev = _evidence("van-der-pol", text, 0.1, params=[1.149, 0.403, 2.0, 0.308])
    assert not passes(ev) and ev.noise_ratio > 2 and ev.r_true > 0.5


def test_a_law_above_max_r_fails():
    ev = Evidence("calibrated", 1e-30, 1.0, math.nan, 100, r_true=0.8)
    assert not passes(ev) and passes(dataclasses.replace(ev, r_true=0.2))
    assert passes(dataclasses.replace(ev, r_true=math.nan))      # unknown: not checked


def test_values_unrelated_to_the_trajectories_fail_the_f_test():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(20), 30)
    x = rng.standard_normal((labels.size, 2))
    values = x[:, 0] + x[:, 1]
    ev = evidence(values, np.ones_like(x), labels, np.ones(2), 1)
    assert ev.p_value > 0.01 and not passes(ev)


def test_f_test_p_value_agrees_with_random_sequences():
    # the p-value of the F-test against the fraction of random relabelings with R as low
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(12), 25)
    values = 0.4 * rng.standard_normal(12)[labels] + rng.standard_normal(labels.size)
    ev = evidence(values, np.zeros((labels.size, 1)), labels, np.zeros(1), 1)

    def r(lab):
        c = values - values.mean()
        means = np.bincount(lab, c) / np.bincount(lab)
        return ((c - means[lab]) ** 2).sum() / (c ** 2).sum()

    null = np.array([r(rng.permutation(labels)) for _ in range(4000)])
    frac = (null <= r(labels)).mean()
    assert 0.01 < ev.p_value < 0.5 and abs(frac - ev.p_value) < 0.1 * ev.p_value + 0.005


def test_gradients_by_finite_differences():
    x = np.random.default_rng(0).uniform(-2, 2, (50, 2))
    G = gradients(lambda z: z[:, 1] ** 2 - 3 * np.cos(z[:, 0]), x)
    np.testing.assert_allclose(G, np.stack([3 * np.sin(x[:, 0]), 2 * x[:, 1]], 1), atol=1e-6)


# -- constants with intervals ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pendulum_constant_interval_contains_3(seed):
    ds = load("pendulum", noise=0.05, seed=seed)
    x, labels = _points(ds)
    start = Law.parse("p**2 - 2.5*cos(q)", ds)         # a wrong start: refitted
    params, [(low, high)] = constant_intervals(start, x, labels, noise_floor(ds.train))
    assert low <= 3.0 <= high and low <= params[0] <= high
    assert high - low < 0.2                                       # and informative
    assert abs(params[0] - 3) < 0.05


def test_interval_methods_from_bootstrap_draws():
    draws = np.random.default_rng(0).normal(2.0, 0.1, (400, 1))
    params = np.array([2.0])
    (t_low, t_high), = interval(params, draws, 5, method="t")
    (b_low, b_high), = interval(params, draws, 5, method="basic")
    (p_low, p_high), = interval(params, draws, 5, method="percentile")
    # basic and percentile: about ±1.96 s; t with 4 degrees of freedom, inflated: wider
    assert abs((b_high - b_low) / 2 / 0.196 - 1) < 0.15
    assert abs((p_high - p_low) - (b_high - b_low)) < 1e-9
    half = 2.776 * 0.1 * math.sqrt(5 / 4)
    assert abs((t_high - t_low) / 2 / half - 1) < 0.1
    with pytest.raises(ValueError, match="method"):
        interval(params, draws, 5, method="bca")


def test_jackknife_interval_of_a_mean():
    # the jackknife's standard error of a mean is the usual s / sqrt(K)
    values = np.random.default_rng(1).normal(0.0, 1.0, 30)
    loo = np.array([[np.delete(values, k).mean()] for k in range(30)])
    (low, high), = jackknife_interval(np.array([values.mean()]), loo)
    se = values.std(ddof=1) / math.sqrt(30)
    assert abs((high - low) / 2 / (2.045 * se) - 1) < 1e-3


def test_law_json_keeps_constants_and_evidence():
    variables = [("q", "rad"), ("p", "kg*m**2/s")]
    law = Law.parse("p**2 - 3.02*cos(q)", variables).with_intervals([(2.98, 3.05)])
    law = law.with_evidence(Evidence("calibrated", 1e-30, 1.08, math.nan, 100))
    obj = json.loads(json.dumps(law.to_json()))
    assert obj["constants"] == [{"name": "c0", "value": 3.02, "low": 2.98, "high": 3.05,
                                 "unit": "kg²·m⁴/s²"}]
    assert obj["evidence"]["p_value"] == 1e-30 and obj["evidence"]["factor"] is None
    back = Law.from_json(obj, variables)
    assert back.intervals == ((2.98, 3.05),) and back.evidence == law.evidence
    assert back.constants[0].with_interval() == "3.02 ± 0.035 kg²·m⁴/s²"
    # stored laws without the new fields still read
    old = {k: v for k, v in obj.items() if k not in ("constants", "evidence")}
    legacy = Law.from_json(old, variables)
    assert legacy.intervals == () and legacy.evidence is None
    assert legacy.constants[0].with_interval() == str(legacy.constants[0])


def test_fit_config_rejects_an_unknown_test():
    with pytest.raises(ValueError, match="test: expected one of calibrated, factor"):
        FitConfig(test="strict")


def test_calibrated_test_rejects_fits_to_pure_noise():
    from noether_search.stages import fit_laws

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 20, 2))                 # 30 trajectories of i.i.d. noise
    ds = hamiltonian_data.Dataset.from_arrays(x, np.arange(20.0), ["q", "p"],
                                              ["rad", "kg*m**2/s"])
    result = fit_laws(ds, 5, FitConfig(workers=1))
    assert result.laws == [] and result.n_survivors == 0


def test_calibrated_test_names_the_fix_for_short_trajectories():
    from noether_search.stages import fit_laws

    x = np.random.default_rng(0).normal(size=(10, 4, 2))
    ds = hamiltonian_data.Dataset.from_arrays(x, np.arange(4.0), ["q", "p"],
                                              ["rad", "kg*m**2/s"])
    with pytest.raises(ValueError, match="paper's test"):
        fit_laws(ds, 3, FitConfig(workers=1))


# -- end to end: the fit stage at noise 0.05 ------------------------------------------------
@pytest.fixture(scope="module")
def fits():
    from noether_search.stages import fit_laws

    out = {}
    for name in ("pendulum", "damped-oscillator"):
        ds = load(name, noise=0.05)
        out[name] = (ds, fit_laws(ds, 5, FitConfig(workers=1)))
    return out


def test_a_law_is_accepted_on_the_noisy_pendulum(fits):
    ds, result = fits["pendulum"]
    assert result.laws, "no law accepted on the pendulum at noise 0.05"
    x = ds.x_train
    truth = Law.parse("p**2 - 3*cos(q)", ds)
    best = result.independent.basis[0]
    corr = np.corrcoef(best(x), truth(x))[0, 1]
    assert abs(corr) > 0.99
    assert best.evidence is not None and passes(best.evidence)
    assert all(c.low <= c.value <= c.high for c in best.constants)


def test_no_law_on_the_damped_oscillator(fits):
    _, result = fits["damped-oscillator"]
    assert result.laws == [] and result.independent.n_independent == 0


def test_near_laws_and_functions_of_better_laws_are_dropped():
    from dslsearch.acceptance import drop_explained

    ds = load("pendulum", noise=0.1, seed=0)
    x, _ = _points(ds)
    energy = Law.parse("p**2 - 3*cos(q)", ds)
    near = Law.parse("cos(0.93*p) + cos(q)", ds)     # the energy's shape for small swings
    squared = Law.parse("(p**2 - 3*cos(q))**2", ds)
    kept = drop_explained([energy, near, squared], x, noise_floor(ds.train))
    assert kept == [energy]
    # an independent law is kept, at noise and without
    for noise in (0.0, 0.1):
        osc = load("oscillator-2d", noise=noise)
        x, _ = _points(osc)
        ex = Law(Law.parse("px**2 + c0*x**2", osc).formula, [1.0], osc)
        ey = Law(Law.parse("py**2 + c0*y**2", osc).formula, [1.0], osc)
        assert drop_explained([ex, ey], x, noise_floor(osc.train)) == [ex, ey]
    # noise-free: the near-law is far from a function of the energy
    clean = load("pendulum")
    x, _ = _points(clean)
    assert len(drop_explained([energy, near], x, noise_floor(clean.train))) == 2


def test_resolution_separates_an_aliased_formula_from_a_resolved_law():
    """A phase advancing by 2π/c per sample makes ``sin(c·phi)`` constant on every sample;
    its first-order change is far larger than its spread. The pendulum's energy is tiny."""
    from dslsearch.acceptance import AcceptanceConfig, Evidence, passes, resolution

    c, dphi = 37.0, 2 * np.pi / 37.0
    phi = np.concatenate([0.3 * k + dphi * np.arange(50) for k in range(5)])[:, None]
    labels = np.repeat(np.arange(5), 50)
    values = np.sin(c * phi[:, 0])
    assert np.ptp(values[labels == 0]) < 1e-9           # constant on the samples
    grads = (c * np.cos(c * phi[:, 0]))[:, None]
    assert resolution(values, grads, phi, labels) > AcceptanceConfig().max_resolution

    pend = hamiltonian_data.load(system="pendulum")
    x, lab = segments(pend, FitConfig())
    law = Law.parse("p**2 - 3*cos(q)", pend)
    r = resolution(np.asarray(law(x), float), gradients(law, x), x, lab)
    assert 0 <= r < 0.2

    ok = Evidence("calibrated", p_value=0.0, noise_ratio=1.0, r_true=1e-3, resolution=0.5)
    assert passes(ok) and not passes(dataclasses.replace(ok, resolution=2.8))
    assert Evidence.from_json(ok.to_json()) == ok
