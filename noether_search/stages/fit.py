"""The fit stage: fit, filter and merge every candidate, resumable shard by shard when a
store is given."""

from __future__ import annotations

from dslsearch.enumerate import FormulaTable
from dslsearch.fitting import FitConfig, FitResult, FitRows, fit_key, fit_table
from dslsearch.fitting.run import Progress
from dslsearch.ops import op_set
from noether_search.stages.candidates import enumerate_candidates, table_key

_SHARD_PREFIX = "shard-"


def shard_key(key: str, k: int) -> str:
    """``fits/<key>/shard-{k:05d}``."""
    return f"fits/{key}/{_SHARD_PREFIX}{k:05d}"


def laws_key(key: str) -> str:
    """``fits/<key>/laws``."""
    return f"fits/{key}/laws"


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
             ops=None) -> FitResult:
    """Fit and filter every candidate of depth ``depth`` on ``dataset``; merge survivors.

    Args:
        dataset: a ``hamiltonian_data.Dataset`` (its training trajectories are used).
        depth: maximum formula size in nodes (ignored when ``table`` is given).
        config: fitting settings.
        store: a :class:`~noether_search.store.ResultsStore`: reuse its candidate table and
            the finished shards of the same configuration (``fits/<key>/shard-*``), save each
            shard as it finishes and the laws (``fits/<key>/laws``). None: in memory only.
        table: the candidate table (default: :func:`enumerate_candidates`).
        progress: called as ``progress(candidates_done, n_candidates)``.
        ops: the operator set of the enumeration (:func:`enumerate_candidates`); None: the
            paper's, or the given ``table``'s.

    Returns:
        :class:`~dslsearch.fitting.FitResult`; ``laws`` are :class:`~dslsearch.law.Law`.

    Raises:
        ValueError: the store's table belongs to other variables, or a bad backend.
    """
    from noether_search.store.codecs import CANDIDATE_TABLE, FIT_LAWS, FIT_SHARD

    if table is None:
        table = enumerate_candidates(dataset, depth, store, ops=ops)
    elif ops is not None and op_set(ops) != tuple(table.ops):
        raise ValueError(f"ops: {op_set(ops)} given, but the table was enumerated with "
                         f"{table.ops}; pass one of them")
    elif store is not None and not store.usable(table_key(table.depth, table.ops)):
        store.save(table_key(table.depth, table.ops), CANDIDATE_TABLE, table)
    if store is None:
        return fit_table(table, dataset, config, progress)
    key = fit_key(config, dataset, table)
    done = load_shards(store, key, skip_damaged=True)  # a damaged shard is fitted again
    result = fit_table(table, dataset, config, progress, done=done,
                       on_shard=lambda k, rows: store.save(shard_key(key, k), FIT_SHARD, rows))
    # a finished run is not rewritten, unless its laws file is missing or damaged
    if result.shards_done < result.shards_total or not store.usable(laws_key(key)):
        store.save(laws_key(key), FIT_LAWS, result.laws)
    return result
