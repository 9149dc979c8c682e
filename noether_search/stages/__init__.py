"""The pipeline as stage functions: typed inputs, typed results, the results store optional.

Each stage runs in memory; pass a :class:`~noether_search.store.ResultsStore` (and, for the
single stages, the artifact key) to reuse what it holds and save what is computed. Without a
store nothing touches the disk. :func:`rank` composes them end to end.
"""

from noether_search.stages._common import Progress
from noether_search.stages.evaluate import evaluate_models
from noether_search.stages.meta import (ROLLOUT_RATES, MetaConfig, TailoredLaw,
                                        meta_tailor_laws, tailored_field)
from noether_search.stages.rank import (Oracle, RankConfig, RankedLaw, RankResult, oracle_law,
                                        rank)
from noether_search.stages.screen import ScreenedLaw, screen_laws
from noether_search.store.codecs import MetaRun, Rollouts

__all__ = [
    "MetaConfig", "MetaRun", "Oracle", "Progress", "ROLLOUT_RATES", "RankConfig", "RankResult",
    "RankedLaw", "Rollouts", "ScreenedLaw", "TailoredLaw", "evaluate_models",
    "meta_tailor_laws", "oracle_law", "rank", "screen_laws", "tailored_field",
]
