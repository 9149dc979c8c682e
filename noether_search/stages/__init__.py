"""The stages of a search as functions from typed inputs to typed results.

Each stage runs in memory. Passing a :class:`~noether_search.store.ResultsStore` as
``store`` makes it reuse the artifact the store already holds for the same inputs and save
what it computes (one :mod:`codec <noether_search.store.codecs>` per artifact kind); without
one nothing touches the disk. :func:`rank` composes them end to end:
:func:`enumerate_candidates` → :func:`fit_laws` → :func:`train_baseline` →
:func:`screen_laws` → :func:`meta_tailor_laws` → :func:`evaluate_models`.
"""

from __future__ import annotations

import importlib

#: public name -> module under noether_search that defines it; imported on first use, so
#: that e.g. ``fit_laws`` does not load torch
_EXPORTS = {
    "Progress": "stages._common",
    "TrainingDiverged": "stages.baseline", "baseline_key": "stages.baseline",
    "train_baseline": "stages.baseline",
    "enumerate_candidates": "stages.candidates", "table_key": "stages.candidates",
    "evaluate_models": "stages.evaluate",
    "fit_laws": "stages.fit", "laws_key": "stages.fit", "load_fits": "stages.fit",
    "load_shards": "stages.fit", "shard_key": "stages.fit",
    "ROLLOUT_RATES": "stages.meta", "MetaConfig": "stages.meta", "TailoredLaw": "stages.meta",
    "meta_tailor_laws": "stages.meta", "tailored_field": "stages.meta",
    "Oracle": "stages.rank", "RankConfig": "stages.rank", "RankedLaw": "stages.rank",
    "RankResult": "stages.rank", "oracle_law": "stages.rank", "rank": "stages.rank",
    "ScreenedLaw": "stages.screen", "screen_laws": "stages.screen",
    "load_video": "stages.video", "run_video": "stages.video", "video_key": "stages.video",
    "MetaRun": "store.codecs", "Rollouts": "store.codecs",
}

__all__ = sorted(_EXPORTS)

# ``rank`` names both a submodule and its function: bind the function now (the module does
# not load torch), so that importing the submodule later cannot shadow it
from noether_search.stages.rank import rank  # noqa: E402


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"noether_search.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
