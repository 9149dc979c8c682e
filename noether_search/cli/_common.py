"""Options, parameter types and output helpers shared by the subcommands.

Only the CLI layer prints: library functions return data and accept progress callbacks.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from noether_search.store import default_run_dir


def known_systems() -> tuple[str, ...]:
    """Names of the registered systems (``hamiltonian_data.SYSTEMS``)."""
    import hamiltonian_data

    return tuple(hamiltonian_data.SYSTEMS)


class SystemType(click.ParamType):
    """A registered system name; the error lists the known ones."""

    name = "SYSTEM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value in known_systems():
            return value
        self.fail(f"unknown system {value!r}; known systems: {', '.join(known_systems())} "
                  "(or use --data FILE for your own trajectories)", param, ctx)


class OpsType(click.ParamType):
    """An operator set: comma-separated operation names (``add,sub,sqrt``), ``paper`` for
    the paper's ``+ - * / sin cos square`` and ``all`` for every operation; converted to the
    canonical tuple of names (:func:`dslsearch.ops.op_set`). The error lists the known ones."""

    name = "OPS"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, ...]:
        from dslsearch.ops import op_set

        if isinstance(value, tuple):
            return value
        try:
            return op_set(str(value))
        except ValueError as exc:
            self.fail(f"{exc}; e.g. --ops paper,sqrt or --ops all", param, ctx)


def ops_option(func: Callable) -> Callable:
    """Add ``--ops`` (default None: the paper's operator set)."""
    from dslsearch.ops import OPS

    names = ", ".join(op.name for op in OPS.values())
    return click.option(
        "--ops", "ops", type=OpsType(), default=None,
        help="Operations formulas are built from, comma-separated: " + names + "; 'paper' "
             "(the default: add,sub,mul,div,sin,cos,square) and 'all' stand for several, "
             "e.g. --ops paper,sqrt,inv. More operations find laws with roots, logarithms, "
             "exponentials and inverse distances, at a fast-growing cost in candidates.")(func)


def fit_engine_options(func: Callable) -> Callable:
    """Add ``--workers`` / ``--backend`` / ``--scheduler`` / ``--memory``: where and within
    how much memory the fit's shards run (none of them changes a result)."""
    options = [
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Worker processes for fitting (default: all cores). Results do "
                          "not depend on it."),
        click.option("--backend", type=click.Choice(["joblib", "dask"]), default="joblib",
                     show_default=True, help="Run the fit's shards in joblib workers or on "
                     "dask.distributed (docs/CLUSTER.md)."),
        click.option("--scheduler", default=None, metavar="ADDR",
                     help="dask scheduler address, e.g. tcp://host:8786 (default: a "
                          "LocalCluster). Needs --backend dask."),
        click.option("--memory", type=click.IntRange(min=64), default=1024,
                     show_default=True, metavar="MB",
                     help="Memory the fit aims to stay within, all worker processes "
                          "together (docs/PERFORMANCE.md)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_engine(backend: str, scheduler: str | None) -> None:
    """Check ``--backend``/``--scheduler`` before anything is written: a scheduler needs the
    dask backend, and must be reachable with workers.

    Raises:
        click.UsageError: ``--scheduler`` without ``--backend dask``.
        click.ClickException: the scheduler cannot be reached or has no workers.
    """
    if scheduler is None:
        return
    if backend != "dask":
        raise click.UsageError("--scheduler needs --backend dask")
    from dslsearch.fitting.backends import SchedulerError, check_scheduler

    try:
        check_scheduler(scheduler)
    except SchedulerError as exc:
        raise click.ClickException(str(exc)) from None


def data_source_options(func: Callable) -> Callable:
    """Add ``--system`` / ``--data`` / ``--noise`` / ``--seed``; exactly one of system/data."""

    @click.option("--system", "system", type=SystemType(), default=None,
                  help=f"Built-in system: {', '.join(known_systems())}.")
    @click.option("--data", "data", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Your own trajectories: a CSV or HDF5 file in the documented format "
                       "(docs/TRAJECTORY_FORMAT.md). Units come from the header.")
    @click.option("--noise", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
                  help="Gaussian noise added to each state variable of a generated system, "
                       "its std a fraction of that variable's std (0.05: 5 %).")
    @click.option("--seed", type=int, default=0, show_default=True,
                  help="Random seed for data generation, fitting and training.")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        system, data = kwargs.get("system"), kwargs.get("data")
        if system is not None and data is not None:
            raise click.UsageError("--system and --data are mutually exclusive; give one of them")
        if system is None and data is None:
            raise click.UsageError("give --system NAME (one of "
                                   f"{', '.join(known_systems())}) or --data FILE")
        if data is not None and kwargs.get("noise"):
            raise click.UsageError("--noise applies to the built-in systems only, not to --data")
        return func(*args, **kwargs)

    return wrapper


def set_torch_threads() -> None:
    """One torch intra-op thread for this command's process unless ``OMP_NUM_THREADS`` is
    set (``rank`` runs each seed with one thread whatever is set:
    :func:`noether_search.stages.rank.one_torch_thread`): its
    networks are small (batches of N x 200, small convolutions), and on 2 shared cores a
    second thread mostly spin-waits (a training step was about 20 times slower)."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def load_dataset(system: str | None, data: Path | None, noise: float = 0.0, seed: int = 0):
    """Load the dataset named by the options, turning data errors into click errors."""
    import hamiltonian_data

    try:
        return hamiltonian_data.load(system=system, data=data, noise=noise, seed=seed)
    except hamiltonian_data.DataError as exc:
        raise click.ClickException(str(exc)) from None


def load_variables(system: str | None, data: Path | None) -> tuple[tuple[str, str], ...]:
    """The state variables ``((name, unit), ...)`` of a built-in system or a data file
    (read from the header and validated), without generating trajectories when avoidable."""
    import hamiltonian_data

    if system is not None:
        return tuple((v.name, v.unit) for v in hamiltonian_data.SYSTEMS[system].variables)
    dataset = load_dataset(system, data)
    return tuple((v.name, v.unit) for v in dataset.variables)


def run_name(system: str | None, data: Path | None, noise: float = 0.0) -> str:
    """Default run folder name: the system (with noise) or the data file's stem."""
    if system is not None:
        return system if not noise else f"{system}-noise{noise:g}"
    assert data is not None
    return Path(data).stem


def out_option(func: Callable) -> Callable:
    return click.option(
        "--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Results store folder (default: results/<system or data file name>). "
             "Stages already in the store are reused.")(func)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object on stdout instead of tables.")(func)


def resolve_out(out: Path | None, system: str | None, data: Path | None, noise: float = 0.0) -> Path:
    return out if out is not None else default_run_dir(run_name(system, data, noise))


def open_store(path: Path):
    """Open or create the results store, turning store errors into click errors."""
    from noether_search.store import ResultsStore, StoreError

    try:
        return ResultsStore.open(path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    from noether_search.store import json_clean

    click.echo(json.dumps(json_clean(obj), allow_nan=False))


def console(stderr: bool = False):
    """A rich console (on stderr for progress, so stdout stays clean for --json)."""
    from rich.console import Console

    return Console(stderr=stderr, file=sys.stderr if stderr else None)


def progress_bar(disable: bool = False):
    """A rich ``Progress`` on stderr (stdout stays clean for --json); add tasks to it."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console(stderr=True), disable=disable, transient=False)
    return progress


def run_stages(stages):
    """``stages(report)`` under one progress bar per stage (``report(stage, done, total)``);
    a mismatched store or a bad setting (``StoreError``, ``ValueError``) becomes a clean
    command-line error. Returns what ``stages`` returns."""
    import click

    from noether_search.store import StoreError

    with progress_bar() as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            return stages(report)
        except (StoreError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
