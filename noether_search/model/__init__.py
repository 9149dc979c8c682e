"""The MLP and its tailoring with a conservation law: the one-step screen and meta-tailoring.

The MLP declares its layers and has one forward pass, with optional per-example conditional
normalisation (CNParams); tailoring (CNGrad) adapts those parameters. See
``docs/TAILORING.md`` for the method and the design choices.
"""

from noether_search.model.cn import CNParams as CNParams
from noether_search.model.conservation import SCHEMES as SCHEMES
from noether_search.model.conservation import LawFn as LawFn
from noether_search.model.conservation import conservation_loss as conservation_loss
from noether_search.model.conservation import law_scale as law_scale
from noether_search.model.finetune import FineTuneResult as FineTuneResult
from noether_search.model.finetune import fine_tune as fine_tune
from noether_search.model.inner import TailoredField as TailoredField
from noether_search.model.inner import tailored_predict as tailored_predict
from noether_search.model.inner import tailored_predict_autograd as tailored_predict_autograd
from noether_search.model.meta import MetaResult as MetaResult
from noether_search.model.meta import meta_tailor as meta_tailor
from noether_search.model.meta import post_step_loss as post_step_loss
from noether_search.model.mlp import MLP as MLP
from noether_search.model.mlp import Activations as Activations
from noether_search.model.screen import DEFAULT_LRS as DEFAULT_LRS
from noether_search.model.screen import ScreenResult as ScreenResult
from noether_search.model.screen import screen as screen

__all__ = [
    "MLP", "Activations", "CNParams", "DEFAULT_LRS", "FineTuneResult", "fine_tune", "LawFn", "SCHEMES", "MetaResult",
    "ScreenResult", "TailoredField", "conservation_loss", "law_scale", "meta_tailor",
    "post_step_loss", "screen", "tailored_predict", "tailored_predict_autograd",
]
