"""Trajectory files (user data): CSV in long format and the same layout in HDF5.

The format is described in ``docs/TRAJECTORY_FORMAT.md``. In short, a CSV has a header
``trajectory,t [s],q [rad],p [kg*m**2/s]`` and one row per sample; units are pint syntax in
square brackets (none = dimensionless) and values are converted to SI base units on load.
Time derivatives are estimated with second-order finite differences
(``numpy.gradient(x, t, edge_order=2)``: central differences inside, one-sided second-order
differences at both ends). Split: the first half of the trajectories (rounded down, at
least one) is train, the rest test; a single trajectory is split in time, first 80 % of its
samples train, the rest test (as HNN's real pendulum).

A file is read into arrays (:class:`RawTrajectories`, values as written) and becomes a
dataset through :meth:`Dataset.from_arrays`, the one construction path of data without a
system. Every problem in a file raises :class:`DataError` naming the file, the line/column
(or HDF5 key), what is wrong and the fix, before any array reaches ``from_arrays``.
Nothing is written when reading fails; writers write to a temporary file that replaces the
target only when complete.
"""

from __future__ import annotations

import csv
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hamiltonian_data.arrays import (MIN_SAMPLES, MIN_SPLIT_SAMPLES, magnitude_problem,
                                     time_split_index)
from hamiltonian_data.dataset import Dataset, DataError, Trajectory

ENCODING_TYPE = "noether-search-trajectories"
ENCODING_VERSION = 1
TRAJECTORY_NAMES = ("trajectory",)
TIME_NAMES = ("t", "time")
EXAMPLE_HEADER = "trajectory,t [s],q [rad],p [kg*m**2/s]"
_TIME_DIMS = (0, 0, 1, 0, 0, 0, 0)
_HEADER_RE = re.compile(r"^(?P<name>[^\[\]]*?)\s*(?:\[(?P<unit>[^\[\]]*)\])?$")


@dataclass(frozen=True)
class RawTrajectories:
    """What a trajectory file holds, values in the file's units, checked.

    Attributes:
        names: the d state variable names.
        units: their d units as written (pint syntax, ``""`` = dimensionless).
        time_unit: the unit of ``t`` as written.
        ids: trajectory ids, in order of first appearance.
        t: list of (T_i,) increasing times [time_unit].
        x: list of (T_i, d) states [units].
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    time_unit: str
    ids: tuple[str, ...]
    t: tuple[np.ndarray, ...]
    x: tuple[np.ndarray, ...]


# -- header ----------------------------------------------------------------------------------
def _parse_header_cell(cell: str, where: str) -> tuple[str, str]:
    """``"p [kg*m/s]"`` -> ``("p", "kg*m/s")``; raises DataError for malformed brackets."""
    text = cell.strip()
    if text.count("[") != text.count("]") or ("[" in text and not text.endswith("]")):
        name = text.split("[")[0].strip() or "?"
        raise DataError(f"{where} {text!r}: unbalanced unit bracket; write the header cell "
                        f"as 'name [unit]', e.g. '{name} [kg*m/s]'")
    m = _HEADER_RE.match(text)
    if m is None:
        raise DataError(f"{where} {text!r}: cannot read 'name [unit]'; write it as e.g. "
                        "'q [rad]' (one bracketed unit at the end, or none for dimensionless)")
    name = m.group("name").strip()
    if not name:
        raise DataError(f"{where} {text!r}: empty column name; give every column a name, "
                        f"e.g. '{EXAMPLE_HEADER}'")
    return name, (m.group("unit") or "").strip()


@dataclass(frozen=True)
class _Columns:
    traj: int
    time: int
    states: tuple[int, ...]
    time_unit: str
    names: tuple[str, ...]
    units: tuple[str, ...]


def _interpret_header(cells: list[str], path: Path, where: Callable[[int], str]) -> _Columns:
    """Find the trajectory, time and state columns; parse and check units.

    ``where(i)`` names 0-based column i for messages (``"data.csv, line 1, column 3"``).
    """
    from hamiltonian_data.units import UnitError, parse_unit  # pint on first use

    names, units = [], []
    for i, cell in enumerate(cells):
        name, unit = _parse_header_cell(cell, where(i))
        names.append(name)
        units.append(unit)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(f"{where(i)}: duplicate column name "
                            f"{name!r} (also column {seen[name] + 1}); give each column a "
                            "unique name")
        seen[name] = i
    lower = [n.lower() for n in names]
    traj = next((i for i, n in enumerate(lower) if n in TRAJECTORY_NAMES), None)
    if traj is None:
        raise DataError(f"{path}, line 1: no trajectory column (columns: {', '.join(names)}); "
                        f"add a first column 'trajectory' holding a trajectory id, e.g. "
                        f"'{EXAMPLE_HEADER}'")
    time = next((i for i, n in enumerate(lower) if n in TIME_NAMES), None)
    if time is None:
        raise DataError(f"{path}, line 1: no time column (columns: {', '.join(names)}); add a "
                        f"column 't [s]' holding the sample times, e.g. '{EXAMPLE_HEADER}'")
    if units[traj]:
        raise DataError(f"{where(traj)}: the trajectory column "
                        f"takes no unit, got [{units[traj]}]; write it as 'trajectory'")
    states = tuple(i for i in range(len(names)) if i not in (traj, time))
    if not states:
        raise DataError(f"{path}, line 1: no state column, only trajectory and time; add one "
                        f"column per state variable, e.g. '{EXAMPLE_HEADER}'")

    def unit_of(i: int):
        try:
            return parse_unit(units[i])
        except UnitError as exc:
            raise DataError(f"{where(i)} ({names[i]!r}): "
                            f"{exc}") from None

    tunit = unit_of(time) if units[time] else None
    if tunit is None:
        raise DataError(f"{where(time)} ({names[time]!r}): "
                        f"the time column has no unit; write it as '{names[time]} [s]'")
    if tunit.dims != _TIME_DIMS:
        raise DataError(f"{where(time)} ({names[time]!r}): "
                        f"unit [{units[time]}] is not a time; write e.g. '{names[time]} [s]'")
    for i in states:
        if not names[i].isidentifier():
            raise DataError(f"{where(i)}: state name "
                            f"{names[i]!r} is not an identifier usable in formulas; use "
                            "letters, digits and '_' (e.g. 'theta')")
        unit_of(i)
    return _Columns(traj, time, states, units[time], tuple(names[i] for i in states),
                    tuple(units[i] for i in states))


def _group(path: Path, cols: _Columns, ids: list[str], t: np.ndarray, x: np.ndarray,
           row_label) -> RawTrajectories:
    """Group rows by trajectory id (first-appearance order) and check the times.

    ``row_label(k)`` names data row k for messages (``"line 7"`` or ``"row 5"``).
    """
    order: dict[str, list[int]] = {}
    for k, tid in enumerate(ids):
        order.setdefault(tid, []).append(k)
    ts, xs = [], []
    for tid, rows in order.items():
        idx = np.array(rows)
        tt = t[idx]
        bad = np.nonzero(np.diff(tt) <= 0)[0]
        if bad.size:
            k = rows[bad[0] + 1]
            raise DataError(f"{path}, {row_label(k)}: time {tt[bad[0] + 1]:g} s of trajectory "
                            f"{tid!r} is not after the previous sample's {tt[bad[0]]:g} s; "
                            "sort each trajectory's rows by increasing time and remove "
                            "duplicate samples")
        if idx.size < MIN_SAMPLES:
            raise DataError(f"{path}, {row_label(rows[0])}: trajectory {tid!r} has "
                            f"{idx.size} sample(s), at least {MIN_SAMPLES} are needed for "
                            "finite-difference derivatives; add samples or drop it")
        ts.append(tt)
        xs.append(x[idx])
    return RawTrajectories(cols.names, cols.units, cols.time_unit, tuple(order), tuple(ts),
                           tuple(xs))


# -- CSV -------------------------------------------------------------------------------------
def read_csv(path: str | Path) -> RawTrajectories:
    """Read a long-format CSV trajectory file.

    Raises:
        DataError: on any problem, naming the file, line and column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; check the path given to --data") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as UTF-8 text ({exc}); save it as a UTF-8 "
                        "CSV file") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty; it needs a header line such as "
                        f"'{EXAMPLE_HEADER}' and one row per sample")
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    cols = None
    ids: list[str] = []
    values: list[list[float]] = []
    lines: list[int] = []
    for lineno, row in enumerate(reader, start=1):
        if not any(c.strip() for c in row):
            continue
        if header is None:
            _check_separator(row, path, lineno)
            header = row
            cols = _interpret_header(
                row, path, lambda i, n=lineno: f"{path}, line {n}, column {i + 1}")
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {lineno}: {len(row)} cells, the header has "
                            f"{len(header)}; give every row one value per column")
        nums = []
        for j in (cols.time, *cols.states):
            cell = row[j].strip()
            try:
                v = float(cell)
            except ValueError:
                v = None
            if v is None or not math.isfinite(v):
                what = "not a number" if v is None else "not a finite number"
                raise DataError(f"{path}, line {lineno}, column {j + 1} ({header[j].strip()!r}): "
                                f"{cell!r} is {what}; every time and state cell must hold a "
                                "finite number (fill in or delete the row)")
            nums.append(v)
        tid = row[cols.traj].strip()
        if not tid:
            raise DataError(f"{path}, line {lineno}, column {cols.traj + 1} ('trajectory'): "
                            "empty trajectory id; give every row its trajectory's id")
        ids.append(tid)
        values.append(nums)
        lines.append(lineno)
    if not values:
        raise DataError(f"{path}: a header but no data rows; add one row per sample below "
                        "the header")
    arr = np.array(values)
    for found, columns in ((magnitude_problem(arr[:, :1], span=False), (cols.time,)),
                           (magnitude_problem(arr[:, 1:]), cols.states)):
        if found is not None:
            k, c, what = found
            j = columns[c]
            raise DataError(f"{path}, line {lines[k]}, column {j + 1} "
                            f"({header[j].strip()!r}): {what}")
    return _group(path, cols, ids, arr[:, 0], arr[:, 1:], lambda k: f"line {lines[k]}")


def _check_separator(row: list[str], path: Path, lineno: int) -> None:
    """A header read as one cell that holds ';' or a tab: the file uses another separator."""
    if len(row) != 1:
        return
    for sep, name in ((";", "semicolons (';')"), ("\t", "tabs")):
        if sep in row[0]:
            raise DataError(f"{path}, line {lineno}: the file separates cells with {name}, "
                            "noether-search reads comma-separated files; save it as CSV with "
                            "',' as the separator (in a spreadsheet: CSV, comma-delimited; or "
                            f"replace every {sep!r} by ','), e.g. '{EXAMPLE_HEADER}'")


def _unit_header(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _all_trajectories(dataset: Dataset) -> list[Trajectory]:
    return [*dataset.train, *dataset.test]


def write_csv(path: str | Path, dataset: Dataset) -> Path:
    """Write every trajectory of ``dataset`` (train then test, ids 0, 1, ...) as a CSV.

    Values are in SI base units and written with 17 significant digits (exact round trip).
    """
    header = ["trajectory", "t [s]"] + [_unit_header(v.name, v.unit) for v in dataset.variables]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            for k, tr in enumerate(_all_trajectories(dataset)):
                for i in range(len(tr)):
                    w.writerow([k, repr(float(tr.t[i]))] + [repr(float(v)) for v in tr.x[i]])

    _atomic_write(Path(path), write)
    return Path(path)


# -- HDF5 ------------------------------------------------------------------------------------
def write_h5(path: str | Path, dataset: Dataset) -> Path:
    """Write every trajectory of ``dataset`` in the HDF5 layout (see TRAJECTORY_FORMAT.md)."""
    import h5py

    trajs = _all_trajectories(dataset)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["encoding-type"] = ENCODING_TYPE
            f.attrs["encoding-version"] = ENCODING_VERSION
            f.create_dataset("trajectory", data=np.concatenate(
                [np.full(len(tr), k, dtype=np.int64) for k, tr in enumerate(trajs)]))
            dt = f.create_dataset("t", data=np.concatenate([tr.t for tr in trajs]))
            dt.attrs["unit"] = "s"
            dx = f.create_dataset("x", data=np.concatenate([tr.x for tr in trajs]))
            dx.attrs["names"] = [v.name for v in dataset.variables]
            dx.attrs["units"] = [v.unit for v in dataset.variables]

    _atomic_write(Path(path), write)
    return Path(path)


def _attr_text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_h5(path: str | Path) -> RawTrajectories:
    """Read the HDF5 layout.

    Raises:
        DataError: on any problem, naming the file and the HDF5 key.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path given to --data")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; write datasets 'trajectory', 't' and "
                        "'x' as described in docs/TRAJECTORY_FORMAT.md")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc}); write it with h5py as "
                        "described in docs/TRAJECTORY_FORMAT.md, or use a .csv file") from None
    with f:
        for key in ("trajectory", "t", "x"):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                what = {"trajectory": "no trajectory column", "t": "no time column",
                        "x": "no state column"}[key]
                raise DataError(f"{path}, key '{key}': {what} (dataset '{key}' is missing); "
                                "see docs/TRAJECTORY_FORMAT.md for the layout")
        raw_ids = f["trajectory"][()]
        t = np.asarray(f["t"][()])
        x = np.asarray(f["x"][()])
        t_unit = _attr_text(f["t"].attrs.get("unit", ""))
        names = [_attr_text(n) for n in f["x"].attrs.get("names", [])]
        units = [_attr_text(u) for u in f["x"].attrs.get("units", [])]
    if x.ndim == 1:
        x = x[:, None]
    n = t.shape[0]
    if t.ndim != 1 or x.ndim != 2 or raw_ids.ndim != 1 or raw_ids.shape[0] != n or x.shape[0] != n:
        raise DataError(f"{path}: datasets 'trajectory' {raw_ids.shape}, 't' {t.shape} and 'x' "
                        f"{x.shape} must have shapes (N,), (N,) and (N, d); fix the writer")
    if x.shape[1] == 0:
        raise DataError(f"{path}, key 'x': no state column (shape {x.shape}); store one column "
                        "per state variable")
    if n == 0:
        raise DataError(f"{path}: the file is empty (0 samples); add one row per sample")
    if len(names) != x.shape[1] or len(units) != x.shape[1]:
        raise DataError(f"{path}, key 'x': attributes 'names' ({len(names)}) and 'units' "
                        f"({len(units)}) must list one entry per state column ({x.shape[1]}); "
                        "set x.attrs['names'] and x.attrs['units']")
    header = ["trajectory", _unit_header("t", t_unit)] + [
        _unit_header(nm, u) for nm, u in zip(names, units)]
    col_names = ["key 'trajectory'", "key 't' (attribute 'unit')"] + [
        f"key 'x', column {j} (attributes 'names'/'units')" for j in range(x.shape[1])]
    cols = _interpret_header(header, path, lambda i: f"{path}, {col_names[i]}")
    try:
        t = np.asarray(t, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}, keys 't'/'x': not numeric; store float64 arrays") from None
    for key, arr in (("t", t[:, None]), ("x", x)):
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            r, c = bad[0]
            raise DataError(f"{path}, key '{key}', row {r}, column {c}: {float(arr[r, c])!r} is not a "
                            "finite number; every time and state value must be finite")
    for key, arr, span in (("t", t[:, None], False), ("x", x, True)):
        found = magnitude_problem(arr, span)
        if found is not None:
            r, c, what = found
            raise DataError(f"{path}, key '{key}', row {r}, column {c}: {what}")
    ids = [_attr_text(v) for v in raw_ids.tolist()]
    return _group(path, cols, ids, t, x, lambda k: f"key 't', row {k}")


# -- from raw trajectories to a Dataset ------------------------------------------------------
def read(path: str | Path) -> RawTrajectories:
    """Read a CSV or HDF5 file, chosen by suffix (``.h5``/``.hdf5`` = HDF5, else CSV)."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return read_h5(path)
    return read_csv(path)


def to_dataset(raw: RawTrajectories, name: str, source: str) -> Dataset:
    """Finite-difference derivatives and the train/test split (see the module docstring),
    by :meth:`Dataset.from_arrays`."""
    if len(raw.x) == 1 and time_split_index(len(raw.t[0])) is None:
        raise DataError(f"{source}: the only trajectory has {len(raw.t[0])} samples, too few "
                        "to split 80/20 into train and test (need at least "
                        f"{MIN_SPLIT_SAMPLES}); add samples or trajectories")
    return Dataset.from_arrays(list(raw.x), list(raw.t), raw.names, raw.units,
                               time_unit=raw.time_unit, name=name, source=source)


def load_file(path: str | Path) -> Dataset:
    """Read a trajectory file into a :class:`Dataset` named after the file's stem."""
    path = Path(path)
    raw = read(path)
    return to_dataset(raw, path.stem, f"file: {path}")
