"""On noisy data a sum that the drift check rejects is judged again with its constants
refitted for the noise: the plain fit's bias can be what drifts."""

from __future__ import annotations

import numpy as np

from dslsearch.acceptance import noise_floor
from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from dslsearch.sums.judge_drift import DriftJudge
from hamiltonian_data import load
from noether_search.stages.fit import calibrated_judge


def test_a_runge_lenz_component_drifts_by_its_plain_fit_and_not_refitted():
    """Kepler, σ = 0.1, seed 12: the sum search fitted the first Runge–Lenz component
    with coefficients 1.043 and 1.066 (1 and 1 true); that drifts (p 2e-4). Refitted for
    the noise they are about 1.02 and the component passes."""
    ds = load("kepler", noise=0.1, seed=12)
    config = FitConfig(seed=12)
    x, labels = segments(ds, config)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 30000, config)
    law = Law.parse("px**2*y - 1.04251669886843*px*py*x - 1.06634365143527*y/sqrt(x**2 + y**2)",
                    ds)
    ok, tested = DriftJudge(judge)(law, 5000)
    assert not ok and tested.evidence.drift_p < 1e-3
    assert tested.params.tolist() == law.params.tolist()
    ok, again = DriftJudge(judge, refit=True)(law, 5000)
    assert ok and again.evidence.drift_p > 1e-3
    ratio = np.asarray(again.params) / np.asarray(law.params)
    assert not np.allclose(ratio, 1.0)
    # the refitted law: closer to px² y − px py x − y / r up to scale
    values = np.asarray(again(x), float)
    exact = np.asarray(Law.parse("px**2*y - 1.0*px*py*x - 1.0*y/sqrt(x**2 + y**2)", ds)(x))
    plain = np.asarray(law(x), float)
    def misfit(v):
        c = np.polyfit(exact, v, 1)
        return np.std(v - np.polyval(c, exact)) / np.std(v)
    assert misfit(values) < misfit(plain)
