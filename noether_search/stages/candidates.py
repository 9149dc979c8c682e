"""The enumeration stage: every unit-valid candidate formula up to a size."""

from __future__ import annotations

from collections.abc import Callable

from dslsearch.enumerate import FormulaTable, enumerate_formulas

#: ``progress(size_done, depth)``
Progress = Callable[[int, int], None]


def table_key(depth: int) -> str:
    """``candidates/d{depth}``: the store key of a depth's candidate table."""
    return f"candidates/d{depth}"


def _pairs(variables) -> tuple[tuple[str, str], ...]:
    return tuple((v.name, v.unit) if hasattr(v, "name") else (str(v[0]), str(v[1]))
                 for v in variables)


def enumerate_candidates(variables_or_dataset, depth: int, store=None,
                         progress: Progress | None = None) -> FormulaTable:
    """Every unit-valid formula with at most ``depth`` nodes over the given variables.

    Args:
        variables_or_dataset: a ``hamiltonian_data.Dataset``, or its variables
            (``Variable`` objects or ``(name, pint unit)`` pairs).
        depth: maximum formula size in nodes (1 to 10).
        store: a :class:`~noether_search.store.ResultsStore` to reuse ``candidates/d{depth}``
            from and save it to; None: nothing touches the disk.
        progress: called as ``progress(size_done, depth)`` while enumerating.

    Returns:
        The :class:`~dslsearch.enumerate.FormulaTable`.

    Raises:
        EnumerationError: bad depth or variables.
        ValueError: the store's table was enumerated for other variables or units.
    """
    from noether_search.store.codecs import CANDIDATE_TABLE

    variables = getattr(variables_or_dataset, "variables", variables_or_dataset)
    key = table_key(depth)
    table = store.load_cached(key, CANDIDATE_TABLE) if store is not None else None
    if table is not None:  # a damaged table is enumerated again
        want = _pairs(variables)
        if tuple(tuple(v) for v in table.variables) != want:
            raise ValueError(
                f"store: {key} was enumerated for variables {table.variables}, but the data "
                f"has {want}; use another --out folder for this data")
        return table
    table = enumerate_formulas(variables, depth, progress=progress)
    if store is not None:
        store.save(key, CANDIDATE_TABLE, table)
    return table
