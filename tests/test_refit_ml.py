"""Constants fitted for the noise by the first-order maximum likelihood
(``dslsearch.uncertainty.ml_score``, ``project``, ``refit``)."""

from __future__ import annotations

import numpy as np
import pytest

from dslsearch.acceptance import refit_floor
from dslsearch.fitting import FitConfig
from dslsearch.fitting.objective import Segments, r_score
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from dslsearch.uncertainty import ml_score, project, refit
from hamiltonian_data import load

DP_ENERGY = ("c0*omega1**2 + c1*omega1*omega2*cos(theta1 - theta2) + omega2**2"
             " - c2*cos(theta1) - c3*cos(theta2)")
DP_TRUTH = np.array([2.0, 2.0, 4 * 9.81, 2 * 9.81])       # m = l = 1, g = 9.81, times 2


def _case(name: str, noise: float, seed: int):
    ds, clean = load(name, noise=noise, seed=seed), load(name, noise=0.0, seed=seed)
    x, labels = segments(ds, FitConfig())
    sigma = noise * np.concatenate([clean.x_train, clean.x_test]).std(axis=0)
    return ds, clean, x, labels, sigma


def test_ml_score_is_about_one_for_the_true_law_and_large_off_it():
    ds, _, x, labels, sigma = _case("pendulum", 0.05, 0)
    formula = Law.parse("p**2 - c0*cos(q)", ds).formula
    true = ml_score(formula, np.array([3.0]), x, labels, sigma)
    K = int(labels.max()) + 1
    assert abs(true - (1 - K / len(x))) < 0.15                # chi-square per point
    assert ml_score(formula, np.array([2.5]), x, labels, sigma) > 1.5 * true
    # the score is the noise's: it does not depend on the law's scale
    scaled = Law.parse("c0*p**2 - 6*cos(q)", ds).formula
    assert ml_score(scaled, np.array([2.0, 6.0]), x, labels, sigma) == pytest.approx(true, rel=1e-9)


def test_project_moves_the_points_onto_their_level_sets():
    ds, clean, x, labels, sigma = _case("spring", 0.1, 1)
    law = Law.parse("p**2 + 1.0*q**2", ds)
    moved = project(law.formula, law.params, x, labels, sigma)
    seg = Segments(labels)
    before = r_score(np.asarray(law(x), np.float64), seg)
    after = r_score(np.asarray(law(moved), np.float64), seg)
    assert after < 0.05 * before
    # towards the noise-free states: the moved points are nearer them than the measured
    xc, _ = segments(clean, FitConfig())
    assert np.linalg.norm((moved - xc) / sigma) < np.linalg.norm((x - xc) / sigma)


@pytest.mark.parametrize("seed", [0, 1])
def test_ml_refit_recovers_the_double_pendulums_energy(seed):
    ds, _, x, labels, _ = _case("double-pendulum", 0.05, seed)
    formula = Law.parse(DP_ENERGY, ds).formula
    start = refit(formula, np.array([1.9, 1.9, 40.0, 19.0]), x, labels)       # plain R
    sigma = refit_floor(ds.train)
    ml = refit(formula, start, x, labels, sigma, method="ml")
    assert np.max(np.abs(ml / DP_TRUTH - 1)) < 0.04, ml
    # plain R leans on the quiet terms: its constants are further off
    assert np.max(np.abs(ml / DP_TRUTH - 1)) < np.max(np.abs(start / DP_TRUTH - 1))


def test_ml_refit_weighs_out_points_whose_noise_leaves_the_laws_domain():
    """Lotka–Volterra's ``log x`` near ``x = 0``: a point within σ of 0 has no variance
    to weigh it by; the others still fit the constants."""
    ds, _, x, labels, _ = _case("lotka-volterra", 0.1, 0)
    law = Law.parse("x - 3.0*log(x) + 2.0*y - 4.0*log(y)", ds)
    truth = law.params
    sigma = refit_floor(ds.train)
    assert np.any(x - sigma < 0)                         # some shifted copies leave it
    assert np.isfinite(ml_score(law.formula, truth, x, labels, sigma))
    start = refit(law.formula, 0.9 * truth, x, labels)                        # plain R
    ml = refit(law.formula, start, x, labels, sigma, method="ml")
    assert np.max(np.abs(ml / truth - 1)) < 0.5 * np.max(np.abs(start / truth - 1))


def test_refit_without_noise_is_the_fit_of_r_and_an_unknown_method_is_refused():
    ds, _, x, labels, _ = _case("pendulum", 0.0, 0)
    formula = Law.parse("p**2 - c0*cos(q)", ds).formula
    for method in ("ml", "moments"):
        assert refit(formula, np.array([2.5]), x, labels, None, method=method)[0] == \
            pytest.approx(3.0, rel=1e-6)
    with pytest.raises(ValueError, match="refit method 'sampson'"):
        refit(formula, np.array([2.5]), x, labels, None, method="sampson")


def test_the_fit_stage_refits_by_its_settings_method():
    from dslsearch.acceptance import law_evidence, noise_floor
    from dslsearch.fitting import FitConfig
    from noether_search.stages.fit import finish_laws

    with pytest.raises(ValueError, match="refit: expected one of ml, moments"):
        FitConfig(refit="sampson")
    assert "refit" not in FitConfig(refit="ml").result_fields()      # the fits are shared
    ds = load("double-pendulum", noise=0.1, seed=12)
    config = FitConfig(seed=12)
    x, labels = segments(ds, config)
    law = Law.parse(DP_ENERGY.replace("c0", "2.02").replace("c1", "1.84")
                    .replace("c2", "44.96").replace("c3", "20.12"), ds)       # plain R's
    law = law.with_evidence(law_evidence(law, x, labels, noise_floor(ds.train), 10 ** 6))
    errors = {}
    for method in ("moments", "ml"):
        [done] = finish_laws([law], ds, FitConfig(seed=12, refit=method), 10 ** 6)
        errors[method] = np.max(np.abs(done.params / DP_TRUTH - 1))
        assert len(done.intervals) == 4
    assert errors["ml"] < 0.08 < errors["moments"], errors


def test_the_ml_score_of_a_sum_is_combined_from_kept_evaluations():
    """A law affine in its constants is evaluated once per constant and combined
    (``_Stacked``); a law that is not is evaluated at each call; both give the score of a
    direct evaluation."""
    from dslsearch.uncertainty import _Stacked

    ds, _, x, labels, sigma = _case("double-pendulum", 0.05, 0)
    affine = Law.parse(DP_ENERGY, ds).formula
    curved = Law.parse("omega1**2 + omega2**2 - c0*cos(c1*theta1) - c2*cos(theta2)",
                       ds).formula
    for formula, start, is_affine in ((affine, DP_TRUTH, True),
                                      (curved, np.array([38.0, 1.0, 19.0]), False)):
        stacked = _Stacked(formula, x, sigma, start)
        assert (stacked.basis is not None) == is_affine
        for p in (start, 1.1 * start - 0.3):
            kept = ml_score(formula, p, x, labels, sigma, stacked=(stacked, None))
            assert kept == pytest.approx(ml_score(formula, p, x, labels, sigma), rel=1e-9)
