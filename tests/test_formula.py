"""The formula language: canonical forms, units, sympy round trip."""

import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dslsearch.formula import (FormulaError, add, cos, div, format_param, from_sympy, inp, mul,
                               param, sin, square, sub)
from hamiltonian_data.units import UnitError, parse_unit

Q, P = inp(0), inp(1)
PEND = [parse_unit("rad").dims, parse_unit("kg*m**2/s").dims]
SPRING = [parse_unit("m").dims, parse_unit("kg*m/s").dims]
NAMES = ["q", "p"]


def test_commutative_operations_are_canonical():
    assert mul(P, Q) == mul(Q, P)
    assert hash(mul(P, Q)) == hash(mul(Q, P))
    assert add(P, Q) == add(Q, P)
    assert add(square(P), mul(param, cos(Q))) == add(mul(cos(Q), param), square(P))


def test_non_commutative_operations_keep_order():
    assert sub(P, Q) != sub(Q, P)
    assert div(P, Q) != div(Q, P)


def test_sizes_count_nodes():
    pend = sub(square(P), mul(param, cos(Q)))
    spring = add(square(Q), mul(param, square(P)))
    assert pend.size == 7 and spring.size == 7
    assert pend.n_params == 1


def test_sin_of_unitful_input_rejected_and_scaled_accepted():
    assert not sin(P).is_valid(PEND)
    assert sin(mul(param, P)).is_valid(PEND)
    assert sin(Q).is_valid(PEND)  # radians are dimensionless
    assert not sin(Q).is_valid(SPRING)


def test_adding_unlike_units_rejected():
    assert not add(Q, P).is_valid(PEND)
    assert add(mul(param, Q), P).is_valid(PEND)
    assert not sub(square(P), cos(Q)).is_valid(PEND)
    assert sub(square(P), mul(param, cos(Q))).is_valid(PEND)


def test_parameter_units_are_solved():
    f = sub(square(P), mul(param, cos(Q)))
    (unit,) = f.param_units(PEND)
    assert format_param(2.99, unit) == "2.99 kg²·m⁴/s²"
    (unit,) = add(square(Q), mul(param, square(P))).param_units(SPRING)
    assert unit == parse_unit("s**2/kg**2").dims
    # sin(c*p): c makes its argument dimensionless
    (unit,) = sin(mul(param, P)).param_units(PEND)
    assert unit == parse_unit("s/(kg*m**2)").dims


def test_parse_published_formula_with_values():
    f, values = from_sympy("p**2 - 2.99*cos(q)", NAMES)
    assert f == sub(square(P), mul(param, cos(Q)))
    assert values == [2.99]
    x = np.random.default_rng(0).normal(size=(10, 2))
    np.testing.assert_allclose(f.evaluate(x, values), x[:, 1] ** 2 - 2.99 * np.cos(x[:, 0]))


def test_parse_errors_name_the_problem():
    with pytest.raises(FormulaError, match="unknown symbol 'z'"):
        from_sympy("z + q", NAMES)
    with pytest.raises(FormulaError, match="power 1/3"):
        from_sympy("q**(1/3)", NAMES)
    with pytest.raises(FormulaError, match="cannot parse"):
        from_sympy("q +* p", NAMES)


def test_unknown_unit_is_a_clear_error():
    with pytest.raises(UnitError, match="'blorf' is not a unit"):
        parse_unit("blorf")


def test_torch_callable_matches_numpy():
    torch = pytest.importorskip("torch")
    f, values = from_sympy("q**2 + 1.5*p**2", NAMES)
    x = np.random.default_rng(1).normal(size=(7, 2))
    g = f.torch_fn(values)
    np.testing.assert_allclose(g(torch.tensor(x)).numpy(), f.evaluate(x, values))


def formulas(max_leaves: int = 4):
    leaves = st.sampled_from([Q, P, param])
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(sin, children), st.builds(cos, children), st.builds(square, children),
            st.builds(add, children, children), st.builds(sub, children, children),
            st.builds(mul, children, children), st.builds(div, children, children)),
        max_leaves=max_leaves)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(formulas())
def test_sympy_round_trip(f):
    """Formula -> sympy string -> Formula -> sympy gives the same expression, with parameters
    replaced by a common symbol (their numbering can move with canonical reordering)."""
    expr = f.to_sympy(NAMES)
    assume(not expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo))  # e.g. q/(q - q)
    k = sympy.Symbol("k", real=True)

    def merge_params(e):
        return e.subs({s: k for s in e.free_symbols if s.name.startswith("c")})

    bad = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)
    assume(not merge_params(expr).has(*bad))  # e.g. q/(c0 - c1) once c0, c1 are merged
    g, values = from_sympy(sympy.sstr(expr), NAMES)
    assert len(values) == g.n_params
    back = g.to_sympy(NAMES, values)  # numbers sympy folded in (2*q) come back as values
    symbols = [sympy.Symbol(n, real=True) for n in NAMES] + [k]
    x = np.random.default_rng(0).uniform(0.3, 1.7, size=(3, 6))
    with np.errstate(all="ignore"):
        a = sympy.lambdify(symbols, merge_params(back), "numpy")(*x) + 0 * x[0]
        b = sympy.lambdify(symbols, merge_params(expr), "numpy")(*x) + 0 * x[0]
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
