"""The evaluation stage: long-term prediction on the test trajectories of several models."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from noether_search.stages._common import Progress, check_store_key, silent
from noether_search.store.codecs import Rollouts

#: a vector field: (B, d) float tensor of states -> (B, d) dx/dt (may use autograd)
VectorField = Callable


def evaluate_models(dataset, fields: Mapping[str, VectorField],
                    formulas: Mapping[str, str] | None = None, horizon: int | None = None,
                    store=None, key: str | None = None,
                    progress: Progress | None = None) -> Rollouts:
    """Roll every vector field out from the test initial states and compare with the truth.

    Args:
        dataset: its ``test`` trajectories give initial states, time steps and truth.
        fields: model name (e.g. ``"baseline"``, ``"noether"``, ``"oracle"``) -> vector field.
            Fields are only called when the rollouts are computed, not when reloaded.
        formulas: model name -> the conservation law it tailors with (default ``""``).
        horizon: rollout steps H (default: the dataset's, see ``docs/BASELINE.md``).
        store: optional results store: ``key`` is reused when present, written otherwise.
        key: the artifact key (with ``store``), e.g. ``"rank/<run>/rollouts"``.
        progress: ``progress("evaluate", done, total)``.

    Returns:
        :class:`~noether_search.store.codecs.Rollouts`: per model the (n_test, H+1, d)
        predicted states, the (H,) RMSE by step and the overall RMSE (SI base units).
    """
    from noether_search.store.codecs import RANK_ROLLOUTS

    check_store_key(store, key, "evaluate_models")
    cached = store.load_cached(key, RANK_ROLLOUTS) if store is not None else None
    if cached is not None:
        return cached
    if not fields:
        raise ValueError("evaluate_models: fields is empty; pass at least one model")
    rollouts = _rollouts(dataset, fields, formulas or {}, horizon, progress or silent)
    if store is not None:
        store.save(key, RANK_ROLLOUTS, rollouts)
    return rollouts


def _rollouts(dataset, fields, formulas, horizon, report) -> Rollouts:
    from noether_search.baseline.evaluate import rollout

    results = {}
    for done, (name, vf) in enumerate(fields.items()):
        report("evaluate", done, len(fields))
        results[name] = rollout(vf, dataset, horizon=horizon)
    report("evaluate", len(fields), len(fields))
    first = next(iter(results.values()))
    return Rollouts(t=first.t, true=first.true,
                    pred={name: res.pred for name, res in results.items()},
                    rmse_by_step={name: res.rmse_by_step for name, res in results.items()},
                    rmse={name: float(res.rmse) for name, res in results.items()},
                    formula={name: formulas.get(name, "") for name in results},
                    horizon={name: int(res.horizon) for name, res in results.items()})
