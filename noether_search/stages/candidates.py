"""The enumeration stage: every unit-valid candidate formula up to a size."""

from __future__ import annotations

from collections.abc import Callable

from dslsearch.enumerate import FormulaTable, enumerate_formulas
from dslsearch.ops import op_set, op_set_label

#: ``progress(size_done, depth)``
Progress = Callable[[int, int], None]


def table_key(depth: int, ops=None) -> str:
    """The store key of a depth's candidate table: ``candidates/d{depth}`` for the paper's
    operator set, ``candidates/d{depth}-{label}`` for another (``d7-paper_sqrt``, ``d7-all``;
    :func:`dslsearch.ops.op_set_label`)."""
    label = op_set_label(op_set(ops))
    return f"candidates/d{depth}" + (f"-{label}" if label else "")


def _pairs(variables) -> tuple[tuple[str, str], ...]:
    return tuple((v.name, v.unit) if hasattr(v, "name") else (str(v[0]), str(v[1]))
                 for v in variables)


def enumerate_candidates(variables_or_dataset, depth: int, store=None,
                         progress: Progress | None = None, ops=None) -> FormulaTable:
    """Every unit-valid formula with at most ``depth`` nodes over the given variables.

    Args:
        variables_or_dataset: a ``hamiltonian_data.Dataset``, or its variables
            (``Variable`` objects or ``(name, pint unit)`` pairs).
        depth: maximum formula size in nodes (1 to 10).
        store: a :class:`~noether_search.store.ResultsStore` to reuse the table
            (:func:`table_key`) from and save it to; None: nothing touches the disk.
        progress: called as ``progress(size_done, depth)`` while enumerating.
        ops: the operator set (names, or a string such as ``"paper,sqrt"`` or ``"all"``;
            :func:`dslsearch.ops.op_set`); None: the paper's ``+ − × ÷ sin cos square``.

    Returns:
        The :class:`~dslsearch.enumerate.FormulaTable`.

    Raises:
        EnumerationError: bad depth, variables or operation names.
        ValueError: the store's table was enumerated for other variables, units or
            operations.
    """
    from dslsearch.enumerate import EnumerationError
    from noether_search.store.codecs import CANDIDATE_TABLE

    variables = getattr(variables_or_dataset, "variables", variables_or_dataset)
    try:
        names = op_set(ops)
    except ValueError as exc:
        raise EnumerationError(str(exc)) from exc
    key = table_key(depth, names)
    table = store.load_cached(key, CANDIDATE_TABLE) if store is not None else None
    if table is not None:  # a damaged table is enumerated again
        check_table(table, key, variables, names)
        return table
    table = enumerate_formulas(variables, depth, progress=progress, ops=names)
    if store is not None:
        store.save(key, CANDIDATE_TABLE, table)
    return table


def check_table(table: FormulaTable, key: str, variables, ops: tuple[str, ...]) -> None:
    """Raise ValueError unless a stored table belongs to these variables and operations."""
    want = _pairs(variables)
    if tuple(tuple(v) for v in table.variables) != want:
        raise ValueError(
            f"store: {key} was enumerated for variables {table.variables}, but the data "
            f"has {want}; use another --out folder for this data")
    if tuple(table.ops) != tuple(ops):
        raise ValueError(
            f"store: {key} was enumerated with the operations {', '.join(table.ops)}, not "
            f"{', '.join(ops)}; remove {key} or use another --out folder")
