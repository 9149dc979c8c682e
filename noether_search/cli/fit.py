"""``noether-search fit``: fit and filter every candidate, print the surviving laws."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import click

from noether_search.cli._common import (check_engine, data_source_options, echo_json,
                                        fit_engine_options, json_option, load_dataset,
                                        open_store, ops_option, out_option, progress_bar,
                                        resolve_out)


def _law_json(law) -> dict:
    return {"formula": str(law), "variants": law.n_variants, "R_true": law.R_true,
            "R_random": law.R_random, "search": law.search,
            "constants": [c.to_json() for c in law.constants],
            "evidence": law.evidence.to_json() if law.evidence is not None else None}


def _basis(result) -> list:
    """The independent laws (none when the basis was not computed)."""
    return list(result.independent.basis) if result.independent is not None else []


def _json(result, name: str, depth: int, test: str) -> dict:
    basis = _basis(result)
    out = {"system": name, "depth": depth, "test": test, "candidates": result.n_candidates,
           "fitted": result.n_fitted, "failed": result.n_failed,
           "survivors": result.n_survivors,
           "laws": [_law_json(law) for law in result.laws],
           "independent": ([str(law) for law in basis]
                           if result.independent is not None else None),
           "n_independent": (result.independent.n_independent
                             if result.independent is not None else None),
           "seconds": round(result.seconds, 3)}
    if result.sums is not None:
        sums = result.sums
        out["sums"] = {"terms": len(sums.term_nodes), "library": sums.n_library,
                       "front": [{"n_terms": p.n_terms, "R_true": p.R_true,
                                  "R_random": p.R_random, "accepted": p.accepted,
                                  "formula": str(p.law) if p.law else None}
                                 for p in sums.front],
                       "seconds": round(sums.seconds, 3)}
    return out


@click.command("fit")
@click.option("--depth", type=click.IntRange(1, 10), default=7, show_default=True,
              help="Maximum formula size in nodes (as for `enumerate`).")
@data_source_options
@fit_engine_options
@click.option("--test", "test", type=click.Choice(["calibrated", "factor"]),
              default="calibrated", show_default=True,
              help="Acceptance test. calibrated: conserved up to the noise floor estimated "
                   "from the data and telling trajectories apart (Bonferroni-corrected "
                   "p-value); factor: the paper's random-sequence test (--factor).")
@click.option("--factor", type=click.FloatRange(min=1.0), default=100.0, show_default=True,
              help="With --test factor: accept a formula when R on random sequences is at "
                   "least FACTOR times R on the true trajectories.")
@click.option("--refit", type=click.Choice(["ml", "moments"]), default="ml",
              show_default=True,
              help="How each law's constants are refitted for the noise on noisy data. "
                   "ml: maximum likelihood (each point's distance to its trajectory's level "
                   "set in units of the noise); moments: the noise's expected share of the "
                   "within- and total scatter taken out (docs/DISCOVERY.md).")
@click.option("--search", type=click.Choice(["exhaustive", "sums", "both"]), default="both",
              show_default=True,
              help="exhaustive: every formula up to --depth; sums: sums c1*t1 + ... + ck*tk of "
                   "parameter-free terms; both: the two, their laws merged.")
@click.option("--term-size", type=click.IntRange(1, 10), default=None,
              help="Largest term of the sum search in nodes (default: 6).")
@click.option("--max-terms", type=click.IntRange(1, 20), default=None,
              help="Most terms in a sum (default: 6).")
@click.option("--term-ops", default=None, metavar="OPS",
              help="Unary operations the sum search applies to small terms to build "
                   "composite terms (1/sqrt(x**2 + y**2), log(x)), comma-separated, or none "
                   "(default: sqrt,log,inv). --ops, the language's operators, is unchanged.")
@ops_option
@json_option
@out_option
def command(depth: int, system: str | None, data: Path | None, noise: float, seed: int,
            workers: int | None, backend: str, scheduler: str | None, test: str, factor: float,
            refit: str, memory: int, search: str, term_size: int | None, max_terms: int | None,
            term_ops: str | None, ops: tuple[str, ...] | None, as_json: bool,
            out: Path | None) -> None:
    """Fit every candidate's parameters so it is conserved along the training trajectories,
    keep those that pass the acceptance test (--test), and merge rewritings of one law;
    search sums of terms beside them. Each law is printed with the evidence it passed by
    and its constants with 95 % intervals (jackknife over trajectories). Finished shards
    are kept in the store: rerunning resumes."""
    import dataclasses

    from dslsearch.fitting import FitConfig
    from dslsearch.sums import SumsConfig
    from noether_search.stages import fit_laws
    from noether_search.store import DamagedArtifactWarning, StoreError

    check_engine(backend, scheduler)
    sums = SumsConfig()
    if term_size is not None:
        sums = dataclasses.replace(sums, term_size=term_size)
    if max_terms is not None:
        sums = dataclasses.replace(sums, max_terms=max_terms)
    if term_ops is not None:
        sums = dataclasses.replace(sums, unary="" if term_ops == "none" else term_ops)
        try:
            sums.composites().codes()
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--term-ops") from None
    dataset = load_dataset(system, data, noise, seed)
    store = open_store(resolve_out(out, system, data, noise))
    config = FitConfig(test=test, factor=factor, seed=seed, workers=workers or os.cpu_count(),
                       backend=backend, scheduler=scheduler, memory_mb=memory, refit=refit)
    with progress_bar(disable=as_json) as progress:
        task = progress.add_task("fitting candidates", total=None, visible=search != "sums")
        sums_task = progress.add_task("sum search", total=None, visible=search != "exhaustive")

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        def report_sums(done: int, total: int) -> None:
            progress.update(sums_task, completed=done, total=total)

        try:
            with warnings.catch_warnings():  # damaged artifacts are listed below instead
                warnings.simplefilter("ignore", DamagedArtifactWarning)
                result = fit_laws(dataset, depth, config, store=store, progress=report, ops=ops,
                                  search=search, sums=sums, sums_progress=report_sums)
        except (ValueError, OSError, StoreError) as exc:
            raise click.ClickException(str(exc)) from None
    for exc in store.damaged:
        click.echo(f"warning: {exc.path}: damaged ({exc.reason}); recomputed and rewritten",
                   err=True)
    name = system if system is not None else str(data)
    if as_json:
        echo_json(_json(result, name, depth, test))
        return
    _print(result, dataset, name, depth, test if test != "factor" else f"factor {factor:g}",
           search, store)


def _print(result, dataset, name: str, depth: int, test: str, search: str, store) -> None:
    from rich.markup import escape
    from rich.table import Table

    from noether_search.cli._common import console

    table = Table(title=f"Conservation laws of {name} (depth {depth}, test {test}, "
                        f"search {search})")
    table.add_column("#", justify="right")
    table.add_column("law and constants (95 % interval)", overflow="fold", ratio=3)
    table.add_column("R_true", justify="right")
    table.add_column("evidence", overflow="fold", ratio=1)
    table.add_column("search", overflow="fold")
    basis = {id(law) for law in _basis(result)}
    for i, law in enumerate(result.laws, 1):
        symbolic = law.formula.expr_str(list(dataset.names))  # constants on the lines below
        lines = [escape(symbolic)] + [f"  {c.name} = {c.with_interval()}"
                                      for c in law.constants]
        if law.n_variants > 1:
            lines.append(f"  [dim]{law.n_variants} merged variants[/dim]")
        mark = "[bold]" + str(i) + "[/bold]" if id(law) in basis else str(i)
        table.add_row(mark, "\n".join(lines), f"{law.R_true:.3g}",
                      escape(f"{law.evidence or '-'}; R_random {law.R_random:.3g}"),
                      law.search)
    con = console()
    con.print(table)
    if result.independent is not None:
        n = result.independent.n_independent
        con.print(f"{n} independent law{'' if n == 1 else 's'} (bold numbers): "
                  + escape("; ".join(str(law) for law in _basis(result)) or "-"))
    if search != "sums":
        con.print(f"{result.n_candidates} candidates ({result.n_units} distinct fits), "
                  f"{result.n_fitted} fitted, {result.n_failed} failed, "
                  f"{result.n_trivial} trivial, {result.n_survivors} survivors of the "
                  f"{test.split()[0]} test")
    if result.sums is not None:
        sums = result.sums
        con.print(f"sum search: {len(sums.term_nodes)} terms ({sums.n_library} after "
                  f"screening), front of {len(sums.front)} sums, "
                  f"{len(sums.laws)} accepted in {sums.seconds:.1f} s")
    con.print(f"-> {len(result.laws)} laws in {result.seconds:.1f} s; store {store.root} "
              f"(fits/{result.key})")
