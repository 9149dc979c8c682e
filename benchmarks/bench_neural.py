"""Neural Noether benchmark: `neural` (default settings) per system and seed, after `rank` in
the same store so the symbolic Noether model is in the table; a markdown table of test
rollout RMSE, the linear-probe R² of the known invariant, on how many test trajectories the
neural model's rollout RMSE is below the control's, and the seconds of `neural` (wall and
CPU of this process), then per system the mean ± sample standard deviation over the
seeds and on how many seeds the neural model beats the control and the vanilla MLP.

    python benchmarks/bench_neural.py [--systems pendulum spring] [--seeds 0 1 2]
                                      [--store DIR] [--no-rank] [--validation]
                                      [--val-split outer|last] [--val-fraction F]
                                      [--normalise-inputs] [--embed-lrs R ...]
                                      [--pretrain-epochs N] [--pretrain-lr R]
                                      [--pretrain-flow W]

With ``--store DIR`` each system's stages are kept in ``DIR/{system}-seed{seed}`` (a rerun reuses them;
the times are then those of what was left to compute). ``--no-rank`` skips `rank` (the
symbolic column is then empty unless the store already holds a rank run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

COLUMNS = ("baseline", "control", "neural", "symbolic", "oracle")


def run(name: str, seed: int, root: str, with_rank: bool,
        overrides: dict | None = None) -> tuple[dict, float, float]:
    """``neural``'s summary for one system and seed, and the wall and CPU seconds of
    ``neural`` alone."""
    import hamiltonian_data
    from noether_search.stages import RankConfig, rank
    from noether_search.stages.neural import NeuralConfig, neural
    from noether_search.store import ResultsStore

    dataset = hamiltonian_data.load(system=name)
    store = ResultsStore.open(f"{root}/{name}-seed{seed}")
    if with_rank:
        rank(dataset, RankConfig(seed=seed), store)
    t0, c0 = time.perf_counter(), time.process_time()
    config = NeuralConfig(seed=seed, **(overrides or {}))
    summary = neural(dataset, config, store).to_json()
    return summary, time.perf_counter() - t0, time.process_time() - c0


def _f(value, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=["pendulum", "spring"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--store", default=None)
    parser.add_argument("--no-rank", action="store_true")
    parser.add_argument("--embed-lrs", nargs="+", type=float, default=None,
                        help="embedding rates tried (default: NeuralConfig's)")
    parser.add_argument("--val-split", choices=("outer", "last"), default=None,
                        help="validation split (default: NeuralConfig's)")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="share of training trajectories held out (default: "
                             "NeuralConfig's)")
    parser.add_argument("--normalise-inputs", action=argparse.BooleanOptionalAction,
                        default=None, help="the embedding's input normalisation (default: "
                                           "NeuralConfig's)")
    parser.add_argument("--plain-weight", type=float, default=None,
                        help="weight of the unadapted task loss in the outer loss (default: "
                             "NeuralConfig's)")
    parser.add_argument("--max-loss-ratio", type=float, default=None,
                        help="choose among runs within this factor of the grid's lowest "
                             "training loss (default: NeuralConfig's)")
    parser.add_argument("--pretrain-epochs", type=int, default=None,
                        help="conservation pretraining steps of the embedding (0: none; "
                             "default: NeuralConfig's)")
    parser.add_argument("--noether-norm", choices=("std", "gradient"), default=None,
                        help="Noether loss normalisation (default: the stage's)")
    parser.add_argument("--pretrain-lr", type=float, default=None,
                        help="its Adam rate (default: NeuralConfig's)")
    parser.add_argument("--pretrain-flow", type=float, default=None,
                        help="weight of the flow alignment in the pretraining (0: off; "
                             "default: NeuralConfig's)")
    parser.add_argument("--select-only", action="store_true",
                        help="only the selection: the validation table of the control and "
                             "the grid, no test rollouts (to compare settings without "
                             "seeing test numbers)")
    parser.add_argument("--validation", action="store_true",
                        help="also print the validation table: the control trained on the "
                             "fitting split against the selection grid, on the validation "
                             "trajectories")
    args = parser.parse_args()
    overrides = {k: v for k, v in (("embed_lrs", args.embed_lrs and tuple(args.embed_lrs)),
                                   ("val_split", args.val_split),
                                   ("val_fraction", args.val_fraction),
                                   ("normalise_inputs", args.normalise_inputs),
                                   ("plain_weight", args.plain_weight),
                                   ("max_loss_ratio", args.max_loss_ratio),
                                   ("pretrain_epochs", args.pretrain_epochs),
                                   ("pretrain_lr", args.pretrain_lr),
                                   ("pretrain_flow", args.pretrain_flow),
                                   ("noether_norm", args.noether_norm))
                 if v is not None}
    if args.select_only:
        with tempfile.TemporaryDirectory() as tmp:
            select_table(args.systems, args.seeds, args.store or tmp, overrides)
        return

    with tempfile.TemporaryDirectory() as tmp:
        rows = [(name, seed, *run(name, seed, args.store or tmp, not args.no_rank, overrides))
                for name in args.systems for seed in args.seeds]
        val_rows = ([validation_row(name, seed, args.store or tmp, overrides)
                     for name, seed, s, _, _ in rows] if args.validation else [])
    print("`python " + " ".join(["benchmarks/bench_neural.py", *sys.argv[1:]]) + "`\n")
    print("| system | seed | " + " | ".join(COLUMNS) + " | probe R² | probe ρ | pretrained "
          "R², ρ | within/total var. (test), pretrained → final | chosen λ, outer lr, "
          "embed lr | test trajectories neural < control | neural s | CPU s |")
    print("| --- | --- |" + " --- |" * (len(COLUMNS) + 8))
    for name, seed, s, seconds, cpu in rows:
        cells = [_f(s.get(f"{m}_rmse")) for m in COLUMNS]
        chosen = s["chosen"]
        print(f"| {name} | {seed} | " + " | ".join(cells)
              + f" | {_f(s['probe_r2'], '.3f')} | {_f(s.get('probe_spearman'), '.3f')} "
                f"| {_embedding_cells(s)} | {chosen['inner_lr']:g}, "
                f"{chosen['outer_lr']:g}, {chosen['embed_lr']:g} | {_traj_wins(s)} "
                f"| {seconds:.0f} | {cpu:.0f} |")
    print()
    for name in args.systems:
        print(summary_line(name, [s for n, _, s, _, _ in rows if n == name]))
        print(worst_line(name, [s for n, _, s, _, _ in rows if n == name]))
    if val_rows:
        print("\nValidation rollout RMSE (models trained on the fitting split; the lowest over "
              "the outer rates for the control, over the other rates for each λ):\n")
        lams = sorted({r["inner_lr"] for s in (x[2] for x in rows) for r in s["selection"]})
        print("| system | seed | control | " + " | ".join(f"neural λ={lam:g}" for lam in lams)
              + " | neural chosen |")
        print("| --- | --- |" + " --- |" * (len(lams) + 2))
        for (name, seed, s, _, _), control in zip(rows, val_rows):
            best = [min((r["val_rmse"] for r in s["selection"] if r["inner_lr"] == lam
                         and r["val_rmse"] is not None), default=None) for lam in lams]
            print(f"| {name} | {seed} | {_f(control)} | " + " | ".join(map(_f, best))
                  + f" | {_f(s['chosen']['val_rmse'])} |")


def select_table(systems: list[str], seeds: list[int], root: str, overrides: dict) -> None:
    """The selection alone per system and seed: the control's validation RMSE
    (:func:`validation_row`), the chosen run's, the mean over the grid, the chosen setting
    and the CPU seconds; then per system the means and on how many seeds the chosen run
    beats the control."""
    import hamiltonian_data
    import numpy as np
    from noether_search.stages import _neural as steps
    from noether_search.stages.neural import NeuralConfig
    from noether_search.store import ResultsStore

    print("`python " + " ".join(["benchmarks/bench_neural.py", *sys.argv[1:]]) + "`\n")
    print("| system | seed | control (validation) | neural chosen | neural, mean over the grid "
          "| chosen λ, outer lr, embed lr | CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in systems:
        dataset, out = hamiltonian_data.load(system=name), []
        for seed in seeds:
            c0 = time.process_time()
            config = NeuralConfig(seed=seed, **overrides)
            store = ResultsStore.open(f"{root}/{name}-seed{seed}")
            base = steps.baseline(dataset, config, None, store, lambda *a: None)
            key = f"neural/{config.key(dataset.content_hash(), base.key)}"
            runs = steps.select(base, dataset, config, store, key, lambda *a: None)
            chosen = steps.best(runs, config.max_loss_ratio)
            control = validation_row(name, seed, root, overrides)
            out.append((control, chosen.val_rmse, np.mean([r.val_rmse for r in runs])))
            print(f"| {name} | {seed} | {control:.4f} | {chosen.val_rmse:.4f} | {out[-1][2]:.4f} "
                  f"| {chosen.inner_lr:g}, {chosen.outer_lr:g}, {chosen.embed_lr:g} "
                  f"| {time.process_time() - c0:.0f} |")
        c, n, m = np.asarray(out).T
        print(f"\n{name}: control {c.mean():.4f}, neural chosen {n.mean():.4f}, grid mean "
              f"{m.mean():.4f}; chosen below the control on {(n < c).sum()}/{len(c)} seeds\n")


def validation_row(name: str, seed: int, root: str, overrides: dict) -> float:
    """The control's validation rollout RMSE: the baseline trained on the fitting split (as
    the selection's runs start from), fine-tuned on it at every outer rate of ``neural``, the
    lowest RMSE on the validation trajectories (the rule the neural model's settings are
    chosen by)."""
    import copy

    import hamiltonian_data
    from noether_search.baseline import BaselineConfig
    from noether_search.baseline.evaluate import train_rollout_rmse
    from noether_search.model import fine_tune
    from noether_search.stages import train_baseline
    from noether_search.stages._common import train_pairs
    from noether_search.stages._neural import split_validation
    from noether_search.stages.neural import NeuralConfig
    from noether_search.store import ResultsStore

    dataset = hamiltonian_data.load(system=name)
    config = NeuralConfig(seed=seed, **overrides)
    fit, val = split_validation(dataset, config.val_fraction, config.val_split)
    base = train_baseline(fit, BaselineConfig.for_dataset(dataset, seed=seed),
                          store=ResultsStore.open(f"{root}/{name}-seed{seed}")).model
    out = []
    for lr in config.outer_lrs:
        tuned = copy.deepcopy(base)
        tuned.load_state_dict(fine_tune(base, *train_pairs(fit), epochs=config.epochs,
                                        lr=lr).model_state)
        out.append(train_rollout_rmse(tuned, val, config.horizon))
    return min(out)


def _embedding_cells(summary: dict) -> str:
    """The pretrained embedding's probe (R², Spearman ρ) and the conservation ratio on the
    test trajectories of the pretrained and the final embedding, two table cells."""
    e = summary.get("embedding") or {}
    return (f"{_f(e.get('pretrained_probe_r2'), '.3f')}, "
            f"{_f(e.get('pretrained_probe_spearman'), '.3f')} | "
            f"{_f(e.get('pretrained_test_ratio'), '.3f')} → {_f(e.get('test_ratio'), '.3f')}")


def _traj_wins(summary: dict) -> str:
    """On how many test trajectories the neural model's rollout RMSE is below the control's."""
    by = summary.get("rmse_by_trajectory") or {}
    if "neural" not in by or "control" not in by:
        return "–"
    wins = sum(n < c for n, c in zip(by["neural"], by["control"]))
    return f"{wins}/{len(by['neural'])}"


def worst_line(name: str, runs: list[dict]) -> str:
    """A diagnostic, not a score: the mean RMSE over the seeds without the one test trajectory
    where the control errs most (its share of the control's squared error is printed)."""
    import numpy as np

    out, share = {"control": [], "neural": []}, []
    for s in runs:
        by = {m: np.asarray(v) for m, v in (s.get("rmse_by_trajectory") or {}).items()}
        if "control" not in by or "neural" not in by:
            return f"{name}: no per-trajectory RMSE"
        worst = int(np.argmax(by["control"]))
        share.append(by["control"][worst] ** 2 / (by["control"] ** 2).sum())
        for m in out:
            out[m].append(np.sqrt((np.delete(by[m], worst) ** 2).mean()))
    return (f"{name}, without the test trajectory where the control errs most ("
            f"{np.mean(share):.0%} of its squared error): control {np.mean(out['control']):.4f}"
            f", neural {np.mean(out['neural']):.4f}; neural lower on "
            f"{sum(n < c for n, c in zip(out['neural'], out['control']))}/{len(runs)} seeds")


def summary_line(name: str, runs: list[dict]) -> str:
    """Mean ± sample std of every column over the seeds, and the neural model's wins."""
    import numpy as np

    parts = []
    for m in COLUMNS:
        v = [s[f"{m}_rmse"] for s in runs if s.get(f"{m}_rmse") is not None]
        if v:
            sd = f" ± {np.std(v, ddof=1):.4f}" if len(v) > 1 else ""
            parts.append(f"{m} {np.mean(v):.4f}{sd}")
    wins = {m: sum(s["neural_rmse"] < s[f"{m}_rmse"] for s in runs
                   if s.get(f"{m}_rmse") is not None) for m in ("control", "baseline")}
    return (f"{name} over {len(runs)} seed(s): " + ", ".join(parts) + f"; neural beats the "
            f"control on {wins['control']}/{len(runs)}, the MLP on {wins['baseline']}/"
            f"{len(runs)}")


if __name__ == "__main__":
    main()
