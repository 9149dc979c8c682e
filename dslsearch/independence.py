"""Which laws are independent invariants, which are functions of others, which are near-misses.

Laws ``g_1 … g_k`` are functionally dependent exactly when their gradients are linearly
dependent at every point: ``g_j = F(g_1, …, g_m)`` iff ``∇g_j(x)`` lies in the span of
``∇g_1(x) … ∇g_m(x)``. At each training point we take the gradients (torch autograd, float64)
with respect to the *standardised* state (each column divided by its spread, so units and
scales do not tilt the geometry), normalise each to length 1, and measure

    s_j(x) = ‖ĝ_j(x) − P_B(x) ĝ_j(x)‖ ∈ [0, 1]

the sine of the angle between ``∇g_j(x)`` and the span of the basis gradients ``B`` (``P_B``:
orthogonal projector from an SVD, directions with singular value below ``rtol · σ_max``
dropped). ``s_j(x) > τ`` says that adding ``g_j`` raises the numerical rank of the stacked
gradient matrix at ``x``; the statistic is the median over the points where every law
involved is defined and has a non-zero gradient, so ``median s_j > τ`` means the rank rises at
more than half of the points (robust to the few points where gradients vanish or become
parallel by accident).

**Tolerance.** Fitted constants carry the error of the fit: a law with conservation loss
``R`` (relative within-trajectory variance) deviates from an exact invariant by about
``sqrt(R)`` of its spread, and its gradient by about as much. The dependence tolerance is

    τ(j, B) = max(rtol, min(cap, PRECISION_FACTOR · (sqrt(R_j) + sqrt(max_{b∈B} R_b))))

``rtol`` (default :data:`RTOL`) is the floor for laws that are exact to round-off; the
second term lets laws with imprecise constants be recognised as functions of each other.
Noise in the data inflates R far beyond the error of the constants, so the widening is
capped at :data:`DEPENDENT_CAP`, below the sines that separate independent invariants.

**Near-misses.** A law ``j`` is a near-miss when, against the laws whose R_true is at least
:data:`NEAR_MISS_GAP` times better than its own, ``rtol < median s_j ≤ τ`` with the looser
cap :data:`NEAR_MISS_CAP`: it is within its own (poor) precision of being a function of much
better laws, yet not exactly one, so it only approximates an exact law (``w2² + 4·w3²``,
R ~ 1e-4, next to an exact ``w2² + 4.375·w3²``). Near-misses are dropped before the basis is
built, whatever their size, so a simpler near-miss never stands for the exact law.

**Basis and groups.** The remaining laws are taken simplest first (fewest nodes, then lowest
R_true); a law whose gradient is not within ``τ`` of the span of the basis so far joins the
basis, otherwise it joins a group: that of the *last* basis law it needs, i.e. of ``B[m-1]``
for the shortest prefix ``B[:m]`` of the basis (in basis order) that spans it. So ``E_x + E_y``
next to ``E_x`` and ``E_y`` joins the group of whichever of them entered the basis second; a
group holds the laws that are functions of its basis law and of the basis laws before it.

Laws without a finite R_true count as exact (R = 0) in ``τ`` and are never near-misses. A law
without enough points where it and the laws compared with it are defined cannot be shown to
depend on them and joins the basis.

The constants were chosen on systems built for the purpose (pendulum, isotropic oscillator,
torque-free rigid body; ``benchmarks/bench_independence.py`` prints the tables; details in
``docs/INDEPENDENCE.md``): laws exactly functions of others give median ``s`` ≤ 1e-15,
independent invariants 1.5e-2 and up; an exact law with a constant perturbed gives
``s / sqrt(R)`` between 0.3 and 2.6; one invariant fitted in several forms on noisy data gives
``s`` ≤ 7e-3 and R ratios below 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dslsearch.law import Law

#: tight relative tolerance: median sine between a gradient and a span below which a law is
#: exactly dependent (float64 round-off of exact laws gives ~1e-15; independent invariants
#: start near 1e-2; 1e-6 leaves many orders of magnitude on both sides)
RTOL = 1e-6
#: gradient deviation allowed per unit of sqrt(R): s / sqrt(R) stays below 2.6 on the
#: calibration systems; 10 leaves margin for less regular deviations
PRECISION_FACTOR = 10.0
#: the most the fit's precision may widen the tolerance for dependence: fits of one
#: invariant on noisy data stay below ~7e-3, independent invariants sit at 1.5e-2 and up
DEPENDENT_CAP = 0.02
#: the most it may widen it for a near-miss (a law much worse than the laws it approximates)
NEAR_MISS_CAP = 0.5
#: R_true ratio beyond which a nearly dependent law is a near-miss of the better laws
#: (fits of one invariant in different forms differ by less than 2x)
NEAR_MISS_GAP = 100.0
#: points used at most (evenly spaced over the data): the median settles long before
MAX_POINTS = 4000
#: fewest common valid points on which a dependence is decided
MIN_POINTS = 8


@dataclass(frozen=True)
class Independence:
    """The independent invariants among a list of laws.

    Attributes:
        basis: one law per independent invariant, simplest first (``basis[i]`` is
            ``laws[groups[i][0]]``).
        groups: per basis law, indices into the input laws of the laws that are functions
            of it (and of the basis laws before it); the basis law first.
        n_independent: ``len(basis)``.
        near_misses: indices of laws dropped because they only approximate a function of
            much better laws.
        rtol: the tight tolerance used.
    """

    basis: tuple[Law, ...]
    groups: tuple[tuple[int, ...], ...]
    n_independent: int
    near_misses: tuple[int, ...]
    rtol: float


def _gradients(law: Law, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Unit gradients ``(N, d)`` of ``law`` w.r.t. the standardised state; NaN rows where
    the law or its gradient is not finite or the gradient vanishes."""
    import torch

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        g = law.torch_fn()(xt)
        g = g + 0 * xt[:, 0]                                   # a constant still has a graph
        (grad,) = torch.autograd.grad(g, xt, torch.ones_like(g), allow_unused=True)
    values = g.detach().numpy()
    G = np.zeros_like(x) if grad is None else grad.numpy() * scale  # (N, d), d/d(x/scale)
    norm = np.linalg.norm(G, axis=1)
    bad = ~np.isfinite(values) | ~np.isfinite(norm) | ~(norm > 0)
    with np.errstate(all="ignore"):
        G = G / norm[:, None]
    G[bad] = np.nan
    return G


def _residual(g: np.ndarray, B: Sequence[np.ndarray], rtol: float) -> float:
    """Median over common valid points of the sine between ``g (N, d)`` and the span of
    the rows ``B[k] (N, d)``; inf when fewer than :data:`MIN_POINTS` points are common."""
    M = np.stack(B, axis=1)                                    # (N, m, d)
    ok = np.isfinite(g).all(1) & np.isfinite(M).all((1, 2))
    if ok.sum() < MIN_POINTS:
        return math.inf
    g, M = g[ok], M[ok]
    _, S, Vh = np.linalg.svd(M, full_matrices=False)          # S (n, m), Vh (n, m, d)
    keep = S > rtol * S[:, :1]                                 # numerical span
    coef = np.einsum("nmd,nd->nm", Vh, g) * keep               # (n, m)
    r = g - np.einsum("nm,nmd->nd", coef, Vh)                  # (n, d)
    return float(np.median(np.linalg.norm(r, axis=1)))


def _r(law: Law) -> float:
    """R_true, with a missing one taken as exact."""
    return law.R_true if math.isfinite(law.R_true) else 0.0


def _tau(r_j: float, r_b: float, rtol: float, cap: float = DEPENDENT_CAP) -> float:
    """The dependence tolerance of a law with R ``r_j`` on laws whose worst R is ``r_b``."""
    precision = PRECISION_FACTOR * (math.sqrt(max(r_j, 0.0)) + math.sqrt(max(r_b, 0.0)))
    return max(rtol, min(cap, precision))


def _near_misses(laws: Sequence[Law], G: list[np.ndarray], rtol: float,
                 differ=None) -> set[int]:
    """Indices of laws nearly, not exactly, functions of laws :data:`NEAR_MISS_GAP` better.

    Laws are visited best R_true first; ``ref`` is a greedy basis of the laws visited so
    far (sorted by R), so the laws much better than ``j`` are spanned by a prefix of it.
    ``differ(j, others)``: True when law ``j``'s trajectory levels are not a function of
    those of ``others`` (:class:`Levels`; None: never)."""
    scored = sorted((i for i in range(len(laws)) if math.isfinite(laws[i].R_true)),
                    key=lambda i: (laws[i].R_true, laws[i].size, i))
    ref: list[int] = []
    out: set[int] = set()
    for j in scored:
        r_j = _r(laws[j])
        better = [b for b in ref if _r(laws[b]) * NEAR_MISS_GAP <= r_j]
        if better:
            s = _residual(G[j], [G[b] for b in better], rtol)
            if rtol < s <= _tau(r_j, max(_r(laws[b]) for b in better), rtol,
                                NEAR_MISS_CAP) and not (differ and differ(j, better)):
                out.add(j)
                continue
        if not ref or _residual(G[j], [G[b] for b in ref], rtol) > _tau(
                r_j, max(_r(laws[b]) for b in ref), rtol) or (differ and differ(j, ref)):
            ref.append(j)
    return out


def _group_of(j: int, laws: Sequence[Law], G: list[np.ndarray], basis: list[int],
              rtol: float, differ=None) -> int | None:
    """Position in ``basis`` of the last basis law ``j`` needs (shortest spanning prefix),
    or None when ``j`` is independent of the whole basis (``differ``: as in
    :func:`_near_misses`; a prefix whose levels do not explain ``j``'s does not span it,
    unless ``j`` is a function of it to ``rtol``: then the means of a law that is not
    conserved can be off any function of theirs, and it is still a function of them)."""
    for m in range(1, len(basis) + 1):
        prefix = basis[:m]
        s = _residual(G[j], [G[b] for b in prefix], rtol)
        if s <= _tau(_r(laws[j]), max(_r(laws[b]) for b in prefix), rtol) and (
                s <= rtol or not (differ and differ(j, prefix))):
            return m - 1
    return None


@dataclass(frozen=True)
class Levels:
    """Noisy points' trajectories, for the test of trajectory levels.

    On noisy data a law's R is mostly its noise's, so the tolerance ``τ`` it widens can
    take in an independent invariant whose gradient is nearly parallel to the basis's at
    most points (Kepler's energy beside the angular momentum: the two gradients are
    parallel on circular orbits). A law is a function of others only if its constant on
    each trajectory is a function of theirs: with ``Levels``, a law that the gradients put
    within ``τ`` of a span (or among the near-misses) stays independent when its
    trajectory levels are beyond the noise from a polynomial in those of the span's laws
    (:func:`dslsearch.acceptance.means_explained`) and carry its conservation: its R
    with the part of its levels that they explain taken out is at most ``max_r``
    (:func:`dslsearch.acceptance.unexplained_r`; the calibrated test's cap on a law's R).
    A near-law that approximates a function of them can have levels significantly off
    a polynomial in theirs, but not levels that spread beyond its own scatter (the rigid
    body's ``L1² + 2.64 sqrt(L2² + L3²)`` beside its two invariants at σ = 0.05: 0.86;
    Kepler's energy beside the angular momentum at σ = 0.01: 0.024). Where the
    trajectories do not outnumber the polynomial's coefficients the gradients decide
    alone.

    Attributes:
        labels: ``(N,)`` trajectory of each of the ``N`` states given with the laws.
        sigma: ``(d,)`` noise floor of each variable (the data's units).
        max_r: the largest R, levels explained taken out, of a law kept independent.
    """

    labels: np.ndarray
    sigma: np.ndarray
    max_r: float = 0.5


def _differ(laws: Sequence[Law], x: np.ndarray, levels: Levels):
    """``differ(j, others)`` of :func:`_near_misses` for the states ``x (N, d)``."""
    from dslsearch.acceptance import gradients, levels_beyond

    cache: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}

    def of(i):
        if i not in cache:
            with np.errstate(all="ignore"):
                v = np.asarray(laws[i](x), np.float64)
                g = gradients(laws[i], x)
            cache[i] = (v, g) if np.isfinite(v).all() and np.isfinite(g).all() else None
        return cache[i]

    def differ(j, others) -> bool:
        own, rest = of(j), [of(b) for b in others]
        if own is None or any(r is None for r in rest):
            return False
        return levels_beyond(own[0], own[1], [r[0] for r in rest], levels.labels,
                             levels.sigma, levels.max_r)

    return differ


def _check(laws: Sequence[Law], x, rtol: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"x: expected states of shape (N, d), got shape {x.shape}; pass "
                         "the training states as one (N, d) array")
    for i, law in enumerate(laws):
        if len(law.variables) != x.shape[1]:
            raise ValueError(f"x: has {x.shape[1]} columns but laws[{i}] ({law}) is over "
                             f"{len(law.variables)} variables; pass the states the laws "
                             "were fitted on")
    if not (rtol > 0 and rtol < 1):
        raise ValueError(f"rtol: expected a tolerance in (0, 1), got {rtol!r}; the default "
                         f"is {RTOL}")
    if x.shape[0] > MAX_POINTS:
        x = x[np.linspace(0, x.shape[0] - 1, MAX_POINTS).astype(np.int64)]
    return x


def independent_laws(laws: Sequence[Law], x: np.ndarray, *, rtol: float = RTOL,
                     levels: Levels | None = None) -> Independence:
    """Group laws that are functions of each other and count the independent ones.

    Args:
        laws: the laws (any order), all over the same variables.
        x: ``(N, d)`` training states in the data's SI units.
        rtol: tight tolerance on the median sine between a law's gradient and the span of
            other laws' gradients (see the module docstring for the full criterion).
        levels: on noisy points, their trajectories and noise floor (:class:`Levels`): a
            law whose trajectory levels the span's laws do not explain is independent.

    Returns:
        :class:`Independence`: every index of ``laws`` is in exactly one group or among the
        near-misses.

    Raises:
        ValueError: ``x`` is not ``(N, d)`` with one column per variable, or a bad ``rtol``.
    """
    laws = list(laws)
    n = np.asarray(x).shape[0] if np.ndim(x) == 2 else 0
    differ = None
    if levels is not None and len(np.asarray(levels.labels)) != n:
        raise ValueError(f"levels.labels: expected one trajectory label per state ({n}), "
                         f"got {len(np.asarray(levels.labels))}")
    if levels is not None and laws:
        differ = _differ(laws, np.asarray(x, np.float64), levels)
    x = _check(laws, x, rtol)
    if not laws:
        return Independence((), (), 0, (), rtol)
    spread = np.nanstd(np.where(np.isfinite(x), x, np.nan), axis=0)
    scale = np.where(spread > 0, spread, 1.0)                  # (d,)
    G = [_gradients(law, x, scale) for law in laws]
    near = _near_misses(laws, G, rtol, differ)
    order = sorted((i for i in range(len(laws)) if i not in near),
                   key=lambda i: (laws[i].size, laws[i].R_true if math.isfinite(
                       laws[i].R_true) else math.inf, i))
    basis: list[int] = []
    groups: list[list[int]] = []
    for j in order:
        k = _group_of(j, laws, G, basis, rtol, differ) if basis else None
        if k is None:
            basis.append(j)
            groups.append([j])
        else:
            groups[k].append(j)
    return Independence(tuple(laws[b] for b in basis), tuple(tuple(g) for g in groups),
                        len(basis), tuple(sorted(near)), rtol)
