"""The sparse null-space peer: conserved quantities as sparse combinations of library
features (pysindy's polynomial and Fourier libraries) whose time derivative vanishes.

For features ``Θ(x) = [θ_1(x) … θ_m(x)]`` (no constant feature) a law is ``g = Θ(x)·c``
with ``dg/dt = Θ̇(x)·c ≈ 0``, where ``Θ̇ = ∂Θ/∂x · dx/dt`` (chain rule with the dataset's
time derivatives; ``∂Θ/∂x`` by central differences of the library's transform). The
method, on the training pairs:

1. **Null space.** Minimise the law's RMS rate over its RMS spread,
   ``‖Θ̇ c‖ / ‖(Θ − mean Θ) c‖`` [1/s]: whiten the centred, column-standardised features
   by their SVD (directions with singular value below ``rcond · σ_max`` are near-constant
   combinations and dropped), then take the SVD of ``Θ̇`` in the whitened coordinates. Its
   singular values ``σ_1 ≤ σ_2 ≤ …`` are the rates of the best laws, divided by the data's
   typical rate ``ν`` (median over state variables of ``rms(dx_j/dt) / std(x_j)``) into
   dimensionless ``ρ_i = σ_i / ν``.
2. **How many.** ``k`` = the position of the largest ratio ``ρ_{k+1} / ρ_k`` among the
   ``ρ_k < rho_max``; laws are reported only if that ratio is at least ``gap_min``
   (otherwise ``k = 0``: no law). Both constants were chosen on the pendulum and the spring
   only (noise 0 to 0.1 of each variable's spread, seeds 0 to 2; ``docs/PEERS.md``). The
   gap's geometric midpoint ``cut = sqrt(ρ_k · ρ_{k+1})`` separates laws from non-laws.
3. **Sparse laws.** ``k`` rounds; each takes the best law on the features left, sparsifies
   it while its ``ρ`` stays below ``cut`` (sequential thresholding of the standardised
   coefficients at ``threshold`` of the largest as a shortcut, then backward elimination:
   drop the feature whose removal raises ``ρ`` least, the sparse regression's stepwise
   variant), and removes the law's largest-coefficient feature from the library, so the
   next round finds another law (``x² + px²``, then ``y² + py²``; ``3 L1² − L3²``, then
   ``4 L1² + L2²``). Subset problems are solved on the ``R`` factors of the QR
   decompositions of the feature matrices (exact Gram matrices, m × m), so each costs two
   small SVDs.
4. **Independent laws.** Sparsest first, laws that are functions of those already kept
   (parallel gradients on the training states) are dropped; at most ``d − 1``.

Deterministic: no random choice anywhere; the seed only picks the states of step 4.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import numpy as np

from ._common import (PeerLaw, PeerResult, central_gradient, conservation_score, fd_steps,
                      independent, sample_states, trajectory_labels)


@dataclass(frozen=True)
class SindyConfig:
    """Settings of the sparse null-space peer."""

    degree: int = 3             # polynomial library degree (no constant term)
    n_frequencies: int = 1      # Fourier library: sin(k x_j), cos(k x_j) for k = 1..n
    rcond: float = 1e-6         # whitening: relative singular value of a kept direction
    rho_max: float = 0.6        # a null vector changes at most this fraction of ν
    gap_min: float = 1.5        # least ratio ρ_{k+1}/ρ_k that separates k laws
    threshold: float = 0.01     # sparsification shortcut: relative coefficient kept


def _library(x: np.ndarray, cfg: SindyConfig):
    import pysindy as ps

    lib = (ps.PolynomialLibrary(degree=cfg.degree, include_bias=False)
           + ps.FourierLibrary(n_frequencies=cfg.n_frequencies))
    lib.fit(x)
    return lib


def _features(lib, x: np.ndarray) -> np.ndarray:
    """``(N, m)`` features of states ``x (N, d)``."""
    return np.asarray(lib.transform(np.asarray(x, np.float64)), np.float64)


def _feature_rates(lib, x: np.ndarray, dxdt: np.ndarray) -> np.ndarray:
    """``(N, m)`` time derivatives of the features along ``dxdt (N, d)`` (chain rule)."""
    steps = fd_steps(x)
    out = np.zeros((x.shape[0], _features(lib, x[:1]).shape[1]))
    for j, h in enumerate(steps):
        up, down = x.copy(), x.copy()
        up[:, j] += h
        down[:, j] -= h
        out += (_features(lib, up) - _features(lib, down)) / (2 * h) * dxdt[:, j:j + 1]
    return out


def _null(F: np.ndarray, Fdot: np.ndarray, rcond: float) -> tuple[np.ndarray, np.ndarray]:
    """Rates and directions of ``min ‖Fdot c‖ / ‖F c‖``.

    Args:
        F: (n, m) centred features, or any matrix with the same Gram matrix (the ``R`` of
            its QR decomposition), scaled so that ``‖F c‖`` is an RMS over the data.
        Fdot: (n, m) their rates, likewise.
        rcond: directions of ``F`` with singular value below ``rcond · σ_max`` (near-constant
            combinations) are left out.

    Returns:
        sigma: (r,) ascending RMS rates over RMS spreads [1/s].
        C: (m, r) the matching coefficient vectors (columns), unit length.
    """
    _, S, Wt = np.linalg.svd(F, full_matrices=False)
    keep = S > rcond * S[0]
    whiten = Wt[keep].T / S[keep]                               # (m, r)
    _, sig, Qt = np.linalg.svd(Fdot @ whiten, full_matrices=False)
    order = np.argsort(sig)
    C = whiten @ Qt[order].T                                    # (m, r)
    return sig[order], C / np.linalg.norm(C, axis=0)


def _rho(F, Fdot, support: np.ndarray, nu: float, rcond: float) -> tuple[float, np.ndarray]:
    """``ρ`` and coefficients ``(m,)`` of the best law on the features in ``support``."""
    sig, C = _null(F[:, support], Fdot[:, support], rcond)
    w = np.zeros(F.shape[1])
    w[support] = C[:, 0]
    return sig[0] / nu, w


def _eliminate(support: np.ndarray, nu: float, cut: float, F, Fdot,
               cfg: SindyConfig) -> tuple[np.ndarray, float] | None:
    """The best law on ``support`` made sparse while its ``ρ`` stays below ``cut``:
    sequential thresholding (keep the standardised coefficients of at least ``threshold``
    of the largest, refit; a shortcut when many are negligible), then backward
    elimination (drop the feature whose removal raises ``ρ`` least). ``(w, ρ)``, or None
    when no law on ``support`` is below ``cut``."""
    rho, w = _rho(F, Fdot, support, nu, cfg.rcond)
    if not rho < cut:
        return None
    while True:
        s = np.abs(w) >= cfg.threshold * np.abs(w).max()
        if np.array_equal(s, support):
            break
        r_new, w_new = _rho(F, Fdot, s, nu, cfg.rcond)
        if not r_new < cut:
            break
        support, rho, w = s, r_new, w_new
    while support.sum() > 1:
        trials = []
        for j in np.flatnonzero(support):
            s = support.copy()
            s[j] = False
            trials.append((*_rho(F, Fdot, s, nu, cfg.rcond), s))
        r_best, w_best, s_best = min(trials, key=lambda t: t[0])
        if not r_best < cut:
            break
        support, rho, w = s_best, r_best, w_best
    return w, rho


def _sparse_laws(k: int, nu: float, cut: float, F, Fdot,
                 cfg: SindyConfig) -> list[tuple[np.ndarray, float]]:
    """Up to ``k`` sparse laws, one per round: the sparsest law below ``cut`` on the
    features left, whose largest (standardised) coefficient's feature is then removed, so
    the next round finds another law."""
    left = np.ones(F.shape[1], bool)
    found = []
    for _ in range(k):
        if not left.any():
            break
        law = _eliminate(left.copy(), nu, cut, F, Fdot, cfg)
        if law is None:
            break
        found.append(law)
        left[int(np.argmax(np.abs(law[0])))] = False
    return found


def _problem(dataset, cfg: SindyConfig):
    """``(F, Fdot, ν, library, scale)``: the ``R`` factors (m, m) of the standardised,
    centred features and of their rates on the training pairs (same Gram matrices, RMS
    norms), the data's typical rate ν [1/s], the fitted library and the features' spreads
    (m,)."""
    x, dxdt = np.asarray(dataset.x_train), np.asarray(dataset.dxdt_train)
    lib = _library(x, cfg)
    Theta = _features(lib, x)
    scale = Theta.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    N = x.shape[0]
    F = np.linalg.qr((Theta - Theta.mean(0)) / scale, mode="r") / math.sqrt(N)
    Fdot = np.linalg.qr(_feature_rates(lib, x, dxdt) / scale, mode="r") / math.sqrt(N)
    spread = np.where(x.std(0) > 0, x.std(0), 1.0)
    nu = float(np.median(np.sqrt((dxdt**2).mean(0)) / spread))
    return F, Fdot, nu, lib, scale


def _count(rho: np.ndarray, cfg: SindyConfig) -> tuple[int, float]:
    """Number of laws k and the cut between null and non-null ``ρ`` (geometric midpoint)."""
    below = int(np.sum(rho[:-1] < cfg.rho_max))
    if below == 0:
        return 0, 0.0
    gaps = rho[1:below + 1] / np.maximum(rho[:below], 1e-300)
    k = int(np.argmax(gaps)) + 1
    if gaps[k - 1] < cfg.gap_min:
        return 0, 0.0
    return k, math.sqrt(rho[k - 1] * rho[k])


def _term(name: str) -> str:
    """A pysindy feature name as a formula: ``"q^2 p"`` -> ``"q**2*p"``,
    ``"sin(1 q)"`` -> ``"sin(q)"``."""
    name = re.sub(r"(sin|cos)\(1 (\w+)\)", r"\1(\2)", name)
    name = re.sub(r"(sin|cos)\((\d+) (\w+)\)", r"\1(\2*\3)", name)
    return name.replace("^", "**").replace(" ", "*")


class _LinearLaw:
    """``x (N, d) -> Θ(x)·c (N,)`` (picklable)."""

    def __init__(self, lib, c: np.ndarray):
        self.lib, self.c = lib, c

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return _features(self.lib, x) @ self.c


def _law(lib, c: np.ndarray, names: list[str], steps: np.ndarray, labels, x) -> PeerLaw:
    """The law ``Θ(x)·c`` (``c`` in feature units), scaled so its largest coefficient is 1."""
    c = c / c[np.argmax(np.abs(c))]
    text = ""
    for coef, name in zip(c, names):
        if coef != 0:
            mag = f"{abs(coef):.6g}"
            mag = "" if mag == "1" else mag + "*"
            text += (" - " if coef < 0 else " + ") + mag + _term(name)
    text = ("-" if text.startswith(" - ") else "") + text[3:]

    fn = _LinearLaw(lib, c)
    return PeerLaw(text, fn, central_gradient(fn, steps),
                   r=conservation_score(fn(x), labels))


def spectrum(dataset, config: SindyConfig | None = None) -> np.ndarray:
    """The ascending rate ratios ``ρ`` of ``dataset``'s null-space problem (step 1), from
    which the rule of step 2 counts the laws; for choosing ``rho_max`` and ``gap_min``."""
    cfg = config or SindyConfig()
    F, Fdot, nu, _, _ = _problem(dataset, cfg)
    return _null(F, Fdot, cfg.rcond)[0] / nu


def discover(dataset, *, seconds: float, seed: int,
             config: SindyConfig | None = None) -> PeerResult:
    """Conserved quantities of ``dataset`` (hamiltonian_data ``Dataset``, training pairs)
    by the sparse null-space method.

    Args:
        dataset: the data; its training states and time derivatives are used.
        seconds: the budget [s]; not needed (the method takes seconds at most), its wall
            time is reported in :attr:`PeerResult.seconds`.
        seed: picks the training states of the independence test.
        config: settings (default :class:`SindyConfig`).
    """
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(1):   # tiny matrices: BLAS threads only add overhead
        return _discover(dataset, config or SindyConfig(), seed, t0)


def _discover(dataset, cfg: SindyConfig, seed: int, t0: float) -> PeerResult:
    """:func:`discover`'s body (BLAS limited to one thread)."""
    F, Fdot, nu, lib, scale = _problem(dataset, cfg)
    sig, _ = _null(F, Fdot, cfg.rcond)
    rho = sig / nu
    k, cut = _count(rho, cfg)
    names = lib.get_feature_names(list(dataset.names))
    x = np.asarray(dataset.x_train)
    labels, steps = trajectory_labels(dataset), fd_steps(x)
    found = _sparse_laws(k, nu, cut, F, Fdot, cfg)
    found.sort(key=lambda wr: (int(np.count_nonzero(wr[0])), wr[1]))
    cands = [_law(lib, w / scale, names, steps, labels, x) for w, _ in found]
    laws = independent(cands, sample_states(x, 300, seed), dataset.dim - 1)
    note = (f"degree {cfg.degree}, {cfg.n_frequencies} frequency, {len(names)} features; "
            f"rho = {', '.join(f'{v:.2g}' for v in rho[:min(len(rho), k + 3)])}; "
            f"{k} near-null, {len(laws)} independent")
    return PeerResult(laws, time.perf_counter() - t0, note, cands)
