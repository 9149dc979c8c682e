"""A sum of terms whose refit drives its leading term's share to nothing is led again by a
term it needs: finite constants, the vanished term left out."""

from __future__ import annotations

import numpy as np

from dslsearch.fitting import FitConfig
from dslsearch.formula import from_sympy
from dslsearch.law import Law
from dslsearch.sums.compose import _param_terms, relead, split_sum, sum_formula
from hamiltonian_data import load
from noether_search.stages.fit import finish_laws

NAMES = ["x", "y", "px", "py"]


def _term(text):
    formula, values = from_sympy(text, NAMES)
    assert not values
    return formula


# the Runge–Lenz x component's terms, led by a term it does not need (x)
TERMS = [_term(t) for t in ("x", "px*py*y", "py**2*x", "x/sqrt(x**2 + y**2)")]


def test_split_sum_gives_back_the_terms_of_sum_formula():
    grouped = _term("px**2 + py**2")                # a sum as one term, here the lead
    terms = [grouped, _term("1/sqrt(x**2 + y**2)"), _term("x*py")]
    lead, others = split_sum(sum_formula(terms, 0))
    assert lead == grouped and sorted(map(str, others)) == sorted(map(str, terms[1:]))
    formula, _ = from_sympy("c0*sin(x*c1)", NAMES)
    assert split_sum(formula) is None
    assert split_sum(grouped) is None               # no constant: not a fitted sum


def test_relead_drops_the_vanished_lead_and_keeps_the_law():
    ds = load("kepler", seed=11)
    x = ds.x_train
    formula = sum_formula(TERMS, 0)
    scale = 2.0e14                                  # what the refit reached (x's share → 0)
    by_term = {TERMS[1]: -scale, TERMS[2]: scale, TERMS[3]: -scale}
    params = np.asarray([by_term[t] for t in _param_terms(formula)])
    new_formula, new_params = relead(formula, params, x)
    lead, others = split_sum(new_formula)
    assert TERMS[0] not in [lead, *others]          # the x term is gone
    assert len(others) == 2 and np.allclose(np.abs(new_params), 1.0)
    before = Law(formula, params, ds)(x)
    after = Law(new_formula, new_params, ds)(x)
    scale_back = np.polyfit(after, before, 1)[0]
    assert np.allclose(before, scale_back * after + (before - scale_back * after).mean(),
                       rtol=1e-6, atol=1e-6 * np.abs(before).max())
    assert relead(new_formula, new_params, x) is None   # led well already: unchanged


def test_a_reported_runge_lenz_component_has_finite_constants():
    # Kepler at σ = 0.1: the refit of the sum, led by x (a term the law does not need),
    # drives x's share towards nothing; reported, the law is led by a term it needs
    ds = load("kepler", noise=0.1, seed=11)
    formula = sum_formula(TERMS, 0)
    by_term = {TERMS[1]: -1.0e3, TERMS[2]: 1.0e3, TERMS[3]: -1.0e3}
    params = np.asarray([by_term[t] for t in _param_terms(formula)])
    out = finish_laws([Law(formula, params, ds, search="sums")], ds, FitConfig(seed=11),
                      n_tests=1000)
    assert len(out) == 1, "the Runge–Lenz component is judged a law"
    done = out[0]
    lead, others = split_sum(done.formula)
    assert lead != TERMS[0]
    for term, value, (low, high) in zip(others, done.params, done.intervals):
        assert low <= value <= high and high - low < 0.5
        if term == TERMS[0]:
            assert low < 0 < high                   # x: no share the data can see
        else:
            assert 0.9 < abs(value) < 1.1           # py²x − px·py·y − x/r


def test_a_lead_with_a_sizeable_share_stays():
    # p² − 3 cos q: cos q carries the larger share, but p² carries more than a tenth
    ds = load("pendulum", seed=0)
    p2, cos_q = (from_sympy(t, ["q", "p"])[0] for t in ("p**2", "cos(q)"))
    assert relead(sum_formula([p2, cos_q], 0), np.asarray([-3.0]), ds.x_train) is None
