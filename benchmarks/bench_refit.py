"""How near the truth the noise-corrected constants of known invariants are, per refit.

    python benchmarks/bench_refit.py [--noise 0.05 0.1] [--seeds 12] [--first-seed 0]
        [--systems NAME ...]

For each case (a known invariant of a built-in system, below: its numbers are the constants),
noise level (fraction of each variable's std) and seed, the constants are fitted by plain
R from a start 10 % off the truth (as the search fits them), then refitted for the noise
on the noise floor ``fit`` uses (:func:`dslsearch.acceptance.refit_floor`) by each method
of :data:`dslsearch.uncertainty.REFITS`. No search runs.

Prints one markdown table headed by its command: per case, noise and method, the error of
a run (the largest relative error of its constants), its median and largest over the
seeds, the mean signed error of the first constant (in the order of the law's parameters), and the median R of the law on the
noise-free states of the same trajectories (how conserved the fitted law really is).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

#: (system, a known invariant): its numbers are the constants fitted, their values the truth
CASES = [
    ("pendulum", "p**2 - 3.0*cos(q)"),
    ("spring", "p**2 + 1.0*q**2"),
    ("double-pendulum", "2.0*omega1**2 + 2.0*omega1*omega2*cos(theta1 - theta2) + omega2**2"
     " - 39.24*cos(theta1) - 19.62*cos(theta2)"),
    ("kepler", "px**2 + py**2 - 2.0/sqrt(x**2 + y**2)"),
    ("kepler", "py*(x*py - y*px) - 1.0*x/sqrt(x**2 + y**2)"),
    ("lotka-volterra", "x - 3.0*log(x) + 2.0*y - 4.0*log(y)"),
    ("henon-heiles", "px**2 + py**2 + 1.0*x**2 + 1.0*y**2 + 2.0*x**2*y - 0.666666666666667*y**3"),
    ("coupled-oscillators", "(p1 - p2)**2 + 2.0*(q1 - q2)**2"),
]


def run(name: str, text: str, noise: float, seed: int) -> dict:
    """One case on one data set: each method's constants, their largest relative error
    and the law's R on the noise-free states."""
    import hamiltonian_data
    from dslsearch.acceptance import refit_floor
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.objective import Segments, r_score
    from dslsearch.fitting.plan import segments
    from dslsearch.law import Law
    from dslsearch.uncertainty import REFITS, refit

    ds = hamiltonian_data.load(system=name, noise=noise, seed=seed)
    clean = hamiltonian_data.load(system=name, noise=0.0, seed=seed)
    x, labels = segments(ds, FitConfig())
    xc, lc = segments(clean, FitConfig())
    law = Law.parse(text, ds)
    formula, truth = law.formula, np.asarray(law.params, np.float64)
    fits = {"plain R": refit(formula, 0.9 * truth, x, labels)}
    sigma = refit_floor(ds.train)
    for method in REFITS:
        fits[method] = refit(formula, fits["plain R"], x, labels, sigma, method=method)
    out = {}
    for method, p in fits.items():
        with np.errstate(all="ignore"):
            r = float(r_score(np.asarray(formula.evaluate(xc, p), np.float64), Segments(lc)))
        out[method] = {"params": p.tolist(), "error": float(np.max(np.abs(p / truth - 1))),
                       "signed": float(p[0] / truth[0] - 1), "clean_r": r}
    return out


def table(rows: list[dict], command: str) -> str:
    """The markdown table of :func:`run`'s rows (dicts with case, noise and results)."""
    lines = [command, "", "| system | formula | noise | seeds | method | median error "
             "| largest error | mean signed error of c0 | median R, noise-free states |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = dict.fromkeys((r["system"], r["formula"], r["noise"]) for r in rows)
    for name, text, noise in keys:
        rs = [r for r in rows if (r["system"], r["formula"], r["noise"]) == (name, text, noise)]
        for method in rs[0]["fits"]:
            err = [r["fits"][method]["error"] for r in rs]
            signed = [r["fits"][method]["signed"] for r in rs]
            cr = [r["fits"][method]["clean_r"] for r in rs]
            lines.append(f"| {name} | `{text}` | {noise:g} | {len(rs)} | {method} "
                         f"| {100 * np.median(err):.2f} % | {100 * max(err):.2f} % "
                         f"| {100 * np.mean(signed):+.2f} % | {np.median(cr):.2g} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--seeds", type=int, default=12, help="seeds per case (default 12)")
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--systems", nargs="+", default=None, metavar="NAME",
                    help="only the cases of these systems (default: all)")
    args = ap.parse_args(argv)
    if any(n <= 0 for n in args.noise):
        ap.error("--noise: every level must be > 0 (noise-free data are not refitted)")
    command = "`python benchmarks/bench_refit.py " + " ".join(
        sys.argv[1:] if argv is None else argv) + "`"
    rows = []
    for name, text in CASES:
        if args.systems and name not in args.systems:
            continue
        for noise in args.noise:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                rows.append({"system": name, "formula": text, "noise": noise, "seed": seed,
                             "fits": run(name, text, noise, seed)})
                print(f"{name} {noise:g} seed {seed}: " + ", ".join(
                    f"{m} {100 * f['error']:.2f} %" for m, f in rows[-1]["fits"].items()),
                    file=sys.stderr, flush=True)
    print(table(rows, command))


if __name__ == "__main__":
    main()
