"""Stand-ins for the enumerate / fit / baseline stages and the ``Law`` type, with the
signatures of ``noether_search.stages.{fit,baseline}`` and ``dslsearch.law``, built on the
current fitting and baseline code. Replaced by those modules when they exist.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting import FitConfig
from dslsearch.fitting.run import Law as _FitLaw


@dataclass(eq=False)
class Law(_FitLaw):
    """A conservation law (fit-stage law with its variables, printable)."""

    variables: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.variables]

    @property
    def n_params(self) -> int:
        return len(self.params)

    def __str__(self) -> str:
        return self.expr

    def __call__(self, x):
        return self.formula.evaluate(x, [float(p) for p in self.params])

    def sympy(self):
        return self.formula.to_sympy(self.names, [float(p) for p in self.params])

    def latex(self) -> str:
        return self.formula.latex(self.names, [float(p) for p in self.params])

    @classmethod
    def parse(cls, text: str, variables) -> Law:
        from dslsearch.formula import from_sympy

        variables = tuple((str(n), str(u)) for n, u in variables)
        formula, values = from_sympy(text, [n for n, _ in variables])
        params = np.asarray([1.0 if v is None else v for v in values], np.float64)
        expr = formula.expr_str([n for n, _ in variables], list(map(float, params)))
        return cls(formula=formula, params=params, expr=expr, variants=[expr], n_merged=1,
                   R_true=np.nan, R_random=np.nan, size=formula.size, param_units=[],
                   param_text=[], node=-1, variables=variables)


def _variables(dataset) -> tuple[tuple[str, str], ...]:
    return tuple((v.name, v.unit) for v in dataset.variables)


def fit_laws(dataset, depth: int = 7, config: FitConfig = FitConfig(), store=None, table=None,
             progress: Callable[[str, int, int], None] | None = None):
    """Fit and filter every candidate; ``FitResult`` whose ``laws`` are :class:`Law`."""
    from dslsearch.fitting import fit_candidates
    from noether_search.store import ResultsStore

    with contextlib.ExitStack() as stack:
        if store is None:
            store = ResultsStore.open(stack.enter_context(tempfile.TemporaryDirectory()) + "/s")
        fit = fit_candidates(store, dataset, depth, config, progress=None if progress is None
                             else (lambda done, total: progress("fit", done, total)))
    variables = _variables(dataset)
    fit.laws = [Law(**{k: getattr(law, k) for k in _FitLaw.__dataclass_fields__},
                    variables=variables) for law in fit.laws]
    return fit


def train_baseline(dataset, config=None, store=None,
                   progress: Callable[[str, int, int], None] | None = None):
    """Train (or, with a store, reuse) the vanilla MLP; a ``BaselineResult``."""
    from noether_search.baseline import (BaselineConfig, BaselineResult, derivative_mse,
                                         get_or_train, store_key, train_mlp)

    report = None if progress is None else (lambda s, t, loss: progress("baseline", s, t))
    if store is not None:
        return get_or_train(store, dataset, config, progress=report)
    config = BaselineConfig.for_dataset(dataset) if config is None else config
    model = train_mlp(dataset, config, report)
    train_mse, test_mse = derivative_mse(model, dataset)
    return BaselineResult(model, config, True, {"deriv_mse_train": train_mse,
                                                "deriv_mse_test": test_mse},
                          store_key(dataset, config))
