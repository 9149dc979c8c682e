"""Repeating ``rank`` over seeds: one record per seed and the statistics over them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: the compared models, in table order
MODELS = ("baseline", "control", "noether", "oracle")


@dataclass(frozen=True, eq=False)
class SeedRun:
    """What one seed of ``rank`` gave (baseline training, meta-tailoring and the control).

    Attributes:
        seed: the seed of baseline training and meta-tailoring.
        run_key: the store folder of its artifacts (``rank/{hash}``).
        best: the Noether model's law (sympy syntax), or None when no law survived.
        rmse: model name (:data:`MODELS`) -> test rollout RMSE, None when not run.
        rmse_by_step: model name -> (H,) test RMSE at steps 1..H.
    """

    seed: int
    run_key: str
    best: str | None
    rmse: dict[str, float | None]
    rmse_by_step: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def to_json(self) -> dict:
        return {"seed": self.seed, "run_key": self.run_key, "best": self.best,
                **{f"{m}_rmse": self.rmse.get(m) for m in MODELS}}


def _beats(runs: Sequence[SeedRun], a: str, b: str) -> int:
    """On how many seeds model ``a``'s RMSE is below model ``b``'s (both run)."""
    return sum(1 for r in runs if r.rmse.get(a) is not None and r.rmse.get(b) is not None
               and r.rmse[a] < r.rmse[b])


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None: no value; std None with one value)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), std


def seed_summary(runs: Sequence[SeedRun]) -> dict:
    """``seeds``, ``{model}_rmse_mean`` / ``_std``, ``noether_beats_{baseline,control}``
    (numbers of seeds), ``rmse_by_step_mean`` / ``_std`` (model -> list, std only with two
    seeds or more) and ``per_seed`` (each seed's RMSEs and best law)."""
    out: dict = {"seeds": len(runs)}
    for m in MODELS:
        out[f"{m}_rmse_mean"], out[f"{m}_rmse_std"] = _mean_std([r.rmse.get(m) for r in runs])
    out["noether_beats_baseline"] = _beats(runs, "noether", "baseline")
    out["noether_beats_control"] = _beats(runs, "noether", "control")
    means, stds = {}, {}
    for m in MODELS:
        curves = [r.rmse_by_step[m] for r in runs if m in r.rmse_by_step]
        if curves and len({len(c) for c in curves}) == 1:
            stack = np.stack(curves)
            means[m] = stack.mean(axis=0).tolist()
            if len(curves) > 1:
                stds[m] = stack.std(axis=0, ddof=1).tolist()
    out["rmse_by_step_mean"], out["rmse_by_step_std"] = means, stds
    out["per_seed"] = [r.to_json() for r in runs]
    return out
