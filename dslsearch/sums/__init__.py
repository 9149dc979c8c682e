"""The sum-of-terms search: conserved sums ``c_1 phi_1 + … + c_k phi_k`` of parameter-free
terms, coefficients fitted jointly in closed form, terms chosen by beam search.

The exhaustive search (:mod:`dslsearch.fitting`) finds every law up to a formula size; a
sum of several terms (an energy with four quadratic terms) is out of its reach at size 7.
Here the terms are the table's parameter-free formulas up to ``term_size`` nodes
(:mod:`.library`), term sets are scored by the closed-form fit of their coefficients and
grown by beam search (:mod:`.select`), each size's best set is refitted on all points and
judged by the fit stage's random-sequence test, and a complexity penalty picks one law from
the Pareto front of number of terms against R (:mod:`.run`). ``docs/SUMS.md`` describes the
method and its measured behaviour.
"""

from dslsearch.sums.compose import sum_formula, sum_law
from dslsearch.sums.config import SumsConfig
from dslsearch.sums.library import TermLibrary, TermStatus, build_library
from dslsearch.sums.merge import merge_searches
from dslsearch.sums.run import FrontPoint, SumsResult, fit_sums
from dslsearch.sums.select import TermSet, beam_search

__all__ = [
    "FrontPoint",
    "SumsConfig",
    "SumsResult",
    "TermLibrary",
    "TermSet",
    "TermStatus",
    "beam_search",
    "build_library",
    "fit_sums",
    "merge_searches",
    "sum_formula",
    "sum_law",
]
