"""``noether-search rank``: the whole pipeline, ending in the paper's comparison table."""

from __future__ import annotations

import time
from pathlib import Path

import click

from noether_search.cli._common import (check_engine, console, data_source_options,
                                        echo_json, fit_engine_options, json_option,
                                        load_dataset, open_store, ops_option, out_option,
                                        resolve_out, run_stages)


def _short(formula: str | None) -> str:
    """A formula with its numbers rounded to 4 significant digits, for display."""
    import re

    if not formula:
        return "–"
    return re.sub(r"\d+\.\d+(e[-+]?\d+)?", lambda m: f"{float(m.group()):#.4g}", formula)


def _fmt(value, spec: str = ".4g") -> str:
    return "–" if value is None else format(value, spec)


@click.command("rank")
@data_source_options
@click.option("--depth", type=click.IntRange(1, 10), default=7, show_default=True,
              help="Maximum formula size in nodes (the paper's 'depth').")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="Laws kept after the one-step tailoring screen and meta-tailored.")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Meta-tailoring epochs per law.")
@click.option("--factor", type=click.FloatRange(min=1.0), default=100.0, show_default=True,
              help="Random-sequence filter: keep a formula when R_random / R_true >= FACTOR.")
@click.option("--horizon", type=click.IntRange(min=1), default=None,
              help="Rollout steps for the long-term prediction RMSE (default: per dataset, "
                   "see docs/BASELINE.md).")
@click.option("--inner-lr", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Use this inner (tailoring) learning rate for every law and the oracle "
                   "instead of each law's best rate in the one-step screen.")
@click.option("--select", type=click.Choice(["rollout", "loss"]), default="rollout",
              show_default=True,
              help="How the inner rate and the best law are chosen after meta-tailoring: "
                   "'rollout' = long-term prediction error on the VALIDATION trajectories "
                   "(held out from training, see --val-fraction), trying each law's screened "
                   "inner rate and 1e-2, 1e-1, 1 (never looks at test data); 'loss' = "
                   "validation MSE on dx/dt at the screened rate only (the paper's procedure, "
                   "faster).")
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.2,
              show_default=True,
              help="Share of the training trajectories (or of blocks of a single one) held "
                   "out, drawn with the seed, to choose epochs, rates, the law and the "
                   "control's rate; 0 chooses on the training data.")
@click.option("--refit/--no-refit", default=True, show_default=True,
              help="After the validation choices, retrain the chosen Noether model, oracle "
                   "and control with their chosen settings on all training trajectories "
                   "(as the baseline is trained); --no-refit evaluates the models trained "
                   "without the validation part.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Repeat baseline training, meta-tailoring and the control for seeds "
                   "SEED … SEED+SEEDS−1 and report the mean ± standard deviation of each "
                   "RMSE (the fit is done once).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes running the seeds (baseline to evaluation) (default: "
                   "min(SEEDS, cores); 1: in this process). Every seed runs with one torch "
                   "thread, so the numbers do not depend on --jobs.")
@fit_engine_options
@ops_option
@click.option("--search", type=click.Choice(["exhaustive", "sums", "both"]),
              default="exhaustive", show_default=True,
              help="Laws ranked: exhaustive: every formula up to --depth (the paper's); sums: "
                   "sums of parameter-free terms with fitted coefficients; both: the two, "
                   "merged.")
@out_option
@json_option
def command(system: str | None, data: Path | None, noise: float, seed: int, depth: int,
            top: int, epochs: int, factor: float, horizon: int | None, inner_lr: float | None,
            select: str, val_fraction: float, refit: bool, seeds: int, jobs: int | None,
            workers: int | None, backend: str,
            scheduler: str | None, memory: int, ops: tuple[str, ...] | None, search: str,
            out: Path | None, as_json: bool) -> None:
    """Find conserved quantities and rank them by meta-tailoring the vanilla MLP.

    Enumerates and fits candidates (reusing the store), trains or reuses the baseline,
    screens every surviving law as a one-step tailoring loss, meta-tailors the best --top,
    and compares the long-term prediction RMSE of the baseline, the best law (by long-term
    prediction on held-out validation trajectories, or with --select loss by validation
    loss on dx/dt, the paper's choice), the control (the baseline trained further with the plain
    task loss for as long as meta-tailoring) and the oracle (the known invariant, when there
    is one). Writes summary.json.
    """
    from noether_search.stages import RankConfig, rank

    start = time.perf_counter()
    check_engine(backend, scheduler)
    dataset = load_dataset(system, data, noise, seed)
    store = open_store(resolve_out(out, system, data, noise))
    config = RankConfig(depth=depth, top=top, epochs=epochs, seed=seed, horizon=horizon,
                        factor=factor, inner_lr=inner_lr, select=select, ops=ops,
                        search=search, seeds=seeds, val_fraction=val_fraction,
                        refit=refit, jobs=jobs)
    fit_config = config.fit_config(**({} if workers is None else {"workers": workers}),
                                   backend=backend, scheduler=scheduler, memory_mb=memory)
    result = run_stages(lambda report: rank(dataset, config, store, report,
                                            fit_config=fit_config))
    summary = result.to_json()
    summary["seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        echo_json(summary)
        return
    _print_tables(summary, store.root)


def _print_tables(summary: dict, root: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = console()
    table = Table(title=f"Top laws for {summary['system']} (depth {summary['depth']})")
    sel = "val_rollout_rmse" if any(law.get("val_rollout_rmse") is not None
                                    for law in summary["top"]) else "train_rollout_rmse"
    by_rollout = any(law.get(sel) is not None for law in summary["top"])
    cols = ["#", "law", "R_true", "R_random", "screen gain", "meta train loss"]
    if by_rollout:  # the selection criterion (--select rollout)
        cols.append("val rollout RMSE" if sel == "val_rollout_rmse" else "train rollout RMSE")
    for col in cols:
        table.add_column(col, justify="left" if col == "law" else "right", overflow="fold")
    best = summary["best"]["formula"] if summary["best"] else None
    for k, law in enumerate(summary["top"], 1):
        mark = " ★" if law["formula"] == best else ""
        row = [str(k), escape(law["pretty"]) + mark, _fmt(law["R_true"], ".2e"),
               _fmt(law["R_random"], ".3f"), _fmt(law["screen_gain"], ".2e"),
               _fmt(law["meta_train_loss"], ".3e")]
        if by_rollout:
            row.append(_fmt(law.get(sel), ".4f"))
        table.add_row(*row)
    con.print(table)

    con.print(_comparison(summary, best))
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary["stage_seconds"].items())
    con.print(escape(f"{summary['candidates']:,} candidates, {summary['survivors']:,} survivors, "
                     f"{summary['laws']:,} laws. Stages: {stages}. Total {summary['seconds']} s. "
                     f"Summary: {root / 'summary.json'}"))


def _comparison(summary: dict, best: str | None):
    """The RMSE table: one row per model; with several seeds mean ± std and wins."""
    from rich.markup import escape
    from rich.table import Table

    n = summary.get("seeds", 1)
    title = f"Long-term prediction RMSE (test set, {summary['horizon']} steps"
    comp = Table(title=title + (f", {n} seeds: mean ± std)" if n > 1 else ")"))
    comp.add_column("model", overflow="fold")
    comp.add_column("conservation loss", overflow="fold")
    comp.add_column("RMSE" + (f" (seed {summary['config']['seed']})" if n > 1 else ""),
                    justify="right", overflow="fold")
    if n > 1:
        comp.add_column("mean ± std", justify="right")
    oracle = summary.get("oracle")
    rows = [("vanilla MLP", "baseline", "–"),
            ("control (fine-tuned, no law)", "control", "–"),
            ("Noether", "noether", escape(_short(best))),
            ("oracle", "oracle", escape(_short(oracle["formula"])) if oracle
             else "– (no known invariant)")]
    for label, name, law in rows:
        row = [label, law, _fmt(summary.get(f"{name}_rmse"))]
        if n > 1:
            mean, std = summary.get(f"{name}_rmse_mean"), summary.get(f"{name}_rmse_std")
            row.append("–" if mean is None else f"{mean:.4g} ± {_fmt(std)}")
        comp.add_row(*row)
    if n > 1:
        comp.caption = (f"Noether beat the baseline on {summary['noether_beats_baseline']} "
                        f"and the control on {summary['noether_beats_control']} of {n} seeds")
    return comp
