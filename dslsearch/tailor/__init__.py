"""Tailoring with a conservation law: the one-step screen and meta-tailoring (CNGrad).

See ``docs/TAILORING.md`` for the method and the design choices.
"""

from .cnmlp import CNParams as CNParams
from .cnmlp import cn_forward as cn_forward
from .cnmlp import identity_cn as identity_cn
from .inner import SCHEMES as SCHEMES
from .inner import Law as Law
from .inner import TailoredField as TailoredField
from .inner import conservation_loss as conservation_loss
from .inner import law_scale as law_scale
from .inner import tailored_predict as tailored_predict
from .inner import tailored_predict_autograd as tailored_predict_autograd
from .meta import MetaResult as MetaResult
from .meta import meta_tailor as meta_tailor
from .meta import post_step_loss as post_step_loss
from .screen import DEFAULT_LRS as DEFAULT_LRS
from .screen import ScreenResult as ScreenResult
from .screen import screen as screen

__all__ = [
    "CNParams", "DEFAULT_LRS", "Law", "SCHEMES", "MetaResult", "ScreenResult", "TailoredField",
    "cn_forward", "conservation_loss", "identity_cn", "law_scale", "meta_tailor",
    "post_step_loss", "screen", "tailored_predict", "tailored_predict_autograd",
]
