"""The operator table: implementations agree, unit rules, printing, and every consumer reads it."""

import numpy as np
import pytest
import sympy
import torch

from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting.evaluate import NodeValues
from dslsearch.fitting.optimise import evaluate_topology, linearise, topology
from dslsearch.fitting.skeleton import (PARAM_S, RECIPROCAL, SLOT, SkeletonBuilder,
                                        evaluate_struct, struct_op)
from dslsearch.formula import Formula, FormulaError, apply, from_sympy, inp, mul, param, sub
from dslsearch.ops import (ADD, COS, DIMENSIONLESS_ARG, DIV, EXP, FREE, FUNC, INPUT, INV,
                           INVALID, LOG, MUL, OPS, PAPER_OPS, PARAM, POWER, SIN, SQRT, SQUARE,
                           SUB, SUM, Notation, Op, by_name, name_of)
from hamiltonian_data.units import DIMENSIONLESS, parse_unit

Q, P = inp(0), inp(1)
NAMES = ["q", "p"]
METRE, SECOND = parse_unit("m").dims, parse_unit("s").dims
PEND = [parse_unit("rad").dims, parse_unit("kg*m**2/s").dims]
ALL_OPS = sorted(OPS)


def sample_args(arity: int, n: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(arity)
    return [rng.uniform(0.3, 1.7, n) for _ in range(arity)]


def apply_to_inputs(code: int) -> Formula:
    """``op(q)`` or ``op(q, p)``."""
    return apply(code, *(Q, P)[: OPS[code].arity])


def text(f: Formula, names=NAMES) -> str:
    """The sympy-syntax text of ``f`` from the table's notations (the enumerator's printer)."""
    def build(node):
        if node.op == INPUT:
            return names[node.index], 0
        if node.op == PARAM:  # formulas here have at most one parameter
            return "c0", 0
        return OPS[node.op].text.render([build(a) for a in node.args])
    return build(f)[0]


# -- the table ----------------------------------------------------------------------------
def test_stored_codes_never_change():
    assert {c: OPS[c].name for c in OPS} == {ADD: "add", SUB: "sub", MUL: "mul", DIV: "div",
                                             SIN: "sin", COS: "cos", SQUARE: "square",
                                             SQRT: "sqrt", LOG: "log", EXP: "exp", INV: "inv"}
    assert (INPUT, PARAM, ADD, SQUARE, SQRT, LOG, EXP, INV) == (0, 1, 2, 8, 9, 10, 11, 12)
    assert name_of(INPUT) == "input" and name_of(SQUARE) == "square"
    assert by_name("mul") is OPS[MUL]
    with pytest.raises(KeyError, match="no operation named 'pow'"):
        by_name("pow")


@pytest.mark.parametrize("code", ALL_OPS)
def test_numpy_torch_sympy_implementations_agree(code):
    op = OPS[code]
    args = sample_args(op.arity)
    want = op.numpy(*args)
    got_torch = op.torch(*[torch.as_tensor(a) for a in args]).numpy()
    got_sympy = [float(op.sympy(*[sympy.Float(a[k]) for a in args])) for k in range(len(want))]
    np.testing.assert_allclose(got_torch, want, rtol=1e-12)
    np.testing.assert_allclose(got_sympy, want, rtol=1e-12)
    assert op.impl(np) is op.numpy and op.impl(torch) is op.torch


def test_impl_rejects_other_libraries():
    import math

    with pytest.raises(ValueError, match="lib: expected the numpy, torch or sympy module"):
        OPS[SIN].impl(math)


def test_commutative_flags_match_the_implementations():
    for op in OPS.values():
        if op.arity == 2:
            x, y = sample_args(2)
            assert op.commutative == bool(np.allclose(op.numpy(x, y), op.numpy(y, x)))


def test_cancelling_ops_are_constant_on_equal_arguments():
    x = sample_args(1)[0]
    for op in OPS.values():
        if op.cancels:
            assert np.ptp(op.numpy(x, x)) == 0


# -- unit rules ---------------------------------------------------------------------------
def test_sin_needs_a_dimensionless_argument():
    rule = OPS[SIN].units
    assert rule.combine(PEND[0]) == DIMENSIONLESS  # radians
    assert rule.combine(PEND[1]) is INVALID
    assert rule.combine(FREE) == DIMENSIONLESS  # a parameter makes it dimensionless
    assert rule.solve(DIMENSIONLESS, FREE) == (DIMENSIONLESS,)


def test_square_doubles_dimensions():
    rule = OPS[SQUARE].units
    assert rule.combine(METRE) == tuple(2 * v for v in METRE)
    assert rule.combine(FREE) is FREE
    assert rule.solve(tuple(2 * v for v in METRE), FREE) == (METRE,)


def test_add_needs_like_units_and_free_absorbs():
    rule = OPS[ADD].units
    assert rule.like_args
    assert rule.combine(METRE, METRE) == METRE
    assert rule.combine(METRE, SECOND) is INVALID
    assert rule.combine(FREE, METRE) == METRE and rule.combine(METRE, FREE) == METRE
    assert rule.combine(FREE, FREE) is FREE


def test_products_are_free_when_a_factor_is_and_solve_takes_the_left_dimensionless():
    for code in (MUL, DIV):
        assert OPS[code].units.combine(FREE, METRE) is FREE
    assert OPS[MUL].units.combine(METRE, SECOND) == tuple(m + s for m, s in zip(METRE, SECOND))
    assert OPS[MUL].units.solve(METRE, FREE, FREE) == (DIMENSIONLESS, METRE)
    assert OPS[DIV].units.solve(METRE, FREE, FREE) == (METRE, DIMENSIONLESS)


@pytest.mark.parametrize("code", ALL_OPS)
def test_solved_units_give_the_target_back(code):
    """The inverse rule is consistent with the forward rule, with any argument free."""
    op = OPS[code]
    own = DIMENSIONLESS if op.units is DIMENSIONLESS_ARG else SECOND
    for fixed in range(op.arity + 1):  # argument `fixed` has its own unit (none: all free)
        states = [FREE] * op.arity
        if fixed < op.arity:
            states[fixed] = own
        result = op.units.combine(*states)
        target = result if result is not FREE else METRE
        args = op.units.solve(target, *states)
        assert all(s is FREE or s == a for s, a in zip(states, args))
        assert op.units.combine(*args) == target


# -- printing -----------------------------------------------------------------------------
def nested_formulas():
    """Every op applied to every op's ``op(q[, p])``, in each argument position."""
    for outer in ALL_OPS:
        for inner in ALL_OPS:
            for pos in range(OPS[outer].arity):
                args = [P] * OPS[outer].arity
                args[pos] = apply_to_inputs(inner)
                yield apply(outer, *args)


def test_printing_is_sympy_syntax_with_the_right_parentheses():
    f = sub(Q, apply(ADD, P, Q))
    assert text(f) == "q - (q + p)"
    assert text(apply(DIV, Q, apply(MUL, P, Q))) == "q/(q*p)"
    assert text(apply(SQUARE, apply(SQUARE, Q))) == "(q**2)**2"
    assert text(apply(SQUARE, apply(SIN, Q))) == "sin(q)**2"
    for f in nested_formulas():
        assert sympy.sympify(text(f), locals={n: sympy.Symbol(n, real=True) for n in NAMES}) \
            == f.to_sympy(NAMES), text(f)


def test_printing_round_trips_through_from_sympy():
    x = np.random.default_rng(1).uniform(0.3, 1.7, (6, 2))
    for f in nested_formulas():
        g, values = from_sympy(text(f), NAMES)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(g.evaluate(x, np.asarray(values, float)), f.evaluate(x),
                                       rtol=1e-9, err_msg=text(f))


def test_tree_latex_keeps_the_tree():
    f = sub(apply(SQUARE, P), mul(param, apply(COS, Q)))
    assert f.tree_latex(NAMES) == "p^{2} - c_{0} \\cos{\\left(q \\right)}"
    assert apply(DIV, Q, apply(ADD, P, Q)).tree_latex(NAMES) == "\\frac{q}{q + p}"
    assert apply(SQUARE, apply(DIV, Q, P)).tree_latex(NAMES) == \
        "\\left(\\frac{q}{p} \\right)^{2}"


def test_notation_checks_its_template():
    with pytest.raises(ValueError, match="expected each of"):
        Notation("f({0})", FUNC, (SUM, SUM))


# -- every consumer handles every entry ---------------------------------------------------
def hand_table(nodes):
    op = np.array([n[0] for n in nodes], np.int8)
    a = np.array([n[1] for n in nodes], np.int32)
    b = np.array([n[2] for n in nodes], np.int32)
    size = np.ones(len(nodes), np.int8)
    for i, (o, x, y) in enumerate(nodes):
        if o > PARAM:
            size[i] = 1 + size[x] + (size[y] if OPS[o].arity == 2 else 0)
    return op, a, b, size


@pytest.mark.parametrize("code", ALL_OPS)
def test_every_consumer_handles_every_op(code):
    op = OPS[code]
    f = apply_to_inputs(code)
    x = np.random.default_rng(2).uniform(0.3, 1.7, (5, 2))
    want = op.numpy(*[x[:, k] for k in range(op.arity)])
    np.testing.assert_allclose(f.evaluate(x), want)
    np.testing.assert_allclose(f.evaluate(torch.as_tensor(x), lib=torch).numpy(), want)
    assert f.latex(NAMES) and f.tree_latex(NAMES)
    assert from_sympy(f.expr_str(NAMES), NAMES)[0].evaluate(x) == pytest.approx(want)
    # the fitting: shared node values, structures, topologies
    nodes = [(INPUT, 0, -1), (INPUT, 1, -1), (code, 0, 1 if op.arity == 2 else -1)]
    nv = NodeValues(*hand_table(nodes), x, np.array([2]))
    np.testing.assert_allclose(nv[2], want)
    struct = (code, *[SLOT] * op.arity)
    slots = [x[:, k][None] for k in range(op.arity)]
    np.testing.assert_allclose(evaluate_struct(struct, slots, [], np)[0], want)
    topo, codes = topology((code, PARAM_S, *[SLOT] * (op.arity - 1)))
    assert codes == (code,)
    vals = evaluate_topology(topo, torch.tensor([codes]),
                             [torch.as_tensor(s)[:, None, None, :] for s in slots[1:]],
                             [torch.full((1, 1, 1, 1), 1.5, dtype=torch.float64)])
    assert torch.isfinite(vals).all()


def test_the_reciprocal_is_division_of_one():
    x = sample_args(1)[0]
    np.testing.assert_allclose(RECIPROCAL.numpy(x), 1.0 / x)
    assert struct_op("R") is RECIPROCAL and struct_op(RECIPROCAL.code) is RECIPROCAL
    assert struct_op(DIV) is OPS[DIV]
    assert linearise(("R", (MUL, PARAM_S, SLOT))) is None
    assert linearise((DIV, SLOT, PARAM_S)) == ((MUL, SLOT, PARAM_S), (True,))


# -- a new operation flows through --------------------------------------------------------
TANH = Op(13, "tanh", 1, False, DIMENSIONLESS_ARG, numpy=np.tanh, torch=torch.tanh,
          sympy=sympy.tanh, text=Notation("tanh({0})", FUNC, (SUM,)),
          latex=Notation("\\tanh{{{0}}}", FUNC, (SUM,)), sympy_name="tanh")


def test_a_new_operation_is_one_entry(monkeypatch):
    variables = [("q", "rad"), ("p", "kg*m**2/s")]
    plain = enumerate_formulas(variables, 4)
    monkeypatch.setitem(OPS, TANH.code, TANH)
    assert enumerate_formulas(variables, 4).n_candidates == plain.n_candidates  # default set
    table = enumerate_formulas(variables, 4, ops="paper,tanh")
    strings = set(table.expr_strings())
    assert {"tanh(q)", "tanh(p*c0)", "c0*tanh(q)"} <= strings and "tanh(p)" not in strings
    assert table.n_candidates > plain.n_candidates and table.ops == PAPER_OPS + ("tanh",)
    # formulas: parse, evaluate, print, units
    f, _ = from_sympy("tanh(q) - c0*p**2", NAMES)
    x = np.array([[0.5, 2.0]])
    assert f.evaluate(x, [3.0]) == pytest.approx(np.tanh(0.5) - 12.0)
    assert f.expr_str(NAMES) == "-c0*p**2 + tanh(q)"
    assert f.tree_latex(NAMES) == "\\tanh{q} - c_{0} p^{2}"
    assert f.param_units(PEND) == [tuple(-2 * v for v in PEND[1])]
    # the fitting: skeletons, node values
    ids = [i for i, s in zip(table.candidates, table.expr_strings()) if s == "c0*tanh(q)"]
    unit = SkeletonBuilder(table.op, table.a, table.b).reduce(ids[0]).unit
    assert unit.struct == SLOT
    nv = NodeValues(table.op, table.a, table.b, table.size, x, np.asarray(unit.slots))
    assert nv[unit.slots[0]] == pytest.approx(np.tanh(0.5))


# -- sqrt, log, exp, inv ------------------------------------------------------------------
def test_log_and_exp_need_a_dimensionless_or_free_argument():
    for code in (LOG, EXP):
        rule = OPS[code].units
        assert rule.combine(PEND[0]) == DIMENSIONLESS and rule.combine(FREE) == DIMENSIONLESS
        assert rule.combine(METRE) is INVALID and rule.combine(PEND[1]) is INVALID
        assert rule.solve(DIMENSIONLESS, FREE) == (DIMENSIONLESS,)
    # the parameter of log(c0*p) takes the inverse unit of p
    f, _ = from_sympy("log(c0*p)", NAMES)
    assert f.param_units(PEND) == [tuple(-v for v in PEND[1])]


def test_sqrt_halves_and_inv_negates_dimensions():
    from fractions import Fraction

    sq, iv = OPS[SQRT].units, OPS[INV].units
    metre2 = tuple(2 * v for v in METRE)
    assert sq.combine(metre2) == METRE                      # sqrt of q**2 in m**2 is m
    assert sq.combine(METRE) == tuple(Fraction(v, 2) for v in METRE)  # m**(1/2)
    assert sq.combine(FREE) is FREE and sq.solve(METRE, FREE) == (metre2,)
    assert iv.combine(SECOND) == tuple(-v for v in SECOND) and iv.combine(FREE) is FREE
    assert iv.solve(SECOND, FREE) == (tuple(-v for v in SECOND),)
    x, y = inp(0), inp(1)
    dims = [METRE, METRE]
    r = apply(SQRT, apply(ADD, apply(SQUARE, x), apply(SQUARE, y)))
    assert r.unit_state(dims) == METRE
    assert apply(INV, r).unit_state(dims) == tuple(-v for v in METRE)
    # c0/sqrt(x**2 + y**2) is free, taken dimensionless: c0 is in m
    f, _ = from_sympy("c0/sqrt(q**2 + p**2)", NAMES)
    assert f.param_units(dims) == [METRE]
    f, _ = from_sympy("sqrt(c0*q) - p", NAMES)  # c0 q in m**2: c0 is in m
    assert f.param_units(dims) == [METRE]


def test_a_dimensioned_input_gets_no_log_or_exp():
    table = enumerate_formulas([("q", "rad"), ("p", "kg*m**2/s")], 4, ops="all")
    strings = set(table.expr_strings())
    assert {"log(q)", "exp(q)", "sqrt(q)", "1/q", "sqrt(p)", "1/p", "sqrt(p**2)",
            "exp(p*c0)", "log(p*c0)"} <= strings
    assert not {"log(p)", "exp(p)", "log(p**2)", "exp(1/p)"} & strings


@pytest.mark.parametrize("f", [apply(SQRT, Q), apply(LOG, Q), apply(EXP, Q), apply(INV, Q),
                               apply(INV, apply(SQRT, apply(ADD, apply(SQUARE, Q),
                                                             apply(SQUARE, P)))),
                               apply(MUL, P, apply(EXP, Q)), apply(ADD, Q, apply(LOG, P)),
                               apply(SUB, apply(EXP, mul(param, Q)), P),
                               apply(SQRT, apply(SQRT, Q))],
                         ids=lambda f: text(f))
def test_new_ops_print_and_parse_back_to_the_same_formula(f):
    assert text(f) in {"sqrt(q)", "log(q)", "exp(q)", "1/q", "1/sqrt(q**2 + p**2)",
                       "p*exp(q)", "q + log(p)", "exp(q*c0) - p", "sqrt(sqrt(q))"}
    assert from_sympy(text(f), NAMES)[0] == f
    assert from_sympy(f.expr_str(NAMES), NAMES)[0] == f


def test_sympy_rewritings_parse_to_equal_values():
    x = np.random.default_rng(3).uniform(0.3, 1.7, (6, 2))
    for s, want in [("sqrt(q**2)", np.abs(x[:, 0])), ("q**(3/2)", x[:, 0] ** 1.5),
                    ("1/q**2", x[:, 0] ** -2.0), ("p/sqrt(q)", x[:, 1] / np.sqrt(x[:, 0]))]:
        f, values = from_sympy(s, NAMES)
        assert values == [] and {OPS[c].name for c in _codes(f)} <= {"sqrt", "square", "inv",
                                                                       "mul", "div"}
        np.testing.assert_allclose(f.evaluate(x), want, rtol=1e-12)
    assert from_sympy("1.0/q", NAMES)[1] == [1.0]  # a number stays a parameter: c0/q
    with pytest.raises(FormulaError, match="power 1/3"):
        from_sympy("q**(1/3)", NAMES)


def _codes(f: Formula) -> set[int]:
    return ({f.op} if f.op in OPS else set()).union(*[_codes(a) for a in f.args])


def test_every_enumerated_string_parses_to_the_same_values():
    table = enumerate_formulas([("q", ""), ("p", "")], 3, ops="all")
    x = np.random.default_rng(4).uniform(0.3, 1.7, (5, 2))
    for i, s in zip(table.candidates, table.expr_strings()):
        f = table.formula(i)
        g, values = from_sympy(s, NAMES)
        params = np.full(f.n_params, 0.7)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(g.evaluate(x, np.where(np.isnan(np.asarray(
                values, float)), 0.7, values)), f.evaluate(x, params), rtol=1e-9, err_msg=s)


def test_undefined_values_are_nan_without_warnings():
    x = np.array([-1.0, 0.0, 1.0])
    with np.errstate(all="raise"):  # the operations themselves do not silence anything
        with pytest.raises(FloatingPointError):
            OPS[LOG].numpy(x)
    t = enumerate_formulas([("q", "")], 2, ops="all")  # evaluated at negative points: quiet
    assert "log(q)" in set(t.expr_strings())


def test_a_mixed_node_gives_other_ops_finite_gradients():
    """sqrt and sin at one node of a topology: the sin row's gradient stays finite where
    sqrt's argument is negative."""
    topo, _ = topology((SQRT, PARAM_S))
    c = torch.full((2, 1, 1, 1), -1.0, dtype=torch.float64, requires_grad=True)
    vals = evaluate_topology(topo, torch.tensor([[SQRT], [SIN]]), [], [c])
    assert torch.isnan(vals[0]).all() and vals[1].item() == pytest.approx(np.sin(-1.0))
    vals[1].sum().backward()
    assert c.grad[1].item() == pytest.approx(np.cos(-1.0))  # not 0 * inf from sqrt


def test_op_sets():
    from dslsearch.ops import op_set, op_set_label

    assert op_set(None) == PAPER_OPS == op_set("paper") == op_set(list(reversed(PAPER_OPS)))
    assert op_set("all") == tuple(OPS[c].name for c in sorted(OPS))
    assert op_set("paper, log") == PAPER_OPS + ("log",)
    assert op_set_label(PAPER_OPS) == "" and op_set_label(op_set("all")) == "all"
    assert op_set_label(op_set("paper,inv,sqrt")) == "paper_sqrt_inv"
    assert op_set_label(op_set("mul,log")) == "mul_log"
    with pytest.raises(ValueError, match="unknown operation 'pow'; the operations are add, sub"):
        op_set("add,pow")
    with pytest.raises(ValueError, match="no operation given"):
        op_set("")


# -- operator sets through the stages ------------------------------------------------------
def exp_invariant_data():
    """16 trajectories along which p*exp(q) (and q + log(p)) is constant; q changes sign."""
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 3.0, 31)
    x = [np.stack([a * np.sin(t + phi), C * np.exp(-a * np.sin(t + phi))], axis=1)
         for C, phi, a in rng.uniform([0.5, 0.0, 0.3], [2.0, 2 * np.pi, 1.0], size=(16, 3))]
    return Dataset.from_arrays(x, t, names=["q", "p"], units=["", ""])


def test_a_law_with_a_logarithm_is_found_and_log_of_negative_q_is_a_recorded_failure():
    from dslsearch.fitting import FitConfig, FitStatus
    from noether_search.stages import enumerate_candidates, fit_laws

    data = exp_invariant_data()
    assert (data.x_train[:, 0] < 0).any()
    result = fit_laws(data, 4, FitConfig(workers=1), ops="paper,log")
    table = enumerate_candidates(data, 4, ops="paper,log")
    strings = list(table.expr_strings())
    status = dict(zip(strings, result.fits.status))
    assert status["log(q)"] == FitStatus.NONFINITE and status["log(p)"] == FitStatus.OK
    assert result.n_failed >= 1 and result.n_fitted > 0  # the batch went on
    found = [str(law) for law in result.laws]
    assert "q + log(p)" in found, found
    law = result.laws[found.index("q + log(p)")]
    x = data.x_test
    assert np.ptp(law(x[:31])) < 1e-9  # conserved along a test trajectory
    # the paper's operations cannot write it at this size
    assert "q + log(p)" not in [str(law) for law in fit_laws(data, 4, FitConfig(workers=1)).laws]


def test_operator_sets_have_their_own_store_keys(tmp_path):
    import h5py

    from noether_search.stages import enumerate_candidates, table_key
    from noether_search.store import ResultsStore
    from noether_search.store.codecs import CANDIDATE_TABLE

    assert table_key(5) == table_key(5, "paper") == "candidates/d5"
    assert table_key(5, "all") == "candidates/d5-all"
    assert table_key(5, ["add", "sqrt"]) == "candidates/d5-add_sqrt"
    store = ResultsStore.open(tmp_path / "s")
    variables = [("q", "rad"), ("p", "kg*m**2/s")]
    plain = enumerate_candidates(variables, 3, store)
    wide = enumerate_candidates(variables, 3, store, ops="paper,sqrt")
    assert store.exists("candidates/d3") and store.exists("candidates/d3-paper_sqrt")
    assert wide.n_candidates > plain.n_candidates
    again = enumerate_candidates(variables, 3, store, ops="sqrt,paper")
    assert again.ops == PAPER_OPS + ("sqrt",) and again.n_candidates == wide.n_candidates
    assert store.load("candidates/d3", CANDIDATE_TABLE).ops == PAPER_OPS
    # a table written before operator sets (and checksums) existed has neither attribute:
    # the paper's set
    path = tmp_path / "s" / "candidates" / "d3.h5"
    with h5py.File(path, "a") as f:
        del f.attrs["ops"]
        del f.attrs["content-sha256"]
    assert enumerate_candidates(variables, 3, store).ops == PAPER_OPS
    # a table whose stored set disagrees with its key is refused
    store.save("candidates/d3", CANDIDATE_TABLE, wide)
    with pytest.raises(ValueError, match="enumerated with the operations .*sqrt"):
        enumerate_candidates(variables, 3, store)


def test_rank_key_is_unchanged_for_the_paper_set():
    from noether_search.stages import RankConfig

    key = RankConfig().key("fit", "base")
    assert RankConfig(ops="paper").key("fit", "base") == key
    assert RankConfig(ops=PAPER_OPS).key("fit", "base") == key
    assert RankConfig(ops="all").key("fit", "base") != key


def test_estimator_takes_ops():
    from noether_search import NoetherSearch

    model = NoetherSearch(depth=4, rank=False, ops="paper,log", workers=1)
    assert model.get_params()["ops"] == "paper,log"
    model.fit(exp_invariant_data())
    assert "q + log(p)" in [str(law) for law in model.laws_]
    with pytest.raises(ValueError, match="ops: unknown operation 'pow'"):
        NoetherSearch(depth=3, rank=False, ops="pow").fit(exp_invariant_data())
