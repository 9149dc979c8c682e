"""The calibrated acceptance test on known formulas: evidence and constant intervals.

    python benchmarks/bench_acceptance.py [--noise 0 0.01 0.05 0.1] [--seeds 3]

For each system, noise level (fraction of each variable's std) and seed, a known formula
with one free constant is fitted on the training trajectories, then given its evidence
(:mod:`dslsearch.acceptance`) and its constant's noise-corrected value and 95 % bootstrap
interval (``finish_laws`` of the fit stage, as ``fit`` does). The formulas: the pendulum's
and the spring's energy (true invariants), the real pendulum's energy (measured; the
pendulum is slightly damped), a near-law of the pendulum (``cos(c p) + cos q``, about the
energy for small swings) and the damped oscillator's energy (decays: not an invariant).
No search runs. Prints one markdown table headed by its command.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

#: (system, formula with one constant c0, start value, the constant's true value or None)
CASES = [
    ("pendulum", "p**2 - c0*cos(q)", 2.5, 3.0),
    ("pendulum", "cos(c0*p) + cos(q)", 0.9, None),
    ("spring", "p**2 + c0*q**2", 0.5, 1.0),
    ("real-pendulum", "p**2 - c0*cos(q)", 2.0, None),
    ("damped-oscillator", "p**2 + c0*q**2", 0.5, None),
]


def row(name: str, text: str, start: float, truth, noise: float, seed: int) -> dict:
    import hamiltonian_data
    from dslsearch.acceptance import AcceptanceConfig, noise_floor, passes
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.law import Law
    from dslsearch.uncertainty import refit
    from noether_search.stages.fit import finish_laws

    ds = hamiltonian_data.load(system=name, noise=noise, seed=seed)
    config = FitConfig()
    x, labels = segments(ds, config)
    law = Law.parse(text, ds)
    fitted = refit(law.formula, np.array([start]), x, labels)        # plain R, as the search
    [law] = finish_laws([Law(law.formula, fitted, ds)], ds, config, 10 ** 5)
    c = law.constants[0]
    return {"system": name, "formula": text, "noise": noise, "seed": seed,
            "fitted": float(fitted[0]), "value": c.value, "low": c.low, "high": c.high,
            "unit": c.unit, "truth": truth, "ratio": law.evidence.noise_ratio,
            "p": law.evidence.p_value, "accepted": passes(law.evidence, AcceptanceConfig()),
            "sigma": noise_floor(ds.train)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01, 0.05, 0.1])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    import os

    command = "python benchmarks/bench_acceptance.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    lines = [f"`{command}` (load average {os.getloadavg()[0]:.1f})", "",
             "| system | formula | noise | seed | noise ratio | p (corrected for 1e5) "
             "| accepted | c0 fitted (R) | c0 corrected, 95 % interval | holds truth |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, text, start, truth in CASES:
        for noise in args.noise:
            if name == "real-pendulum" and noise:
                continue
            for seed in range(1 if name == "real-pendulum" else args.seeds):
                r = row(name, text, start, truth, noise, seed)
                holds = "-" if truth is None else ("yes" if r["low"] <= truth <= r["high"]
                                                  else "no")
                lines.append(
                    f"| {name} | `{text}` | {noise:g} | {seed} | {r['ratio']:.3g} "
                    f"| {r['p']:.2g} | {'yes' if r['accepted'] else 'no'} "
                    f"| {r['fitted']:.5g} | {r['value']:.5g} [{r['low']:.5g}, "
                    f"{r['high']:.5g}] {r['unit']} | {holds} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
