"""The drift test's second part: a formula that changes with the motion faster than the
slow modes reach, smoothly at the sampling's scale, is not white noise."""

from __future__ import annotations

import numpy as np
import pytest

from dslsearch.acceptance import drift, failures, lag_one, law_evidence, noise_floor
from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from hamiltonian_data import load


def _case(rng, amplitude: float, cycles: float = 20.0):
    """Twelve trajectories of 200 points: unit white noise plus ``amplitude`` times a
    sine of ``cycles`` periods per trajectory (far beyond the six slow modes)."""
    n, K = 200, 12
    t = np.linspace(0, 2 * np.pi * cycles, n)
    values = rng.standard_normal(n * K) + amplitude * np.tile(np.sin(t), K)
    return values, np.repeat(np.arange(K), n)


def test_white_noise_is_not_drift():
    rng = np.random.default_rng(0)
    ps = [drift(*_case(rng, 0.0))[1] for _ in range(40)]
    assert min(ps) > 1e-3 and np.mean(np.array(ps) < 0.1) < 0.3


def test_a_fast_smooth_change_is_drift():
    values, labels = _case(np.random.default_rng(1), 0.6)
    F, p_modes = drift(values, labels, lag=False)
    assert p_modes > 0.01                      # the slow modes see nothing
    assert drift(values, labels)[1] < 1e-6     # the lag-one part does
    z, p = lag_one(np.split(values - values.mean(), 12))
    assert z > 5 and p < 1e-6


def test_lag_one_ignores_the_noise_size_and_short_parts():
    rng = np.random.default_rng(2)
    parts = [s * rng.standard_normal(300) for s in (1e-3, 1.0, 1e3)] + [np.ones(1)]
    z, p = lag_one(parts)
    assert abs(z) < 4 and p > 1e-4
    assert np.isnan(lag_one([np.zeros(5)])[0])


@pytest.mark.parametrize("system, text, seed", [
    # stand-ins reported at σ = 0.1 before the lag-one part: every question passed them
    ("coupled-oscillators", "0.274598806220818*p1**2*p2**2 + 1.04375778294245*p1*p2*q1*q2"
     " - 0.0900431629113325*p1*p2*(q1 + q2)**2 + q1**2*q2**2"
     " - 0.161108023393723*q1*q2*(q1 + q2)**2 + 0.00606860488607363*(q1 + q2)**2", 12),
    ("lotka-volterra", "3.21636661850538*x + y - 4.69785981963035*log(x**2*y)"
     " - 3.21636661850538*sin(y)", 12),
])
def test_stand_ins_at_noise_01_fail_the_drift_test(system, text, seed):
    ds = load(system, noise=0.1, seed=seed)
    x, labels = segments(ds, FitConfig(seed=seed))
    law = Law.parse(text, ds)
    ev = law_evidence(law, x, labels, noise_floor(ds.train, robust=True), 10 ** 5)
    assert "drift" in failures(ev, drift=True)
