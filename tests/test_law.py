"""The one Law type: evaluation, printing, constants with units, JSON, parsing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy
import torch

from dslsearch.formula import FormulaError, cos, inp, mul, param, square, sub
from dslsearch.law import Law, tree_from_json, tree_to_json
from hamiltonian_data.systems import Pendulum

PENDULUM = (("q", "rad"), ("p", "kg*m**2/s"))
FORMULA = sub(square(inp(1)), mul(param, cos(inp(0))))   # p**2 - c0*cos(q)


@pytest.fixture
def law():
    return Law(FORMULA, [3.0], PENDULUM, R_true=1e-9, R_random=0.5,
               variants=("p**2 - 3.0*cos(q)", "cos(q) - 0.3333*p**2"), n_merged=3, node=6)


def test_call_on_numpy_and_torch(law):
    x = np.array([[0.1, 1.0], [0.2, 2.0], [0.3, -1.0]])            # (N, d)
    want = x[:, 1] ** 2 - 3.0 * np.cos(x[:, 0])
    np.testing.assert_allclose(law(x), want)
    xt = torch.tensor(x, requires_grad=True)
    out = law(xt)
    assert isinstance(out, torch.Tensor) and out.shape == (3,)
    np.testing.assert_allclose(out.detach().numpy(), want)
    out.sum().backward()                                            # differentiable
    np.testing.assert_allclose(xt.grad[:, 1].numpy(), 2 * x[:, 1])
    np.testing.assert_allclose(law.torch_fn()(torch.tensor(x)).numpy(), want)


def test_conserved_along_a_pendulum_trajectory():
    ds = Pendulum().generate()
    law = Law.parse(ds.invariant, ds.variables)
    for tr in ds.test:
        v = law(np.asarray(tr.x))
        assert np.std(v) < 1e-6 * (1 + np.abs(v).mean())


def test_printing(law):
    q, p = sympy.symbols("q p", real=True)
    assert str(law) == "p**2 - 3.0*cos(q)"
    assert sympy.simplify(law.sympy() - (p**2 - 3 * sympy.cos(q))) == 0
    assert law.latex() == r"p^{2} - 3.0 \cos{\left(q \right)}"
    assert "c_{0}" in law.latex(with_values=False)
    assert law.pretty() == "-c0*cos(q) + p**2  (c0 = 3 kg²·m⁴/s²)"
    assert law.size == 7 and law.n_params == 1 and law.names == ["q", "p"]
    assert law.n_variants == 2


def test_constants_carry_units(law):
    (c0,) = law.constants
    assert c0.name == "c0" and c0.value == 3.0 and c0.unit == "kg²·m⁴/s²"
    assert str(c0) == "3 kg²·m⁴/s²"
    assert law.dims == c0.dims


def test_json_round_trip(law):
    obj = json.loads(json.dumps(law.to_json()))
    back = Law.from_json(obj, PENDULUM)
    assert back.formula == law.formula and str(back) == str(law)
    np.testing.assert_array_equal(back.params, law.params)
    assert (back.R_true, back.R_random, back.variants, back.n_merged, back.node) == \
        (law.R_true, law.R_random, law.variants, law.n_merged, law.node)
    assert tree_from_json(tree_to_json(FORMULA)) == FORMULA
    text_only = Law.from_json({"formula": "p**2 - 3.0*cos(q)", "R_true": None}, PENDULUM)
    assert str(text_only) == str(law) and math.isnan(text_only.R_true)


def test_parse(law):
    parsed = Law.parse("p**2 - 3*cos(q)", PENDULUM)
    assert str(parsed) == str(law)
    unfitted = Law.parse("p**2 - c0*cos(q)", PENDULUM)
    assert np.isnan(unfitted.params).all() and str(unfitted) == "-c0*cos(q) + p**2"
    with pytest.raises(FormulaError, match="'p \\+ q'.*unit-valid"):
        Law.parse("p + q", PENDULUM)
    with pytest.raises(FormulaError, match="unknown symbol 'x'"):
        Law.parse("x**2", PENDULUM)


def test_params_must_match_the_formula():
    with pytest.raises(ValueError, match="params: the formula .* has 1 parameters, got 2"):
        Law(FORMULA, [1.0, 2.0], PENDULUM)
