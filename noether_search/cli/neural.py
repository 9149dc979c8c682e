"""``noether-search neural``: a Noether Network with a meta-learned conserved embedding."""

from __future__ import annotations

import time
from pathlib import Path

import click

from noether_search.cli._common import (console, data_source_options, echo_json, json_option,
                                        load_dataset, open_store, out_option,
                                        resolve_out, run_stages, set_torch_threads)


def _fmt(value, spec: str = ".4g") -> str:
    return "–" if value is None else format(value, spec)


def _rates(text: str, *, zero: bool = False) -> tuple[float, ...]:
    """``"1e-2,0.1"`` -> (0.01, 0.1) (with ``zero``, 0 is allowed too); raises
    click.BadParameter on anything else."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(v > 0 or (zero and v == 0) for v in values):
        kind = "non-negative" if zero else "positive"
        raise click.BadParameter(f"expected comma-separated {kind} rates such as "
                                 f"'1e-2,1e-1,1', got {text!r}")
    return values


@click.command("neural")
@data_source_options
@click.option("--embed-dim", type=click.IntRange(min=1), default=2, show_default=True,
              help="Dimension k of the learned embedding g: R^d -> R^k (the number of "
                   "learned conserved quantities).")
@click.option("--embed-hidden", type=click.IntRange(min=1), default=64, show_default=True,
              help="Width of the embedding's two hidden layers.")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Meta-training epochs (full-batch outer steps); the control and the "
                   "oracle get as many.")
@click.option("--inner-lrs", default="0.1,0.3,1", show_default=True,
              help="Inner (tailoring) learning rates tried; chosen on validation "
                   "trajectories held out of the training set.")
@click.option("--inits", type=click.IntRange(min=1), default=1, show_default=True,
              help="Embedding initialisations tried per rate setting (seeds SEED, SEED+1, "
                   "…); the one with the best validation rollouts is kept.")
@click.option("--embed-lrs", default="1e-2,3e-2", show_default=True,
              help="Adam learning rates of the embedding tried; chosen with the inner rates "
                   "(0: the embedding is kept as initialised or pretrained).")
@click.option("--pretrain-epochs", type=click.IntRange(min=0), default=500, show_default=True,
              help="Adam steps pretraining the embedding to be conserved along the training "
                   "trajectories (within- over across-trajectory variance) before "
                   "meta-training; 0: it starts random.")
@click.option("--pretrain-lr", type=click.FloatRange(0.0, min_open=True), default=1e-2,
              show_default=True, help="Adam rate of that pretraining.")
@click.option("--pretrain-flow", type=click.FloatRange(0.0), default=0.0, show_default=True,
              help="Weight, in that pretraining, of the flow alignment: the squared cosine "
                   "between the embedding's gradient and the data's dx/dt (0: off).")
@click.option("--refit/--no-refit", default=True, show_default=True,
              help="Meta-train the chosen setting again on all training trajectories (the "
                   "control's data); --no-refit keeps the run trained without the "
                   "validation part.")
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
              default=0.15, show_default=True,
              help="Share of the training trajectories held out to choose the rates.")
@click.option("--val-split", type=click.Choice(["outer", "last"]), default="outer",
              show_default=True,
              help="Which training trajectories are held out: those reaching furthest from "
                   "the training states (outer: the rates are chosen on extrapolation) or "
                   "the last ones in the data's order.")
@click.option("--normalise-inputs/--raw-inputs", default=False, show_default=True,
              help="Standardise the embedding's input by the training states' mean and "
                   "standard deviation.")
@click.option("--max-step", type=click.FloatRange(0.0, min_open=True), default=None,
              help="Cap on the inner step's change of a prediction, as a fraction of its "
                   "norm (default: no cap).")
@click.option("--plain-weight", type=click.FloatRange(0.0), default=0.0, show_default=True,
              help="Weight of the unadapted predictor's task loss in the outer loss, besides "
                   "the task loss after the Noether step (0: Algorithm 1's alone).")
@click.option("--noether-norm", type=click.Choice(["std", "gradient"]), default="std",
              show_default=True,
              help="Noether loss: each component's change over its standard deviation, or "
                   "over its gradient's length at the state (invariant to a warp of g).")
@click.option("--max-loss-ratio", type=click.FloatRange(1.0), default=None,
              help="Choose the rates only among runs whose training loss is within this "
                   "factor of the grid's lowest (default: among all).")
@click.option("--horizon", type=click.IntRange(min=1), default=None,
              help="Rollout steps of the test RMSE (default: per dataset, as rank).")
@out_option
@json_option
def command(system: str | None, data: Path | None, noise: float, seed: int, embed_dim: int,
            embed_hidden: int, epochs: int, inner_lrs: str, inits: int, embed_lrs: str,
            pretrain_epochs: int, pretrain_lr: float, pretrain_flow: float, refit: bool,
            val_fraction: float,
            val_split: str, normalise_inputs: bool,
            max_step: float | None, plain_weight: float, noether_norm: str,
            max_loss_ratio: float | None,
            horizon: int | None,
            out: Path | None,
            as_json: bool) -> None:
    """Meta-learn a conserved quantity as a neural embedding (Noether Networks, Algorithm 1).

    Trains (or reuses) the baseline MLP, then meta-trains it jointly with an embedding g
    whose conservation along each prediction is the tailoring loss, and compares the
    long-term prediction RMSE on the test trajectories of the vanilla MLP, the control (the
    baseline trained further with the plain task loss), the neural Noether model, the
    symbolic Noether model (from a `rank` run in the same store) and the oracle (the known
    invariant). A linear probe tells how well the known invariant is an affine function of
    the learned embedding on the test states. Writes neural.json.
    """
    from noether_search.stages.neural import NeuralConfig, neural

    start = time.perf_counter()
    set_torch_threads()
    config = NeuralConfig(embed_dim=embed_dim, embed_hidden=embed_hidden, epochs=epochs,
                          inner_lrs=_rates(inner_lrs), inits=inits,
                          embed_lrs=_rates(embed_lrs, zero=True), refit=refit,
                          pretrain_epochs=pretrain_epochs, pretrain_lr=pretrain_lr,
                          pretrain_flow=pretrain_flow,
                          val_fraction=val_fraction, val_split=val_split,
                          normalise_inputs=normalise_inputs, max_step=max_step,
                          plain_weight=plain_weight, max_loss_ratio=max_loss_ratio,
                          noether_norm=noether_norm,
                          seed=seed, horizon=horizon)
    dataset = load_dataset(system, data, noise, seed)
    store = open_store(resolve_out(out, system, data, noise))
    result = run_stages(lambda report: neural(dataset, config, store, report))
    summary = result.to_json()
    summary["seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        echo_json(summary)
        return
    _print(summary, store.root)


def _print(summary: dict, root: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from noether_search.cli.rank import _short

    con = console()
    table = Table(title=f"Long-term prediction RMSE ({summary['system']}, test set, "
                        f"{summary['horizon']} steps)")
    for col in ("model", "conservation loss", "RMSE"):
        table.add_column(col, justify="right" if col == "RMSE" else "left", overflow="fold")
    k = summary["config"]["embed_dim"]
    rows = [("vanilla MLP", "–", "baseline"),
            ("control (fine-tuned, no law)", "–", "control"),
            ("neural Noether", f"learned g: R^d → R^{k}", "neural"),
            ("symbolic Noether", _short(summary["symbolic_formula"]) if
             summary["symbolic_formula"] else "– (no rank run in store)",
             "symbolic"),
            ("oracle", summary["oracle_formula"] or "– (no known invariant)", "oracle")]
    for label, law, name in rows:
        table.add_row(label, escape(law), _fmt(summary[f"{name}_rmse"]))
    con.print(table)
    chosen = summary["chosen"]
    probe = ("–" if summary["probe_r2"] is None else f"{summary['probe_r2']:.3f}, Spearman "
             f"{_fmt(summary.get('probe_spearman'), '.3f')}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary["stage_seconds"].items())
    con.print(escape(f"Chosen on validation: inner rate {chosen['inner_lr']:g}, outer rate "
                     f"{chosen['outer_lr']:g}, embedding rate {chosen['embed_lr']:g}, embedding "
                     f"seed {chosen['embed_seed']}"
                     f"{' (retrained on all training data)' if summary['final']['refit'] else ''}. "
                     "Linear-probe R² of the known invariant on the learned embedding "
                     f"(test states): {probe}. Stages: {stages}. "
                     f"Total {summary['seconds']} s. Summary: {root / 'neural.json'}"))
