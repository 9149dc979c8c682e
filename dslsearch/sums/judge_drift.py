"""The drift check of the sum search's judge on noisy data.

A sum of up to ``max_terms`` terms, chosen among thousands, can approximate a law's shape
within the measurement noise (noise ratio near 1) without being conserved: the double
pendulum's energy with ``θ1²`` and ``|ω1|^(3/2)`` standing in for ``cos θ1``, or
``(px² + py²)^(1/4) + (x² + y²)^(1/4)`` beside Kepler's laws. Such a sum changes with the
motion, slowly, while white noise spreads over all modes of a trajectory;
:func:`dslsearch.acceptance.drift` tells the two apart (each point's residual whitened
by the sum's predicted noise there, so that noise whose size changes along the motion is
not taken for drift). On noisy
data (:func:`dslsearch.acceptance.is_noisy`) :class:`DriftJudge` adds that test to the
fit stage's judge for the sums only (``passes(..., drift=True)``: a sum whose noise
ratio is at least :data:`~dslsearch.acceptance.DRIFT_NOISE_SHARE` and whose drift p-value
is below ``AcceptanceConfig.drift_alpha`` is rejected). On data that are not noisy the
judge is used as it is.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class DriftJudge:
    """``judge`` (the fit stage's calibrated judge: ``judge(law, n_library) -> (passes,
    law)``, with attributes ``x (N, d)``, ``labels (N,)``, ``config``) whose accepted sums
    must also pass the drift test (:func:`dslsearch.acceptance.passes` with ``drift``).

    Its ``noisy`` is the wrapped judge's (the settings for noisy data of the search stay
    as they were asked); ``explained`` and ``sigma`` are passed through."""

    judge: object
    refit: bool = False

    def __call__(self, law, n_library: int):
        from dslsearch.acceptance import passes

        ok, law = self.judge(law, n_library)
        ev = law.evidence
        if not ok or ev is None or math.isfinite(ev.drift_p):   # rejected, or tested
            return ok, law
        tested = self._drift(law)
        if tested is None:
            return ok, law
        acceptance = self.judge.config.acceptance
        ok = passes(tested.evidence, acceptance, drift=True)
        if ok or not self.refit:
            return ok, tested
        again = self._refitted(law)
        if again is None:
            return False, tested
        ok, again = self.judge(again, n_library)
        again = self._drift(again) if ok and again.evidence is not None else None
        if again is None or not passes(again.evidence, acceptance, drift=True):
            return False, tested
        return True, again

    def _drift(self, law):
        """``law`` with its drift test in its evidence; None where it is not finite."""
        from dslsearch.acceptance import drift, gradients, noise_variance

        x = self.judge.x
        with np.errstate(all="ignore"):
            values = np.asarray(law(x), np.float64)
        if not np.isfinite(values).all():
            return None
        noise_var = noise_variance(law, x, self.judge.sigma, grads=gradients(law, x))
        F, p = drift(values, np.asarray(self.judge.labels), noise_var=noise_var)
        return law.with_evidence(dataclasses.replace(law.evidence, drift=F, drift_p=p))

    def _refitted(self, law):
        """``law`` with its constants refitted for the noise
        (:func:`dslsearch.uncertainty.refit` on the judge's noise floor, by its fit
        settings' ``refit``), its R_true
        recomputed; None when the refit leaves them as they were."""
        from dslsearch.uncertainty import refit, with_params

        x, labels = self.judge.x, np.asarray(self.judge.labels)
        if not law.n_params:
            return None
        params = refit(law.formula, np.asarray(law.params, np.float64), x, labels,
                       np.asarray(self.judge.sigma, np.float64),
                       getattr(getattr(self.judge, "config", None), "refit", None))
        if np.array_equal(params, law.params):
            return None
        return with_params(law, params, x, labels).with_evidence(None)

    def __getattr__(self, name):          # noisy, sigma, x, labels, explained, ...
        return getattr(self.__dict__["judge"], name)


def judges_noisy_data(judge) -> bool:
    """True when ``judge`` carries a noise floor (``sigma``, ``(d,)``) and its points
    (``x``, ``(N, d)``) that make the data noisy (:func:`dslsearch.acceptance.is_noisy`)."""
    sigma, x = getattr(judge, "sigma", None), getattr(judge, "x", None)
    if sigma is None or x is None:
        return False
    from dslsearch.acceptance import is_noisy

    return is_noisy(sigma, x)


def with_drift(judge, refit: bool = False):
    """``judge`` wrapped in :class:`DriftJudge` (with ``refit``) when it judges noisy data
    (:func:`judges_noisy_data`) and has ``labels`` and a calibrated ``config``; else
    ``judge`` itself (None stays None)."""
    config = getattr(judge, "config", None)
    if getattr(judge, "labels", None) is None or getattr(config, "acceptance", None) is None:
        return judge
    return DriftJudge(judge, refit) if judges_noisy_data(judge) else judge
