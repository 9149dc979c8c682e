"""On noisy data every set of one term less than a set the beam kept joins the level below
(``SumsConfig.subsets_below``, :func:`dslsearch.sums.select.with_subsets`): a law the beam
reached only with an extra term is scored at its own size."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.sums.select import Cross, beam_search, set_r, with_subsets
from hamiltonian_data import load


def _levels(seed: int = 0):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((12, 200))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Zw = Z - 0.3 * Z.mean(axis=1, keepdims=True)
    cross = Cross(Z, Zw)
    size = np.arange(1, 13)
    return beam_search(Z, Zw, size, 4, 3, 0.0, cross=cross), cross, size


def test_every_subset_of_a_kept_set_joins_the_level_below_with_its_r():
    levels, cross, size = _levels()
    out = with_subsets(levels, cross, size, 0.0)
    assert len(out) == len(levels)
    assert out[0] == levels[0]                      # single terms: as the beam left them
    for k in range(1, len(levels) - 1):
        have = {ts.terms: ts.R for ts in out[k]}
        own = {ts.terms for ts in levels[k]}
        assert own <= set(have)
        assert len(out[k]) - len(levels[k]) == len(set(have) - own)   # each added once
        for ts in levels[k + 1]:
            for d in ts.terms:
                sub = tuple(t for t in ts.terms if t != d)
                assert have[sub] == pytest.approx(set_r(cross, sub), rel=1e-9)
        assert [ts.R for ts in out[k]] == sorted(ts.R for ts in out[k])
    assert out[-1] == levels[-1]                    # the largest size has nothing above


def test_only_the_beams_own_sets_give_subsets():
    """No cascade: the sets of two terms come from the beam's sets of three, not from the
    sets of three that the sets of four brought in."""
    levels, cross, size = _levels(1)
    out = with_subsets(levels, cross, size, 0.0)
    pairs = {ts.terms for ts in levels[1]} | {
        tuple(t for t in ts.terms if t != d) for ts in levels[2] for d in ts.terms}
    assert {ts.terms for ts in out[1]} == pairs


@pytest.mark.slow
def test_kepler_at_high_noise_reports_both_runge_lenz_components():
    """σ = 0.1, seed 68: without the subsets the sum search reports the angular momentum
    alone (the component's three terms were kept only with ``x`` beside them); with them,
    ``x py² − px py y − x/r`` and, from its image, ``y px² − px py x − y/r``."""
    from dslsearch.acceptance import noise_floor
    from dslsearch.sums import SumsConfig, fit_sums
    from noether_search.stages.fit import calibrated_judge

    ds = load("kepler", noise=0.1, seed=68)
    config = FitConfig(seed=68)
    x, labels = segments(ds, config)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 30000, config)
    X, Y, PX, PY = sympy.symbols("x y px py")
    R = sympy.sqrt(X ** 2 + Y ** 2)
    want = [{X * PY ** 2, PX * PY * Y, X / R}, {Y * PX ** 2, PX * PY * X, Y / R}]
    found = {}
    for on in (False, True):
        res = fit_sums(ds, None, config, SumsConfig(subsets_below=on), judge=judge)
        found[on] = [{t.as_coeff_Mul()[1] for t in sympy.Add.make_args(sympy.sympify(str(law)))}
                     for law in res.laws]
    assert all(w not in found[False] for w in want)
    assert all(w in found[True] for w in want)
