"""Benchmark of the sum-of-terms search: does it find the law, how fast, on which library.

    python benchmarks/bench_sums.py [--systems ...] [--term-size 6] [--beam 24]
        [--unary sqrt,log,inv] [--product-size 4] [--scale-size 1] [--no-retry]

The systems on which the sum search's settings are chosen (none of them is a built-in
system of ``bench_discovery.py``): the registered pendulum and spring, and trajectories
built here with numpy/scipy (``Dataset.from_arrays``): a quartic-sextic oscillator
``H = p²/2 + x²/2 + x⁴/4 + x⁶/6`` (4 terms), a Hénon–Heiles system in dimensionless
variables (6 terms, chaotic), a damped oscillator (no invariant: every sum must be
rejected), ``log-well`` ``H = p²/2 + x − log x`` (a log term), ``core-oscillator`` (a
harmonic well with a repulsive ``1/r`` core: energy with ``1/sqrt(x² + y²)`` and angular
momentum), ``rotor-pair`` ``H = p1² + p2² + p1 p2 cos(q1 − q2) − cos q1`` (an 8-node
product term) and ``anisotropic`` (``x'' = −x``, ``y'' = −2y``: two axis energies).
"known found": known invariants that some law equals up to scale and offset on the
training states (1 − |corr| < 1e-6). Prints a markdown table headed by its command.
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


def log_well(n_traj: int = 12, seed: int = 0):
    """H = p²/2 + x − log x (x > 0, dimensionless): needs the composite term log x."""
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 8.0, 60)
    starts = np.column_stack([rng.uniform(0.5, 2.0, 2 * n_traj),
                              rng.uniform(-0.5, 0.5, 2 * n_traj)])
    xs = _integrate(lambda _, s: [s[1], -(1.0 - 1.0 / s[0])], starts, t)
    ds = Dataset.from_arrays(xs, t, ["x", "p"], ["", ""], name="log-well")
    return ds, [lambda X: X[:, 1] ** 2 / 2 + X[:, 0] - np.log(X[:, 0])]


def core_oscillator(n_traj: int = 12, seed: int = 0):
    """Planar H = (px² + py²)/2 + (x² + y²)/2 + 1/r (unit mass and constants in SI): a
    harmonic well with a repulsive core; energy (needs 1/sqrt(x² + y²)) and angular
    momentum."""
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 8.0, 60)
    r0, phi = rng.uniform(0.6, 1.6, 2 * n_traj), rng.uniform(0, 2 * np.pi, 2 * n_traj)
    starts = np.column_stack([r0 * np.cos(phi), r0 * np.sin(phi),
                              rng.uniform(-1, 1, (2 * n_traj, 2))])

    def rhs(_, s):
        x, y, px, py = s
        r3 = (x * x + y * y) ** 1.5
        return [px, py, -x + x / r3, -y + y / r3]

    xs = _integrate(rhs, starts, t)
    ds = Dataset.from_arrays(xs, t, ["x", "y", "px", "py"], ["m", "m", "kg*m/s", "kg*m/s"],
                             name="core-oscillator")
    return ds, [lambda X: ((X[:, 2:] ** 2).sum(1) + (X[:, :2] ** 2).sum(1)) / 2
                + 1 / np.sqrt((X[:, :2] ** 2).sum(1)),
                lambda X: X[:, 0] * X[:, 3] - X[:, 1] * X[:, 2]]


def rotor_pair(n_traj: int = 12, seed: int = 0):
    """H = p1² + p2² + p1·p2·cos(q1 − q2) − cos q1 − 2 cos q2 (angles in rad, momenta in
    kg·m²/s, unit constants): its coupling term has 8 nodes, a product of two small
    terms."""
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 6.0, 60)
    starts = np.column_stack([rng.uniform(-1.5, 1.5, (2 * n_traj, 2)),
                              rng.uniform(-1, 1, (2 * n_traj, 2))])

    def rhs(_, s):
        q1, q2, p1, p2 = s
        c, sn = np.cos(q1 - q2), np.sin(q1 - q2)
        return [2 * p1 + p2 * c, 2 * p2 + p1 * c, p1 * p2 * sn - np.sin(q1),
                -p1 * p2 * sn - 2 * np.sin(q2)]

    xs = _integrate(rhs, starts, t)
    ds = Dataset.from_arrays(xs, t, ["q1", "q2", "p1", "p2"],
                             ["rad", "rad", "kg*m**2/s", "kg*m**2/s"], name="rotor-pair")
    return ds, [lambda X: (X[:, 2] ** 2 + X[:, 3] ** 2
                           + X[:, 2] * X[:, 3] * np.cos(X[:, 0] - X[:, 1]) - np.cos(X[:, 0])
                           - 2 * np.cos(X[:, 1]))]


def anisotropic(n_traj: int = 12, seed: int = 0):
    """x'' = −x, y'' = −2y: two independent invariants, the axis energies."""
    from hamiltonian_data import Dataset

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 8.0, 50)
    xs = _integrate(lambda _, s: [s[2], s[3], -s[0], -2.0 * s[1]],
                    rng.uniform(-1, 1, (2 * n_traj, 4)), t)
    ds = Dataset.from_arrays(xs, t, ["x", "y", "px", "py"], ["m", "m", "kg*m/s", "kg*m/s"],
                             name="anisotropic")
    return ds, [lambda X: X[:, 2] ** 2 + X[:, 0] ** 2, lambda X: X[:, 3] ** 2 + 2 * X[:, 1] ** 2]


def registered(name: str):
    import hamiltonian_data

    ds = hamiltonian_data.load(system=name)
    return ds, None


SYSTEMS = {"pendulum": lambda: registered("pendulum"), "spring": lambda: registered("spring"),
           "sextic": sextic, "henon-heiles": henon_heiles, "damped": damped,
           "log-well": log_well, "core-oscillator": core_oscillator,
           "rotor-pair": rotor_pair, "anisotropic": anisotropic}


def _matched(laws, truths, x) -> str:
    """``k/n``: known invariants some law is a function of (1 − |corr| < 1e-6 against a
    known invariant that is itself a sum of the library's terms)."""
    if not truths:
        return "-"
    hits = 0
    for truth in truths:
        b = truth(x) - truth(x).mean()
        for law in laws:
            a = law(x) - law(x).mean()
            if 1 - abs(a @ b) / np.sqrt((a @ a) * (b @ b)) < 1e-6:
                hits += 1
                break
    return f"{hits}/{len(truths)}"


def main() -> None:
    from dslsearch.enumerate import enumerate_formulas
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.independence import independent_laws
    from dslsearch.sums import SumsConfig, fit_sums

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--term-size", type=int, nargs="+", default=[SumsConfig().term_size])
    ap.add_argument("--beam", type=int, default=SumsConfig().beam)
    ap.add_argument("--unary", default=SumsConfig().unary,
                    help="unary operations of the composite terms ('' for none)")
    ap.add_argument("--product-size", type=int, default=SumsConfig().product_size,
                    help="largest factor of a product term (0: no products)")
    ap.add_argument("--scale-size", type=int, default=SumsConfig().scale_size,
                    help="largest numerator of a quotient term x/sqrt(...) (0: none)")
    ap.add_argument("--no-retry", action="store_true",
                    help="do not retry a round without the sums of two terms")
    args = ap.parse_args()
    import os
    import sys

    print(f"`python benchmarks/bench_sums.py {' '.join(sys.argv[1:])}` (load average "
          f"{os.getloadavg()[0]:.1f}; seconds and CPU seconds: the sum search alone)\n")
    print("| system | term size | terms (kept) | seconds | CPU s | laws | independent "
          "| known found | R_true | law(s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.systems:
        ds, truth = SYSTEMS[name]()
        truths = [truth] if callable(truth) else truth
        x, _ = segments(ds, FitConfig())
        for ts in args.term_size:
            table = enumerate_formulas(ds.variables, ts)
            t0, c0 = time.perf_counter(), time.process_time()
            res = fit_sums(ds, table, sums=SumsConfig(
                term_size=ts, beam=args.beam, unary=args.unary,
                product_size=args.product_size, scale_size=args.scale_size,
                retry_without_sums=not args.no_retry))
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
            lib = f"{len(res.term_nodes)} ({res.n_library})"
            n_ind = independent_laws(res.laws, x).n_independent if res.laws else 0
            r = ", ".join(f"{law.R_true:.1g}" for law in res.laws) or "-"
            text = "; ".join(f"`{law}`" for law in res.laws) or "none accepted"
            print(f"| {name} | {ts} | {lib} | {sec:.2f} | {cpu:.2f} | {len(res.laws)} | {n_ind} | "
                  f"{_matched(res.laws, truths, x)} | {r} | {text} |", flush=True)


if __name__ == "__main__":
    main()
