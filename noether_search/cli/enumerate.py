"""``noether-search enumerate``: count, list or store every valid candidate formula."""

from __future__ import annotations

import time
from pathlib import Path

import click

from noether_search.cli._common import (data_source_options, echo_json, json_option,
                                        load_variables, open_store, ops_option, out_option,
                                        progress_bar, resolve_out)

MAX_DEPTH = 10  # keep in sync with dslsearch.enumerate.MAX_DEPTH (checked in tests)


@click.command("enumerate")
@click.option("--depth", type=click.IntRange(1, MAX_DEPTH), default=7, show_default=True,
              help="Maximum formula size in NODES (the paper's 'depth'): inputs, parameters and "
                   "each operation count one, square is one node, so p**2 - c*cos(q) has 7. "
                   f"1 to {MAX_DEPTH}; depth 9 has about a million candidates.")
@data_source_options
@ops_option
@click.option("--list", "as_list", is_flag=True,
              help="Print one candidate per line (sympy syntax, parameters c0, c1, ...).")
@json_option
@out_option
@click.option("--no-save", is_flag=True,
              help="Only count or list: do not write the candidates to the results store "
                   "(also keeps memory bounded for large depths).")
def command(depth: int, system: str | None, data: Path | None, noise: float, seed: int,
            ops: tuple[str, ...] | None, as_list: bool, as_json: bool, out: Path | None,
            no_save: bool) -> None:
    """Enumerate every unit-valid formula with at most DEPTH nodes.

    Formulas are built from the state variables (with their units), trainable parameters
    and + - * / sin cos square (--ops: other operations); unit-invalid formulas, commutative duplicates and trivially
    constant formulas (q-q, p/p, sin(q)**2+cos(q)**2) are never produced.
    """
    from dslsearch.enumerate import EnumerationError, enumerate_formulas
    from noether_search.stages import enumerate_candidates

    if as_list and as_json:
        raise click.UsageError("--list and --json are exclusive; choose one output")
    variables = load_variables(system, data)
    store = None if no_save else open_store(resolve_out(out, system, data, noise))
    start = time.perf_counter()
    with progress_bar(disable=as_list or as_json) as progress:
        task = progress.add_task("enumerating sizes", total=depth)

        def report(size: int, total: int) -> None:
            progress.update(task, completed=size)

        try:
            if store is None:  # without --list the last size need not be kept (memory)
                table = enumerate_formulas(variables, depth, keep_last=as_list, progress=report,
                                           ops=ops)
            else:
                table = enumerate_candidates(variables, depth, store=store, progress=report,
                                             ops=ops)
        except (EnumerationError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    store_path = None if store is None else store.root
    seconds = time.perf_counter() - start
    name = system if system is not None else str(data)

    if as_list:
        for line in table.expr_strings():
            click.echo(line)
        return
    total = sum(table.counts_by_size.values())
    if as_json:
        echo_json({"system": name, "depth": depth, "ops": list(table.ops), "count": total,
                   "counts_by_size": {str(k): v for k, v in table.counts_by_size.items()},
                   "seconds": round(seconds, 4)})
        return
    from rich.table import Table

    from noether_search.cli._common import console

    out_table = Table(title=f"Candidates for {name}, depth {depth} (nodes)")
    out_table.add_column("size", justify="right", overflow="fold")
    out_table.add_column("candidates", justify="right", overflow="fold")
    running = 0
    out_table.add_column("cumulative", justify="right", overflow="fold")
    for size, count in table.counts_by_size.items():
        running += count
        out_table.add_row(str(size), f"{count:,}", f"{running:,}")
    out_table.add_section()
    out_table.add_row("total", f"{total:,}", "")
    con = console()
    con.print(out_table)
    vars_text = ", ".join(f"{n} [{u or '1'}]" for n, u in table.variables)
    from rich.markup import escape

    con.print(escape(f"variables: {vars_text}; operations: {', '.join(table.ops)}; "
                     f"{seconds:.2f} s"
                     + (f"; stored in {store_path}" if store_path else "")))
