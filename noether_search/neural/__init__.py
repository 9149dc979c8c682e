"""Noether Networks with a learned conserved quantity (the paper's Algorithm 1) on states.

An MLP embedding g_φ: R^d → R^k, first pretrained to be conserved along the training
trajectories, is meta-learned jointly with the predictor: the predictor is
tailored per query by one CNGrad step on the conservation of g_φ, and both are trained on
the task loss after that step (second-order gradients). See ``docs/NEURAL.md``.
"""

from noether_search.neural.embedding import Embedding as Embedding
from noether_search.neural.loss import embedding_scale as embedding_scale
from noether_search.neural.loss import noether_loss as noether_loss
from noether_search.neural.probe import ProbeResult as ProbeResult
from noether_search.neural.pretrain import PretrainResult as PretrainResult
from noether_search.neural.pretrain import conservation_ratio as conservation_ratio
from noether_search.neural.pretrain import pretrain_embedding as pretrain_embedding
from noether_search.neural.probe import linear_probe as linear_probe
from noether_search.neural.tailor import NeuralField as NeuralField
from noether_search.neural.tailor import noether_predict as noether_predict
from noether_search.neural.train import NeuralMetaResult as NeuralMetaResult
from noether_search.neural.train import meta_train as meta_train

__all__ = ["Embedding", "NeuralField", "NeuralMetaResult", "PretrainResult", "ProbeResult",
           "conservation_ratio", "embedding_scale", "linear_probe", "meta_train",
           "noether_loss", "noether_predict", "pretrain_embedding"]
