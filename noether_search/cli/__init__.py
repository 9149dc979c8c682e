"""The ``noether-search`` command line: a click group whose subcommands load lazily.

Each subcommand lives in its own module ``noether_search/cli/<name>.py`` exposing a click
command called ``command`` (a group for ``data``). Heavy libraries (torch, sympy, h5py) are
imported inside the commands, so ``noether-search --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# name -> module under noether_search.cli that defines `command`
_COMMANDS: dict[str, str] = {
    "systems": "systems",
    "data": "data",
    "enumerate": "enumerate",
    "baseline": "baseline",
    "fit": "fit",
    "rank": "rank",
    "report": "report",
    "export": "export",
    "neural": "neural",
    "video": "video",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, mod in _COMMANDS.items()
                if importlib.util.find_spec(f"{__name__}.{mod}") is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        mod = _COMMANDS.get(cmd_name)
        if mod is None or importlib.util.find_spec(f"{__name__}.{mod}") is None:
            return None
        return importlib.import_module(f"{__name__}.{mod}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="noether-search")
def cli() -> None:
    """Discover conserved quantities of dynamical systems as unit-checked symbolic formulas,
    and rank them by how much they improve a neural predictor (Noether Networks)."""


def main() -> None:
    """Console-script entry point."""
    cli()
