"""The stages of a search as functions from typed inputs to typed results.

Each stage runs in memory. Passing a :class:`~noether_search.store.ResultsStore` as
``store`` makes it reuse the artifact the store already holds for the same inputs and save
what it computes (one :mod:`codec <noether_search.store.codecs>` per artifact kind); without
one nothing touches the disk. :func:`rank` composes them end to end:
:func:`enumerate_candidates` → :func:`fit_laws` → :func:`train_baseline` →
:func:`screen_laws` → :func:`meta_tailor_laws` → :func:`evaluate_models`.
"""

from noether_search.stages._common import Progress
from noether_search.stages.baseline import TrainingDiverged, baseline_key, train_baseline
from noether_search.stages.candidates import enumerate_candidates, table_key
from noether_search.stages.evaluate import evaluate_models
from noether_search.stages.fit import fit_laws, laws_key, load_fits, load_shards, shard_key
from noether_search.stages.meta import (ROLLOUT_RATES, MetaConfig, TailoredLaw,
                                        meta_tailor_laws, tailored_field)
from noether_search.stages.rank import (Oracle, RankConfig, RankedLaw, RankResult, oracle_law,
                                        rank)
from noether_search.stages.screen import ScreenedLaw, screen_laws
from noether_search.stages.video import load_video, run_video, video_key
from noether_search.store.codecs import MetaRun, Rollouts

__all__ = [
    "MetaConfig", "MetaRun", "Oracle", "Progress", "ROLLOUT_RATES", "RankConfig", "RankResult",
    "RankedLaw", "Rollouts", "ScreenedLaw", "TailoredLaw", "baseline_key",
    "enumerate_candidates", "evaluate_models", "fit_laws", "laws_key", "load_fits",
    "load_shards", "meta_tailor_laws", "oracle_law", "rank", "screen_laws", "shard_key",
    "table_key", "tailored_field", "train_baseline", "TrainingDiverged", "load_video",
    "run_video", "video_key",
]
