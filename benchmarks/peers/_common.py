"""What the peers share: the result types, the conservation score R, finite-difference
gradients and a functional-independence filter on gradients."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: relative finite-difference step: h_j = FD_STEP · (spread of state variable j)
FD_STEP = 1e-5
#: floor of the independence tolerance (median sine between a gradient and a span) for
#: laws exact to round-off; finite-difference gradients are good to ~1e-9 relative
INDEPENDENCE_FLOOR = 1e-4
#: ceiling of the precision-widened independence tolerance (see :func:`independent`)
INDEPENDENCE_CAP = 0.05


@dataclass(frozen=True, eq=False)
class PeerLaw:
    """A conserved quantity reported by a peer.

    Attributes:
        text: the formula, readable (variable names of the dataset).
        fn: ``fn(x (N, d) SI states) -> (N,)`` values.
        grad: ``grad(x (N, d)) -> (N, d)`` gradient with respect to the states.
        r: conservation score R on the training data (within-trajectory over total sum of
            squares, in [0, 1]); nan when not computed.
    """

    text: str
    fn: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    r: float = math.nan


@dataclass(frozen=True)
class PeerResult:
    """One peer's answer on one dataset.

    Attributes:
        laws: the reported laws, functionally independent, best first.
        seconds: wall time of the whole call [s].
        note: settings and what happened (for the benchmark's details).
        candidates: laws considered before the acceptance rule (best first), for
            inspection; not reported.
    """

    laws: list[PeerLaw]
    seconds: float
    note: str
    candidates: list[PeerLaw] = field(default_factory=list)


def trajectory_labels(dataset) -> np.ndarray:
    """``(N,)`` int index of the training trajectory of each row of ``dataset.x_train``."""
    return np.repeat(np.arange(len(dataset.train)), [len(tr) for tr in dataset.train])


def conservation_score(values: np.ndarray, labels: np.ndarray) -> float:
    """R of ``values (N,)`` on trajectories ``labels (N,)``: within-trajectory sum of squares
    over total sum of squares, in [0, 1]; 1.0 for non-finite or constant values."""
    values = np.asarray(values, np.float64)
    if values.shape != labels.shape or not np.all(np.isfinite(values)):
        return 1.0
    total = float(np.sum((values - values.mean()) ** 2))
    if not total > 1e-18 * float(np.sum(values**2)):
        return 1.0   # constant to round-off (relative spread < 1e-9): trivial, not a law
    counts = np.bincount(labels)
    means = np.bincount(labels, weights=values) / np.maximum(counts, 1)
    within = float(np.sum((values - means[labels]) ** 2))
    return min(1.0, within / total)


def fd_steps(x: np.ndarray) -> np.ndarray:
    """``(d,)`` central-difference steps for states ``x (N, d)``: FD_STEP times each
    variable's spread (its largest magnitude where it does not vary)."""
    spread = x.std(0)
    spread = np.where(spread > 0, spread, np.abs(x).max(0))
    return FD_STEP * np.where(spread > 0, spread, 1.0)


class CentralGradient:
    """``grad(x (N, d)) -> (N, d)``: central differences of ``fn`` with steps ``(d,)``
    (a class rather than a closure, so that laws pickle across processes)."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], steps: np.ndarray):
        self.fn = fn
        self.steps = np.asarray(steps, np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        out = np.empty_like(x)
        for j, h in enumerate(self.steps):
            up, down = x.copy(), x.copy()
            up[:, j] += h
            down[:, j] -= h
            out[:, j] = (self.fn(up) - self.fn(down)) / (2 * h)
        return out


def central_gradient(fn: Callable[[np.ndarray], np.ndarray],
                     steps: np.ndarray) -> CentralGradient:
    """``grad(x (N, d)) -> (N, d)``: central differences of ``fn`` with steps ``(d,)``."""
    return CentralGradient(fn, steps)


def _sine(g: np.ndarray, basis: Sequence[np.ndarray]) -> float:
    """Median over points of the sine between unit gradients ``g (M, d)`` and the span of
    ``basis`` (each (M, d)); points with a zero or non-finite gradient are skipped."""
    if not basis:
        return 1.0
    B = np.stack(basis, 1)                                    # (M, k, d)
    ok = np.all(np.isfinite(B), axis=(1, 2)) & np.all(np.isfinite(g), 1)
    ok &= (np.linalg.norm(g, axis=1) > 0) & np.all(np.linalg.norm(B, axis=2) > 0, 1)
    if ok.sum() < 3:
        return 1.0
    _, S, Vt = np.linalg.svd(B[ok], full_matrices=False)      # Vt (M, k, d)
    keep = S > 1e-8 * S[:, :1]
    V = Vt * keep[:, :, None]
    proj = np.einsum("mkd,mk->md", V, np.einsum("mkd,md->mk", V, g[ok]))
    return float(np.median(np.linalg.norm(g[ok] - proj, axis=1)))


def independent(laws: Sequence[PeerLaw], x: np.ndarray, limit: int) -> list[PeerLaw]:
    """The laws, in order, that are not functions of the laws kept before them.

    Gradients at the states ``x (M, d)`` are taken with respect to the standardised state
    and normalised; a law joins when the median sine between its gradient and the span of
    the kept gradients exceeds ``clip(2·(sqrt(R_j) + sqrt(max R_kept)), INDEPENDENCE_FLOOR,
    INDEPENDENCE_CAP)`` (a law conserved to precision sqrt(R) has a gradient that far off).
    At most ``limit`` laws are kept.
    """
    scale = x.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    kept: list[PeerLaw] = []
    grads: list[np.ndarray] = []
    for law in laws:
        if len(kept) >= limit:
            break
        with np.errstate(all="ignore"):
            g = law.grad(x) * scale
            g = g / np.linalg.norm(g, axis=1, keepdims=True)
        r_b = max((k.r for k in kept if math.isfinite(k.r)), default=0.0)
        r_j = law.r if math.isfinite(law.r) else 0.0
        tol = min(INDEPENDENCE_CAP, max(INDEPENDENCE_FLOOR, 2 * (math.sqrt(r_j) + math.sqrt(r_b))))
        if _sine(g, grads) > tol:
            kept.append(law)
            grads.append(g)
    return kept


def sample_states(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` rows of ``x (N, d)``, drawn without replacement (seeded)."""
    if x.shape[0] <= n:
        return x
    idx = np.random.default_rng(seed).choice(x.shape[0], n, replace=False)
    return x[np.sort(idx)]
