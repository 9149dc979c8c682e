"""Paired comparison of two ``bench_neural.py`` test tables over the same seeds (the stage's
default and a variant, as ``benchmarks/neural_seeds.sh`` writes them): per seed group (seeds
below 15, those from 15 on, all), the mean ± sample standard deviation of the vanilla MLP,
the control, the default's and the variant's neural model and the oracle, and on how many
seeds the variant's neural model is below the control, the MLP and the default's; then the
paired differences per seed (the variant's neural model minus the control, minus the
default's) with the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, its default
handling of zero differences), one-sided (the variant below) and two-sided.

    python benchmarks/neural_seeds_compare.py DEFAULT.md VARIANT.md [--name VARIANT]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import wilcoxon


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
    blocks = sorted({s // 15 for s in seeds})       # seeds in blocks of fifteen: 0–14, 15–29, ...
    groups = [(f"{15 * k}–{15 * k + 14}", [s for s in seeds if s // 15 == k]) for k in blocks]
    groups += [("all", seeds)] if len(blocks) > 1 else []
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
    print()
    print(f"| seeds | n | {args.name} − control | Wilcoxon p, below | two-sided | "
          f"{args.name} − default | two-sided |")
    print("| --- |" + " --- |" * 6)
    for label, group in groups:
        print(f"| {label} | {len(group)} | " + paired([b[s]["neural"] for s in group],
                                                     [b[s]["control"] for s in group])
              + " | " + paired([b[s]["neural"] for s in group],
                               [a[s]["neural"] for s in group], one_sided=False) + " |")


def paired(x: list[float], y: list[float], one_sided: bool = True) -> str:
    """Mean ± sd of ``x − y`` and the Wilcoxon signed-rank p-values (`–` below two seeds
    or when every difference is zero)."""
    d = np.round(np.asarray(x) - np.asarray(y), 4)   # the tables print four decimals
    cells = [line("", list(d)).strip()]
    tests = (("less", "two-sided") if one_sided else ("two-sided",))
    for alt in tests:
        try:
            cells.append(f"{wilcoxon(d, alternative=alt).pvalue:.3f}")
        except ValueError:
            cells.append("–")
    return " | ".join(cells)


if __name__ == "__main__":
    main()
