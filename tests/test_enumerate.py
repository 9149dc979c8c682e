"""The enumerator: published formulas present, pinned counts, conventions."""

import numpy as np
import pytest

from dslsearch.enumerate import MAX_DEPTH, EnumerationError, enumerate_formulas
from dslsearch.formula import from_sympy
from noether_search.store import ResultsStore
from noether_search.store.codecs import CANDIDATE_TABLE

PENDULUM = [("q", "rad"), ("p", "kg*m**2/s")]
SPRING = [("q", "m"), ("p", "kg*m/s")]


@pytest.fixture(scope="module")
def pendulum7():
    return enumerate_formulas(PENDULUM, 7)


@pytest.fixture(scope="module")
def spring7():
    return enumerate_formulas(SPRING, 7)


def formulas_of(table):
    return {table.formula(i) for i in table.candidates}


def test_published_pendulum_formula_present(pendulum7):
    f, _ = from_sympy("p**2 - c0*cos(q)", ["q", "p"])
    assert f in formulas_of(pendulum7)


def test_published_spring_formula_present(spring7):
    f, _ = from_sympy("q**2 + c0*p**2", ["q", "p"])
    assert f in formulas_of(spring7)
    assert "q**2 + c0*p**2" in set(spring7.expr_strings())


def test_counts_by_size_are_pinned(pendulum7, spring7):
    # Regression pins: a change here changes the search space; update docs/ENUMERATION.md.
    assert pendulum7.counts_by_size == {1: 2, 2: 4, 3: 29, 4: 126, 5: 799, 6: 4444, 7: 28227}
    assert spring7.counts_by_size == {1: 2, 2: 2, 3: 21, 4: 57, 5: 420, 6: 1734, 7: 11150}
    assert pendulum7.n_candidates == 33631


def test_no_duplicates_and_all_valid(pendulum7):
    forms = [pendulum7.formula(i) for i in pendulum7.candidates]
    assert len(set(forms)) == len(forms)
    dims = pendulum7.input_dims
    assert all(f.is_valid(dims) and f.has_input and f.size <= 7 for f in forms)
    assert [f.size for f in forms] == sorted(f.size for f in forms)


def test_trivial_constants_dropped(pendulum7):
    forms = formulas_of(pendulum7)
    for text in ("q - q", "p/p", "sin(q)**2 + cos(q)**2"):
        f, _ = from_sympy(text, ["q", "p"]) if text != "q - q" else (None, None)
        if f is not None:
            assert f not in forms
    strings = set(pendulum7.expr_strings())
    assert "q - q" not in strings and "p/p" not in strings
    assert "sin(q)**2 + cos(q)**2" not in strings and "cos(q)**2 + sin(q)**2" not in strings


def test_unit_invalid_never_produced(pendulum7):
    strings = set(pendulum7.expr_strings())
    assert "sin(p)" not in strings and "q + p" not in strings
    assert "sin(p*c0)" in strings


def test_strings_parse_back_to_the_same_formulas(spring7):
    ids = spring7.candidates[:: max(1, spring7.n_candidates // 300)]
    for i, text in zip(ids, spring7.expr_strings(ids)):
        f = spring7.formula(i)
        g, _ = from_sympy(text, ["q", "p"])
        assert g.size >= 1
        x = np.random.default_rng(0).uniform(0.5, 1.5, size=(5, 2))
        params = np.full(f.n_params, 1.1)  # one value: numbering may differ after sympy
        if g.n_params == f.n_params:
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(g.evaluate(x, params), f.evaluate(x, params),
                                           rtol=1e-9, atol=1e-12)


def test_streaming_count_matches_full(pendulum7):
    streamed = enumerate_formulas(PENDULUM, 7, keep_last=False)
    assert streamed.counts_by_size == pendulum7.counts_by_size


@pytest.mark.parametrize("depth", [0, MAX_DEPTH + 1, 2.5])
def test_bad_depth(depth):
    with pytest.raises(EnumerationError, match="depth must be an integer"):
        enumerate_formulas(PENDULUM, depth)


def test_store_round_trip(tmp_path, spring7):
    store = ResultsStore.open(tmp_path / "run")
    store.save("candidates/d7", CANDIDATE_TABLE, spring7)
    back = store.load("candidates/d7", CANDIDATE_TABLE)
    assert back.variables == spring7.variables
    np.testing.assert_array_equal(back.candidates, spring7.candidates)
    assert back.counts_by_size == spring7.counts_by_size
    assert back.formula(back.candidates[-1]) == spring7.formula(spring7.candidates[-1])
    with store.read("candidates/d7", "candidate-table") as f:
        assert f["candidates/expr"].shape == (spring7.n_candidates,)
        assert f.attrs["encoding-version"] == 1


def test_table_order_is_the_canonical_order(pendulum7):
    """Nodes come out in Formula's canonical argument order, so parameter numbering (pre-order)
    is the same in the table, its strings and the trees."""
    from dslsearch.formula import Formula, _binary

    def rebuild(f: Formula) -> Formula:
        if len(f.args) == 2:
            return _binary(f.op, rebuild(f.args[0]), rebuild(f.args[1]))
        if len(f.args) == 1:
            return Formula(f.op, (rebuild(f.args[0]),))
        return f

    for i in pendulum7.candidates[::7]:
        f = pendulum7.formula(i)
        assert rebuild(f).args == f.args
