"""The fit stage: fit, filter and merge every candidate, resumable shard by shard when a
store is given; the sum-of-terms search beside it, both searches' laws merged into one list
and reduced to an independent basis."""

from __future__ import annotations

import dataclasses

import numpy as np

from dslsearch.enumerate import FormulaTable
from dslsearch.fitting import FitConfig, FitResult, FitRows, fit_key, fit_table
from dslsearch.fitting.run import Progress
from dslsearch.ops import op_set
from dslsearch.sums import SumsConfig, SumsResult
from noether_search.stages.candidates import enumerate_candidates, table_key

#: the searches :func:`fit_laws` can run
SEARCHES = ("exhaustive", "sums", "both")

_SHARD_PREFIX = "shard-"


def shard_key(key: str, k: int) -> str:
    """``fits/<key>/shard-{k:05d}``."""
    return f"fits/{key}/{_SHARD_PREFIX}{k:05d}"


def laws_key(key: str) -> str:
    """``fits/<key>/laws``."""
    return f"fits/{key}/laws"


def run_name(result: FitResult) -> str:
    """The name of what produced ``result.laws``: the fit run's key, followed by
    ``+sums-<hash>`` when the sum search contributed (later stages key their artifacts on
    it, so a list of laws with and one without the sums are never confused)."""
    if result.sums is None:
        return result.key
    return f"{result.key}+sums-{result.sums.config.key()}"


def sums_key(key: str, sums: SumsConfig, config: FitConfig | None = None) -> str:
    """``fits/<key>/sums-<hash>``: the sum search of fit run ``key`` with settings ``sums``
    and the paper's test; ``fits/<key>/sums-<hash>-<hash>`` with the calibrated test of
    ``config`` (its thresholds and the drift test's form,
    :data:`dslsearch.acceptance.DRIFT_TEST`, choose each round's law, so they name the
    artifact)."""
    if config is None or config.test != "calibrated":
        return f"fits/{key}/sums-{sums.key()}"
    import hashlib
    import json

    from dslsearch.acceptance import DRIFT_TEST

    named = dataclasses.asdict(config.acceptance)
    if config.refit != "moments":      # the drift check refits
        named["refit"] = config.refit
    named["drift_test"] = DRIFT_TEST
    named = json.dumps(named, sort_keys=True)
    return f"fits/{key}/sums-{sums.key()}-{hashlib.sha256(named.encode()).hexdigest()[:8]}"


def load_shards(store, key: str, skip_damaged: bool = False) -> dict[int, FitRows]:
    """Shard index -> rows of every shard of fit run ``key`` in ``store``.

    Raises:
        DamagedArtifact: a shard is damaged (with ``skip_damaged`` it is left out and noted
            in ``store.damaged`` instead, so the fit stage recomputes it).
    """
    from noether_search.store.codecs import FIT_SHARD

    out = {}
    for k in store.keys(f"fits/{key}"):
        name = k.rsplit("/", 1)[-1]
        if name.startswith(_SHARD_PREFIX):
            rows = store.load_cached(k, FIT_SHARD) if skip_damaged else store.load(k, FIT_SHARD)
            if rows is not None:
                out[int(name.removeprefix(_SHARD_PREFIX))] = rows
    return out


def load_fits(store, key: str) -> FitRows:
    """Every stored candidate's fit results of run ``key``, in candidate order."""
    return FitRows.concat([rows for _, rows in sorted(load_shards(store, key).items())])


def fit_laws(dataset, depth: int = 7, config: FitConfig = FitConfig(), store=None,
             table: FormulaTable | None = None, progress: Progress | None = None, *,
             ops=None, search: str = "both", sums: SumsConfig = SumsConfig(),
             sums_progress: Progress | None = None) -> FitResult:
    """Fit and filter every candidate of depth ``depth`` on ``dataset``; merge survivors.

    Args:
        dataset: a ``hamiltonian_data.Dataset`` (its training trajectories are used).
        depth: maximum formula size in nodes (ignored when ``table`` is given).
        config: fitting settings (the sum search takes its acceptance factor, seed, fit
            stride and windows from here too).
        store: a :class:`~noether_search.store.ResultsStore`: reuse its candidate table and
            the finished shards of the same configuration (``fits/<key>/shard-*``), save each
            shard as it finishes and the laws (``fits/<key>/laws``), and the sum search's
            result (``fits/<key>/sums-<hash>``). None: in memory only.
        table: the candidate table (default: :func:`enumerate_candidates`).
        progress: called as ``progress(candidates_done, n_candidates)``.
        ops: the operator set of the enumeration (:func:`enumerate_candidates`); None: the
            paper's, or the given ``table``'s.
        search: ``"exhaustive"`` (every formula up to ``depth``), ``"sums"`` (sums of
            parameter-free terms, :mod:`dslsearch.sums`) or ``"both"``; the laws of both are
            merged (a sum equal to an exhaustive law up to sign, scale and offset is that law).
        sums: settings of the sum search.
        sums_progress: called as ``progress(steps_done, n_steps)`` by the sum search.

    Returns:
        :class:`~dslsearch.fitting.FitResult`; ``laws`` are :class:`~dslsearch.law.Law`
        (each with the ``search`` that found it), ``sums`` the sum search's result,
        ``independent`` the independent laws among ``laws``
        (:func:`dslsearch.independence.independent_laws`).

    Raises:
        ValueError: a bad ``search``, the store's table belongs to other variables, or a bad
            backend.
    """
    from noether_search.store.codecs import CANDIDATE_TABLE

    if search not in SEARCHES:
        raise ValueError(f"search: expected one of {', '.join(SEARCHES)}, got {search!r}")
    if table is None:
        table = enumerate_candidates(dataset, depth, store, ops=ops)
    elif ops is not None and op_set(ops) != tuple(table.ops):
        raise ValueError(f"ops: {op_set(ops)} given, but the table was enumerated with "
                         f"{table.ops}; pass one of them")
    elif store is not None and not store.usable(table_key(table.depth, table.ops)):
        store.save(table_key(table.depth, table.ops), CANDIDATE_TABLE, table)
    if search == "sums":
        result = _no_exhaustive(table, dataset, config)
    else:
        result = _exhaustive(table, dataset, config, store, progress)
    if search == "exhaustive":
        laws = finish_laws(result.laws, dataset, config, result.n_fitted)
        result = dataclasses.replace(result, laws=laws,
                                     independent=_independent(laws, dataset, config))
    else:
        result = _with_sums(result, table, dataset, config, store, sums, sums_progress)
    if store is not None:
        save_outcome(store, result, config, search, sums)
    return result


def outcome_key(key: str, config: FitConfig, search: str, sums: SumsConfig) -> str:
    """``fits/<key>/result-<hash>``: what fit run ``key`` reported with this search, sum
    search settings, acceptance test and refit of the constants (the hash names them all,
    and the drift test's form, :data:`dslsearch.acceptance.DRIFT_TEST`)."""
    import hashlib
    import json

    from dslsearch.acceptance import DRIFT_TEST

    named = {"search": search, "test": config.test, "refit": config.refit,
             "sums": sums.key() if search != "exhaustive" else None,
             "acceptance": (dataclasses.asdict(config.acceptance) | {"drift_test": DRIFT_TEST}
                            if config.test == "calibrated" else {"factor": config.factor})}
    digest = hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()[:8]
    return f"fits/{key}/result-{digest}"


def save_outcome(store, result: FitResult, config: FitConfig, search: str,
                 sums: SumsConfig) -> None:
    """Store what the fit reports (:class:`~noether_search.store.codecs.FitOutcome`): the
    laws of both searches with evidence and intervals, and the independent basis."""
    from noether_search.store.codecs import FIT_RESULT, FitOutcome

    ind = result.independent
    index = {id(law): i for i, law in enumerate(result.laws)}
    basis = tuple(index[id(b)] for b in ind.basis if id(b) in index) if ind else ()
    outcome = FitOutcome(
        laws=tuple(result.laws), basis=basis,
        n_independent=ind.n_independent if ind is not None else -1,
        near_misses=tuple(ind.near_misses) if ind is not None else (), search=search,
        test=config.test, n_candidates=result.n_candidates, n_fitted=result.n_fitted,
        n_failed=result.n_failed, n_trivial=result.n_trivial, n_survivors=result.n_survivors,
        n_sum_laws=len(result.sums.laws) if result.sums is not None else 0,
        seconds=float(result.seconds))
    key = outcome_key(result.key, config, search, sums)
    before = store.load_cached(key, FIT_RESULT)   # a damaged one reads as None: rewritten
    if before is None or _summary(before) != _summary(outcome):
        store.save(key, FIT_RESULT, outcome)


def _summary(outcome) -> tuple:
    """What a rerun must reproduce for a stored outcome to stand (laws, basis, counts)."""
    return ([law.to_json() for law in outcome.laws], outcome.basis, outcome.near_misses,
            outcome.n_independent, outcome.n_survivors, outcome.n_sum_laws)


def finish_laws(laws, dataset, config: FitConfig, n_tests: int) -> list:
    """``laws`` with their evidence (computed where missing) and their constants refitted
    for the noise (``config.refit``: maximum likelihood or the moments; on noisy points
    only, :func:`dslsearch.acceptance.noisy_points`, and where the noise floor explains a
    law's scatter) and given jackknife intervals (:mod:`dslsearch.uncertainty`). The
    correction uses
    :func:`dslsearch.acceptance.refit_floor`: the plain noise floor, or the robust one for
    a variable where the plain floor takes the signal of a fast motion for noise (the
    double pendulum's angular velocities: 2 to 4 times the noise added), which would
    over-correct the constants of the terms in it.

    On noisy points (:func:`dslsearch.acceptance.noisy_points`) with the calibrated test,
    each law is judged again as it will be reported, its constants refitted: every question
    of the test, the drift included, on the robust noise floor (the sum search's judge's).
    A law that fails is dropped (the refit moved it off the invariant: a near-law whose
    constants the noise correction pulls away); one that passes carries that evidence.
    Noise-free points: the evidence of the search, unchanged."""
    from dslsearch.acceptance import Evidence, law_evidence, noisy_points, refit_floor
    from dslsearch.fitting.plan import segments
    from dslsearch.uncertainty import with_intervals

    x, labels = segments(dataset, config)
    try:
        sigma = refit_floor(dataset.train)
    except ValueError:   # trajectories too short: the paper's test, no noise correction
        sigma = None
    again = _judge_again(dataset, config, x, labels) if sigma is not None else None
    points_noisy = noisy_points(x, labels)
    out = []
    for law in laws:
        if law.evidence is None:
            if config.test == "calibrated" and sigma is not None:
                law = law.with_evidence(law_evidence(law, x, labels, sigma, max(n_tests, 1)))
            else:
                with np.errstate(all="ignore"):
                    ratio = float(np.float64(law.R_random) / np.float64(law.R_true))
                law = law.with_evidence(Evidence("factor", factor=ratio))
        # correct for noise only on noisy points (as the judging again) and where the
        # noise floor explains the law's own scatter
        ratio = law.evidence.noise_ratio
        if sigma is not None and points_noisy and not np.isfinite(ratio):
            ratio = law_evidence(law, x, labels, sigma, 1).noise_ratio
        noisy = bool(sigma is not None and points_noisy and ratio >= 0.5)
        for done in with_intervals([law], x, labels, sigma if noisy else None,
                                   seed=config.seed, refit_method=config.refit):
            done = _led_again(done, x, labels, sigma if noisy else None, config)
            done = again(done, max(law.evidence.n_tests, n_tests, 1)) if again else done
            if done is not None:
                out.append(done)
    return out


def _led_again(law, x: np.ndarray, labels: np.ndarray, sigma, config: FitConfig):
    """``law`` (a sum of terms whose refit drove its leading term's share to nothing) led by
    a term it needs, its constants refitted and given intervals from there
    (:func:`dslsearch.sums.compose.relead`); any other law as it is."""
    from dslsearch.sums.compose import relead
    from dslsearch.uncertainty import with_intervals

    if "sums" not in law.search:
        return law
    led = relead(law.formula, law.params, x)
    if led is None:
        return law
    law = dataclasses.replace(law, formula=led[0], params=led[1], intervals=())
    return with_intervals([law], x, labels, sigma, seed=config.seed,
                          refit_method=config.refit)[0]


def _judge_again(dataset, config: FitConfig, x: np.ndarray, labels: np.ndarray):
    """``judge(law, n_tests) -> law with its evidence, or None when it fails`` for the
    calibrated test on noisy points (:func:`finish_laws`); None where it does not apply."""
    from dslsearch.acceptance import law_evidence, noise_floor, noisy_points, passes

    if config.test != "calibrated" or not noisy_points(x, labels):
        return None
    robust = noise_floor(dataset.train, robust=True)

    def judge(law, n_tests: int):
        ev = law_evidence(law, x, labels, robust, n_tests, with_drift=True)
        return law.with_evidence(ev) if passes(ev, config.acceptance, drift=True) else None

    return judge


@dataclasses.dataclass(frozen=True, eq=False)
class CalibratedJudge:
    """The calibrated acceptance test as the sum search's judge
    (:data:`dslsearch.sums.run.Judge`).

    ``judge(law, n_library) -> (passes, law with its evidence)``, the p-value corrected for
    ``n_fitted`` candidates of the exhaustive search plus the library's terms;
    ``judge.explained(law, laws)``: True when ``law`` is within its own noise of a cubic
    polynomial in the values of ``laws`` (:func:`dslsearch.acceptance.explained_ratio`,
    the rule of :func:`dslsearch.acceptance.drop_explained`) and, on noisy points, its
    trajectory means are not beyond their noise from one in theirs
    (:func:`dslsearch.acceptance.is_explained`).

    The fit stage gives it the robust noise floor
    (:func:`dslsearch.acceptance.noise_floor` with ``robust=True``): a sum fits up to
    ``max_terms`` coefficients over thousands of terms and so approximates a law's shape
    far more easily than a formula of the exhaustive search; an over-estimated floor (data
    not smooth at the smoother's scale) lets such approximations pass as laws.

    Attributes:
        x: ``(N, d)`` training points; labels: ``(N,)`` their trajectory (or window).
        sigma: ``(d,)`` the noise floor. n_fitted: candidates of the exhaustive search.
        config: the fit settings (``config.acceptance``: the thresholds).
        noisy: the data are noisy (:func:`dslsearch.acceptance.is_noisy`): the judge also
            rejects a sum that drifts along the trajectories
            (:func:`dslsearch.acceptance.passes` with ``drift``), and the sum search
            weighs the within-trajectory scatter by frequency and picks each round's law
            by its drift (``SumsConfig.lowpass``, ``SumsConfig.drift_select``).
    """

    x: np.ndarray
    labels: np.ndarray
    sigma: np.ndarray
    n_fitted: int
    config: FitConfig
    noisy: bool = False

    def __call__(self, law, n_library: int):
        from dslsearch.acceptance import law_evidence, passes

        ev = law_evidence(law, self.x, self.labels, self.sigma,
                          max(self.n_fitted, 1) + n_library, with_drift=self.noisy)
        return passes(ev, self.config.acceptance, drift=self.noisy), law.with_evidence(ev)

    def explained(self, law, laws) -> bool:
        from dslsearch.acceptance import gradients, is_explained, noisy_points

        with np.errstate(all="ignore"):
            values = np.asarray(law(self.x), np.float64)
            grads = gradients(law, self.x)
            better = [np.asarray(other(self.x), np.float64) for other in laws]
        if not (np.isfinite(values).all() and np.isfinite(grads).all()
                and all(np.isfinite(b).all() for b in better)):
            return False
        labels = self.labels if noisy_points(self.x, self.labels) else None
        return is_explained(values, grads, better, self.sigma, labels)


def calibrated_judge(x: np.ndarray, labels: np.ndarray, sigma: np.ndarray, n_fitted: int,
                     config: FitConfig, noisy_settings: bool = False) -> CalibratedJudge:
    """:class:`CalibratedJudge` of the training points ``x (N, d)``, ``labels (N,)`` and the
    noise floor ``sigma (d,)``: noisy by :func:`dslsearch.acceptance.is_noisy` when
    ``noisy_settings`` (``SumsConfig.noisy``), never otherwise."""
    from dslsearch.acceptance import is_noisy

    return CalibratedJudge(x, labels, sigma, n_fitted, config,
                           bool(noisy_settings) and is_noisy(sigma, x))


def _exhaustive(table, dataset, config: FitConfig, store, progress) -> FitResult:
    from noether_search.store.codecs import FIT_LAWS, FIT_SHARD

    if store is None:
        return fit_table(table, dataset, config, progress)
    key = fit_key(config, dataset, table)
    with store.lock(f"fits/{key}"):  # a concurrent run of the same fit waits, then reuses
        done = load_shards(store, key, skip_damaged=True)  # a damaged shard is fitted again
        result = fit_table(table, dataset, config, progress, done=done,
                           on_shard=lambda k, rows: store.save(shard_key(key, k), FIT_SHARD,
                                                               rows))
        # a finished run is not rewritten, unless its laws file is missing or damaged, or
        # holds the laws of another acceptance test (the key does not name the test)
        if (result.shards_done < result.shards_total or not store.usable(laws_key(key))
                or _stored_laws(store, key) != [str(law) for law in result.laws]):
            store.save(laws_key(key), FIT_LAWS, result.laws)
    return result


def _stored_laws(store, key: str) -> list[str] | None:
    """Printed forms of the laws stored for run ``key`` (None when unreadable)."""
    from noether_search.store.codecs import FIT_LAWS

    records = store.load_cached(laws_key(key), FIT_LAWS)
    return None if records is None else [r.expr for r in records]


def _no_exhaustive(table, dataset, config: FitConfig) -> FitResult:
    """The counts of a fit run in which the exhaustive search did not run (all zero)."""
    empty = FitRows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 1)),
                    np.zeros(0), np.zeros(0), np.zeros(0, np.int8), [])
    return FitResult(laws=[], fits=empty, n_candidates=0, n_units=0, n_fitted=0, n_failed=0,
                     n_trivial=0, n_survivors=0, seconds=0.0,
                     key=fit_key(config, dataset, table))


def _with_sums(result: FitResult, table, dataset, config: FitConfig, store, sums: SumsConfig,
               progress) -> FitResult:
    """``result`` with the sum search run (or loaded), its laws merged in, and the basis."""
    import time

    from dslsearch.fitting.plan import segments
    from dslsearch.sums import fit_sums, merge_searches
    from noether_search.store.codecs import FIT_SUMS

    t0 = time.perf_counter()
    x, labels = segments(dataset, config)
    judge = None
    if config.test == "calibrated":
        from dslsearch.acceptance import noise_floor

        try:
            judge = calibrated_judge(x, labels, noise_floor(dataset.train, robust=True),
                                     result.n_fitted, config, sums.noisy)
        except ValueError:   # trajectories too short for the noise floor: the paper's test
            judge = None
    key = fit_key(config, dataset, table)
    skey = sums_key(key, sums, config)
    # a damaged artifact reads as None and is computed again
    found: SumsResult | None = store.load_cached(skey, FIT_SUMS) if store is not None else None
    if found is None:
        found = fit_sums(dataset, table, config, sums, progress, judge)
        if store is not None:
            store.save(skey, FIT_SUMS, found)
    laws = merge_searches(result.laws, found.laws, x, config.merge_tol)
    laws = finish_laws(laws, dataset, config, max(result.n_fitted, 1) + found.n_library)
    return dataclasses.replace(
        result, laws=laws, sums=found, seconds=result.seconds + time.perf_counter() - t0,
        independent=_independent(laws, dataset, config))


def _independent(laws, dataset, config: FitConfig):
    """:func:`dslsearch.independence.independent_laws` of ``laws`` on the training states.

    With the calibrated test, a basis law within its own noise of a function of the basis
    laws before it (:func:`dslsearch.acceptance.drop_explained`: a near-law that only
    approximates a better law's shape within the noise) leaves the basis; its group joins
    the near-misses. On noisy points a law whose trajectory means the laws before it do
    not explain stays (:func:`dslsearch.acceptance.is_explained`), and one that the
    gradients put in the span of others is independent when its trajectory levels are
    not a function of theirs (:class:`dslsearch.independence.Levels`)."""
    from dslsearch.fitting.plan import segments
    from dslsearch.independence import independent_laws

    x, labels = segments(dataset, config)
    if config.test != "calibrated":
        return independent_laws(laws, x)
    from dslsearch.acceptance import drop_explained, noise_floor, noisy_points
    from dslsearch.independence import Levels

    try:
        sigma = noise_floor(dataset.train)
    except ValueError:
        return independent_laws(laws, x)
    noisy = noisy_points(x, labels)
    result = independent_laws(laws, x, levels=Levels(labels, sigma) if noisy else None)
    if result.n_independent < 2:
        return result
    kept = drop_explained(list(result.basis), x, sigma, labels=labels if noisy else None)
    if len(kept) == len(result.basis):
        return result
    keep = [any(b is k for k in kept) for b in result.basis]
    dropped = [i for g, ok in zip(result.groups, keep) if not ok for i in g]
    return dataclasses.replace(
        result, basis=tuple(b for b, ok in zip(result.basis, keep) if ok),
        groups=tuple(g for g, ok in zip(result.groups, keep) if ok), n_independent=len(kept),
        near_misses=tuple(sorted((*result.near_misses, *dropped))))
