"""Confidence intervals of a law's fitted constants: a jackknife over trajectories.

The constants of a law are fitted so that the law is as constant as possible along each
training trajectory (the score R = W / T). Measurement noise biases that fit (errors in
the variables): R counts every point alike, so the fit leans on the constants that make
the law quiet where the noise is large, whatever its shape elsewhere. With the noise floor
``sigma`` estimated from the data (:func:`dslsearch.acceptance.noise_floor`), :func:`refit`
fits the constants for the noise (:data:`REFIT`):

- ``"ml"`` (default): minimise :func:`ml_score`, the mean squared distance of the points
  to their trajectory's level set of the law in units of the noise (each point's deviation
  from its trajectory's level, less the noise's mean offset of the law there, divided by
  the noise's std of the law there: the first-order maximum likelihood of an implicit
  model, Sampson's distance), with the noise's std taken at the points projected onto the
  level sets (:func:`project`);
- ``"moments"``: minimise ``(W - W_noise) / (T - T_noise)`` (:func:`corrected_r`), the
  noise's expected share of the within and total sums of squares removed.

``"ml"`` was chosen by the error of the constants of known invariants and by the
discovery benchmark, on development and confirmation seeds (``docs/DISCOVERY.md``,
"Maximum likelihood or moments"). On noise-free data the fit is R's.

The default interval (:data:`INTERVAL`) is the jackknife's: the constants are refitted
with each trajectory (or, for data of one trajectory, each window; at most :data:`N_JACK`
groups of them) left out in turn, and ``c ± t · se`` uses the jackknife's standard error.
Bootstrap intervals over resampled trajectories (:func:`bootstrap_draws`,
:func:`interval`: Student-t, basic, percentile) are kept for comparison; on the pendulum
and the spring they held the true constant less often (``docs/DISCOVERY.md``). Constants
that R does not determine (a law's overall scale and offset, stripped before fitting at
neutral values) get an interval of about zero width.
"""

from __future__ import annotations

import math

import numpy as np

#: bootstrap resamples and the interval's coverage
N_BOOT = 40
LEVEL = 0.95
#: most groups of trajectories the jackknife leaves out in turn (delete-a-group jackknife)
N_JACK = 40
#: the intervals: the jackknife's (:func:`jackknife_interval`, the default, chosen by
#: coverage over seeds on the pendulum and the spring) and those :func:`interval` computes
#: from bootstrap draws
INTERVALS = ("jackknife", "t", "basic", "percentile")
INTERVAL = "jackknife"


def corrected_r(formula, p: np.ndarray, x: np.ndarray, labels: np.ndarray,
                sigma: np.ndarray | None) -> float:
    """``(W - W_noise) / (T - T_noise)`` of ``formula`` with constants ``p`` on ``x (N, d)``
    with trajectories ``labels (N,)`` and noise std ``sigma (d,)`` (plain R when None);
    NaN when not finite or the corrected total is not positive."""
    from dslsearch.acceptance import gradients

    def fn(z):
        return np.broadcast_to(np.asarray(formula.evaluate(z, p), np.float64), z.shape[:1])

    with np.errstate(all="ignore"):
        v = fn(x)
    if not np.isfinite(v).all():
        return math.nan
    K = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=K).astype(np.float64)
    centred = v - v.mean()
    T = float(centred @ centred)
    resid = centred - (np.bincount(labels, centred, K) / np.maximum(counts, 1))[labels]
    W = float(resid @ resid)
    if sigma is not None:
        e = (gradients(fn, x) ** 2) @ (np.asarray(sigma) ** 2)           # (N,)
        if not np.isfinite(e).all():
            return math.nan
        W -= float(((1 - 1 / counts[labels]) * e).sum())
        T -= float((1 - 1 / v.size) * e.sum())
    return W / T if T > 0 else math.nan


#: the least share of the points at which :func:`ml_score` must have a finite variance (the
#: others, whose shifted copies leave the law's domain, get weight 0)
MIN_VALID = 0.5


class _Stacked:
    """A formula on the ``2 d + 1`` copies of the points ``x (N, d)`` that
    :func:`_noise_parts` evaluates (the points and the points shifted by ``±σ_j`` along
    each variable), as a function of the constants ``p (P,)``: ``(2 d + 1, N)``.

    A sum of terms with fitted coefficients is affine in its constants: there the copies'
    values at zero constants and their change per unit of each constant are kept, and each
    call combines them (``O(P N d)``, no formula evaluated). Whether the formula is affine
    is checked against a direct evaluation at two sets of constants (the start and a
    second one); a formula that fails the check is evaluated at each call. The optimisers
    of :func:`refit` call the loss hundreds of times on the same points."""

    def __init__(self, formula, x: np.ndarray, sigma: np.ndarray, p: np.ndarray):
        x = np.asarray(x, np.float64)
        N, d = x.shape
        shifts = np.zeros((2 * d, d))
        for j in range(d):
            shifts[2 * j, j], shifts[2 * j + 1, j] = sigma[j], -sigma[j]
        self.formula, self.N = formula, N
        self.points = np.concatenate([x[None], x[None] + shifts[:, None]]).reshape(-1, d)
        self.basis = self._affine(np.asarray(p, np.float64))

    def _evaluate(self, p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            g = self.formula.evaluate(self.points, p)
        return np.broadcast_to(np.asarray(g, np.float64),
                               self.points.shape[:1]).reshape(-1, self.N)

    def _affine(self, p: np.ndarray):
        """``(G0, D)``: the values at zero constants ``(2 d + 1, N)`` and their change per
        unit of each constant ``(P, 2 d + 1, N)``; None where the formula is not affine in
        its constants (or has none)."""
        P = p.size
        if P == 0 or not np.isfinite(p).all():
            return None
        G0 = self._evaluate(np.zeros(P))
        with np.errstate(all="ignore"):
            D = np.stack([self._evaluate(np.eye(P)[k]) - G0 for k in range(P)])
        for q in (p, 1.37 * p + 0.11):
            direct = self._evaluate(q)
            with np.errstate(all="ignore"):
                combined = G0 + np.tensordot(q, D, 1)
            ok = np.isfinite(direct)
            if not ok.any() or not np.array_equal(ok, np.isfinite(combined)):
                return None
            scale = float(np.abs(direct[ok]).max())
            if not np.allclose(combined[ok], direct[ok], rtol=1e-9, atol=1e-12 * scale):
                return None
        return G0, D

    def __call__(self, p: np.ndarray) -> np.ndarray:
        if self.basis is None:
            return self._evaluate(np.asarray(p, np.float64))
        G0, D = self.basis
        with np.errstate(all="ignore"):
            return G0 + np.tensordot(np.asarray(p, np.float64), D, 1)


def _noise_parts(formula, p: np.ndarray, x: np.ndarray, sigma: np.ndarray,
                 stacked: _Stacked | None = None):
    """``(g (N,), half (d, N), curve (d, N))``: ``formula(·, p)`` at the points ``x (N, d)``,
    ``Δ_j / 2 = (g(x + σ_j e_j) − g(x − σ_j e_j)) / 2`` (σ_j times the slope along variable
    j) and ``δ_j = g(x + σ_j e_j) − 2 g(x) + g(x − σ_j e_j)`` (σ_j² times the curvature);
    rows of variables without noise are 0. One evaluation, on the ``2 d + 1`` copies of the
    points stacked (``stacked``: a :class:`_Stacked` of the same formula, points and
    ``sigma``, reused across calls)."""
    if stacked is None:
        stacked = _Stacked(formula, x, sigma, np.zeros(0))
    g = stacked(p)
    base, up, down = g[0], g[1::2], g[2::2]
    return base, (up - down) / 2, up + down - 2 * base


def _ml_terms(formula, p: np.ndarray, x: np.ndarray, labels: np.ndarray, sigma: np.ndarray,
              at: np.ndarray | None = None, stacked: tuple | None = None):
    """``(r (N,), w (N,), half (d, N), v (N,))`` of :func:`ml_score`, or None where not
    finite: the residuals of ``g − b`` from each trajectory's weighted level, the weights
    ``1 / v`` (the noise variance of the law at the points ``at``, default ``x``; 0 where
    not finite) and the slopes of :func:`_noise_parts` at ``x``. ``stacked``: the
    :class:`_Stacked` of ``x`` and of ``at`` (None: made here)."""
    on_x, on_at = (None, None) if stacked is None else stacked
    base, half, curve = _noise_parts(formula, p, x, sigma, on_x)
    if at is None:
        v = (half ** 2).sum(0) + 0.5 * (curve ** 2).sum(0)
    else:
        _, half_at, curve_at = _noise_parts(formula, p, at, sigma, on_at)
        v = (half_at ** 2).sum(0) + 0.5 * (curve_at ** 2).sum(0)
    g = base - 0.5 * curve.sum(0)           # the noise's mean offset of g removed
    # a point whose shifted copies leave the law's domain (log x within σ of x = 0)
    # has no variance to weigh it by: it gets weight 0
    ok = np.isfinite(g) & np.isfinite(v) & np.isfinite(half).all(0)
    if not (np.isfinite(base).all() and ok.mean() >= MIN_VALID and v[ok].max(initial=0) > 0):
        return None
    w = np.zeros_like(v)
    w[ok] = 1.0 / np.maximum(v[ok], 1e-12 * v[ok].max())
    g = np.where(ok, g, 0.0)
    half = np.where(ok, half, 0.0)
    K = int(labels.max()) + 1
    level = np.bincount(labels, w * g, K) / np.maximum(np.bincount(labels, w, K), 1e-300)
    return g - level[labels], w, half, v


def ml_score(formula, p: np.ndarray, x: np.ndarray, labels: np.ndarray,
             sigma: np.ndarray, at: np.ndarray | None = None,
             stacked: tuple | None = None) -> float:
    """The mean over points of ``(g_i − b_i − c_k)² / v_i``: the squared distance of each
    point to its trajectory's level set of ``g = formula(·, p)``, in units of the noise.

    ``x (N, d)`` points, ``labels (N,)`` their trajectories, ``sigma (d,)`` the noise std
    per variable. With the differences ``Δ_j = g(x + σ_j e_j) − g(x − σ_j e_j)`` and
    ``δ_j = g(x + σ_j e_j) − 2 g(x) + g(x − σ_j e_j)``:

    - ``v_i = Σ_j (Δ_j / 2)² + Σ_j δ_j² / 2``, the variance of ``g`` under the noise at
      point i (exact for a quadratic in each variable: the gradient's part and the
      curvature's, so a point where the gradient vanishes still has a variance), taken at
      the points ``at`` (``(N, d)``, default ``x``; :func:`refit` passes the points moved
      onto the level sets, :func:`project`, whose variance does not follow the noise);
    - ``b_i = Σ_j δ_j / 2``, the mean the noise adds to ``g`` (its curvature times σ²);
    - ``c_k`` the mean of ``g − b`` over trajectory k weighted by ``1 / v_i``.

    Minimised over ``p`` it is the maximum likelihood of the constants to first order
    (Sampson's distance): about 1 for a true invariant whatever its scale, larger for an
    approximation. A point where a shifted value is not finite (``log x`` within σ of
    ``x = 0``) has weight 0; NaN where ``g`` is not finite at a point, or fewer than
    :data:`MIN_VALID` of the points have a finite variance, or none a positive one.
    ``stacked``: the :class:`_Stacked` evaluations of ``x`` and ``at``, kept across the
    calls of an optimiser (None: made here)."""
    terms = _ml_terms(formula, p, x, np.asarray(labels, np.int64),
                      np.asarray(sigma, np.float64), at, stacked)
    if terms is None:
        return math.nan
    r, w = terms[0], terms[1]
    return float((w * r * r).sum()) / r.size


def project(formula, p: np.ndarray, x: np.ndarray, labels: np.ndarray,
            sigma: np.ndarray) -> np.ndarray | None:
    """The points ``x (N, d)`` moved onto their trajectory's level set of
    ``formula(·, p)`` to first order, along the noise's metric:
    ``x̂_ij = x_ij − σ_j (Δ_ij / 2) r_i / v_i`` (the terms of :func:`ml_score`), ``(N, d)``;
    None where not finite. Near the noise-free states: the noise variance of the law there
    does not follow the noise drawn (weights taken at the measured points give the points
    the noise moved to steeper ground less weight, which biases the constants)."""
    sigma = np.asarray(sigma, np.float64)
    terms = _ml_terms(formula, p, x, np.asarray(labels, np.int64), sigma)
    if terms is None:
        return None
    r, w, half, _ = terms
    out = np.asarray(x, np.float64) - (half * sigma[:, None]).T * (r * w)[:, None]
    return out if np.isfinite(out).all() else None


#: rounds of :func:`refit`'s ``"ml"`` fit: each minimises :func:`ml_score` with the
#: variances taken at the points projected (:func:`project`) with the last round's constants
ML_ROUNDS = 3


#: what :func:`refit` minimises on noisy data: ``"ml"`` (:func:`ml_score`) or
#: ``"moments"`` (:func:`corrected_r`)
REFITS = ("ml", "moments")
REFIT = "ml"


def refit(formula, params: np.ndarray, x: np.ndarray, labels: np.ndarray,
          sigma: np.ndarray | None = None, method: str | None = None) -> np.ndarray:
    """The constants of ``formula`` fitted for the noise on ``x (N, d)`` with trajectories
    ``labels (N,)`` and noise std ``sigma (d,)``, started at ``params (P,)``; ``(P,)`` (the
    start where the fit does not improve on it). ``method`` (default :data:`REFIT`):
    ``"ml"`` minimises :func:`ml_score` in :data:`ML_ROUNDS` rounds, the first with the
    noise variances at the measured points, each further one at the points projected onto
    the level sets with the last round's constants (:func:`project`); ``"moments"``
    minimises :func:`corrected_r`. Without ``sigma``: plain R.

    Raises:
        ValueError: ``method`` is not one of :data:`REFITS`.
    """
    method = REFIT if method is None else method
    if method not in REFITS:
        raise ValueError(f"refit method {method!r}: expected one of {', '.join(REFITS)}")
    labels = np.asarray(labels, np.int64)
    if sigma is not None and not np.any(np.asarray(sigma, np.float64) > 0):
        sigma = None                                      # no noise: plain R
    if sigma is None or method == "moments":
        def loss(p: np.ndarray) -> float:
            r = corrected_r(formula, p, x, labels, sigma)
            return r if math.isfinite(r) else 1e3

        return _minimise(loss, params)
    sigma = np.asarray(sigma, np.float64)
    out, at = params, None
    on_x = _Stacked(formula, x, sigma, params)
    for _ in range(ML_ROUNDS):
        stacked = (on_x, None if at is None else _Stacked(formula, at, sigma, out))

        def loss(p: np.ndarray, at=at, stacked=stacked) -> float:
            r = ml_score(formula, p, x, labels, sigma, at, stacked)
            return r if math.isfinite(r) else math.inf

        out = _minimise(loss, out)
        at = project(formula, out, x, labels, sigma)
        if at is None:
            break
    return out


def _minimise(loss, params: np.ndarray) -> np.ndarray:
    """The constants ``(P,)`` minimising ``loss``, started at ``params (P,)`` (Brent's
    method for one constant, Nelder–Mead for more, on the scale of the start); the start
    where the result does not improve on it."""
    from scipy.optimize import minimize

    scale = np.where(params != 0, np.abs(params), 1.0)
    if params.size == 1:   # Brent's method along the one constant
        from scipy.optimize import minimize_scalar

        res = minimize_scalar(lambda z: loss(np.array([z]) * scale), bracket=(1.0, 1.001),
                              method="brent", tol=1e-10, options={"maxiter": 200})
        out = np.array([res.x]) * scale
    else:
        res = minimize(lambda z: loss(z * scale), params / scale, method="Nelder-Mead",
                       options={"xatol": 1e-9, "fatol": 1e-15, "maxiter": 150 * len(params)})
        out = res.x * scale
    return out if np.isfinite(out).all() and loss(out) <= loss(params) else params


def bootstrap_draws(formula, params: np.ndarray, x: np.ndarray, labels: np.ndarray,
                    sigma: np.ndarray | None = None, n_boot: int = N_BOOT, seed: int = 0,
                    method: str | None = None) -> np.ndarray:
    """Constants of ``formula`` refitted (:func:`refit` with ``method``, started at
    ``params (P,)``) on ``n_boot`` resamples of the trajectories (or windows) ``labels
    (N,)`` of ``x (N, d)``, drawn with replacement; ``(n_boot, P)``."""
    labels = np.asarray(labels, np.int64)
    K = int(labels.max()) + 1
    members = [np.nonzero(labels == k)[0] for k in range(K)]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        pick = rng.integers(0, K, K)
        idx = np.concatenate([members[k] for k in pick])
        lab = np.repeat(np.arange(K), [members[k].size for k in pick])
        draws.append(refit(formula, params, x[idx], lab, sigma, method))
    return np.asarray(draws).reshape(n_boot, params.size)


def jackknife_draws(formula, params: np.ndarray, x: np.ndarray, labels: np.ndarray,
                    sigma: np.ndarray | None = None, groups: int = N_JACK,
                    method: str | None = None) -> np.ndarray:
    """Constants of ``formula`` refitted (:func:`refit` with ``method``) with each group of
    trajectories (or windows) of ``labels (N,)`` left out in turn; ``(G, P)``. Trajectory
    k is in group ``k mod G``, ``G = min(K, groups)`` (one trajectory per group up to
    ``groups`` trajectories)."""
    labels = np.asarray(labels, np.int64)
    K = int(labels.max()) + 1
    G = min(K, groups)
    out = []
    for g in range(G):
        keep = labels % G != g
        out.append(refit(formula, params, x[keep], np.unique(labels[keep],
                                                             return_inverse=True)[1], sigma,
                         method))
    return np.asarray(out).reshape(G, params.size)


def _t_quantile(p: float, dof: int) -> float:
    """Quantile ``p`` of Student's t with ``dof`` degrees of freedom (``scipy.special``'s
    ``stdtrit``, the function ``scipy.stats.t.ppf`` evaluates: equal values, without
    importing ``scipy.stats``, about 1 CPU s, while a fit's workers need the cores)."""
    from scipy.special import stdtrit

    return float(stdtrit(dof, p))


def jackknife_interval(params: np.ndarray, draws: np.ndarray, level: float = LEVEL
                       ) -> tuple[tuple[float, float], ...]:
    """``c ± t_{G−1} · se`` with the jackknife's standard error
    ``se² = (G − 1)/G · Σ_g (c_(g) − mean)²`` of the leave-one-group-out ``draws (G, P)``.
    Holds ``params``."""
    K = draws.shape[0]
    se = np.sqrt((K - 1) / K * ((draws - draws.mean(axis=0)) ** 2).sum(axis=0))
    half = _t_quantile(1 - (1 - level) / 2, max(K - 1, 1)) * se
    return tuple((float(p - h), float(p + h)) for p, h in zip(params, half))


def interval(params: np.ndarray, draws: np.ndarray, n_groups: int, level: float = LEVEL,
             method: str = INTERVAL) -> tuple[tuple[float, float], ...]:
    """One interval per constant from bootstrap ``draws (n_boot, P)`` around ``params (P,)``.

    Methods (:data:`INTERVALS`):

    - ``"t"``: ``c ± t_{K−1} · s · sqrt(K / (K − 1))``, s the draws' std, K = ``n_groups``
      resampled trajectories: the bootstrap's variance of a mean over K groups is
      ``(K − 1)/K`` of the unbiased one, and its standard error, estimated from K groups,
      calls for Student's t with K − 1 degrees of freedom.
    - ``"basic"``: ``(2c − q_high, 2c − q_low)`` of the draws' percentiles.
    - ``"percentile"``: ``(q_low, q_high)``.

    Every interval holds ``params``.
    """
    if method not in INTERVALS or method == "jackknife":
        raise ValueError(f"method: expected one of {', '.join(INTERVALS)}, got {method!r}")
    tail = (1 - level) / 2
    if method == "t":
        k = max(int(n_groups), 2)
        half = (_t_quantile(1 - tail, k - 1) * draws.std(axis=0, ddof=1)
                * math.sqrt(k / (k - 1)))
        low, high = params - half, params + half
    else:
        q_low, q_high = np.percentile(draws, [100 * tail, 100 * (1 - tail)], axis=0)
        low, high = ((2 * params - q_high, 2 * params - q_low) if method == "basic"
                     else (q_low, q_high))
    return tuple((float(min(lo, p)), float(max(hi, p))) for lo, hi, p in zip(low, high, params))


def constant_intervals(law, x: np.ndarray, labels: np.ndarray, sigma: np.ndarray | None = None,
                       n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0,
                       method: str = INTERVAL, refit_method: str | None = None
                       ) -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    """The noise-corrected constants of ``law`` and a bootstrap interval for each.

    Args:
        law: a :class:`~dslsearch.law.Law`.
        x: ``(N, d)`` training points, SI base units (the points the law was fitted on).
        labels: ``(N,)`` trajectory or window index of each point, ``0..K-1``.
        sigma: ``(d,)`` noise std per variable (None: no correction).
        n_boot: bootstrap resamples; level: coverage of the interval; method: one of
            :data:`INTERVALS` (``"jackknife"``: :func:`jackknife_interval`; else
            :func:`interval`'s, from ``n_boot`` bootstrap draws).
        seed: seed of the resampling.
        refit_method: how the constants are refitted for the noise, every draw too
            (:func:`refit`'s ``method``; default :data:`REFIT`).

    Returns:
        ``(params (P,), ((low, high), ...))``: the refitted constants (:func:`refit`) and
        one interval per constant; ``()`` for a law without constants; NaN bounds for
        constants that are not finite.
    """
    params = np.asarray(law.params, np.float64)
    if params.size == 0:
        return params, ()
    if not np.isfinite(params).all():
        return params, tuple((math.nan, math.nan) for _ in params)
    params = refit(law.formula, params, x, labels, sigma, refit_method)
    if method == "jackknife":
        return params, jackknife_interval(params, jackknife_draws(
            law.formula, params, x, labels, sigma, method=refit_method), level)
    draws = bootstrap_draws(law.formula, params, x, labels, sigma, n_boot, seed,
                            refit_method)
    return params, interval(params, draws, int(np.max(labels)) + 1, level, method)


def with_params(law, params: np.ndarray, x: np.ndarray, labels: np.ndarray):
    """``law`` with constants ``params (P,)``, its R_true recomputed on ``x (N, d)`` with
    trajectories ``labels (N,)`` where they differ from its own (``law`` itself where
    not)."""
    import dataclasses

    from dslsearch.fitting.objective import Segments, r_score

    if np.array_equal(params, law.params):
        return law
    with np.errstate(all="ignore"):
        r_true = float(r_score(np.asarray(law.formula.evaluate(x, params), np.float64),
                               Segments(labels)))
    return dataclasses.replace(law, params=params, R_true=r_true)


def with_intervals(laws, x: np.ndarray, labels: np.ndarray, sigma: np.ndarray | None = None,
                   n_boot: int = N_BOOT, seed: int = 0, refit_method: str | None = None
                   ) -> list:
    """``laws`` with noise-corrected constants (``refit_method``: :func:`refit`'s method)
    and their intervals (:func:`constant_intervals`); R_true is recomputed for the
    refitted constants (:func:`with_params`)."""
    import dataclasses

    out = []
    for law in laws:
        if not law.n_params:
            out.append(law)
            continue
        params, bounds = constant_intervals(law, x, labels, sigma, n_boot, seed=seed,
                                            refit_method=refit_method)
        out.append(dataclasses.replace(with_params(law, params, x, labels),
                                       intervals=bounds))
    return out
