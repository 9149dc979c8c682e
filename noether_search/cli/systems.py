"""``noether-search systems``: the built-in systems, their variables, units and invariants."""

from __future__ import annotations

import click

from noether_search.cli._common import console, echo_json, json_option


def _describe() -> list[dict]:
    """One row per registered system, from the systems alone (no data generated)."""
    import hamiltonian_data

    return [system.describe() for system in hamiltonian_data.SYSTEMS.values()]


def _footnotes() -> dict[str, tuple[str, str]]:
    """System name -> (footnote mark ``*``, ``**``, ..., note) for the systems whose
    invariant carries a note (``System.invariant_note``), in registry order."""
    import hamiltonian_data

    noted = [s for s in hamiltonian_data.SYSTEMS.values() if s.invariant_note]
    return {s.name: ("*" * (k + 1), s.invariant_note) for k, s in enumerate(noted)}


@click.command("systems")
@json_option
def command(as_json: bool) -> None:
    """List the built-in systems: state variables with units, known invariant, trajectories."""
    rows = _describe()
    if as_json:
        echo_json(rows)
        return
    from rich.markup import escape
    from rich.table import Table

    notes = _footnotes()
    caption = "".join(f"{mark} {note}. " for mark, note in notes.values())
    table = Table(title="Built-in systems",
                  caption=caption + "Generated systems are noise-free unless --noise is given.")
    width = max((len(r["name"]) for r in rows), default=4)  # names stay on one line
    table.add_column("name", overflow="fold", min_width=width)
    for col in ("variables", "known invariants", "trajectories", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        variables = ", ".join(f"{v['name']} [{v['unit'] or '1'}]" for v in r["variables"])
        invariant = "\n".join(r.get("invariants") or [r["invariant"] or ""])
        if r["name"] in notes:
            invariant += " " + notes[r["name"]][0]
        table.add_row(*(escape(c) for c in (r["name"], variables, invariant,
                                            r["trajectories_text"], r["source"])))
    console().print(table)
