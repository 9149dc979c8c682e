"""The genetic-programming peer: gplearn's ``SymbolicRegressor`` evolving formulas of the
state with the conservation score R as its fitness.

R of a program ``g`` on the training trajectories is the within-trajectory sum of squares
over the total sum of squares of its values, in [0, 1], the criterion our own fit
minimises (``dslsearch/fitting/objective.py``), invariant to ``g -> a·g + b``. gplearn's
fitness sees only ``(y, y_pred, w)``, so the regression target ``y`` carries each point's
trajectory index and the fitness groups ``y_pred`` by it; nothing is regressed.
Constant programs (no variable, or a spread below 1e-9 of their magnitude, such as
``sin² + cos²``) score R = 1, the worst, so they never win.

Operators are ours by default: ``+ − × ÷ sin cos square`` (gplearn's protected division).
The number of generations follows from the time budget by a fixed cost model (seconds per
program evaluated on one point, :data:`SECONDS_PER_EVAL`), so a run is a function of the
data, the budget and the seed only; a run that takes longer than ``CPU_FACTOR`` times the
budget in CPU time of the process (a cost model far off, or bloated programs) is stopped
early, and its note says so; CPU rather than wall time, so that a loaded machine does not
change the result.

Reported laws: the distinct programs of all generations, best R first, with R on all the
training points at most ``r_max`` (chosen on the pendulum and the spring, noise 0 to 0.1;
``docs/PEERS.md``), that are not functions of the laws kept before them (parallel
gradients, central differences), at most ``d − 1``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ._common import (PeerLaw, PeerResult, central_gradient, conservation_score, fd_steps,
                      independent, sample_states, trajectory_labels)

#: nominal cost of evaluating one program on one point with its fitness, including the
#: genetic operators [s]: the CPU time per (program × point) of 10 generations with the
#: default settings on the spring (1.1e-6 s); sets the number of generations of a budget
SECONDS_PER_EVAL = 1.2e-6
#: a run is stopped after this many times its budget of CPU time of the process
CPU_FACTOR = 3.0


@dataclass(frozen=True)
class GPConfig:
    """Settings of the genetic-programming peer."""

    population: int = 1000          # programs per generation
    tournament: int = 20            # tournament size
    init_depth: tuple = (2, 5)      # depth range of the first generation's trees
    parsimony: float = 1e-4         # fitness penalty per program node (R is in [0, 1])
    max_points: int = 1000          # training points used by the fitness (whole trajectories,
                                    # evenly thinned)
    r_max: float = 0.2              # the largest R of a reported law
    candidates: int = 50            # best distinct programs checked for R and independence
    generations: int | None = None  # fixed number of generations (default: from the budget)
    functions: tuple = ("add", "sub", "mul", "div", "sin", "cos", "sqr")


def _square(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.square(a)


def _function_set(names: tuple):
    from gplearn.functions import make_function

    sqr = make_function(function=_square, name="sqr", arity=1, wrap=False)
    return [sqr if n == "sqr" else n for n in names]


def _r_fitness(y: np.ndarray, y_pred: np.ndarray, w: np.ndarray) -> float:
    """R of ``y_pred`` grouped by the trajectory indices in ``y`` (gplearn's fitness)."""
    return conservation_score(y_pred, y.astype(np.int64))


def _thinned(dataset, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x (n, d), labels (n,))``: every training trajectory, evenly thinned so that
    ``n <= max_points`` (at least 3 points each)."""
    total = sum(len(tr) for tr in dataset.train)
    stride = max(1, math.ceil(total / max_points))
    xs, ls = [], []
    for i, tr in enumerate(dataset.train):
        idx = np.arange(0, len(tr), stride) if len(tr) >= 3 * stride else np.arange(len(tr))
        xs.append(np.asarray(tr.x)[idx])
        ls.append(np.full(idx.size, i))
    return np.concatenate(xs), np.concatenate(ls)


def _text(program, names: tuple[str, ...]) -> str:
    """The program as an infix formula over the variable names (sympy), or gplearn's text."""
    import sympy as sp

    sym = {f"X{i}": sp.Symbol(n) for i, n in enumerate(names)}
    ops = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
           "div": lambda a, b: a / b, "sqr": lambda a: a**2, "sin": sp.sin, "cos": sp.cos,
           "neg": lambda a: -a, "sqrt": sp.sqrt, "log": sp.log, "inv": lambda a: 1 / a}
    try:
        return str(sp.sympify(str(program), locals={**sym, **ops}))
    except (sp.SympifyError, TypeError, ValueError, ZeroDivisionError):
        return str(program)


class _ProgramLaw:
    """``x (N, d) -> (N,)`` values of a gplearn program (picklable)."""

    def __init__(self, program):
        self.program = program

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(self.program.execute(np.asarray(x, np.float64)), np.float64)


def _law(program, names, steps, x, labels) -> PeerLaw:
    fn = _ProgramLaw(program)
    return PeerLaw(_text(program, names), fn, central_gradient(fn, steps),
                   r=conservation_score(fn(x), labels))


def _evolve(est, X, y, generations: int, deadline: float) -> tuple[int, bool]:
    """Fit ``est`` (warm start) one generation at a time until ``deadline`` (process CPU
    time [s]); ``(generations run, stopped)``."""
    for g in range(1, generations + 1):
        est.set_params(generations=g)
        est.fit(X, y)
        if time.process_time() > deadline and g < generations:
            return g, True
    return generations, False


def _distinct(est, X: np.ndarray, n: int) -> list:
    """The ``n`` best programs of all generations by raw fitness, one per law: programs
    whose standardised values on ``X (n, d)`` agree (to 1e-8, up to sign) are one law, as
    R cannot tell ``g`` from ``a·g + b``."""
    seen, out = set(), []
    programs = [p for gen in est._programs for p in (gen or []) if p is not None]
    for p in sorted(programs, key=lambda p: p.raw_fitness_):
        with np.errstate(all="ignore"):
            v = np.asarray(p.execute(X), np.float64)
            z = (v - v.mean()) / v.std()
        if not np.all(np.isfinite(z)):
            continue
        z = np.round(z * np.sign(z[np.argmax(np.abs(z) > 1e-3)]), 8) + 0.0
        key = z.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(p)
        if len(out) == n:
            break
    return out


def discover(dataset, *, seconds: float, seed: int,
             config: GPConfig | None = None) -> PeerResult:
    """Conserved quantities of ``dataset`` by genetic programming with R as the fitness.

    Args:
        dataset: the data (hamiltonian_data ``Dataset``); its training trajectories are used.
        seconds: the budget [s]; sets the number of generations (module docstring).
        seed: gplearn's ``random_state``; the result is a function of the data, the budget
            and the seed.
        config: settings (default :class:`GPConfig`).
    """
    from gplearn.fitness import make_fitness
    from gplearn.genetic import SymbolicRegressor

    cfg = config or GPConfig()
    t0 = time.perf_counter()
    X, labels = _thinned(dataset, cfg.max_points)
    per_gen = SECONDS_PER_EVAL * cfg.population * X.shape[0]
    generations = cfg.generations or max(1, int(seconds / per_gen))
    est = SymbolicRegressor(
        population_size=cfg.population, generations=1, tournament_size=cfg.tournament,
        init_depth=cfg.init_depth, function_set=_function_set(cfg.functions),
        metric=make_fitness(function=_r_fitness, greater_is_better=False, wrap=False),
        parsimony_coefficient=cfg.parsimony, p_crossover=0.7, p_subtree_mutation=0.1,
        p_hoist_mutation=0.05, p_point_mutation=0.1, max_samples=1.0, warm_start=True,
        n_jobs=1, random_state=seed, verbose=0)
    ran, stopped = _evolve(est, X, labels.astype(np.float64), generations,
                           time.process_time() + CPU_FACTOR * max(seconds, 1e-3))
    x = np.asarray(dataset.x_train)
    all_labels, steps = trajectory_labels(dataset), fd_steps(x)
    cands = [_law(p, dataset.names, steps, x, all_labels) for p in _distinct(est, X, cfg.candidates)]
    cands.sort(key=lambda law: law.r)
    accepted = [law for law in cands if law.r <= cfg.r_max]
    laws = independent(accepted, sample_states(x, 300, seed), dataset.dim - 1)
    note = (f"population {cfg.population}, {ran}/{generations} generations"
            + (" (stopped: over the CPU-time limit)" if stopped else "")
            + f", {X.shape[0]} points; best R {cands[0].r if cands else math.nan:.2g}; "
            f"{len(accepted)} with "
            f"R <= {cfg.r_max:g}, {len(laws)} independent")
    return PeerResult(laws, time.perf_counter() - t0, note, cands)
