"""``noether-search systems``: the built-in systems, their variables, units and invariants."""

from __future__ import annotations

import click

from noether_search.cli._common import console, echo_json, json_option


def _describe() -> list[dict]:
    """One dict per built-in system, from the dataclasses alone (no data generated)."""
    import hamiltonian_data
    from hamiltonian_data.real_pendulum import N_TEST, N_TRAIN

    rows = []
    for name, system in hamiltonian_data.SYSTEMS.items():
        if hasattr(system, "n_points"):
            half = system.n_trajectories // 2
            trajectories = {"count": system.n_trajectories, "train": half,
                            "test": system.n_trajectories - half,
                            "samples_each": system.n_points}
            text = (f"{system.n_trajectories} ({half} train / {system.n_trajectories - half} "
                    f"test) x {system.n_points} samples")
            source = "generated (HNN)"
        else:
            trajectories = {"count": 1, "train": 1, "test": 1,
                            "samples_each": None, "train_samples": N_TRAIN, "test_samples": N_TEST}
            text = f"1, split in time ({N_TRAIN} train / {N_TEST} test samples)"
            source = "measured (Schmidt & Lipson)"
        rows.append({"name": name,
                     "variables": [{"name": v.name, "unit": v.unit} for v in system.variables],
                     "invariant": system.invariant, "trajectories": trajectories,
                     "trajectories_text": text, "source": source, "parameters": repr(system)})
    return rows


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

    table = Table(title="Built-in systems",
                  caption="* human-proposed energy; not conserved (the pendulum is damped). "
                          "Generated systems are noise-free unless --noise is given.")
    width = max((len(r["name"]) for r in rows), default=4)  # names stay on one line
    table.add_column("name", overflow="fold", min_width=width)
    for col in ("variables", "known invariant", "trajectories", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        variables = ", ".join(f"{v['name']} [{v['unit'] or '1'}]" for v in r["variables"])
        invariant = r["invariant"]
        if r["name"] == "real-pendulum":
            invariant += " *"
        table.add_row(*(escape(c) for c in (r["name"], variables, invariant,
                                            r["trajectories_text"], r["source"])))
    console().print(table)
