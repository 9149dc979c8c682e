"""The drift test's two parts on false and true laws of noisy data.

False laws: every spurious law the discovery benchmark reported for ``ours`` in the row files
kept in ``benchmarks/`` (``discovery-*rows.jsonl``) at the given noise levels and seeds up
to ``--max-seed``. True laws: the known invariants of every generated system with
invariants, their constants refitted for the noise (:func:`dslsearch.uncertainty.refit`),
on ``--seeds``. Each law is tested as the judge does (robust noise floor, whitened by its
predicted noise): the slow cosine modes alone and the lag-one autocorrelation alone
(:func:`dslsearch.acceptance.drift_parts`), and the drift test as it stands (twice the
smaller p-value, :func:`dslsearch.acceptance.drift`). Prints a table of how many fall below ``drift_alpha``.

    python benchmarks/bench_drift_lag.py --seeds 0-12 --max-seed 28 [--out rows.jsonl]
        [--limits 1e-3 2e-3 3e-3 5e-3 1e-2] [--rows rows.jsonl]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import hamiltonian_data as H  # noqa: E402
from dslsearch.acceptance import (AcceptanceConfig, drift, drift_parts,  # noqa: E402
                                  gradients, noise_floor, noise_variance, refit_floor)
from dslsearch.fitting import FitConfig  # noqa: E402
from dslsearch.fitting.plan import segments  # noqa: E402
from dslsearch.law import Law  # noqa: E402
from dslsearch.uncertainty import refit  # noqa: E402

#: known invariants whose printed form has no constant to carry their units: the same
#: invariant with one (refitted like the others)
WITH_CONSTANTS = {
    "spring": ["q**2 + 1.0*p**2"],
    "oscillator-2d": ["px**2 + 1.0*x**2", "py**2 + 1.0*y**2"],
    "kepler": ["py*(x*py - y*px) - 1.0*x/sqrt(x**2 + y**2)",
               "-px*(x*py - y*px) - 1.0*y/sqrt(x**2 + y**2)"],
    "coupled-oscillators": ["p1**2 + p2**2 + 1.0*q1**2 + 1.0*q2**2 + 0.5*(q1 - q2)**2",
                            "(p1 + p2)**2 + 1.0*(q1 + q2)**2"],
    "henon-heiles": ["px**2 + py**2 + 1.0*x**2 + 1.0*y**2 + 2.0*x**2*y - 0.6666666*y**3"],
}


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


class Data:
    """Noisy data sets, their training points and robust noise floors, loaded once."""

    def __init__(self):
        self._cache = {}

    def __call__(self, name: str, noise: float, seed: int):
        key = (name, noise, seed)
        if key not in self._cache:
            ds = H.SYSTEMS[name].generate(noise=noise, seed=seed)
            x, labels = segments(ds, FitConfig(seed=seed))
            self._cache[key] = ds, x, np.asarray(labels), noise_floor(ds.train, robust=True)
        return self._cache[key]


def measure(law, x, labels, sigma) -> dict | None:
    with np.errstate(all="ignore"):
        values = np.asarray(law(x), np.float64)
        if not np.isfinite(values).all():
            return None
        noise_var = noise_variance(law, x, sigma, grads=gradients(law, x))
    F, p_modes, z, p_lag = drift_parts(values, labels, noise_var=noise_var)
    return {"modes_p": p_modes, "lag_z": z, "lag_p": p_lag,
            "drift_p": drift(values, labels, noise_var=noise_var)[1]}


def false_laws(noises, max_seed, data):
    seen = set()
    for path in sorted(glob.glob(str(HERE / "discovery-*rows.jsonl"))):
        for line in open(path):
            row = json.loads(line)
            if (row.get("method") != "ours" or row["noise"] not in noises
                    or row["seed"] > max_seed):
                continue
            for text in row["spurious"]:
                key = (row["system"], row["noise"], row["seed"], text)
                if key in seen:
                    continue
                seen.add(key)
                ds, x, labels, sigma = data(row["system"], row["noise"], row["seed"])
                try:
                    law = Law.parse(text, ds)
                except ValueError:
                    continue
                got = measure(law, x, labels, sigma)
                if got:
                    yield {"kind": "false", "system": row["system"], "noise": row["noise"],
                           "seed": row["seed"], "law": text, **got}


def true_laws(noises, seeds, data):
    for name, system in H.SYSTEMS.items():
        if not system.invariants or not system.summary.startswith("generated"):
            continue
        for noise in noises:
            for seed in seeds:
                ds, x, labels, sigma = data(name, noise, seed)
                for text in list(system.invariants) + WITH_CONSTANTS.get(name, []):
                    try:
                        law = Law.parse(text, ds)
                    except ValueError:
                        continue                    # no constant to carry the units
                    if law.n_params:
                        law = Law(law.formula, refit(law.formula, law.params, x, labels,
                                                     refit_floor(ds.train)), ds)
                    got = measure(law, x, labels, sigma)
                    if got:
                        yield {"kind": "true", "system": name, "noise": noise,
                               "seed": seed, "law": text, **got}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--seeds", default="0-12", help="seeds of the true laws (0-12 or 0,3)")
    ap.add_argument("--max-seed", type=int, default=28,
                    help="largest seed of the stored rows whose false laws are tested")
    ap.add_argument("--out", help="write one JSON row per law here")
    ap.add_argument("--limits", type=float, nargs="+", default=None, metavar="P",
                    help="also print how many laws the drift test puts below each of "
                         "these limits, and the smallest drift p of the true laws")
    ap.add_argument("--rows", metavar="FILE.jsonl",
                    help="read the rows of an earlier --out instead of testing again")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    alpha = AcceptanceConfig().drift_alpha
    if args.rows:
        with open(args.rows) as fh:
            rows = [r for r in map(json.loads, fh) if r["noise"] in args.noise]
    else:
        data = Data()
        rows = list(false_laws(args.noise, args.max_seed, data))
        rows += list(true_laws(args.noise, _seeds(args.seeds), data))
    if args.out:
        with open(args.out, "w") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    print(f"| laws | σ | n | slow modes p < {alpha:g} | lag-one p < {alpha:g} | "
          f"drift test p < {alpha:g} | largest lag-one z |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("false", "true"):
        for noise in args.noise:
            sel = [r for r in rows if r["kind"] == kind and r["noise"] == noise]
            if not sel:
                continue
            count = {k: sum(r[k] < alpha for r in sel) for k in ("modes_p", "lag_p", "drift_p")}
            zmax = max((r["lag_z"] for r in sel if math.isfinite(r["lag_z"])), default=math.nan)
            print(f"| {kind} | {noise:g} | {len(sel)} | {count['modes_p']} | {count['lag_p']} | "
                  f"{count['drift_p']} | {zmax:.2f} |")
    if args.limits:
        _limits(rows, args.noise, args.limits)


def _limits(rows: list[dict], noises: list[float], limits: list[float]) -> None:
    """Print, per kind of law and noise level, how many laws have drift p below each limit."""
    print()
    print("| laws | σ | n | " + " | ".join(f"p < {a:g}" for a in limits)
          + " | smallest p |")
    print("|---|---|---|" + "---|" * len(limits) + "---|")
    for kind in ("false", "true"):
        for noise in noises:
            ps = [r["drift_p"] for r in rows if r["kind"] == kind and r["noise"] == noise]
            if ps:
                print(f"| {kind} | {noise:g} | {len(ps)} | "
                      + " | ".join(str(sum(p < a for p in ps)) for a in limits)
                      + f" | {min(ps):.2g} |")


if __name__ == "__main__":
    main()
