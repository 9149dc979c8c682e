"""Batched parameter fitting, the random-sequence filter and merging of survivors.

The stage takes every candidate of a :class:`~dslsearch.enumerate.FormulaTable`, fits its
parameters so the formula is as constant as possible within each training trajectory
(the score R of :mod:`.objective`), repeats the fit on random sequences, and keeps the
formulas that are at least ``factor`` times better on the true data. Everything here runs
in memory; :func:`noether_search.stages.fit_laws` keeps the results in a store
(``docs/STORE.md``, section "The fit stage").
"""

from dslsearch.fitting.config import FitConfig, config_hash, fit_key
from dslsearch.fitting.filter import FitStatus, accepted
from dslsearch.fitting.laws import merge_laws
from dslsearch.fitting.merge import merge_groups
from dslsearch.fitting.objective import Segments, r_score
from dslsearch.fitting.optimise import AdamConfig
from dslsearch.fitting.rows import FitRows
from dslsearch.fitting.run import FitResult, fit_table

__all__ = [
    "AdamConfig",
    "FitConfig",
    "FitResult",
    "FitRows",
    "FitStatus",
    "Segments",
    "accepted",
    "config_hash",
    "fit_key",
    "fit_table",
    "merge_groups",
    "merge_laws",
    "r_score",
]
