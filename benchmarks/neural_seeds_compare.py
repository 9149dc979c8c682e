"""Paired comparison of two ``bench_neural.py`` test tables over the same seeds (the stage's
default and a variant, as ``benchmarks/neural_seeds.sh`` writes them): per seed group (seeds
below 15, those from 15 on, all), the mean ± sample standard deviation of the vanilla MLP,
the control, the default's and the variant's neural model and the oracle, and on how many
seeds the variant's neural model is below the control, the MLP and the default's.

    python benchmarks/neural_seeds_compare.py DEFAULT.md VARIANT.md [--name VARIANT]
"""

from __future__ import annotations

import argparse

import numpy as np


def rows(path: str) -> dict[int, dict[str, float]]:
    """``{seed: {baseline, control, neural, oracle}}`` from a table's rows (`–` skipped)."""
    out, in_test_table = {}, False
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:5] == ["system", "seed", "baseline", "control", "neural"]:
            in_test_table = True          # the test table's header (not the validation's)
        elif not line.startswith("|"):
            in_test_table = False
        if not in_test_table or len(cells) < 7 or not cells[1].isdigit():
            continue
        vals = dict(zip(("baseline", "control", "neural", "symbolic", "oracle"), cells[2:7]))
        out.setdefault(int(cells[1]), {k: float(v) for k, v in vals.items() if v != "–"})
    return out


def line(label: str, values: list[float]) -> str:
    v = np.asarray(values)
    sd = f" ± {v.std(ddof=1):.4f}" if len(v) > 1 else ""
    return f"{label} {v.mean():.4f}{sd}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("default")
    parser.add_argument("variant")
    parser.add_argument("--name", default="variant")
    args = parser.parse_args()
    a, b = rows(args.default), rows(args.variant)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise SystemExit(f"no seed in both {args.default} and {args.variant}")
    print(f"| seeds | n | MLP | control | default neural | {args.name} neural | oracle | "
          f"{args.name} < control | < MLP | < default |")
    print("| --- |" + " --- |" * 9)
    groups = (("0–14", [s for s in seeds if s < 15]), ("15+", [s for s in seeds if s >= 15]),
              ("all", seeds))
    for label, group in groups:
        if not group:
            continue
        col = lambda t, m: [t[s][m] for s in group]          # noqa: E731
        wins = lambda m, ref: sum(b[s]["neural"] < ref[s][m] for s in group)  # noqa: E731
        print(f"| {label} | {len(group)} | " + " | ".join(
            line("", v).strip() for v in (col(b, "baseline"), col(b, "control"),
                                          col(a, "neural"), col(b, "neural"),
                                          col(b, "oracle")))
            + f" | {wins('control', b)}/{len(group)} | {wins('baseline', b)}/{len(group)} "
              f"| {wins('neural', a)}/{len(group)} |")


if __name__ == "__main__":
    main()
