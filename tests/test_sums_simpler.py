"""On noisy data each size's chosen set is chosen again beside its variants with one term
replaced by a simpler form of it (``SumsConfig.simpler_terms``,
:func:`dslsearch.sums.select.simpler_forms`, :func:`dslsearch.sums.select.with_simpler`):
a term and a function of it fit a law about equally well where the term's range is small."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from dslsearch import formula as F
from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.sums.select import Cross, beam_search, set_r, simpler_forms, with_simpler
from hamiltonian_data import load


def test_simpler_forms_peel_outer_functions_of_one_argument():
    x0, x1 = F.inp(0), F.inp(1)
    formulas = [x0, F.cos(x0), F.sin(F.cos(x0)), F.square(x1), F.mul(x0, F.cos(x0)),
                F.sin(F.square(x1))]
    assert simpler_forms(formulas) == [(), (0,), (1, 0), (), (), (3,)]


def _level(seed: int = 0):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((10, 150))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Zw = Z - 0.3 * Z.mean(axis=1, keepdims=True)
    cross = Cross(Z, Zw)
    size = np.arange(1, 11)
    return beam_search(Z, Zw, size, 3, 2, 0.0, cross=cross)[2], cross, size


def test_variants_of_the_chosen_set_join_its_level_with_their_r():
    level, cross, size = _level()
    chosen = level[0].terms
    others = [t for t in range(10) if t not in chosen]
    simpler = [()] * 10
    simpler[chosen[0]] = (others[0], chosen[1])      # a term of the set itself: no variant
    simpler[chosen[2]] = (others[1],)
    out = with_simpler(level, chosen, simpler, cross, size, 0.0)
    want = {tuple(sorted({*chosen} - {chosen[0]} | {others[0]})),
            tuple(sorted({*chosen} - {chosen[2]} | {others[1]}))}
    have = {ts.terms: ts.R for ts in out}
    assert {ts.terms for ts in level} <= set(have)
    assert set(have) - {ts.terms for ts in level} == want - {ts.terms for ts in level}
    for t in want:
        assert have[t] == pytest.approx(set_r(cross, t), rel=1e-9)
    assert [ts.R for ts in out] == sorted(ts.R for ts in out)
    assert with_simpler(level, chosen, [()] * 10, cross, size, 0.0) is level


@pytest.mark.slow
def test_double_pendulum_at_high_noise_reports_the_energys_own_terms():
    """σ = 0.1, seed 59: without the simpler forms the sum search reports the energy with
    ``sin(cos θ2)`` in place of ``cos θ2`` (not conserved); with them, the energy's terms."""
    from dslsearch.acceptance import noise_floor
    from dslsearch.sums import SumsConfig, fit_sums
    from noether_search.stages.fit import calibrated_judge

    ds = load("double-pendulum", noise=0.1, seed=59)
    config = FitConfig(seed=59)
    x, labels = segments(ds, config)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 30000, config)
    t1, t2, w1, w2 = sympy.symbols("theta1 theta2 omega1 omega2")
    energy = {w1 ** 2, w1 * w2 * sympy.cos(t1 - t2), w2 ** 2, sympy.cos(t1), sympy.cos(t2)}
    found = {}
    for on in (False, True):
        res = fit_sums(ds, None, config, SumsConfig(simpler_terms=on), judge=judge)
        found[on] = [{t.as_coeff_Mul()[1] for t in sympy.Add.make_args(sympy.sympify(str(law)))}
                     for law in res.laws]
    assert energy not in found[False]
    assert any(sympy.sin(sympy.cos(t2)) in terms for terms in found[False])
    assert energy in found[True]
