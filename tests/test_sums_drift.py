"""The sum search's drift check on noisy data (dslsearch.sums.judge_drift)."""

import pytest

from dslsearch.acceptance import noise_floor
from dslsearch.fitting import FitConfig
from dslsearch.fitting.objective import Segments, r_score
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from dslsearch.sums import SumsConfig
from dslsearch.sums.judge_drift import DriftJudge, with_drift

#: the spurious sum reported beside Kepler's laws at noise 0.05 (seed 1) before the check
KEPLER_STAND_IN = "0.997490525788008*sqrt(sqrt(px**2 + py**2)) + sqrt(sqrt(x**2 + y**2))"
KEPLER_ENERGY = "px**2 + py**2 - 2.0/sqrt(x**2 + y**2)"


def _kepler(noise: float, seed: int = 1):
    import hamiltonian_data
    from noether_search.stages.fit import calibrated_judge

    ds = hamiltonian_data.SYSTEMS["kepler"].generate(noise=noise, seed=seed)
    config = FitConfig(seed=seed)
    x, labels = segments(ds, config)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 68423, config)
    return ds, x, labels, judge


def _scored(text: str, ds, x, labels, seed: int = 1) -> Law:
    law = Law.parse(text, ds.variables)
    seg = Segments(labels)
    values = law(x)
    return Law(law.formula, law.params, law.variables, R_true=float(r_score(values, seg)),
               R_random=float(r_score(values, seg.shuffled(seed))), search="sums")


def test_the_check_rejects_a_drifting_stand_in_and_keeps_the_energy():
    ds, x, labels, judge = _kepler(0.05)
    checked = with_drift(judge)
    assert isinstance(checked, DriftJudge)
    stand_in = _scored(KEPLER_STAND_IN, ds, x, labels)
    ok, law = judge(stand_in, 2921)
    assert ok                                   # the calibrated test alone passes it
    ok, law = checked(stand_in, 2921)
    assert not ok and law.evidence.drift_p < judge.config.acceptance.drift_alpha
    ok, law = checked(_scored(KEPLER_ENERGY, ds, x, labels), 2921)
    assert ok and law.evidence.drift_p > 0.01


def test_no_check_on_noise_free_data_or_without_a_judge():
    _, _, _, judge = _kepler(0.0)
    assert with_drift(judge) is judge
    assert with_drift(None) is None


def test_the_wrapper_passes_the_judge_attributes_through():
    _, x, labels, judge = _kepler(0.05)
    checked = with_drift(judge)
    assert checked.x is judge.x and checked.sigma is judge.sigma
    assert checked.noisy is judge.noisy
    assert checked.explained.__func__ is type(judge).explained


def test_the_settings_key_changes_only_with_the_checks():
    assert SumsConfig().key() != SumsConfig(drift_check=False).key()
    assert SumsConfig(gap_by_noise=True).key() != SumsConfig().key()


def test_the_gap_option_compares_noise_ratios():
    from dslsearch.sums.run import _gap_score

    ds, x, labels, judge = _kepler(0.05)
    _, law = judge(_scored(KEPLER_ENERGY, ds, x, labels), 2921)
    sums = SumsConfig(gap_by_noise=True)
    assert _gap_score(law, sums, True) == law.evidence.noise_ratio
    assert _gap_score(law, sums, False) == max(law.R_true, sums.exact)


@pytest.mark.slow
def test_kepler_rounds_go_on_beyond_the_gap_on_noisy_data():
    """Seed 1 at σ = 0.01, without the pass for laws within the noise: the energy passes
    the judge but not the rule for further laws (R 0.019 against the angular momentum's
    1.6e-4), and the rounds go on to find both Runge–Lenz components.
    With it (the default) the energy, whose noise ratio the noise explains, is the
    second law, and its trajectory levels make it independent of the angular momentum."""
    from dslsearch.independence import Levels, independent_laws
    from dslsearch.sums import fit_sums

    ds, x, labels, judge = _kepler(0.01)
    result = fit_sums(ds, None, FitConfig(seed=1), SumsConfig(gap_within_noise=False),
                      judge=judge)
    assert len(result.laws) == 3
    assert independent_laws(result.laws, x).n_independent == 3
    assert any("times that of the best" in p.message for p in result.front)
    assert all("sqrt(x**2 + y**2)" in str(law) for law in result.laws[1:])
    default = fit_sums(ds, None, FitConfig(seed=1), SumsConfig(), judge=judge)
    assert len(default.laws) == 3
    assert any(str(law).startswith("px**2 + py**2") for law in default.laws)
    levels = Levels(labels, judge.sigma)
    assert independent_laws(default.laws, x, levels=levels).n_independent == 3
