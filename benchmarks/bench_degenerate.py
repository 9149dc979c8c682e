"""Rest test of the calibrated acceptance: true laws against near-constant formulas.

The calibrated test (``dslsearch/acceptance.py``) also asks its noise ratio of the
trajectories left after those carrying half of a formula's between-trajectory sum of
squares are left out (``Evidence.rest_ratio``). This script computes that evidence, with
the effective number of trajectories carrying the spread (``Evidence.carriers``), for

- every known invariant of every built-in system (``System.invariants``, constants as
  stated) at noise 0, 0.01, 0.05 and 0.1 (the real pendulum: its data only), seeds 0–2;
- every law reported in the benchmark rows (``--rows``; rows of seeds 0–2 only), split into
  those that are invariants and the false discoveries (the rows' ``spurious``).

No fit is run: the formulas are evaluated on the regenerated data (``load(system,
noise, seed)``), the p-values corrected for 10⁶ candidates. ``--trajectories 3``: the known
invariants on the first three training trajectories only (the rest is then one or two).

    python benchmarks/bench_degenerate.py [--trajectories 3]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_ROWS = ["discovery-noise001-rows.jsonl", "discovery-noise-beam-rows.jsonl",
                "discovery-rows.jsonl", "discovery-noise-rows.jsonl",
                "discovery-seeds-rows.jsonl", "discovery-drift-rows.jsonl",
                "discovery-noise01-before-rows.jsonl"]
N_TESTS = 10 ** 6


def cases(rows_files: list[Path], noises: list[float], seeds: int) -> dict:
    """``{(system, noise, seed, formula): kind}``, kind ``invariant``, ``law`` (reported,
    an invariant) or ``spurious`` (reported, not an invariant)."""
    import hamiltonian_data

    out: dict = {}
    for path in rows_files:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if (row.get("method", "ours").split(" ")[0] != "ours" or row["seed"] >= seeds
                    or (row["system"] == "real-pendulum" and row["noise"])):
                continue
            for text in row["basis"] + row["spurious"]:
                kind = "spurious" if text in row["spurious"] else "law"
                key = (row["system"], float(row["noise"]), int(row["seed"]), text)
                if out.get(key) != "spurious":
                    out[key] = kind
    for name, system in hamiltonian_data.SYSTEMS.items():
        for noise in ([0.0] if name == "real-pendulum" else noises):
            for seed in range(seeds):
                for text in system.invariants:
                    out.setdefault((name, float(noise), seed, text), "invariant")
    return out


class Formula:
    """A formula in sympy text over a data set's variable names, as a callable of the
    points ``(N, d) -> (N,)``, with unknown R scores (what ``law_evidence`` reads). Unlike
    ``Law.parse`` it takes the known invariants as stated, without constants' units."""

    R_random = R_true = math.nan

    def __init__(self, text: str, names: tuple[str, ...]):
        import sympy

        symbols = sympy.symbols(list(names))
        expr = sympy.sympify(text, locals=dict(zip(names, symbols)))
        self._fn = sympy.lambdify(symbols, expr, "numpy")

    def __call__(self, x):
        import numpy as np

        with np.errstate(all="ignore"):
            v = np.asarray(self._fn(*np.asarray(x).T), np.float64)
        return np.broadcast_to(v, (np.asarray(x).shape[0],))


def measure(system: str, noise: float, seed: int, text: str, trajectories: int | None = None):
    """The formula's :class:`~dslsearch.acceptance.Evidence` on the regenerated data (its
    first ``trajectories`` training trajectories; None: all)."""
    from types import SimpleNamespace

    from dslsearch.acceptance import law_evidence, noise_floor
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from hamiltonian_data import load

    ds = load(system, noise=noise, seed=seed)
    train = ds.train[:trajectories] if trajectories else ds.train
    x, labels = segments(SimpleNamespace(train=train), FitConfig())
    return law_evidence(Formula(text, ds.names), x, labels, noise_floor(train), N_TESTS)


def summary(results: list[tuple], command: str) -> str:
    from dslsearch.acceptance import failures

    lines = [f"`{command}`", "",
             "| formulas | σ | n | carriers (min) | noise ratio (max) | rest ratio (max) "
             "| failing rest |", "|---|---|---|---|---|---|---|"]
    for kind, label in (("invariant", "known invariants"), ("law", "reported laws"),
                        ("spurious", "false discoveries")):
        of_kind = [(key[1], ev) for k, key, ev in results if k == kind]
        for noise in sorted({n for n, _ in of_kind}) + ["all"]:
            evs = [ev for n, ev in of_kind if noise in ("all", n)]
            fail = sum("rest" in failures(ev) for ev in evs)
            lines.append(f"| {label} | {noise:g} | {len(evs)} " if noise != "all" else
                         f"| {label} | all | {len(evs)} ")
            lines[-1] += (f"| {_min(e.carriers for e in evs)} "
                          f"| {_max(e.noise_ratio for e in evs)} "
                          f"| {_max(e.rest_ratio for e in evs)} "
                          f"| {fail} |")
    lines += ["", "| false discovery | σ | seed | carriers | noise ratio | rest ratio "
              "| fails |", "|---|---|---|---|---|---|---|"]
    for kind, (system, noise, seed, text), ev in results:
        if kind == "spurious":
            short = text if len(text) <= 48 else text[:45] + "..."
            lines.append(f"| {system}: `{short}` | {noise:g} | {seed} | {ev.carriers:.3g} "
                         f"| {ev.noise_ratio:.3g} | {ev.rest_ratio:.3g} "
                         f"| {', '.join(failures(ev)) or '-'} |")
    return "\n".join(lines)


def _min(vals) -> str:
    v = [x for x in vals if math.isfinite(x)]
    return f"{min(v):.3g}" if v else "-"


def _max(vals) -> str:
    v = [x for x in vals if math.isfinite(x)]
    return f"{max(v):.3g}" if v else "-"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="*", default=DEFAULT_ROWS, metavar="FILE.jsonl",
                    help="benchmark rows (in benchmarks/ unless a path) whose reported laws "
                         "are measured (default: the discovery rows)")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01, 0.05, 0.1],
                    help="noise levels of the known invariants (default 0 0.01 0.05 0.1)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    ap.add_argument("--trajectories", type=int, default=None,
                    help="use only the first N training trajectories of each data set "
                         "(default: all); the rest test on few trajectories")
    args = ap.parse_args(argv)
    files = [Path(f) if Path(f).exists() else ROOT / f for f in args.rows]
    results = []
    for key, kind in sorted(cases(files, args.noise, args.seeds).items(),
                            key=lambda kv: kv[0][:3]):
        if args.trajectories and kind != "invariant":
            continue                 # reported laws were fitted on all trajectories
        try:
            results.append((kind, key, measure(*key, args.trajectories)))
        except Exception as exc:  # noqa: BLE001 - a formula sympy cannot read is skipped
            print(f"skipped {key}: {type(exc).__name__}: {exc}", file=sys.stderr)
    command = "python benchmarks/bench_degenerate.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    print(summary(results, command.strip()))


if __name__ == "__main__":
    main()
