"""``noether-search data export``: write a built-in system (or convert a file) as a
trajectory file in the documented CSV or HDF5 format."""

from __future__ import annotations

from pathlib import Path

import click

from noether_search.cli._common import data_source_options, load_dataset


@click.group("data")
def command() -> None:
    """Trajectory files: export built-in data in the documented format."""


@command.command("export")
@data_source_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (.csv, or .h5/.hdf5 for HDF5).")
@click.option("--format", "fmt", type=click.Choice(["csv", "h5"]), default=None,
              help="File format; default from the output suffix (.h5/.hdf5 = h5, else csv).")
def export(system: str | None, data: Path | None, noise: float, seed: int, output: Path,
           fmt: str | None) -> None:
    """Write every trajectory (train first, then test) with units in the header."""
    from hamiltonian_data import write_csv, write_h5

    dataset = load_dataset(system, data, noise, seed)
    if fmt is None:
        fmt = "h5" if output.suffix.lower() in (".h5", ".hdf5") else "csv"
    try:
        (write_h5 if fmt == "h5" else write_csv)(output, dataset)
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write ({exc.strerror or exc}); "
                                   "choose another path with -o") from None
    n = len(dataset.train) + len(dataset.test)
    rows = sum(len(tr) for tr in (*dataset.train, *dataset.test))
    click.echo(f"wrote {n} trajectories ({rows} samples, {fmt}) of {dataset.name} to {output}",
               err=True)
