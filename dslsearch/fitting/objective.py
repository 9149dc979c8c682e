"""The conservation score R and the trajectory segmentation it is computed over.

``R = sum_traj sum_t (g - mean_traj g)^2 / sum_all (g - mean_all g)^2`` in [0, 1]: the
within-trajectory sum of squares over the total sum of squares of a formula's values ``g``
on the training points. It is invariant to ``g -> a*g + b`` (a != 0), so neither scaling nor
shifting a formula games it. Random sequences use the same points with a shuffled
assignment of points to pseudo-trajectories of the same lengths: only the labels change,
so every value computed for the true data is reused for the random data.
"""

from __future__ import annotations

import numpy as np

#: relative size of the regulariser that keeps R from 0/0 near constant formulas while
#: fitting: R_reg = (W + eps*Q) / (T + eps*Q) with Q = sum g^2 (scale-invariant, and it
#: pushes formulas whose relative spread falls below ~1e-6 towards R = 1, never to 0)
FIT_EPS = 1e-12
#: a formula whose total spread is below this fraction of its mean square is trivially
#: constant (relative std below 1e-9: float64 round-off of an identity such as
#: sin(q)**2 + cos(q)**2 is ~1e-16)
TRIVIAL_REL = 1e-18


def relabel(labels: np.ndarray) -> np.ndarray:
    """``(N,)`` int labels renumbered ``0..K-1`` in order of value (what :class:`Segments`
    needs of a subset of points' trajectory indices)."""
    return np.unique(labels, return_inverse=True)[1].reshape(-1)


class Segments:
    """A partition of N points into trajectories (or random pseudo-trajectories).

    Args:
        labels: ``(N,)`` int, trajectory index of each point, values ``0..K-1``.

    Attributes:
        onehot: ``(N, K)`` float64 indicator matrix.
        avg: ``(N, K)`` indicator divided by the trajectory lengths (a mean operator).
    """

    def __init__(self, labels: np.ndarray):
        labels = np.asarray(labels, np.int64)
        K = int(labels.max()) + 1
        onehot = np.zeros((labels.size, K))
        onehot[np.arange(labels.size), labels] = 1.0
        counts = onehot.sum(0)
        if np.any(counts == 0):
            raise ValueError("labels: every trajectory index 0..K-1 needs at least one point")
        self.labels = labels
        self.order = np.argsort(labels, kind="stable")   # points grouped by segment
        #: the points are already grouped by segment (true trajectories): no gather needed
        self.grouped = bool(np.all(labels[1:] >= labels[:-1]))
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.counts = counts
        #: every segment has the same number of points (e.g. trajectories of one length):
        #: per-segment values broadcast over a reshape instead of being repeated
        self.equal = bool(counts.min() == counts.max())
        self.onehot = onehot
        self.avg = onehot / counts
        self._torch: dict = {}

    @classmethod
    def from_lengths(cls, lengths) -> Segments:
        """Contiguous trajectories of the given lengths."""
        return cls(np.repeat(np.arange(len(lengths)), lengths))

    def shuffled(self, seed: int) -> Segments:
        """Pseudo-trajectories of the same lengths holding a seeded random permutation of the
        points: the random-sequence control (time order and trajectory membership destroyed)."""
        perm = np.random.default_rng(seed).permutation(self.labels.size)
        labels = np.empty_like(self.labels)
        labels[perm] = self.labels  # point perm[i] joins trajectory labels[i]
        return Segments(labels)

    def torch_index(self, dtype):
        """``(labels, counts)`` as torch tensors (cached)."""
        import torch

        key = ("index", dtype)
        if key not in self._torch:
            self._torch[key] = (torch.as_tensor(self.labels),
                                torch.as_tensor(self.counts, dtype=dtype))
        return self._torch[key]


def centred(V: np.ndarray) -> np.ndarray:
    """``V - mean(V)`` along the last (points) axis."""
    return V - V.mean(-1, keepdims=True)


def within(Vc: np.ndarray, seg: Segments) -> np.ndarray:
    """``V`` minus its per-trajectory means, ``(..., N)``, points in *segment order*
    (``seg.order``): fine for sums of squares and scatter matrices, which do not depend on
    the order of the points. O(N) per row (gather + reduceat), no (N, K) product."""
    Vs = Vc if seg.grouped else Vc[..., seg.order]
    means = np.add.reduceat(Vs, seg.starts, axis=-1) / seg.counts           # (..., K)
    return minus_segment_means(Vs, means, seg)


def minus_segment_means(Vs: np.ndarray, means: np.ndarray, seg: Segments) -> np.ndarray:
    """``Vs (..., N)`` (points in segment order) minus its segment's value of ``means
    (..., K)`` at every point. With segments of equal length the means broadcast over a
    ``(..., K, N/K)`` view (a repeat along the last axis is several times slower); the
    same subtractions, so the same numbers bit for bit."""
    if seg.equal:
        K = len(seg.counts)
        shape = Vs.shape[:-1] + (K, Vs.shape[-1] // K)
        return (Vs.reshape(shape) - means[..., None]).reshape(Vs.shape)
    return Vs - np.repeat(means, seg.counts.astype(np.int64), axis=-1)


def sums_of_squares(V: np.ndarray, seg: Segments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, T, Q)``: within, total and raw sums of squares of ``V (..., N)``, each ``(...)``."""
    Vc = centred(V)
    T = np.einsum("...n,...n->...", Vc, Vc)
    Vw = within(Vc, seg)
    W = np.einsum("...n,...n->...", Vw, Vw)
    Q = np.einsum("...n,...n->...", V, V)
    return W, T, Q


def r_score(V: np.ndarray, seg: Segments) -> np.ndarray:
    """Exact R of values ``V (..., N)``; NaN where ``T == 0``."""
    W, T, _ = sums_of_squares(V, seg)
    with np.errstate(all="ignore"):
        return W / T


def r_reg_torch(V, seg: Segments):
    """Regularised R of torch values ``V (..., N)`` for fitting; differentiable."""
    import torch

    labels, counts = seg.torch_index(V.dtype)
    Vc = V - V.mean(-1, keepdim=True)
    sums = torch.zeros(V.shape[:-1] + (counts.shape[0],), dtype=V.dtype).index_add_(
        -1, labels, Vc)
    Vw = Vc - (sums / counts)[..., labels]
    Q = (V * V).sum(-1)
    W = (Vw * Vw).sum(-1)
    T = (Vc * Vc).sum(-1)
    return (W + FIT_EPS * Q) / (T + FIT_EPS * Q)


def is_trivial(T: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """True where the total spread is ~0 relative to the values' size (or both are 0)."""
    return ~(T > TRIVIAL_REL * Q)
