"""``noether-search baseline``: train (or reuse) the HNN vanilla MLP and print its errors."""

from __future__ import annotations

import time
from pathlib import Path

import click

from noether_search.cli._common import (console, data_source_options, echo_json, json_option,
                                        load_dataset, open_store, out_option,
                                        progress_bar, resolve_out, set_torch_threads)


@click.command("baseline")
@data_source_options
@out_option
@json_option
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Adam steps (default 2000, as HNN).")
@click.option("--horizon", type=click.IntRange(min=1), default=None,
              help="Rollout steps (default: 88 pendulum, 58 spring, i.e. t in [0, 6] s; 19 real pendulum; "
                   "the shortest test trajectory for files).")
def command(system: str | None, data: Path | None, noise: float, seed: int, out: Path | None,
            as_json: bool, steps: int | None, horizon: int | None) -> None:
    """Train the vanilla MLP on dx/dt (or reuse the stored one) and report its errors:
    derivative MSE on train/test, and RMSE of RK4 rollouts from the test initial states."""
    set_torch_threads()
    from noether_search.baseline import BaselineConfig, derivative_mse, rollout
    from noether_search.stages import train_baseline
    from noether_search.store import StoreError

    dataset = load_dataset(system, data, noise, seed)
    store = open_store(resolve_out(out, system, data, noise))
    overrides = {"seed": seed} | ({"steps": steps} if steps is not None else {})
    config = BaselineConfig.for_dataset(dataset, **overrides)
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"training baseline ({dataset.name})", total=config.steps)
        try:
            result = train_baseline(dataset, config, store=store,
                                    progress=lambda done, total, loss: bar.update(
                                        task, completed=done,
                                        description=f"training baseline, loss {loss:.2e}"))
        except (StoreError, ValueError) as exc:  # damaged store, training diverged
            raise click.ClickException(str(exc)) from None
        if not result.trained:
            bar.update(task, completed=config.steps, description="baseline reused from store")
    try:
        roll = rollout(result.model, dataset, horizon)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--horizon") from None
    mse_train, mse_test = derivative_mse(result.model, dataset)
    seconds = time.perf_counter() - start
    report = {"system": dataset.name, "deriv_mse_train": mse_train, "deriv_mse_test": mse_test,
              "rollout_rmse": roll.rmse, "rollout_rmse_by_step": roll.rmse_by_step.tolist(),
              "horizon": roll.horizon, "seconds": seconds, "reused": not result.trained}
    if as_json:
        echo_json(report)
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"Vanilla MLP baseline: {dataset.name}"), show_header=False)
    table.add_column("metric", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_row("derivative MSE train / test", f"{mse_train:.4g} / {mse_test:.4g}")
    table.add_row(f"rollout RMSE ({roll.horizon} RK4 steps, t <= {roll.t[-1]:.3g} s)",
                  f"{roll.rmse:.4g}")
    table.add_row("RMSE at steps 1 / mid / last",
                  " / ".join(f"{roll.rmse_by_step[i]:.3g}"
                             for i in (0, roll.horizon // 2, roll.horizon - 1)))
    if dataset.system is not None and dataset.system.paper_baseline:
        table.add_row("paper", dataset.system.paper_baseline)
    table.add_row("model", escape(("reused " if not result.trained else "trained, stored as ")
                                  + f"{store.path(result.key)}"))
    table.add_row("seconds", f"{seconds:.1f}")
    console().print(table)
