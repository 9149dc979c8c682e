"""The drift test's limit on noisy data (``AcceptanceConfig.drift_alpha``, 3e-3): the
Lotka–Volterra stand-in ``x/√(x − sin x) + y − c log y`` that the sum search reported at
σ = 0.1 drifts at p between 1e-3 and 3e-3 and is rejected; the law itself passes."""

from __future__ import annotations

from dslsearch.acceptance import AcceptanceConfig, noise_floor
from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from dslsearch.sums.judge_drift import DriftJudge
from hamiltonian_data import load
from noether_search.stages.fit import calibrated_judge

STAND_IN = "0.807193151532262*x/sqrt(x - sin(x)) + y - 1.99828307509475*log(y)"
LAW = "0.481920276828828*x + y - 1.42512221418164*log(x) - 1.9768930942964*log(y)"


def _judge(seed: int = 57):
    ds = load("lotka-volterra", noise=0.1, seed=seed)
    config = FitConfig(seed=seed)
    x, labels = segments(ds, config)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 30000, config)
    return ds, DriftJudge(judge, refit=True)


def test_a_lotka_volterra_stand_in_drifting_at_p_0_0016_is_rejected():
    ds, judge = _judge()
    assert AcceptanceConfig().drift_alpha == 3e-3
    ok, tested = judge(Law.parse(STAND_IN, ds), 5000)
    assert not ok
    assert 1e-3 < tested.evidence.drift_p < 3e-3      # passed the former limit of 1e-3


def test_the_lotka_volterra_law_passes_on_the_same_data():
    ds, judge = _judge()
    ok, tested = judge(Law.parse(LAW, ds), 5000)
    assert ok and tested.evidence.drift_p > 3e-3
