"""``NoetherSearch``: the pipeline as an estimator, for notebooks and scripts.

    model = NoetherSearch(depth=7).fit("pendulum")      # or a Dataset, or a trajectory file
    model.laws_            # every conservation law found, lowest R_true first
    model.best_law_        # the law the Noether model uses
    model.latex()          # the best law in LaTeX

Parameters are stored untouched by ``__init__`` and validated by :meth:`NoetherSearch.fit`
(scikit-learn's and PySR's conventions); learned results are attributes ending in ``_``.
"""

from __future__ import annotations

import numbers
from pathlib import Path


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before :meth:`NoetherSearch.fit`."""


_DEFAULTS = {"depth": 7, "top": 20, "epochs": 100, "seed": 0, "factor": 100.0,
             "select": "rollout", "inner_lr": None, "rank": True, "store": None,
             "workers": None, "progress": None, "ops": None, "search": None,
             "seeds": 1, "val_fraction": 0.2, "refit": True}


class NoetherSearch:
    """Find conserved quantities of trajectory data and rank them by how much they help.

    Args:
        depth: maximum formula size in nodes (the paper's "depth"; 1..10).
        top: laws kept after the one-step tailoring screen and meta-tailored.
        epochs: meta-tailoring epochs per law.
        seed: seed of fitting, baseline training and meta-tailoring.
        factor: random-sequence filter: keep a formula when R_random / R_true >= factor.
        select: how the best law is chosen after meta-tailoring: ``"rollout"`` (long-term
            prediction error on the validation trajectories) or ``"loss"`` (MSE on dx/dt
            of the validation pairs, the paper's rule).
        inner_lr: a fixed inner (tailoring) learning rate for every law (None: each law's
            best rate in the screen).
        rank: also train the baseline and rank the laws by meta-tailoring (slower); with
            False only the fit stage runs.
        store: a results folder (path or ``ResultsStore``) whose stages are reused and
            saved; None keeps everything in memory.
        workers: parallel workers of the fit stage (None: all cores).
        progress: ``progress(stage, done, total)`` callback.
        ops: the operator set formulas are built from: names (``["add", ..., "sqrt"]``) or a
            string (``"paper,log"``, ``"all"``); None: the paper's ``+ − × ÷ sin cos square``.
        search: ``"exhaustive"`` (every formula up to ``depth`` nodes), ``"sums"`` (sums of
            parameter-free terms with fitted coefficients) or ``"both"``; None: each stage's
            default, ``"both"`` for the fit alone (``rank=False``) and ``"exhaustive"`` (the
            paper's procedure) when ranking.
        seeds: repeat baseline training, meta-tailoring and the control for seeds
            ``seed`` … ``seed + seeds − 1`` (``rank=True`` only); ``ranking_.to_json()``
            then holds the mean and standard deviation of each RMSE over the seeds.
        val_fraction: share of the training trajectories (of blocks of a single long one)
            held out, drawn with the seed, to choose each law's epochs and rates, the best
            law and the control's; 0 chooses on the training data (``docs/TAILORING.md``).
        refit: after those choices, retrain the chosen Noether model, oracle and control on
            all training trajectories (default True; no effect with ``val_fraction=0``).

    Attributes (after :meth:`fit`):
        dataset_: the ``Dataset`` fitted.
        laws_: list of ``Law``, every conservation law found, lowest R_true first.
        fit_result_: the fit stage's result (counts of candidates, survivors, ...).
        independent_: the laws that are not functions of each other (a basis, simplest
            first); ``len(independent_)`` is the number of independent invariants found.
        ranking_: the ``RankResult`` (``rank=True`` only, else None).
        baseline_: the baseline's ``BaselineResult`` (``rank=True`` only, else None).
        best_law_: the Noether model's law (``rank=True``), else the first of ``laws_``;
            None when no law survived.
    """

    def __init__(self, depth=7, top=20, epochs=100, seed=0, factor=100.0, select="rollout",
                 inner_lr=None, rank=True, store=None, workers=None, progress=None, ops=None,
                 search=None, seeds=1, val_fraction=0.2, refit=True):
        self.depth = depth
        self.top = top
        self.epochs = epochs
        self.seed = seed
        self.factor = factor
        self.select = select
        self.inner_lr = inner_lr
        self.rank = rank
        self.store = store
        self.workers = workers
        self.progress = progress
        self.ops = ops
        self.search = search
        self.seeds = seeds
        self.val_fraction = val_fraction
        self.refit = refit

    # -- scikit-learn conventions -------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters as given."""
        return {name: getattr(self, name) for name in _DEFAULTS}

    def set_params(self, **params) -> NoetherSearch:
        """Set constructor parameters (validated at the next :meth:`fit`); returns self."""
        for name, value in params.items():
            if name not in _DEFAULTS:
                raise ValueError(f"set_params: unknown parameter {name!r}; parameters are "
                                 f"{', '.join(_DEFAULTS)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                         if not _same(v, _DEFAULTS[k]))
        head = f"{type(self).__name__}({args})"
        if not hasattr(self, "laws_"):
            return head
        lines = [head, f"  laws_: {len(self.laws_)} (lowest R_true first; * = best_law_)"]
        for law in self.laws_[:10]:
            mark = "*" if law is self.best_law_ else " "
            lines.append(f"  {mark} {law}   R_true={law.R_true:.3g}")
        if len(self.laws_) > 10:
            lines.append(f"    ... {len(self.laws_) - 10} more")
        return "\n".join(lines)

    # -- fitting ------------------------------------------------------------------------
    def fit(self, data) -> NoetherSearch:
        """Search ``data`` for conserved quantities (and, with ``rank``, rank them).

        Args:
            data: a ``Dataset`` (``noether_search.load(...)``, ``Dataset.from_arrays``),
                a built-in system name (``"pendulum"``, ``"spring"``, ``"real-pendulum"``)
                or a CSV / HDF5 trajectory file (``docs/TRAJECTORY_FORMAT.md``).

        Returns:
            self.

        Raises:
            ValueError: a parameter out of range (the message names it and what was given),
                or unreadable data (``DataError``).
        """
        from noether_search.stages import rank
        from noether_search.stages import fit_laws

        self._validate()
        dataset = _as_dataset(data, self.seed)
        store = _as_store(self.store)
        config = self._rank_config()
        fit_config = config.fit_config(**({} if self.workers is None
                                          else {"workers": self.workers}))
        self.dataset_ = dataset
        self.ranking_ = self.baseline_ = None
        if self.rank:
            self.ranking_ = rank(dataset, config, store, self.progress, fit_config=fit_config)
            self.fit_result_ = self.ranking_.fit
            self.baseline_ = self.ranking_.baseline
            best = self.ranking_.best
            self.best_law_ = None if best is None else best.law
        else:
            report = (None if self.progress is None
                      else (lambda done, total: self.progress("fit", done, total)))
            self.fit_result_ = fit_laws(dataset, self.depth, fit_config, store=store,
                                        progress=report, ops=self.ops,
                                        search=self.search or "both")
            self.best_law_ = self.fit_result_.laws[0] if self.fit_result_.laws else None
        self.laws_ = list(self.fit_result_.laws)
        independent = self.fit_result_.independent
        self.independent_ = list(independent.basis) if independent is not None else []
        return self

    def _rank_config(self):
        from noether_search.stages import RankConfig

        return RankConfig(depth=int(self.depth), top=int(self.top), epochs=int(self.epochs),
                          seed=int(self.seed), factor=float(self.factor),
                          inner_lr=None if self.inner_lr is None else float(self.inner_lr),
                          select=self.select, ops=self.ops,
                          search=self.search or "exhaustive",
                          seeds=int(self.seeds), val_fraction=float(self.val_fraction),
                          refit=self.refit)

    def _validate(self) -> None:
        _check_int("depth", self.depth, 1, 10)
        _check_int("top", self.top, 1)
        _check_int("epochs", self.epochs, 1)
        _check_int("seed", self.seed, None)
        _check_int("seeds", self.seeds, 1)
        if (isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, numbers.Real)
                or not 0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction: expected a number in [0, 1), got "
                             f"{self.val_fraction!r}; 0 chooses on the training data")
        if self.workers is not None:
            _check_int("workers", self.workers, 1)
        if not isinstance(self.factor, numbers.Real) or not self.factor >= 1:
            raise ValueError(f"factor: expected a number >= 1, got {self.factor!r}")
        if self.select not in ("rollout", "loss"):
            raise ValueError(f"select: expected 'rollout' or 'loss', got {self.select!r}")
        if self.inner_lr is not None and (not isinstance(self.inner_lr, numbers.Real)
                                          or not self.inner_lr > 0):
            raise ValueError(f"inner_lr: expected None or a number > 0, got {self.inner_lr!r}")
        if self.ops is not None:
            from dslsearch.ops import op_set

            op_set(self.ops)  # raises ValueError naming ops and the known names
        if self.search not in (None, "exhaustive", "sums", "both"):
            raise ValueError(f"search: expected None, 'exhaustive', 'sums' or 'both', got "
                             f"{self.search!r}")
        for name in ("rank", "refit"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected True or False, got {getattr(self, name)!r}")
        if self.progress is not None and not callable(self.progress):
            raise ValueError(f"progress: expected None or a callable (stage, done, total), "
                             f"got {self.progress!r}")

    # -- results --------------------------------------------------------------------------
    def _law(self, index: int | None):
        if not hasattr(self, "laws_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call "
                                 ".fit(data) first")
        if index is None:
            if self.best_law_ is None:
                raise ValueError("no conservation law survived the filter; try a larger "
                                 "depth or a smaller factor")
            return self.best_law_
        if not -len(self.laws_) <= index < len(self.laws_):
            raise IndexError(f"law index {index} out of range: {len(self.laws_)} laws found")
        return self.laws_[index]

    def sympy(self, index: int | None = None):
        """The best law (or ``laws_[index]``) as a sympy expression with its numbers."""
        return self._law(index).sympy()

    def latex(self, index: int | None = None) -> str:
        """The best law (or ``laws_[index]``) in LaTeX."""
        return self._law(index).latex()


def _same(a, b) -> bool:
    return a is b or (type(a) is type(b) and a == b)


def _check_int(name: str, value, low: int | None, high: int | None = None) -> None:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and low is not None and value < low or ok and high is not None and value > high:
        ok = False
    if not ok:
        bounds = (f" in {low}..{high}" if high is not None
                  else f" >= {low}" if low is not None else "")
        raise ValueError(f"{name}: expected an integer{bounds}, got {value!r}")


def _as_dataset(data, seed: int):
    """A ``Dataset`` from a dataset, a built-in system name or a trajectory file."""
    import hamiltonian_data
    from hamiltonian_data import Dataset

    if isinstance(data, Dataset):
        return data
    if isinstance(data, str) and data in hamiltonian_data.SYSTEMS:
        return hamiltonian_data.load(system=data, seed=seed)
    if isinstance(data, (str, Path)):
        if not Path(data).is_file():
            raise ValueError(f"data: {str(data)!r} is neither a built-in system "
                             f"({', '.join(hamiltonian_data.SYSTEMS)}) nor an existing "
                             "trajectory file; give a Dataset, a system name or a CSV/HDF5 path")
        return hamiltonian_data.load(data=data)
    raise ValueError(f"data: expected a Dataset, a system name or a file path, got "
                     f"{type(data).__name__}; build one with noether_search.load(...) or "
                     "Dataset.from_arrays(...)")


def _as_store(store):
    from noether_search.store import ResultsStore

    if store is None or isinstance(store, ResultsStore):
        return store
    if isinstance(store, (str, Path)):
        return ResultsStore.open(store)
    raise ValueError(f"store: expected None, a folder path or a ResultsStore, got "
                     f"{type(store).__name__}")
