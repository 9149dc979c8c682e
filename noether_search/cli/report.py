"""``noether-search report``: report.tex with figures (and report.pdf) for a results store."""

from __future__ import annotations

from pathlib import Path

import click

@click.command("report")
@click.argument("store_dir", metavar="STORE_DIR", type=click.Path(path_type=Path))
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder for report.tex and the figures (default: STORE_DIR).")
@click.option("--pdf", is_flag=True,
              help="Also compile report.pdf with latexmk or pdflatex (TeX Live).")
@click.option("--depth", type=click.IntRange(1, 10), default=None,
              help="Which enumeration to report (default: the ranked one, else the deepest).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Laws typeset in full.")
@click.option("--timeout", type=click.FloatRange(min=1.0), default=180.0, show_default=True,
              help="Seconds allowed for the LaTeX compilation.")
def command(store_dir: Path, output_dir: Path | None, pdf: bool, depth: int | None, top: int,
            timeout: float) -> None:
    """Write report.tex and its figures for the results store STORE_DIR.

    The report shows what was searched (variables with units, depth, candidate counts per
    size, survivors, merged laws), the top laws with fitted constants, units, R_true,
    R_random and tailoring gain, the baseline / Noether / oracle RMSE table and figures.
    Stages that have not run yet are said so; a store with only an enumeration still gives
    a report.
    """
    from noether_search.report import LatexError, LatexNotFound, write_report
    from noether_search.store import StoreError

    try:
        files = write_report(store_dir, output_dir=output_dir, depth=depth, top=top)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for path in files.paths:
        click.echo(f"wrote {path}")
    missing = [k for k, done in files.data.stages.items() if not done]
    if missing:
        click.echo(f"stages not in the store yet: {', '.join(missing)} "
                   "(the report says so where they would appear)")
    if pdf:
        from noether_search.report import compile_pdf

        try:
            out = compile_pdf(files.tex, timeout=timeout)
        except LatexNotFound as exc:
            raise click.ClickException(f"{exc}\nreport.tex and the figures are written; "
                                       "compile them after installing LaTeX.") from None
        except LatexError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"wrote {out}")
