"""noether-search: discover conserved quantities as unit-checked formulas (Noether Networks).

    from noether_search import NoetherSearch, load
    model = NoetherSearch(depth=7).fit(load(system="pendulum"))
    print(model.best_law_, model.latex())

Packages: :mod:`dslsearch` (formula language, enumeration, fitting), :mod:`hamiltonian_data`
(systems and trajectory files), :mod:`noether_search` (stages, estimator, results store,
baseline, reports and the ``noether-search`` command line). The names below are imported on
first use, so ``import noether_search`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "NoetherSearch": "noether_search.estimator",
    "NotFittedError": "noether_search.estimator",
    "Dataset": "hamiltonian_data",
    "load": "hamiltonian_data",
    "Law": "dslsearch.law",
    "ResultsStore": "noether_search.store",
    # stages, their configs and results
    "rank": "noether_search.stages",
    "RankConfig": "noether_search.stages",
    "RankResult": "noether_search.stages",
    "RankedLaw": "noether_search.stages",
    "Oracle": "noether_search.stages",
    "screen_laws": "noether_search.stages",
    "ScreenedLaw": "noether_search.stages",
    "meta_tailor_laws": "noether_search.stages",
    "MetaConfig": "noether_search.stages",
    "TailoredLaw": "noether_search.stages",
    "evaluate_models": "noether_search.stages",
    "Rollouts": "noether_search.stages",
    "enumerate_candidates": "noether_search.stages",
    "fit_laws": "noether_search.stages",
    "train_baseline": "noether_search.stages",
    "FitConfig": "dslsearch.fitting",
    "BaselineConfig": "noether_search.baseline",
    # the stage ``noether_search.stages.neural.neural``, under another name: ``neural`` is
    # the subpackage of the learned embedding (``noether_search.neural``)
    "neural_noether": "noether_search.stages.neural",
    "NeuralConfig": "noether_search.stages.neural",
    "NeuralResult": "noether_search.stages.neural",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time see __getattr__
    from dslsearch.fitting import FitConfig
    from dslsearch.law import Law
    from hamiltonian_data import Dataset, load
    from noether_search.baseline import BaselineConfig
    from noether_search.estimator import NoetherSearch, NotFittedError
    from noether_search.stages import (MetaConfig, Oracle, RankConfig, RankedLaw, RankResult,
                                       Rollouts, ScreenedLaw, TailoredLaw, enumerate_candidates,
                                       evaluate_models, fit_laws, meta_tailor_laws, rank,
                                       screen_laws, train_baseline)
    from noether_search.stages.neural import NeuralConfig, NeuralResult, neural_noether
    from noether_search.store import ResultsStore


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'noether_search' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
