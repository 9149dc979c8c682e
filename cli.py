"""Thin entry point: ``python cli.py ...`` is the same as the ``noether-search`` command."""

from noether_search.cli import main

if __name__ == "__main__":
    main()
