"""A formula of one state variable is conserved only where that variable is: the
calibrated test asks the variable's own noise ratio (``Evidence.variable_ratio``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dslsearch.acceptance import (AcceptanceConfig, Evidence, evidence, failures, gradients,
                                  law_evidence, noise_floor, passes, variable_ratio)
from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from hamiltonian_data import load


def _evidence(ds, text, seed):
    x, labels = segments(ds, FitConfig(seed=seed))
    return law_evidence(Law.parse(text, ds), x, labels, noise_floor(ds.train, robust=True),
                        10 ** 5)


def test_a_steep_power_of_a_moving_variable_fails_only_by_its_variable():
    """Rigid body, σ = 0.05, seed 16: ``L1**12`` was reported beside the two invariants.
    It passes the noise ratio and rest questions (and passed the drift test before that
    test whitened each point by its predicted noise): its weight sits on the trajectories
    of largest ``|L1|``, where ``L1`` barely moves. ``L1`` itself does not stay within the
    noise."""
    ds = load("rigid-body", noise=0.05, seed=16)
    ev = _evidence(ds, "L1**12", 16)
    acc = AcceptanceConfig()
    assert ev.noise_ratio <= acc.max_noise_ratio and ev.p_value <= acc.alpha
    assert ev.variable_ratio > 10 * acc.max_noise_ratio
    assert "rest" not in failures(ev, drift=True)
    assert "variable" in failures(ev, drift=True) and not passes(ev, drift=True)
    for text in ("L1**2 + L2**2 + L3**2", "6*L1**2 + 3*L2**2 + 2*L3**2"):
        inv = _evidence(ds, text, 16)
        assert math.isnan(inv.variable_ratio) and passes(inv, acc, drift=True), inv


def _levels_case(rng, moving: bool):
    """Eight trajectories of (u, v): u at a level of its own (drifting by 20 % along the
    trajectory when ``moving``), v oscillating; noise 1e-3 on both."""
    n, s = 80, 1e-3
    t = np.linspace(0, 4 * np.pi, n)
    u = np.concatenate([a * (1 + (0.2 * np.sin(t) if moving else 0 * t))
                        for a in np.linspace(0.5, 2.0, 8)])
    v = np.tile(np.cos(t), 8)
    x = np.stack([u, v], 1) + s * rng.standard_normal((8 * n, 2))
    return x, np.repeat(np.arange(8), n), np.array([s, s])


@pytest.mark.parametrize("moving", [False, True])
def test_the_variables_ratio_is_that_of_the_variable(moving):
    x, labels, sigma = _levels_case(np.random.default_rng(0), moving)

    def law(z):
        return z[..., 0] ** 3

    ratio = variable_ratio(gradients(law, x), x, labels, sigma)
    own = evidence(x[:, 0], np.eye(2)[[0] * len(x)], labels, sigma, 1).noise_ratio
    assert ratio == pytest.approx(own)
    if moving:
        assert ratio > 100
    else:
        assert 0.7 < ratio < 1.3       # a conserved variable: its noise only


def test_two_variables_or_none_give_no_variable_ratio():
    x, labels, sigma = _levels_case(np.random.default_rng(1), False)
    both = variable_ratio(gradients(lambda z: z[..., 0] * z[..., 1], x), x, labels, sigma)
    none = variable_ratio(np.zeros_like(x), x, labels, sigma)
    one_column = variable_ratio(np.ones((len(x), 1)), x[:, :1], labels, sigma[:1])
    assert math.isnan(both) and math.isnan(none) and math.isnan(one_column)


def test_variable_ratio_round_trips_through_json_and_old_json_reads_as_unknown():
    ev = Evidence("calibrated", p_value=1e-9, noise_ratio=1.0, variable_ratio=42.5)
    assert Evidence.from_json(ev.to_json()).variable_ratio == pytest.approx(42.5)
    old = {k: v for k, v in ev.to_json().items() if k != "variable_ratio"}
    assert math.isnan(Evidence.from_json(old).variable_ratio)
    assert "variable" in failures(ev) and failures(Evidence(
        "calibrated", p_value=1e-9, noise_ratio=1.0, r_true=1e-3)) == ()
