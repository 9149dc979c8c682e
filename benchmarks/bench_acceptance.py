"""The calibrated acceptance test on known formulas: evidence and constant intervals.

    python benchmarks/bench_acceptance.py [--noise 0 0.01 0.05 0.1] [--seeds 3]
        [--systems NAME ...] [--coverage] [--refit ml|moments]

For each system, noise level (fraction of each variable's std) and seed, a known formula
with one free constant is fitted on the training trajectories, then given its evidence
(:mod:`dslsearch.acceptance`) and its constant's noise-corrected value and 95 %
interval (``finish_laws`` of the fit stage, as ``fit`` does). The formulas: the pendulum's
and the spring's energy (true invariants), the real pendulum's energy (measured; the
pendulum is slightly damped), a near-law of the pendulum (``cos(c p) + cos q``, about the
energy for small swings) and the damped oscillator's energy (decays: not an invariant).
No search runs. Prints one markdown table headed by its command.

With ``--coverage``, the constant is also given every interval of
:data:`dslsearch.uncertainty.INTERVALS` (the jackknife's, ``fit``'s default, and those from
40 bootstrap resamples of the trajectories), and a second
table gives, per system, formula with a known constant and noise level, how many of the
seeds' intervals hold the true value and their mean half-width; cases without a known
constant are left out.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from dslsearch.uncertainty import REFIT, REFITS

#: (system, formula with one constant c0, start value, the constant's true value or None)
CASES = [
    ("pendulum", "p**2 - c0*cos(q)", 2.5, 3.0),
    ("pendulum", "cos(c0*p) + cos(q)", 0.9, None),
    ("spring", "p**2 + c0*q**2", 0.5, 1.0),
    ("real-pendulum", "p**2 - c0*cos(q)", 2.0, None),
    ("damped-oscillator", "p**2 + c0*q**2", 0.5, None),
]


def row(name: str, text: str, start: float, truth, noise: float, seed: int,
        refit_method: str = REFIT) -> dict:
    import hamiltonian_data
    from dslsearch.acceptance import AcceptanceConfig, passes, refit_floor
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.law import Law
    from dslsearch.uncertainty import refit
    from noether_search.stages.fit import finish_laws

    ds = hamiltonian_data.load(system=name, noise=noise, seed=seed)
    config = FitConfig(refit=refit_method)
    x, labels = segments(ds, config)
    law = Law.parse(text, ds)
    fitted = refit(law.formula, np.array([start]), x, labels)        # plain R, as the search
    [law] = finish_laws([Law(law.formula, fitted, ds)], ds, config, 10 ** 5)
    c = law.constants[0]
    return {"intervals": _intervals(law, ds, config)} | {"system": name, "formula": text, "noise": noise, "seed": seed,
            "fitted": float(fitted[0]), "value": c.value, "low": c.low, "high": c.high,
            "unit": c.unit, "truth": truth, "ratio": law.evidence.noise_ratio,
            "p": law.evidence.p_value, "accepted": passes(law.evidence, AcceptanceConfig()),
            "sigma": refit_floor(ds.train)}


def _intervals(law, ds, config) -> dict:
    """Every interval method's interval of the law's (refitted) constant, from the draws
    ``fit`` makes (same seed, same noise correction)."""
    from dslsearch.acceptance import refit_floor
    from dslsearch.fitting.plan import segments
    from dslsearch.uncertainty import (INTERVALS, N_BOOT, bootstrap_draws, interval,
                                       jackknife_draws, jackknife_interval)

    boot = [m for m in INTERVALS if m != "jackknife"]

    x, labels = segments(ds, config)
    sigma = refit_floor(ds.train) if law.evidence.noise_ratio >= 0.5 else None
    draws = bootstrap_draws(law.formula, law.params, x, labels, sigma, N_BOOT, config.seed,
                            config.refit)
    K = int(np.max(labels)) + 1
    jack = jackknife_draws(law.formula, law.params, x, labels, sigma, method=config.refit)
    return {m: interval(law.params, draws, K, method=m)[0] for m in boot} | {
        "jackknife": jackknife_interval(law.params, jack)[0]}


def coverage(rows: list[dict], command: str) -> str:
    """Per system, formula (with a known constant) and noise level: intervals holding the
    truth over the seeds and their mean half-width, for every interval method."""
    from dslsearch.uncertainty import INTERVAL, INTERVALS

    lines = [command, "", "| system | formula | noise | seeds | "
             + " | ".join(f"{m}{' (default)' if m == INTERVAL else ''}: holds truth, "
                          "mean half-width" for m in INTERVALS) + " |",
             "|---|---|---|---|" + "---|" * len(INTERVALS)]
    keys = dict.fromkeys((r["system"], r["formula"], r["noise"]) for r in rows
                         if r["truth"] is not None and r["noise"] > 0)
    for name, text, noise in keys:
        rs = [r for r in rows if (r["system"], r["formula"], r["noise"]) == (name, text, noise)]
        cells = []
        for m in INTERVALS:
            held = sum(r["intervals"][m][0] <= r["truth"] <= r["intervals"][m][1] for r in rs)
            half = np.mean([(r["intervals"][m][1] - r["intervals"][m][0]) / 2 / r["truth"]
                            for r in rs])
            cells.append(f"{held}/{len(rs)}, {100 * half:.2f} %")
        lines.append(f"| {name} | `{text}` | {noise:g} | {len(rs)} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01, 0.05, 0.1])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--systems", nargs="+", default=None, metavar="NAME",
                    help="only the cases of these systems (default: all)")
    ap.add_argument("--refit", default=REFIT, choices=list(REFITS),
                    help="how the constant is refitted for the noise (FitConfig.refit)")
    ap.add_argument("--coverage", action="store_true",
                    help="also the coverage of every interval method over the seeds")
    args = ap.parse_args(argv)
    import os

    command = "python benchmarks/bench_acceptance.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    lines = [f"`{command}` (load average {os.getloadavg()[0]:.1f})", "",
             "| system | formula | noise | seed | noise ratio | p (corrected for 1e5) "
             "| accepted | c0 fitted (R) | c0 corrected, 95 % interval | holds truth |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for name, text, start, truth in CASES:
        if args.systems and name not in args.systems or args.coverage and truth is None:
            continue
        for noise in args.noise:
            if name == "real-pendulum" and noise:
                continue
            for seed in range(1 if name == "real-pendulum" else args.seeds):
                r = row(name, text, start, truth, noise, seed, args.refit)
                rows.append(r)
                holds = "-" if truth is None else ("yes" if r["low"] <= truth <= r["high"]
                                                  else "no")
                lines.append(
                    f"| {name} | `{text}` | {noise:g} | {seed} | {r['ratio']:.3g} "
                    f"| {r['p']:.2g} | {'yes' if r['accepted'] else 'no'} "
                    f"| {r['fitted']:.5g} | {r['value']:.5g} [{r['low']:.5g}, "
                    f"{r['high']:.5g}] {r['unit']} | {holds} |")
    print("\n".join(lines))
    if args.coverage:
        print()
        print(coverage(rows, lines[0]))


if __name__ == "__main__":
    main()
