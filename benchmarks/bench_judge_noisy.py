"""The calibrated test's evidence of true and false laws on noisy data, side by side.

For every law reported in the benchmark rows (``--rows``; seeds ``--seeds``, noise
``--noise``), split into those that are invariants and the false discoveries (the rows'
``spurious``), and for every known invariant of every generated system as stated
(``System.invariants``), this script computes the :class:`~dslsearch.acceptance.Evidence`
of the formula on its regenerated data, the drift statistic included, and its noise ratio
on the held-out (test) trajectories, with both noise floors (the exhaustive search's
default one and the sum search's robust one), and prints the spread of each statistic per
kind and noise level, and every false discovery's evidence. No fit is run; the p-values
are corrected for 10⁶ candidates. ``--out``: one JSON line per formula and floor.

    python benchmarks/bench_judge_noisy.py [--noise 0.05 0.1] [--seeds 7]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench_degenerate import N_TESTS, Formula  # noqa: E402

DEFAULT_ROWS = sorted(p.name for p in ROOT.glob("discovery-*rows.jsonl"))
STATS = ("noise_ratio", "r_true", "r_signal", "rest_ratio", "drift", "drift_p",
         "held_out_ratio")


def cases(rows_files: list[Path], noises: list[float], seeds: int) -> dict:
    """``{(system, noise, seed, formula): kind}``: ``invariant`` (stated), ``law``
    (reported, an invariant) or ``spurious`` (reported, not one)."""
    import hamiltonian_data

    out: dict = {}
    for path in rows_files:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if (row.get("method", "ours").split(" ")[0] != "ours" or row["seed"] >= seeds
                    or float(row["noise"]) not in noises):
                continue
            for text in row["basis"] + row["spurious"]:
                kind = "spurious" if text in row["spurious"] else "law"
                key = (row["system"], float(row["noise"]), int(row["seed"]), text)
                if out.get(key) != "spurious":
                    out[key] = kind
    for name, system in hamiltonian_data.SYSTEMS.items():
        if name == "real-pendulum":
            continue
        for noise in noises:
            for seed in range(seeds):
                for text in system.invariants:
                    out.setdefault((name, float(noise), seed, text), "invariant")
    return out


def measure(system: str, noise: float, seed: int, text: str) -> dict:
    """``{floor: (Evidence, held-out noise ratio)}`` of the formula on the regenerated
    data, ``floor`` ``default`` (the exhaustive search's noise floor) and ``robust`` (the
    sum search's); the held-out ratio is the noise ratio on the test trajectories (the
    formula's constants as fitted on the training ones)."""
    from types import SimpleNamespace

    from dslsearch.acceptance import law_evidence, noise_floor
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from hamiltonian_data import load

    ds = load(system, noise=noise, seed=seed)
    x, labels = segments(SimpleNamespace(train=ds.train), FitConfig())
    xt, lt = segments(SimpleNamespace(train=ds.test), FitConfig())
    law = Formula(text, ds.names)
    out = {}
    for floor in ("default", "robust"):
        sigma = noise_floor(ds.train, robust=floor == "robust")
        out[floor] = (law_evidence(law, x, labels, sigma, N_TESTS, with_drift=True),
                      law_evidence(law, xt, lt, sigma, N_TESTS).noise_ratio)
    return out


def summary(results: list[dict], command: str) -> str:
    lines = [f"`{command}`", "", "| formulas | σ | floor | n | " + " | ".join(
        f"{s} (min–max)" for s in STATS) + " |", "|---" * (4 + len(STATS)) + "|"]
    for kind, label in (("invariant", "known invariants"), ("law", "reported laws"),
                        ("spurious", "false discoveries")):
        for noise in sorted({r["noise"] for r in results}):
            for floor in ("default", "robust"):
                rs = [r for r in results if (r["kind"], r["noise"], r["floor"])
                      == (kind, noise, floor)]
                if rs:
                    lines.append(f"| {label} | {noise:g} | {floor} | {len(rs)} | " + " | ".join(
                        _span(r[s] for r in rs) for s in STATS) + " |")
    lines += ["", "| false discovery | σ | seed | floor | " + " | ".join(STATS) + " |",
              "|---" * (4 + len(STATS)) + "|"]
    for r in results:
        if r["kind"] == "spurious":
            short = r["text"] if len(r["text"]) <= 40 else r["text"][:37] + "..."
            lines.append(f"| {r['system']}: `{short}` | {r['noise']:g} | {r['seed']} | "
                         f"{r['floor']} | " + " | ".join(_num(r[s]) for s in STATS) + " |")
    return "\n".join(lines)


def _num(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _span(vals) -> str:
    v = [x for x in vals if x is not None and math.isfinite(x)]
    return f"{min(v):.3g}–{max(v):.3g}" if v else "-"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="*", default=DEFAULT_ROWS, metavar="FILE.jsonl",
                    help="benchmark rows (in benchmarks/ unless a path) whose reported laws "
                         "are measured (default: every discovery-*rows.jsonl)")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.05, 0.1],
                    help="noise levels (default 0.05 0.1)")
    ap.add_argument("--seeds", type=int, default=7, help="seeds 0..N-1 (default 7)")
    ap.add_argument("--systems", nargs="*", default=None, help="only these systems")
    ap.add_argument("--out", default=None, metavar="FILE.jsonl",
                    help="write one JSON line per formula and floor")
    args = ap.parse_args(argv)
    files = [Path(f) if Path(f).exists() else ROOT / f for f in args.rows]
    results = []
    for key, kind in sorted(cases(files, args.noise, args.seeds).items(),
                            key=lambda kv: kv[0][:3]):
        if args.systems and key[0] not in args.systems:
            continue
        try:
            evs = measure(*key)
        except Exception as exc:  # noqa: BLE001 - a formula sympy cannot read is skipped
            print(f"skipped {key}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        for floor, (ev, held) in evs.items():
            results.append(dict(zip(("system", "noise", "seed", "text"), key), kind=kind,
                                floor=floor, **{s: getattr(ev, s) for s in STATS[:-1]},
                                held_out_ratio=held, p_value=ev.p_value,
                                resolution=ev.resolution))
    if args.out:
        with open(args.out, "w") as fh:
            for r in results:
                fh.write(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v)
                                         else v) for k, v in r.items()}) + "\n")
    command = "python benchmarks/bench_judge_noisy.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    print(summary(results, command.strip()))


if __name__ == "__main__":
    main()
