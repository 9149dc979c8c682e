"""Fitting a batch of fit units that share one reduced skeleton.

Two mechanisms, chosen per skeleton:

* **Closed form** when the skeleton is affine in its parameters (possibly after writing a
  bare divisor ``X/c`` as ``X*d`` with ``d = 1/c``): ``g = F0 + sum_k c_k F_k``, and
  minimising R over ``c`` is a generalised eigenproblem ``W v = R T v`` of size ``k+1``
  (W, T the within and total scatter matrices of the ``F``s). Exact, no iterations; this is
  how ``p**2 - c*cos(q)`` and ``q**2 + c*p**2`` are fitted.
* **Batched gradient fitting** otherwise: float64 Adam on every candidate and every
  start at once, values ``(G, E, S, N)`` (G candidates, E segmentations, S starts), in
  numpy (:mod:`dslsearch.fitting.npgrad`, the default) or torch (this module).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.npgrad import keep_better
from dslsearch.fitting.objective import (Segments, centred, r_reg_torch, within)
from dslsearch.fitting.skeleton import (PARAM_S, SLOT, STRUCT_CACHE, evaluate_struct,
                                        n_struct_params, struct_op)
from dslsearch.ops import DIV, MUL


#: engines of the gradient fit: numpy (:mod:`dslsearch.fitting.npgrad`), torch (autograd)
ENGINES = ("numpy", "torch")


@dataclass(frozen=True)
class AdamConfig:
    """Settings of the batched gradient fit."""

    steps: int = 60             # Adam iterations after the grid
    lr: float = 0.05            # step size on the normalised parameter theta = c / |start|
    n_grid: int = 24            # grid points per candidate (forward only, no gradient)
    refine: int = 2             # best grid points refined by Adam
    screen: float = 0.5         # refine only candidates whose best grid R is below this
    seed: int = 0               # seed of the start table (fixed, not per shard or worker)
    chunk: int = 2_000_000      # max elements of one (G, E, S, N) value tensor
    polish_steps: int = 12      # damped Newton steps for candidates that could pass
    engine: str = "numpy"       # "numpy" (dslsearch.fitting.npgrad: workers never import
    #                             torch) or "torch" (autograd); equal to rounding

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine: expected one of {', '.join(ENGINES)}, got "
                             f"{self.engine!r}")


# ----------------------------------------------------------------------------------------
# closed form
@functools.lru_cache(maxsize=STRUCT_CACHE)
def linearise(struct: tuple) -> tuple[tuple, tuple[bool, ...]] | None:
    """Rewrite ``struct`` as affine in its parameters, or return None if it is not.

    A node is affine when its arguments are, each parameter-dependent argument sits where
    the operation is affine (``Op.affine_in``), and, unless the operation is jointly affine
    (a sum), at most one argument depends on parameters (``c*X`` is, ``c*(X + c)`` is not).

    Returns:
        ``(lin_struct, inverse)``: ``lin_struct`` has each bare divisor ``X/c`` rewritten as
        ``X*d``; ``inverse[k]`` says parameter k was so rewritten (``c_k = 1/d_k``).
    """
    counter = itertools.count()
    inverse: dict[int, bool] = {}

    def lin(s):  # -> (new_s, has_params, affine)
        if s == SLOT:
            return s, False, True
        if s == PARAM_S:
            inverse[next(counter)] = False
            return s, True, True
        if s[0] == DIV and s[2] == PARAM_S:
            x, dx, ax = lin(s[1])
            if dx:
                return s, True, False
            inverse[next(counter)] = True
            return (MUL, x, PARAM_S), True, ax
        op = struct_op(s[0])
        args = [lin(c) for c in s[1:]]
        deps = [d for _, d, _ in args]
        affine = (all(a for _, _, a in args)
                  and all(ok for ok, d in zip(op.affine_in, deps) if d)
                  and (op.jointly_affine or sum(deps) <= 1))
        return (s[0], *(c for c, _, _ in args)), any(deps), affine

    new, _, affine = lin(struct)
    if not affine:
        return None
    return new, tuple(inverse[k] for k in range(len(inverse)))


def basis_values(lin_struct: tuple, slots: list[np.ndarray], n_params: int) -> np.ndarray:
    """``F (G, n_params + 1, N)``: ``F0 = g(0)``, ``F_k = g(e_k) - g(0)`` of an affine struct.

    Args:
        slots: one ``(G, N)`` array per slot.
    """
    G = slots[0].shape[0] if slots else 1
    zero = [np.zeros((G, 1))] * n_params
    with np.errstate(all="ignore"):
        F0 = np.broadcast_to(evaluate_struct(lin_struct, slots, zero, np), slots[0].shape)
        out = [F0]
        for k in range(n_params):
            e = list(zero)
            e[k] = np.ones((G, 1))
            out.append(evaluate_struct(lin_struct, slots, e, np) - F0)
    return np.stack(out, axis=1)


def solve_affine(F: np.ndarray, segs: list[Segments],
                 rel_tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Minimise R of ``g = F0 + sum_k v_k F_k`` for each candidate and each segmentation.

    Directions of the span along which g is (numerically) constant are dropped, so an
    offset parameter gets 0 and an identity such as ``cos(q)**2 + c*sin(q)**2`` cannot
    reach 0/0.

    Args:
        F: ``(G, K, N)`` finite basis values.
        segs: segmentations (true trajectories, random pseudo-trajectories).

    Returns:
        ``(R, V)``: ``R (len(segs), G)`` minimal R (NaN where g is constant for every v),
        ``V (len(segs), G, K)`` coefficient vectors (up to scale; NaN where R is).
    """
    Fc = centred(F)
    T = np.einsum("gin,gjn->gij", Fc, Fc)
    Ws = []
    for seg in segs:
        Fw = within(Fc, seg)
        Ws.append(np.einsum("gin,gjn->gij", Fw, Fw))
    return solve_scatter(T, Ws, rel_tol)


def solve_scatter(T: np.ndarray, Ws: list[np.ndarray],
                  rel_tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """The generalised eigenproblem ``W v = R T v`` of :func:`solve_affine`, from the
    scatter matrices: the smallest R and its v, per candidate and per W.

    Args:
        T: ``(G, K, K)`` total scatter matrices of the basis values (centred).
        Ws: within scatter matrices ``(G, K, K)``, one per segmentation.
        rel_tol: eigenvalues of T below ``rel_tol * max`` are dropped (constant directions).

    Returns:
        ``(R (len(Ws), G), V (len(Ws), G, K))`` as :func:`solve_affine`.
    """
    lam, U = np.linalg.eigh(T)  # (G, K), (G, K, K)
    lam_max = lam[:, -1:]
    keep = lam > rel_tol * np.maximum(lam_max, 0.0)
    keep &= lam_max > 0
    D = np.where(keep, 1.0 / np.sqrt(np.where(keep, lam, 1.0)), 0.0)  # (G, K)
    dropped = np.where(keep, 0.0, 2.0)[:, :, None] * np.eye(T.shape[-1])  # dropped: R=2>1
    Rs, Vs = [], []
    for W in Ws:
        M = (U.transpose(0, 2, 1) @ W @ U) * D[:, :, None] * D[:, None, :]
        mu, Y = np.linalg.eigh(M + dropped)
        y = Y[:, :, 0]
        v = (U @ (D * y)[:, :, None])[:, :, 0]
        r = np.clip(mu[:, 0], 0.0, None)
        bad = ~keep.any(1)
        r[bad] = np.nan
        v[bad] = np.nan
        Rs.append(r)
        Vs.append(v)
    return np.stack(Rs), np.stack(Vs)


def coefficients_to_params(v: np.ndarray, F0_constant: np.ndarray,
                           inverse: tuple[bool, ...]) -> np.ndarray:
    """Turn eigenvectors ``v (G, K)`` into parameters ``(G, K-1)``.

    With a non-constant ``F0`` the coefficient of F0 is fixed at 1 (divide by ``v0``);
    with a constant F0 the scale is free and the largest coefficient is set to 1.
    Parameters written as ``d = 1/c`` are inverted. Infinite where the optimum lies at
    an infinite parameter.
    """
    with np.errstate(all="ignore"):
        norm = np.where(F0_constant, np.max(np.abs(v[:, 1:]), axis=1, initial=0.0)
                        * np.sign(v[np.arange(len(v)), 1 + np.argmax(np.abs(v[:, 1:]), 1)]
                                  if v.shape[1] > 1 else 1.0), v[:, 0])
        c = v[:, 1:] / norm[:, None]
        for k, inv in enumerate(inverse):
            if inv:
                c[:, k] = 1.0 / c[:, k]
    return c


# ----------------------------------------------------------------------------------------
# gradient fitting
@functools.lru_cache(maxsize=STRUCT_CACHE)
def topology(struct: tuple) -> tuple[tuple, tuple]:
    """Split a structure into its shape and its ops.

    Returns:
        ``(topo, ops)``: ``topo`` replaces each operation by ``"U"`` (unary, including the
        reciprocal) or ``"B"`` (binary); ``ops`` lists the op codes in pre-order, with
        ``-1`` (:data:`~dslsearch.fitting.skeleton.RECIPROCAL`) for the reciprocal. Structures of one topology are fitted in one batch, the
        per-candidate op selected inside the tensor program (:func:`evaluate_topology`).
    """
    ops: list[int] = []

    def walk(s):
        if s in (SLOT, PARAM_S):
            return s
        ops.append(struct_op(s[0]).code)
        if len(s) == 2:
            return ("U", walk(s[1]))
        return ("B", walk(s[1]), walk(s[2]))

    topo = walk(struct)
    return topo, tuple(ops)


def evaluate_topology(topo: tuple, ops, slots: list, params: list):
    """Evaluate a topology in torch, each candidate with its own ops.

    Args:
        ops: ``(G, n_ops)`` int tensor, codes as in :func:`topology`; broadcast as
            ``(G, 1, 1, 1)`` against the values.
        slots: ``(G, 1, 1, N)`` tensors; params: ``(G, E, S, 1)`` tensors.

    Each op some candidate uses at a node is computed on the rows of the candidates that
    use it (``index_select``), and the results are put back in candidate order, so
    every row's value and gradient are those of its own formula. A division by zero (or log
    of a negative number) gives inf/NaN for that candidate alone: every candidate is its own
    row of every tensor, and the fitting loop zeroes non-finite gradients.
    """
    import torch

    it_s, it_p = iter(slots), iter(params)
    k = itertools.count()
    ops_np = ops.numpy() if hasattr(ops, "numpy") else np.asarray(ops)

    def ev(t):
        if t == SLOT:
            return next(it_s)
        if t == PARAM_S:
            return next(it_p)
        column = ops_np[:, next(k)]
        present = np.unique(column).tolist()
        args = [ev(c) for c in t[1:]]
        if len(present) == 1:
            return struct_op(present[0]).torch(*args)
        vals, perm = [], []
        for code in present:  # each op on its own candidates' rows only
            idx = np.nonzero(column == code)[0]
            vals.append(struct_op(code).torch(*[a.index_select(0, torch.as_tensor(idx))
                                                for a in args]))
            perm.append(idx)
        perm = np.concatenate(perm)
        back = np.empty_like(perm)
        back[perm] = np.arange(len(perm))
        return torch.cat(vals, 0).index_select(0, torch.as_tensor(back))

    return ev(topo)


def start_table(n_params: int, n_starts: int, seed: int) -> np.ndarray:
    """Deterministic grid of parameter values, ``(S, P)``.

    One parameter: ``±geomspace(0.01, 100, S/2)``. More: log-uniform magnitudes in
    [0.01, 100] with random signs from a fixed seed (the same table in every shard).
    """
    if n_params == 1:
        mags = np.geomspace(0.01, 100.0, max(n_starts // 2, 1))
        return np.concatenate([mags, -mags])[:, None]
    rng = np.random.default_rng(seed + 1000 * n_params)
    mags = np.exp(rng.uniform(np.log(0.01), np.log(100.0), (n_starts, n_params)))
    signs = rng.choice([-1.0, 1.0], (n_starts, n_params))
    return mags * signs


def _r_all(vals, segs_e):
    import torch

    return torch.stack([r_reg_torch(vals[:, e], s) for e, s in enumerate(segs_e)], 1)


def fit_gradient(topo: tuple, ops: np.ndarray, slots: list[np.ndarray], segs: list[Segments],
                 config: AdamConfig, max_elements: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched fit of G candidates sharing a topology, on each segmentation independently.

    A forward-only grid over the start table picks the ``config.refine`` best starts of
    each candidate; Adam (on ``theta = c / |start|``) then refines them all at once.

    Args:
        topo, ops: from :func:`topology`; ``ops (G, n_ops)``.
        slots: one ``(G, N)`` float64 array per slot (the fitting points).
        segs: segmentations of those N points (true, random).
        max_elements: a cap on ``config.chunk`` from a memory budget (the candidates are
            independent, so the batch size does not change results).

    Returns:
        ``(R, params, converged)``: ``R (E, G)`` regularised R at the best start,
        ``params (E, G, P)``, ``converged (E, G)`` bool (the best objective changed by
        < 1e-3 relative over the last fifth of the steps).
    """
    import torch

    P = n_struct_params(topo)
    G, N = slots[0].shape
    E = len(segs)
    table = torch.as_tensor(start_table(P, config.n_grid, config.seed))  # (S0, P)
    S0, S = table.shape[0], config.refine
    R_out = np.full((E, G), np.nan)
    p_out = np.full((E, G, P), np.nan)
    conv_out = np.zeros((E, G), bool)
    chunk = config.chunk if max_elements is None else min(config.chunk, max_elements)
    g_chunk = max(1, chunk // (E * S0 * N))
    ops_t = torch.as_tensor(np.asarray(ops, np.int64))
    for g0 in range(0, G, g_chunk):
        sl = [torch.as_tensor(s[g0:g0 + g_chunk])[:, None, None, :] for s in slots]
        op_c = ops_t[g0:g0 + g_chunk]
        g = op_c.shape[0]
        # 1. grid: (g, E, S0) without gradients
        with torch.no_grad():
            c = table.expand(g, E, S0, P)
            vals = evaluate_topology(topo, op_c, sl, [c[..., k:k + 1] for k in range(P)])
            Rg = _r_all(vals.expand(g, E, S0, N), segs)
            Rg = torch.where(torch.isfinite(Rg), Rg, torch.full_like(Rg, float("inf")))
            idx = Rg.topk(S, dim=-1, largest=False).indices                   # (g, E, S)
            start = torch.gather(c, 2, idx[..., None].expand(g, E, S, P))   # (g, E, S, P)
            Rbest, ibest = Rg.min(-1)                                         # (g, E)
            c_best = torch.gather(c, 2, ibest[..., None, None].expand(g, E, 1, P))[:, :, 0]
        R_out[:, g0:g0 + g] = Rbest.T.numpy()
        p_out[:, g0:g0 + g] = c_best.permute(1, 0, 2).numpy()
        conv_out[:, g0:g0 + g] = True
        # 2. Adam refinement of the best starts of the promising candidates
        todo = torch.nonzero((Rbest < config.screen).any(-1)).flatten()
        if todo.numel() == 0:
            continue
        R_ad, p_ad, conv_ad = _adam(topo, op_c[todo], [s[todo] for s in sl],
                                    start[todo], segs, config)
        keep_better(R_out, p_out, conv_out, (g0 + todo).numpy(), R_ad, p_ad, conv_ad)
    return R_out, p_out, conv_out


class _Adam:
    """Adam on one tensor, the arithmetic of ``torch.optim.Adam`` (betas 0.9, 0.999, eps
    1e-8, no weight decay) step for step, without importing ``torch.optim`` (whose import
    pulls in the compiler stack: seconds in every fresh worker process)."""

    BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

    def __init__(self, param, lr: float):
        import torch

        self.param, self.lr, self.step_count = param, lr, 0
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step(self, grad) -> None:
        """One update of the parameter (in place) from its gradient ``grad``."""
        import torch

        self.step_count += 1
        b1, b2 = self.BETA1, self.BETA2
        with torch.no_grad():
            self.exp_avg.lerp_(grad, 1 - b1)
            self.exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            step_size = self.lr / (1 - b1 ** float(self.step_count))
            bias2_sqrt = (1 - b2 ** float(self.step_count)) ** 0.5
            denom = (self.exp_avg_sq.sqrt() / bias2_sqrt).add_(self.EPS)
            self.param.addcdiv_(self.exp_avg, denom, value=-step_size)


def _adam(topo, op_c, sl, start, segs, config: AdamConfig):
    """Adam from ``start (g, E, S, P)``; returns numpy ``(R (E, g), params (E, g, P), conv)``."""
    import torch

    g, E, S, P = start.shape
    N = sl[0].shape[-1]
    scale = start.abs().clamp_min(1e-12)
    theta = torch.sign(start).clone().requires_grad_(True)
    opt = _Adam(theta, config.lr)
    best = torch.full((g, E, S), float("inf"), dtype=torch.float64)
    best_theta = theta.detach().clone()
    history = []
    for _ in range(config.steps):
        cc = theta * scale
        vals = evaluate_topology(topo, op_c, sl, [cc[..., k:k + 1] for k in range(P)])
        R = _r_all(vals.expand(g, E, S, N), segs)
        Rd = R.detach()
        improved = Rd < best  # NaN compares False: a non-finite point never wins
        best = torch.where(improved, Rd, best)
        best_theta = torch.where(improved[..., None], theta.detach(), best_theta)
        history.append(best.min(-1).values)
        loss = torch.where(torch.isfinite(R), R, torch.zeros_like(R)).sum()
        (grad,) = torch.autograd.grad(loss, theta)
        # a pole must not poison the batch
        opt.step(grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0))
    bmin, barg = best.min(-1)                                              # (g, E)
    pick = barg[..., None, None].expand(g, E, 1, P)
    bc = (torch.gather(best_theta, 2, pick) * torch.gather(scale, 2, pick))[:, :, 0]
    late = history[int(0.8 * len(history))]
    conv = (late - bmin) <= 1e-3 * bmin.abs() + 1e-12
    return bmin.T.numpy(), bc.permute(1, 0, 2).numpy(), conv.T.numpy()


def newton_polish(topo, ops, slots: list, params: np.ndarray, seg: Segments,
                  steps: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton refinement of ``params (G, P)`` on one segmentation, batched.

    Gradient and Hessian of each candidate's R come from autograd (candidates are
    independent, so the Hessian of the summed loss is block diagonal). A step is kept only
    where it lowers R; otherwise the damping grows tenfold for that candidate.

    Args:
        slots: ``(G, N)`` arrays. Returns ``(R (G,), params (G, P))``.
    """
    import torch

    G, P = params.shape
    N = slots[0].shape[1]
    sl = [torch.as_tensor(s)[:, None, None, :] for s in slots]
    ops_t = torch.as_tensor(np.asarray(ops, np.int64))
    c = torch.as_tensor(params).clone()
    damp = torch.full((G,), 1e-6, dtype=torch.float64)

    def objective(cc):
        vals = evaluate_topology(topo, ops_t, sl, [cc[:, None, None, k:k + 1] for k in range(P)])
        return r_reg_torch(vals.expand(G, 1, 1, N)[:, 0, 0], seg)                  # (G,)

    with torch.no_grad():
        R = objective(c)
    for _ in range(steps):
        cg = c.clone().requires_grad_(True)
        Rg = objective(cg)
        (grad,) = torch.autograd.grad(Rg.sum(), cg, create_graph=True)           # (G, P)
        H = torch.stack([torch.autograd.grad(grad[:, k].sum(), cg, retain_graph=True)[0]
                         for k in range(P)], 1)                                  # (G, P, P)
        grad, H = grad.detach(), H.detach()
        ok = torch.isfinite(grad).all(1) & torch.isfinite(H).all((1, 2))
        grad = torch.where(ok[:, None], grad, torch.zeros_like(grad))
        H = torch.where(ok[:, None, None], H, torch.eye(P, dtype=H.dtype).expand(G, P, P))
        scale = H.diagonal(dim1=1, dim2=2).abs().amax(1).clamp_min(1e-300)
        A = H + (damp * scale)[:, None, None] * torch.eye(P, dtype=H.dtype)
        step = torch.linalg.lstsq(A, grad[..., None]).solution[..., 0]
        with torch.no_grad():
            c_new = c - step
            R_new = objective(c_new)
        better = torch.isfinite(R_new) & (R_new < R) & torch.isfinite(c_new).all(1)
        c = torch.where(better[:, None], c_new, c)
        R = torch.where(better, R_new, R)
        damp = torch.where(better, (damp / 10).clamp_min(1e-12), damp * 10)
    return R.numpy(), c.numpy()
