"""``noether-search export``: every candidate with its scores, as CSV or JSON."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("store_dir", metavar="STORE_DIR", type=click.Path(path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, allow_dash=True,
                                                   path_type=Path),
              default=None, help="Write a CSV file, one row per candidate ('-': stdout).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True,
                                                     path_type=Path),
              default=None, help="Write a JSON file with every candidate ('-': stdout).")
@click.option("--depth", type=click.IntRange(1, 10), default=None,
              help="Which enumeration to export (default: the ranked one, else the deepest).")
def command(store_dir: Path, csv_path: Path | None, json_path: Path | None,
            depth: int | None) -> None:
    """Export every candidate of the results store STORE_DIR, not only the winners.

    Columns: index, formula, fitted_formula, size, parameters (value and unit),
    unit, R_true, R_random, status, passed_filter, message. Candidates the fit stage has
    not scored have empty scores and status "not fitted".
    """
    from noether_search.report.collect import collect
    from noether_search.report.export import write_csv, write_json
    from noether_search.store import StoreError

    if csv_path is None and json_path is None:
        raise click.UsageError("give --csv FILE and/or --json FILE (use - for stdout)")
    if str(csv_path) == "-" and str(json_path) == "-":
        raise click.UsageError("--csv and --json cannot both go to stdout; give one a file")
    try:
        data = collect(store_dir, depth=depth, rollouts=False)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if data.candidate_expr is None:
        raise click.ClickException(f"{data.root}: no enumeration in the store (no "
                                   "candidates/d*.h5); run `noether-search enumerate --out "
                                   f"{data.root}` or `noether-search rank --out {data.root}`")
    for path, writer in ((csv_path, write_csv), (json_path, write_json)):
        if path is None:
            continue
        if str(path) == "-":
            writer(data, click.get_text_stream("stdout"))
            continue
        try:
            n = writer(data, path)
        except OSError as exc:
            raise click.ClickException(f"{path}: cannot write ({exc.strerror or exc})") from None
        fitted = "" if data.fits is not None else " (the fit stage has not run: no scores)"
        click.echo(f"wrote {path}: {n:,} candidates{fitted}", err=str(csv_path) == "-"
                   or str(json_path) == "-")
