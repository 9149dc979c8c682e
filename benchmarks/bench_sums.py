"""Benchmark of the sum-of-terms search: does it find the law, how fast, on which library.

    python benchmarks/bench_sums.py [--term-size 5 6 7] [--beam 12] [--systems ...]

Systems: the registered pendulum and spring, and trajectories built here with numpy/scipy
(``Dataset.from_arrays``): a quartic-sextic oscillator ``H = p²/2 + x²/2 + x⁴/4 + x⁶/6``
(4 terms), the Hénon–Heiles system ``H = (px² + py²)/2 + (x² + y²)/2 + x²y − y³/3``
(6 terms, chaotic: H is its only invariant), and a damped oscillator (no invariant: the
random-sequence test should reject every sum). "found" means the accepted law agrees with
the known invariant on the training states up to scale and offset (1 − |corr| < 1e-6).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _integrate(rhs, starts, t):
    from scipy.integrate import solve_ivp

    return [solve_ivp(rhs, (t[0], t[-1]), s, t_eval=t, method="DOP853", rtol=1e-12,
                      atol=1e-12).y.T for s in starts]


def sextic(n_traj: int = 12, seed: int = 0):
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 6.0, 60)
    starts = rng.uniform(-1.0, 1.0, (2 * n_traj, 2))
    xs = _integrate(lambda _, s: [s[1], -s[0] - s[0] ** 3 - s[0] ** 5], starts, t)
    ds = Dataset.from_arrays(xs, t, ["x", "p"], ["m", "kg*m/s"], name="sextic")
    return ds, lambda X: X[:, 1] ** 2 / 2 + X[:, 0] ** 2 / 2 + X[:, 0] ** 4 / 4 + X[:, 0] ** 6 / 6


def henon_heiles(n_traj: int = 12, seed: int = 0):
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 10.0, 80)
    starts = rng.uniform(-0.35, 0.35, (2 * n_traj, 4))

    def rhs(_, s):
        x, y, px, py = s
        return [px, py, -x - 2 * x * y, -y - x * x + y * y]

    xs = _integrate(rhs, starts, t)
    ds = Dataset.from_arrays(xs, t, ["x", "y", "px", "py"], [""] * 4, name="henon-heiles")
    return ds, lambda X: ((X[:, 2] ** 2 + X[:, 3] ** 2) / 2 + (X[:, 0] ** 2 + X[:, 1] ** 2) / 2
                          + X[:, 0] ** 2 * X[:, 1] - X[:, 1] ** 3 / 3)


def damped(n_traj: int = 12, seed: int = 0):
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 6.0, 60)
    starts = rng.uniform(-1.0, 1.0, (2 * n_traj, 2))
    xs = _integrate(lambda _, s: [s[1], -s[0] - 0.3 * s[1]], starts, t)
    return Dataset.from_arrays(xs, t, ["x", "p"], ["m", "kg*m/s"], name="damped"), None


def registered(name: str):
    import hamiltonian_data

    ds = hamiltonian_data.load(system=name)
    return ds, None


SYSTEMS = {"pendulum": lambda: registered("pendulum"), "spring": lambda: registered("spring"),
           "sextic": sextic, "henon-heiles": henon_heiles, "damped": damped}


def _agrees(law, truth, x) -> str:
    if truth is None:
        return "-"
    a, b = law(x), truth(x)
    a, b = a - a.mean(), b - b.mean()
    corr = abs(a @ b) / np.sqrt((a @ a) * (b @ b))
    return "yes" if 1 - corr < 1e-6 else f"no (1-|corr| {1 - corr:.1e})"


def main() -> None:
    from dslsearch.enumerate import enumerate_formulas
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.sums import SumsConfig, fit_sums

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--term-size", type=int, nargs="+", default=[5, 6, 7])
    ap.add_argument("--beam", type=int, default=SumsConfig().beam)
    args = ap.parse_args()
    print("| system | term size | terms (kept) | seconds | n terms | R_true | R_random | "
          "law | agrees with H |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.systems:
        ds, truth = SYSTEMS[name]()
        x, _ = segments(ds, FitConfig())
        for ts in args.term_size:
            table = enumerate_formulas(ds.variables, ts)
            t0 = time.perf_counter()
            res = fit_sums(ds, table, sums=SumsConfig(term_size=ts, beam=args.beam))
            sec = time.perf_counter() - t0
            lib = f"{len(res.term_nodes)} ({res.n_library})"
            if not res.laws:
                best = min(res.front, key=lambda p: p.penalised, default=None)
                r = f"{best.R_true:.2g} | {best.R_random:.2g}" if best else "- | -"
                print(f"| {name} | {ts} | {lib} | {sec:.2f} | - | {r} | none accepted | - |")
                continue
            law = res.laws[0]
            n = res.front[res.chosen].n_terms
            print(f"| {name} | {ts} | {lib} | {sec:.2f} | {n} | {law.R_true:.2g} | "
                  f"{law.R_random:.2g} | `{law}` | {_agrees(law, truth, x)} |")


if __name__ == "__main__":
    main()
