"""The sum search's settings for noisy data: the drift test, the frequency-weighted
within-trajectory scatter, the noisy-data switch and the noise-corrected fit."""

import math

import numpy as np
import pytest

from dslsearch.acceptance import (AcceptanceConfig, Evidence, cosine_basis, drift, is_noisy,
                                  noise_floor, passes)
from dslsearch.fitting.objective import Segments, within
from dslsearch.sums.eiv import corrected_fit, noise_scatter, noise_share
from dslsearch.sums.library import lowpass_weighted


def _labels(K: int, n: int) -> np.ndarray:
    return np.repeat(np.arange(K), n)


def test_drift_white_noise_is_not_significant():
    rng = np.random.default_rng(0)
    labels = _labels(20, 60)
    values = np.repeat(rng.normal(size=20), 60) + 0.1 * rng.normal(size=labels.size)
    F, p = drift(values, labels)
    assert 0.7 < F < 1.4 and p > 0.01


def test_drift_of_a_slow_residual_is_significant():
    rng = np.random.default_rng(1)
    labels = _labels(20, 60)
    t = np.tile(np.linspace(0, 2 * np.pi, 60), 20)
    values = 0.05 * np.sin(t) + 0.1 * rng.normal(size=labels.size)   # 1/8 of the noise
    F, p = drift(values, labels)
    assert F > 1.5 and p < 1e-3


def test_cosine_basis_is_orthonormal_and_orthogonal_to_constants():
    B = cosine_basis(50, 6)
    assert B.shape == (50, 6)
    assert np.allclose(B.T @ B, np.eye(6))
    assert np.allclose(B.sum(0), 0.0)
    assert cosine_basis(5, 6).shape == (5, 3)


def test_lowpass_weighting_keeps_slow_modes_and_scales_fast_ones():
    n, K = 40, 3
    seg = Segments(_labels(K, n))
    B = cosine_basis(n, 12)
    slow, fast = B[:, 2], B[:, 10]                       # mode 3 is slow, 11 fast
    V = np.stack([np.tile(slow, K), np.tile(fast, K)])
    out = lowpass_weighted(within(V, seg), seg, 6, 0.25)
    assert np.allclose(out[0], V[0])
    assert np.allclose(out[1], 0.5 * V[1])
    assert lowpass_weighted(V, seg, 0, 0.25) is V


def test_drift_rejects_only_where_noise_explains_the_scatter():
    drifting = Evidence("calibrated", p_value=1e-30, noise_ratio=1.2, r_true=0.05,
                        resolution=0.1, drift=2.0, drift_p=1e-6)
    assert passes(drifting)                       # the exhaustive search's test: no drift
    assert not passes(drifting, drift=True)
    exact = Evidence("calibrated", p_value=1e-30, noise_ratio=1e-6, r_true=1e-12,
                     resolution=0.1, drift=5.0, drift_p=1e-9)
    assert passes(exact, drift=True)              # round-off's time structure is ignored
    white = Evidence("calibrated", p_value=1e-30, noise_ratio=1.0, r_true=0.05,
                     resolution=0.1, drift=1.1, drift_p=0.2)
    assert passes(white, AcceptanceConfig(), drift=True)


def test_evidence_json_keeps_the_drift():
    ev = Evidence("calibrated", 1e-9, 1.0, math.nan, 3, 0.1, 0.2, 1.3, 0.01)
    back = Evidence.from_json(ev.to_json())
    assert back.drift == pytest.approx(1.3) and back.drift_p == pytest.approx(0.01)
    old = Evidence.from_json({"test": "calibrated", "p_value": 1e-9, "noise_ratio": 1.0})
    assert math.isnan(old.drift_p)


def test_is_noisy_on_the_pendulum():
    import hamiltonian_data

    system = hamiltonian_data.SYSTEMS["pendulum"]
    for noise, expected in ((0.0, False), (0.01, True), (0.1, True)):
        ds = system.generate(noise=noise, seed=0)
        x = np.concatenate([np.asarray(t.x) for t in ds.train])
        assert is_noisy(noise_floor(ds.train, robust=True), x) is expected


def test_corrected_fit_removes_the_attenuation():
    """g = a + b is conserved; a carries 4 times b's noise. The plain fit leans on b,
    the corrected one recovers the 1:1 weights and a noise share near 1."""
    rng = np.random.default_rng(3)
    K, n = 30, 80
    labels = _labels(K, n)
    seg = Segments(labels)
    level = np.repeat(rng.normal(size=K) * 3.0, n)
    u = rng.normal(size=labels.size) * 0.5
    x_true = np.stack([u, level - u], 1)                        # a + b = level
    sigma = np.array([0.4, 0.1])
    x = x_true + rng.normal(size=x_true.shape) * sigma

    def values(xp):
        return xp.T.copy()                                       # terms a, b: (2, N)

    F = values(x) - values(x).mean(1, keepdims=True)
    Fw = within(F, seg)
    T, W = F @ F.T, Fw @ Fw.T
    S_T, S_W = noise_scatter(values, x, seg, sigma, draws=32)
    lam, U = np.linalg.eigh(T)
    A = U / np.sqrt(lam)
    plain = A @ np.linalg.eigh(A.T @ W @ A)[1][:, 0]
    R_c, v = corrected_fit(T, W, S_T, S_W)
    assert abs(plain[0] / plain[1]) < 0.8                       # attenuated
    assert v[0] / v[1] == pytest.approx(1.0, abs=0.1)
    assert noise_share(v, W, S_W) == pytest.approx(1.0, abs=0.15)
    assert noise_share(plain, W, S_W) > 1.1 or noise_share(plain, W, S_W) < 0.9


def test_the_judge_is_noisy_only_on_noisy_data_and_when_asked():
    import hamiltonian_data
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from noether_search.stages.fit import calibrated_judge

    system = hamiltonian_data.SYSTEMS["spring"]
    for noise, asked, expected in ((0.0, True, False), (0.05, True, True),
                                   (0.05, False, False)):
        ds = system.generate(noise=noise, seed=0)
        x, labels = segments(ds, FitConfig())
        judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 1,
                                 FitConfig(), asked)
        assert judge.noisy is expected
