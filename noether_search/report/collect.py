"""Gather everything a report or an export needs from a results store into plain data.

Every stage is optional: a store that holds only an enumeration gives a
:class:`ReportData` whose later fields are ``None`` and whose :attr:`ReportData.stages`
says what has run. Nothing here knows about LaTeX, CSV or matplotlib (those are the
leaf modules :mod:`~noether_search.report.latex`, :mod:`~noether_search.report.export`
and :mod:`~noether_search.report.figures`).

What is read, every artifact through its codec (:mod:`noether_search.store.codecs`):

- ``candidates/d{N}``: variables with units, counts by size, candidate formulas and sizes;
- ``fits/d{N}-{hash}/shard-*``: per-candidate fit results (parameters, R_true, R_random,
  status, message), and ``fits/d{N}-{hash}/laws``: the merged laws as
  :class:`~dslsearch.law.Law` (formula from the candidate table, fitted constants);
- ``summary.json`` (written by ``rank``): system, source, counts, top laws, RMSEs; its
  laws are matched to the fit stage's :class:`~dslsearch.law.Law` by their printed form
  (parsed from the text only when the store holds no such law);
- ``{run_key}/rollouts`` (``run_key`` from the summary): true and predicted test
  trajectories and RMSE per horizon step of the baseline, Noether and oracle models, and
  ``{run_key}/control/rollouts`` those of the control (plain fine-tuning).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dslsearch.law import Law
from noether_search.report.neural import read_neural
from noether_search.store import MARKER, ResultsStore, StoreError
from noether_search.store.codecs import RANK_ROLLOUTS, Rollouts

#: status of a candidate the fitting stage has not scored
NOT_FITTED = "not fitted"
#: status of a candidate fitted without problems
FITTED_OK = "ok"
#: random-sequence filter factor assumed when the store does not record one (rank's default)
DEFAULT_FACTOR = 100.0

_CANDIDATE_KEY = re.compile(r"^candidates/d(\d+)$")


@dataclass
class ReportedLaw:
    """One law as the report shows it: the :class:`~dslsearch.law.Law` and the ranking
    scores ``rank`` stored in ``summary.json`` (NaN where not computed).

    Attributes:
        formula: sympy syntax with fitted numbers, variables named as in the data.
        law: the law itself, or None when its text is outside the formula language.
        pretty: the same with parameter units (plain text).
        size: number of nodes.
        R_true, R_random: conservation loss on true and on random sequences.
        variants: candidates merged into this law.
        screen_loss: training MSE after one tailoring step at ``inner_lr``.
        screen_gain: baseline training MSE − ``screen_loss`` (one-step tailoring gain).
        inner_lr: inner (tailoring) learning rate.
        meta_train_loss: training MSE after meta-tailoring (NaN if not meta-tailored).
        g_scale: normalisation of the conservation loss.
    """

    formula: str
    law: Law | None = field(default=None, repr=False)
    pretty: str = ""
    size: int = 0
    R_true: float = math.nan
    R_random: float = math.nan
    variants: int = 1
    screen_loss: float = math.nan
    screen_gain: float = math.nan
    inner_lr: float = math.nan
    meta_train_loss: float = math.nan
    g_scale: float = math.nan

    @classmethod
    def from_law(cls, law: Law) -> ReportedLaw:
        """A law of the fit stage (no ranking scores)."""
        return cls(formula=str(law), law=law, pretty=law.pretty(), size=law.size,
                   R_true=law.R_true, R_random=law.R_random, variants=law.n_variants)

    @classmethod
    def from_json(cls, obj: dict, law: Law | None = None) -> ReportedLaw:
        """A law of ``summary.json``; ``law`` is its :class:`Law` when known."""
        def num(name: str) -> float:
            v = obj.get(name)
            return math.nan if v is None else float(v)

        return cls(formula=str(obj.get("formula", "")), law=law,
                   pretty=str(obj.get("pretty") or ""),
                   size=int(obj.get("size") or 0), R_true=num("R_true"),
                   R_random=num("R_random"), variants=int(obj.get("variants") or 1),
                   screen_loss=num("screen_loss"), screen_gain=num("screen_gain"),
                   inner_lr=num("inner_lr"), meta_train_loss=num("meta_train_loss"),
                   g_scale=num("g_scale"))


@dataclass
class FitScores:
    """Per-candidate fit results, aligned with the candidate order of ``candidates/d{N}``.

    Attributes:
        params: (n_cand, P_max) fitted parameters in pre-order, NaN-padded (and NaN for
            candidates that were not fitted).
        R_true, R_random: (n_cand,) conservation losses (NaN when not fitted/undefined).
        status: (n_cand,) user-facing status text (:data:`NOT_FITTED` when not fitted).
        message: (n_cand,) detail of the status.
        survivor: (n_cand,) bool, passed the random-sequence filter (None if unknown).
        source: where these were read from (for the report).
    """

    params: np.ndarray
    R_true: np.ndarray
    R_random: np.ndarray
    status: list[str]
    message: list[str]
    survivor: np.ndarray | None = None
    source: str = ""


@dataclass
class ReportData:
    """Everything a report shows; ``None`` / empty where a stage has not run.

    Attributes:
        root: the store folder.
        system: system or data name (``summary.json``), None before ``rank``.
        source: where the data came from.
        variables: ``((name, unit), ...)``, unit in pint syntax ("" dimensionless).
        depth: maximum formula size enumerated.
        counts_by_size: {size: number of candidates}.
        candidate_expr: (n_cand,) candidate formulas, parameters ``c0, c1, …``.
        candidate_size: (n_cand,) their sizes.
        table: the enumeration's :class:`~dslsearch.enumerate.FormulaTable` (formula trees,
            for parameter units), or None.
        fits: per-candidate fit results, or None.
        fit_laws: the fit stage's merged laws (lowest R_true first), or None.
        fit_outcome: what the last ``fit`` of that run reported
            (:class:`~noether_search.store.codecs.FitOutcome`: the laws of both searches,
            the independent basis), or None for stores without it.
        summary: ``summary.json`` as read, or None.
        n_candidates, n_fitted, n_failed, n_survivors, n_laws: stage counts (None unknown).
        top: the meta-tailored laws, best first as ``rank`` ordered them.
        best: the law the Noether model uses (``summary.json``'s ``best``).
        oracle: ``{"formula", "inner_lr", "meta_train_loss"}`` or None.
        rmse: {"baseline", "control", "noether", "oracle"} -> RMSE or None.
        horizon: rollout steps.
        baseline_train_loss: baseline training MSE before tailoring.
        rollouts: the test rollouts, or None.
        notes: problems met while reading (unreadable artifacts), for the report.
        neural: ``neural.json`` as read (the neural Noether comparison), or None.
    """

    root: Path
    system: str | None = None
    source: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    depth: int | None = None
    counts_by_size: dict[int, int] = field(default_factory=dict)
    candidate_expr: list[str] | None = None
    candidate_size: np.ndarray | None = None
    table: object = field(default=None, repr=False)
    fits: FitScores | None = None
    fit_laws: list[ReportedLaw] | None = None
    fit_outcome: object = field(default=None, repr=False)
    summary: dict | None = None
    n_candidates: int | None = None
    n_fitted: int | None = None
    n_failed: int | None = None
    n_survivors: int | None = None
    n_laws: int | None = None
    top: list[ReportedLaw] = field(default_factory=list)
    best: ReportedLaw | None = None
    oracle: dict | None = None
    rmse: dict[str, float | None] = field(default_factory=dict)
    horizon: int | None = None
    baseline_train_loss: float | None = None
    rollouts: Rollouts | None = None
    notes: list[str] = field(default_factory=list)
    neural: dict | None = None

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.variables]

    @property
    def stages(self) -> dict[str, bool]:
        """Which stages the store holds: enumerate, fit, rank, rollouts."""
        return {"enumerate": self.candidate_expr is not None or bool(self.counts_by_size),
                "fit": self.fits is not None or self.n_fitted is not None,
                "rank": self.summary is not None,
                "rollouts": self.rollouts is not None}


# -- opening --------------------------------------------------------------------------------
def open_existing(root: str | Path) -> ResultsStore:
    """Open an existing store (never create one).

    Raises:
        StoreError: ``root`` does not exist, is not a folder or holds no store.
    """
    root = Path(root)
    if not root.exists():
        raise StoreError(f"{root}: no such folder; give the results folder of a run "
                         "(e.g. results/pendulum, or the --out folder you used)")
    if not root.is_dir():
        raise StoreError(f"{root}: not a folder; give the results folder of a run, "
                         f"the one holding {MARKER}")
    return ResultsStore.open(root, create=False)


def candidate_depths(store: ResultsStore) -> list[int]:
    """Depths of the enumerations in the store (``candidates/d{N}``), ascending."""
    out = []
    for key in store.keys("candidates"):
        m = _CANDIDATE_KEY.match(key)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def _choose_depth(store: ResultsStore, depth: int | None, summary: dict | None) -> int | None:
    depths = candidate_depths(store)
    if depth is not None:
        if depth not in depths:
            have = ", ".join(map(str, depths)) or "none"
            raise StoreError(f"{store.root}: no enumeration of depth {depth} in the store "
                             f"(candidates/d{depth}); depths present: {have}")
        return depth
    if summary is not None and summary.get("depth") in depths:
        return int(summary["depth"])
    return depths[-1] if depths else None


# -- the pieces -----------------------------------------------------------------------------
def read_summary(store: ResultsStore) -> dict | None:
    """``summary.json`` as a dict, or None when ``rank`` has not finished.

    Raises:
        StoreError: the file exists but is not a JSON object.
    """
    return store.read_json("summary.json", "rank")


def read_candidates(store: ResultsStore, depth: int):
    """The :class:`~dslsearch.enumerate.FormulaTable` of ``candidates/d{depth}`` and its
    candidate formulas (sympy syntax, parameters ``c0, c1, …``)."""
    from noether_search.stages import table_key
    from noether_search.store.codecs import CANDIDATE_TABLE

    table = store.load(table_key(depth), CANDIDATE_TABLE)
    return table, list(table.expr_strings())


def read_rollouts(store: ResultsStore, run_key: str) -> Rollouts | None:
    """The ``{run_key}/rollouts`` artifact with the control's (``{run_key}/control/rollouts``,
    when present) merged in, or None when absent."""
    from noether_search.stages.rank import merge_rollouts

    key = f"{run_key}/rollouts"
    if not store.exists(key):
        return None
    ro = store.load(key, RANK_ROLLOUTS)
    if store.exists(f"{run_key}/control/rollouts"):
        ro = merge_rollouts(ro, store.load(f"{run_key}/control/rollouts", RANK_ROLLOUTS))
    return ro


def fit_keys(store: ResultsStore, depth: int) -> list[str]:
    """Keys ``d{depth}-{hash}`` of the fit runs of that enumeration in the store, the most
    recently written last."""
    base = store.root / "fits"
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir()
             if p.is_dir() and p.name.startswith(f"d{depth}-") and any(p.glob("shard-*.h5"))]
    found.sort(key=lambda p: max(f.stat().st_mtime for f in p.glob("*.h5")))
    return [p.name for p in found]


def _status_text(code: int) -> str:
    from dslsearch.fitting import FitStatus

    try:
        return FitStatus(int(code)).name.lower().replace("_", " ")
    except ValueError:
        return f"status {int(code)}"


def _read_fits(store: ResultsStore, depth: int, n_candidates: int, factor: float,
               notes: list[str]) -> FitScores | None:
    """Per-candidate fit results of the enumeration of ``depth``, or None when no fit ran.

    Read with the ``fit-shard`` codec (``fits/d{N}-{hash}/shard-*``); candidates of shards
    not yet written (an interrupted fit) get status :data:`NOT_FITTED`. With several fit
    runs of one depth (other settings) the most recent is used and a note says so.
    """
    keys = fit_keys(store, depth)
    if not keys:
        return None
    from dslsearch.fitting import accepted
    from noether_search.stages import load_fits

    key = keys[-1]
    if len(keys) > 1:
        notes.append(f"{len(keys)} fit runs of depth {depth} in the store "
                     f"({', '.join(keys)}); showing the most recent, {key}")
    raw = load_fits(store, key)
    idx = raw.candidate_index
    if idx.size and (idx.min() < 0 or idx.max() >= n_candidates):
        raise StoreError(f"{store.root / 'fits' / key}: candidate indices up to {idx.max()} "
                         f"but candidates/d{depth} has {n_candidates}; the fits belong to "
                         "another enumeration, delete the folder and rerun")
    p_max = raw.params.shape[1] if idx.size else 1
    params = np.full((n_candidates, max(p_max, 1)), np.nan)
    r_true = np.full(n_candidates, np.nan)
    r_random = np.full(n_candidates, np.nan)
    code = np.full(n_candidates, -1, np.int64)
    status = [NOT_FITTED] * n_candidates
    message = ["the fit stage has not scored this candidate"] * n_candidates
    if idx.size:
        params[idx, :p_max] = raw.params
        r_true[idx], r_random[idx], code[idx] = raw.R_true, raw.R_random, raw.status
        for i, c, m in zip(idx.tolist(), raw.status.tolist(), raw.message):
            status[i], message[i] = _status_text(c), str(m)
    with np.errstate(invalid="ignore"):
        survivor = accepted(code, r_true, r_random, factor) & (code >= 0)
    if len(idx) < n_candidates:
        notes.append(f"fit run {key} scored {len(idx):,} of {n_candidates:,} candidates "
                     "(interrupted? rerun the same command to finish it)")
    return FitScores(params=params, R_true=r_true, R_random=r_random, status=status,
                     message=message, survivor=survivor, source=f"fits/{key}")


def _read_fit_laws(store: ResultsStore, source: str, table) -> list[Law] | None:
    """The merged laws of a fit run (``{source}/laws``), best (lowest R_true) first."""
    from noether_search.stages import laws_key
    from noether_search.store.codecs import FIT_LAWS

    key = laws_key(source.removeprefix("fits/"))
    if not store.exists(key):
        return None
    return [record.to_law(table, table.variables) for record in store.load(key, FIT_LAWS)]


def read_outcome(store: ResultsStore, source: str, notes: list[str] | None = None):
    """What the most recent ``fit`` of run ``source`` (``fits/<key>``) reported
    (:class:`~noether_search.store.codecs.FitOutcome`: both searches' laws with evidence and
    intervals, the independent basis), or None when no fit stored it (stores written before
    it existed) or it is damaged (a note in ``notes`` says so; rerunning ``fit`` rewrites
    it)."""
    from noether_search.store import DamagedArtifact
    from noether_search.store.codecs import FIT_RESULT

    keys = [k for k in store.keys(source) if k.rsplit("/", 1)[-1].startswith("result-")]
    if not keys:
        return None
    key = max(keys, key=lambda k: store.path(k).stat().st_mtime)
    try:
        return store.load(key, FIT_RESULT)
    except DamagedArtifact as exc:
        if notes is not None:
            notes.append(f"{exc.path} is damaged ({exc.reason}); showing the exhaustive "
                         "search's laws only: rerun fit to rewrite it")
        return None


def _summary_law(obj: dict, variables, known: dict[str, Law]) -> ReportedLaw:
    """A law of ``summary.json``: the fit stage's :class:`Law` of that printed form, else
    parsed from the text (None when outside the formula language)."""
    from dslsearch.formula import FormulaError

    text = str(obj.get("formula", ""))
    law = known.get(text)
    if law is None and variables:
        try:
            law = Law.parse(text, variables)
        except (FormulaError, ValueError, TypeError, KeyError, IndexError):
            law = None
    return ReportedLaw.from_json(obj, law)


def _num(v) -> float | None:
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# -- everything -----------------------------------------------------------------------------
def collect(root: str | Path, depth: int | None = None, rollouts: bool = True) -> ReportData:
    """Read everything a report needs from the store at ``root``.

    Args:
        root: the store folder.
        depth: which enumeration (``candidates/d{depth}``); default the summary's, else the
            largest present.
        rollouts: read the rollout trajectories (not needed by exports).

    Returns:
        The :class:`ReportData`; fields of stages that have not run are None / empty.

    Raises:
        StoreError: ``root`` is not a store, a requested depth is missing, or an artifact
            is unreadable (the message names the file and the fix).
    """
    store = open_existing(root)
    data = ReportData(root=store.root)
    summary = read_summary(store)
    data.summary = summary
    data.neural = read_neural(store)
    chosen = _choose_depth(store, depth, summary)
    laws: list[Law] = []
    if chosen is not None:
        _apply_candidates(data, store, chosen, summary)
    if data.fits is not None:
        outcome = read_outcome(store, data.fits.source, data.notes)
        found = (list(outcome.laws) if outcome is not None
                 else _read_fit_laws(store, data.fits.source, data.table))
        if found is not None:
            laws = found
            data.fit_laws = [ReportedLaw.from_law(law) for law in laws]
        if outcome is not None:
            data.fit_outcome = outcome
            data.n_survivors = outcome.n_survivors if outcome.search != "sums" else None
    if summary is not None:
        _apply_summary(data, summary, {str(law): law for law in laws})
        run_key = summary.get("run_key")
        if rollouts and run_key:
            data.rollouts = read_rollouts(store, str(run_key))
            if data.rollouts is None:
                data.notes.append(f"rollouts '{run_key}/rollouts' are not in the store")
    if data.fits is not None:
        if data.n_laws is None and data.fit_laws is not None:
            data.n_laws = len(data.fit_laws)
        ok = np.asarray([s == FITTED_OK for s in data.fits.status])
        data.n_fitted = data.n_fitted if data.n_fitted is not None else int(ok.sum())
        if data.n_survivors is None and data.fits.survivor is not None:
            data.n_survivors = int(np.sum(data.fits.survivor))
    return data


def _apply_candidates(data: ReportData, store: ResultsStore, depth: int,
                      summary: dict | None) -> None:
    data.depth = depth
    table, data.candidate_expr = read_candidates(store, depth)
    data.table = table
    data.variables = tuple(tuple(v) for v in table.variables)
    data.counts_by_size = dict(table.counts_by_size)
    data.candidate_size = np.asarray(table.size[table.candidates], dtype=np.int64)
    data.n_candidates = len(data.candidate_expr)
    factor = float(((summary or {}).get("config") or {}).get("factor") or DEFAULT_FACTOR)
    data.fits = _read_fits(store, depth, data.n_candidates, factor, data.notes)


def _apply_summary(data: ReportData, s: dict, known: dict[str, Law]) -> None:
    data.system = s.get("system")
    data.source = s.get("source")
    if data.depth is None and s.get("depth") is not None:
        data.depth = int(s["depth"])
    for attr, key in (("n_candidates", "candidates"), ("n_fitted", "fitted"),
                      ("n_failed", "failed"), ("n_survivors", "survivors"), ("n_laws", "laws")):
        if s.get(key) is not None:
            setattr(data, attr, int(s[key]))
    data.top = [_summary_law(obj, data.variables, known) for obj in s.get("top") or []]
    data.best = _summary_law(s["best"], data.variables, known) if s.get("best") else None
    data.oracle = s.get("oracle") or None
    data.rmse = {name: _num(s.get(f"{name}_rmse"))
                 for name in ("baseline", "control", "noether", "oracle")}
    data.horizon = int(s["horizon"]) if s.get("horizon") is not None else None
    data.baseline_train_loss = _num(s.get("screen_baseline_train_loss"))


def candidate_law(data: ReportData, index: int) -> Law:
    """Candidate ``index`` of the collected enumeration as a :class:`Law`, with its fitted
    constants (NaN where not fitted) and their units."""
    table = data.table
    node = int(table.candidates[index])
    formula = table.formula(node)
    params = np.full(formula.n_params, np.nan)
    if data.fits is not None and formula.n_params:
        params = data.fits.params[index, : formula.n_params]
    return Law(formula, params, data.variables, node=node)
