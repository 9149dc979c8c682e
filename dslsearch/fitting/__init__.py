"""Batched parameter fitting, the random-sequence filter and merging of survivors.

The stage takes every candidate of a :class:`~dslsearch.enumerate.FormulaTable`, fits its
parameters so the formula is as constant as possible within each training trajectory
(the score R of :mod:`.objective`), repeats the fit on random sequences, and keeps the
formulas that are at least ``factor`` times better on the true data. See
``docs/STORE.md`` (section "The fit stage") for what is written to the results store.
"""

from dslsearch.fitting.filter import FitStatus, accepted
from dslsearch.fitting.merge import merge_groups
from dslsearch.fitting.objective import Segments, r_score
from dslsearch.fitting.optimise import AdamConfig
from dslsearch.fitting.run import (FitConfig, FitResult, Law, config_hash, fit_candidates,
                                   read_fits, read_laws)

__all__ = [
    "AdamConfig",
    "FitConfig",
    "FitResult",
    "FitStatus",
    "Law",
    "Segments",
    "accepted",
    "config_hash",
    "fit_candidates",
    "merge_groups",
    "r_score",
    "read_fits",
    "read_laws",
]
