"""The sum-of-terms search: recovery of a known sum, units of its coefficients, the
random-sequence test, recorded per-term failures, merging with the exhaustive search and
the store cache."""

from __future__ import annotations

import numpy as np
import pytest

from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.formula import Formula, add, cos, inp, mul, param, square
from dslsearch.law import Law
from dslsearch.sums import SumsConfig, TermStatus, fit_sums, merge_searches
from hamiltonian_data import Dataset
from hamiltonian_data.units import dims_add, dims_scale, format_dims, parse_unit

SMALL = SumsConfig(term_size=5, max_terms=5)  # x**6 = (x*x**2)**2 has 5 nodes


def _trajectories(rhs, starts, t):
    from scipy.integrate import solve_ivp

    return [solve_ivp(rhs, (t[0], t[-1]), s, t_eval=t, method="DOP853", rtol=1e-12,
                      atol=1e-12).y.T for s in starts]


def _sextic_rhs(_, s):
    return [s[1], -s[0] - s[0] ** 3 - s[0] ** 5]


def energy(X):
    """H = p²/2 + x²/2 + x⁴/4 + x⁶/6: four terms, beyond a 7-node formula."""
    x, p = X[:, 0], X[:, 1]
    return p ** 2 / 2 + x ** 2 / 2 + x ** 4 / 4 + x ** 6 / 6


@pytest.fixture(scope="module")
def sextic():
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 6.0, 50)
    starts = rng.uniform(-1.0, 1.0, (16, 2))
    starts[0, 0] = 0.0   # x = 0 exactly at a sample: every term dividing by x is not finite
    xs = _trajectories(_sextic_rhs, starts, t)
    return Dataset.from_arrays(xs, t, ["x", "p"], ["m", "kg*m/s"], name="sextic")


def _corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return abs(a @ b) / np.sqrt((a @ a) * (b @ b))


def test_recovers_a_four_term_energy(sextic):
    res = fit_sums(sextic, config=FitConfig(), sums=SMALL)
    assert len(res.laws) == 1
    law = res.laws[0]
    assert law.search == "sums" and res.front[res.chosen].n_terms == 4
    assert law.R_true < 1e-12 and law.R_random >= 100 * law.R_true
    x, _ = segments(sextic, FitConfig())
    assert 1 - _corr(law(x), energy(x)) < 1e-9
    # a physics check: conserved along fresh trajectories it never saw
    fresh = _trajectories(_sextic_rhs, [[0.7, -0.2], [-0.3, 0.9]], np.linspace(0, 8, 40))
    for X in fresh:
        v = law(X)
        assert np.ptp(v) < 1e-7 * np.abs(v).max()


def test_coefficients_carry_the_units_that_make_the_terms_match(sextic):
    law = fit_sums(sextic, sums=SMALL).laws[0]
    m, p = (parse_unit(u).dims for u in ("m", "kg*m/s"))
    assert law.dims == dims_scale(p, 2)                 # the leading term: p**2
    want = {format_dims(dims_add(dims_scale(p, 2), dims_scale(m, -k))) for k in (2, 4, 6)}
    assert {c.unit for c in law.constants} == want  # kg²/s², kg²/(m²·s²), kg²/(m⁴·s²)
    # the law stays unit-valid as a formula of the language
    assert law.formula.is_valid(law.input_dims)


def test_per_term_failures_are_recorded_and_the_search_goes_on(sextic):
    res = fit_sums(sextic, sums=SMALL)
    status = res.term_status
    assert (status == TermStatus.NONFINITE).sum() > 0    # p/x, 1/x, …: x = 0 at a sample
    dup = np.nonzero(status == TermStatus.DUPLICATE)[0]
    assert dup.size > 0                                   # x*x is x**2
    kept = res.duplicate_of[dup]
    assert (status[kept] == TermStatus.OK).all() and (kept < dup).all()  # the simpler kept
    assert res.n_library == (status == TermStatus.OK).sum()
    assert res.laws                                       # found all the same


def test_library_screens_constant_terms_and_does_not_depend_on_chunks(sextic):
    from dslsearch.enumerate import enumerate_formulas
    from dslsearch.fitting import Segments
    from dslsearch.sums import build_library

    from hamiltonian_data.arrays import DataWarning

    xs = [np.column_stack([tr.x, np.full(len(tr.x), 2.0)]) for tr in sextic.train]
    with pytest.warns(DataWarning, match="constant"):   # intended: a constant column
        ds = Dataset.from_arrays(xs, sextic.train[0].t, ["x", "p", "z"], ["m", "kg*m/s", "m"])
    x, labels = segments(ds, FitConfig())
    fit = np.arange(0, len(x), 3)
    seg = Segments(np.unique(labels[fit], return_inverse=True)[1])
    table = enumerate_formulas(ds.variables, 3)
    whole = build_library(table, x, seg, fit, 3)
    chunked = build_library(table, x, seg, fit, 3, chunk=7)
    assert (whole.status == chunked.status).all() and np.allclose(whole.Z, chunked.Z)
    constant = [str(table.formula(n).expr_str(ds.names))
                for n in whole.nodes[whole.status == TermStatus.CONSTANT]]
    assert "z" in constant and "z**2" in constant


def test_random_sequence_test_rejects_a_damped_oscillator():
    rng = np.random.default_rng(2)
    t = np.linspace(0.0, 6.0, 50)
    xs = _trajectories(lambda _, s: [s[1], -s[0] - 0.3 * s[1]], rng.uniform(-1, 1, (16, 2)), t)
    ds = Dataset.from_arrays(xs, t, ["x", "p"], ["m", "kg*m/s"], name="damped")
    res = fit_sums(ds, sums=SMALL)
    assert res.laws == [] and res.chosen == -1
    assert res.front and not any(p.accepted for p in res.front)
    assert all(p.R_random < 100 * p.R_true for p in res.front if p.law is not None)


def test_front_falls_and_progress_is_reported(sextic):
    calls = []
    res = fit_sums(sextic, sums=SMALL, progress=lambda done, total: calls.append((done, total)))
    r = [p.R_fit for p in res.front]
    assert r == sorted(r, reverse=True) and len(set(r)) == len(r)
    assert calls[-1][0] == calls[-1][1] and calls[0][0] == 1


def _law(formula: Formula, params, search: str, r: float) -> Law:
    return Law(formula, params, [("q", "rad"), ("p", "kg*m**2/s")], R_true=r, R_random=0.9,
               search=search)


def test_merge_keeps_the_simpler_and_notes_both_searches():
    q, p = inp(0), inp(1)
    exhaustive = _law(add(square(p), mul(param, cos(q))), [-3.0], "exhaustive", 1e-19)
    as_sum = _law(add(cos(q), mul(param, square(p))), [-1 / 3], "sums", 2e-19)
    other = _law(add(square(q), mul(param, p)), [2.0], "sums", 1e-3)
    x = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    laws = merge_searches([exhaustive], [as_sum, other], x)
    assert [law.search for law in laws] == ["exhaustive+sums", "sums"]
    assert laws[0].formula == exhaustive.formula and str(as_sum) in laws[0].variants
    assert merge_searches([exhaustive], [], x) == [exhaustive]


def test_law_json_carries_the_search():
    q, p = inp(0), inp(1)
    law = _law(add(square(p), mul(param, cos(q))), [-3.0], "sums", 1e-19)
    back = Law.from_json(law.to_json(), law.variables)
    assert back.search == "sums"
    old = {k: v for k, v in law.to_json().items() if k != "search"}
    assert Law.from_json(old, law.variables).search == "exhaustive"


def test_fit_laws_caches_the_sum_search(tmp_path, monkeypatch):
    import dslsearch.sums
    from noether_search.stages import fit_laws
    from noether_search.store import ResultsStore

    ds = Dataset.from_arrays(
        _trajectories(_sextic_rhs, np.random.default_rng(3).uniform(-1, 1, (8, 2)),
                      np.linspace(0, 6, 40)), np.linspace(0, 6, 40), ["x", "p"],
        ["m", "kg*m/s"], name="sextic")
    store = ResultsStore.open(tmp_path / "s")
    config = FitConfig(workers=1)
    first = fit_laws(ds, 3, config, store=store, search="both", sums=SMALL)
    assert [law.search for law in first.laws] == ["sums"]
    assert first.independent is not None and first.independent.n_independent == 1

    def boom(*args, **kwargs):
        raise AssertionError("the stored sum search should be reused")

    monkeypatch.setattr(dslsearch.sums, "fit_sums", boom)
    again = fit_laws(ds, 3, config, store=store, search="sums", sums=SMALL)
    assert [str(law) for law in again.laws] == [str(law) for law in first.laws]
    assert [p.R_true for p in again.sums.front] == [p.R_true for p in first.sums.front]
    assert (again.sums.term_status == first.sums.term_status).all()
    assert again.key == first.key


def test_fit_laws_rejects_an_unknown_search(sextic):
    from noether_search.stages import fit_laws

    with pytest.raises(ValueError, match="search: expected one of exhaustive, sums, both"):
        fit_laws(sextic, 3, search="all")


def test_fit_term_ops_option(tmp_path):
    """``--term-ops`` sets the composite terms' operations; a bad name is a usage error
    that names the option, before any fitting."""
    import json

    from click.testing import CliRunner

    from noether_search.cli import cli

    def run(*extra):
        return CliRunner().invoke(cli, ["fit", "--system", "spring", "--depth", "3",
                                        "--workers", "1", "--json", "--search", "sums",
                                        "--term-size", "3", "--max-terms", "2",
                                        "--out", str(tmp_path / "s"), *extra])

    none, log = run("--term-ops", "none"), run("--term-ops", "log")
    assert none.exit_code == 0 and log.exit_code == 0, none.output + log.output
    laws = [json.loads(r.stdout.strip().splitlines()[-1])["laws"] for r in (none, log)]
    assert [law["search"] for law in laws[0]] == ["sums"]
    for bad, why in (("add", "take two arguments"), ("cosh", "cosh")):
        res = run("--term-ops", bad)
        assert res.exit_code == 2 and "--term-ops" in res.output and why in res.output


def test_an_artifact_without_scale_size_reads_as_no_quotients(sextic, tmp_path):
    """A sums artifact written before the quotient terms and the node-weighted beam
    existed decodes with ``scale_size`` 0 and ``node_weight`` 0, what that search ran; a
    current one keeps its settings."""
    import json

    import h5py

    from noether_search.store.codecs import FIT_SUMS

    res = fit_sums(sextic, config=FitConfig(), sums=SMALL)
    for drop in (False, True):
        path = tmp_path / f"sums-{drop}.h5"
        with h5py.File(path, "w") as f:
            FIT_SUMS.encode(f, res)
            f.attrs.update(FIT_SUMS.attrs(res))
            if drop:
                cfg = json.loads(f.attrs["config"])
                del cfg["scale_size"], cfg["node_weight"]
                f.attrs["config"] = json.dumps(cfg)
        with h5py.File(path, "r") as f:
            back = FIT_SUMS.decode(f)
        assert back.config.scale_size == (0 if drop else SMALL.scale_size)
        assert back.config.node_weight == (0.0 if drop else SMALL.node_weight)
        assert [str(law) for law in back.laws] == [str(law) for law in res.laws]
