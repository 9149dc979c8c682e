"""Per-candidate verdicts: fit status, triviality and the random-sequence test."""

from __future__ import annotations

import enum

import numpy as np


class FitStatus(enum.IntEnum):
    """Outcome of fitting one candidate; :attr:`message` is the user-facing text."""

    OK = 0
    TRIVIAL = 1
    NONFINITE = 2
    NOT_CONVERGED = 3

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    FitStatus.OK: "fitted",
    FitStatus.TRIVIAL: "constant on the data for a trivial reason (total spread ~0)",
    FitStatus.NONFINITE: "produces NaN or inf on the data",
    FitStatus.NOT_CONVERGED: "parameter fit did not converge",
}


def accepted(status: np.ndarray, r_true: np.ndarray, r_random: np.ndarray,
             factor: float) -> np.ndarray:
    """Random-sequence test: status OK and ``R_random >= factor * R_true``, ``(n,)`` bool.

    R_true = 0 (exactly conserved, yet not trivially constant) passes.
    """
    with np.errstate(all="ignore"):
        return (status == FitStatus.OK) & np.isfinite(r_true) & np.isfinite(r_random) & (
            r_random >= factor * r_true)


def could_pass(r_true: np.ndarray, factor: float) -> np.ndarray:
    """Whether a candidate with this R_true can pass at all: R_random <= 1 always, so
    ``factor * R_true > 1`` fails whatever the random fit gives (used to skip that fit)."""
    with np.errstate(all="ignore"):
        return ~(factor * r_true > 1.0)
