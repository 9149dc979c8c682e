"""What ``fit`` reported is stored (both searches' laws, evidence, intervals, the basis) and
the report shows it, sum-only laws included."""

from __future__ import annotations

import numpy as np
import pytest

import hamiltonian_data
from dslsearch.fitting import FitConfig
from noether_search.report.collect import collect, read_outcome
from noether_search.report.latex import render
from noether_search.stages import fit_laws
from noether_search.stages.fit import outcome_key
from noether_search.store import ResultsStore
from noether_search.store.codecs import FIT_RESULT
from dslsearch.sums import SumsConfig

CONFIG = FitConfig(workers=1, shard_cost=3)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A spring fit at depth 2: the exhaustive search finds nothing (the energy needs 7
    nodes), the sum search finds ``p² + c q²``."""
    spring = hamiltonian_data.load(system="spring")
    store = ResultsStore.open(tmp_path_factory.mktemp("fit") / "run")
    result = fit_laws(spring, 2, CONFIG, store=store)
    return store, result


def test_outcome_round_trips(fitted):
    store, result = fitted
    key = outcome_key(result.key, CONFIG, "both", SumsConfig())
    outcome = store.load(key, FIT_RESULT)
    assert [str(law) for law in outcome.laws] == [str(law) for law in result.laws]
    assert outcome.laws and {law.search for law in outcome.laws} == {"sums"}
    assert outcome.n_independent == result.independent.n_independent == 1
    assert [str(law) for law in outcome.independent] == \
        [str(law) for law in result.independent.basis]
    for got, want in zip(outcome.laws, result.laws):
        assert str(got.evidence) == str(want.evidence)
        np.testing.assert_array_equal(got.params, want.params)
        assert [(c.low, c.high) for c in got.constants] == \
            [(c.low, c.high) for c in want.constants]
    assert outcome.test == "calibrated" and outcome.n_candidates == result.n_candidates


def test_outcome_key_names_the_test_search_and_refit():
    keys = {outcome_key("d7-x", FitConfig(), s, SumsConfig()) for s in ("both", "sums",
                                                                       "exhaustive")}
    keys.add(outcome_key("d7-x", FitConfig(test="factor"), "both", SumsConfig()))
    keys.add(outcome_key("d7-x", FitConfig(), "both", SumsConfig(max_terms=3)))
    keys.add(outcome_key("d7-x", FitConfig(refit="moments"), "both", SumsConfig()))
    assert len(keys) == 6 and all(k.startswith("fits/d7-x/result-") for k in keys)


def test_report_shows_sum_laws_and_basis(fitted, tmp_path):
    store, result = fitted
    data = collect(store.root, rollouts=False)
    assert read_outcome(store, data.fits.source) is not None
    assert [law.formula for law in data.fit_laws] == [str(law) for law in result.laws]
    tex = render(data, {}, tmp_path)
    assert "no candidate passed" not in tex
    assert r"Law 1 \emph{(independent)}" in tex and "independent invariants & 1" in tex
    assert "found by the sum-of-terms search" in tex and r"\pm" in tex


def test_a_damaged_outcome_is_not_used(fitted, tmp_path):
    import shutil

    store, result = fitted
    copy = ResultsStore.open(shutil.copytree(store.root, tmp_path / "copy"))
    key = outcome_key(result.key, CONFIG, "both", SumsConfig())
    path = copy.path(key)
    path.write_bytes(path.read_bytes()[:100])     # truncated
    data = collect(copy.root, rollouts=False)
    assert data.fit_outcome is None                # falls back to the exhaustive laws file
    assert any("damaged" in note and "rerun fit" in note for note in data.notes)
