"""``Dataset.from_arrays``: trajectories given as numpy arrays become a :class:`Dataset`.

The one construction path of data that are not built in (trajectory files are read into
arrays and come through here too). Steps: check the arrays, names and units; convert values to SI
base units; derivatives (given, or second-order finite differences
``numpy.gradient(x, t, edge_order=2)``); train/test split (given, or the first half of the
trajectories train, a single trajectory split 80/20 in time).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from hamiltonian_data.dataset import Dataset, DataError, Trajectory, Variable

#: samples a trajectory needs for second-order finite differences
MIN_SAMPLES = 3
#: samples a single trajectory needs to be split in time (3 train, 2 test)
MIN_SPLIT_SAMPLES = MIN_SAMPLES + 2
#: share of a single trajectory's samples that are train
TRAIN_FRACTION = 0.8
_TIME_DIMS = (0, 0, 1, 0, 0, 0, 0)
#: largest |value| accepted: the square of a larger one overflows float64
MAX_ABS = float(np.sqrt(np.finfo(np.float64).max))
#: largest ratio of a column's largest |value| to its median nonzero |value|: float64 has
#: about 16 significant digits, so beyond this the typical values vanish in every sum
MAX_SPAN = 1e15


class DataWarning(UserWarning):
    """Data that can be fitted but probably not as meant (e.g. a constant column)."""


def magnitude_problem(values: np.ndarray, span: bool = True) -> tuple[int, int, str] | None:
    """The first cell of ``values`` (N, k) float64 that float64 fitting cannot handle, as
    ``(row, column, what is wrong and the fix)``, or None.

    A cell is refused when its square overflows (``|v| > MAX_ABS``) or, with ``span``, when
    it is more than :data:`MAX_SPAN` times the column's median nonzero ``|v|``.
    """
    mag = np.abs(values)
    bad = np.argwhere(mag > MAX_ABS)
    if bad.size:
        r, c = bad[0]
        return int(r), int(c), (f"{float(values[r, c])!r} is too large: its square overflows "
                                f"float64 (|value| > {MAX_ABS:.3g}); rescale the column "
                                "(other units) so values are of order 1")
    for c in range(values.shape[1] if span else 0):
        nonzero = mag[:, c][mag[:, c] > 0]
        if nonzero.size == 0:
            continue
        typical = float(np.median(nonzero))
        r = int(np.argmax(mag[:, c]))
        if mag[r, c] > MAX_SPAN * typical:
            return r, c, (f"{float(values[r, c])!r} is {mag[r, c] / typical:.2g} times the column's "
                          f"typical magnitude {typical:.3g}: values spanning more than "
                          f"{MAX_SPAN:.0e} cannot be fitted in float64 (the typical values "
                          "vanish in sums); fix or remove this value (an outlier or a typo?)")
    return None


def _check_magnitude(arrays: list[np.ndarray], arg: str, span: bool = True) -> None:
    rows = np.concatenate([a.reshape(a.shape[0], -1) for a in arrays])
    found = magnitude_problem(rows, span)
    if found is None:
        return
    r, c, what = found
    lengths = np.cumsum([a.shape[0] for a in arrays])
    i = int(np.searchsorted(lengths, r, side="right"))
    sample = r - (int(lengths[i - 1]) if i else 0)
    raise DataError(f"{arg}[{i}], sample {sample}, column {c}: {what}")


def _check_constant(xs: list[np.ndarray], variables, source: str) -> None:
    """Warn about a state column with one value everywhere; refuse data where all are."""
    x = np.concatenate(xs)
    constant = [j for j in range(x.shape[1]) if np.all(x[:, j] == x[0, j])]
    where = f"{source}: " if source else ""
    if len(constant) == x.shape[1]:
        raise DataError(f"{where}every state variable is constant over all samples "
                        f"({', '.join(v.name for v in variables)}); there are no dynamics "
                        "to find conservation laws in; check the data")
    for j in constant:
        warnings.warn(f"{where}variable {variables[j].name!r} (state column {j}) is constant "
                      f"({float(x[0, j])!r}) over all samples: it carries no dynamics and every "
                      "formula of it alone is trivially conserved; drop the column unless "
                      "this is intended", DataWarning, stacklevel=4)


def si_unit_text(text: str, dims: tuple, factor: float) -> str:
    """The unit values are stored in after conversion: the user's text when it is already
    SI base (factor 1, e.g. ``kg*m**2/s``, ``rad``), else the SI base form (``cm`` -> ``m``,
    ``deg`` -> ``rad``, ``km/h`` -> ``m/s``)."""
    from hamiltonian_data.units import BASE_SYMBOLS, DIMENSIONLESS, ureg

    if factor == 1.0:
        return "" if text in ("", "1", "dimensionless") else text
    if dims == DIMENSIONLESS:
        try:
            ureg.Quantity(1.0, text).to("rad")
            return "rad"
        except Exception:
            return ""
    num, den = [], []
    for i in (1, 0, 2, 3, 4, 5, 6):                 # kg first, as physicists write it
        sym, e = BASE_SYMBOLS[i], dims[i]
        if e == 0:
            continue
        mag = abs(e)
        part = sym if mag == 1 else f"{sym}**{mag}" if float(mag).is_integer() else f"{sym}**({mag})"
        (num if e > 0 else den).append(part)
    top = "*".join(num) if num else "1"
    if not den:
        return top
    return f"{top}/{den[0]}" if len(den) == 1 else f"{top}/({'*'.join(den)})"


def time_split_index(n_samples: int) -> int | None:
    """Train samples of a single trajectory of ``n_samples`` split in time (first 80 %, at
    least :data:`MIN_SAMPLES`), or None when fewer than 2 test samples would remain."""
    k = max(MIN_SAMPLES, int(n_samples * TRAIN_FRACTION))
    return k if n_samples - k >= 2 else None


# -- checking the arguments ------------------------------------------------------------------
def _as_trajectories(x, arg: str) -> list[np.ndarray]:
    """``x`` (list of (T_i, d), one (T, d), or (n, T, d)) -> list of float (T_i, d)."""
    if isinstance(x, np.ndarray):
        if x.ndim == 2:
            x = [x]
        elif x.ndim == 3:
            x = list(x)
        else:
            raise DataError(f"{arg}: an array of shape {x.shape}; give a list of (T, d) "
                            "arrays, one (T, d) array or an (n, T, d) array")
    elif not isinstance(x, Sequence) or isinstance(x, str) or len(x) == 0:
        raise DataError(f"{arg}: got {type(x).__name__}; give a non-empty list of (T, d) "
                        "arrays, one per trajectory")
    out = []
    for i, xi in enumerate(x):
        try:
            a = np.array(xi, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{arg}[{i}]: not a numeric array ({exc}); give a (T, d) array "
                            "of floats") from None
        if a.ndim != 2:
            raise DataError(f"{arg}[{i}]: shape {a.shape}, expected (T, d) with one column "
                            "per variable (for a single variable use a[:, None])")
        out.append(a)
    return out


def _check_finite(arrays: list[np.ndarray], arg: str) -> None:
    for i, a in enumerate(arrays):
        bad = np.argwhere(~np.isfinite(a.reshape(a.shape[0], -1)))
        if bad.size:
            r, c = bad[0]
            raise DataError(f"{arg}[{i}], row {r}, column {c}: {float(a.reshape(a.shape[0], -1)[r, c])!r} "
                            "is not a finite number; every value must be finite")


def _variables(names: Sequence[str], units: Sequence[str], d: int) -> tuple[list, np.ndarray]:
    """Variables with SI base units and the (d,) factors to SI base."""
    from hamiltonian_data.units import UnitError, parse_unit

    if isinstance(names, str) or len(names) != d:
        raise DataError(f"names: got {names!r}; give one name per state column ({d})")
    if isinstance(units, str) or len(units) != d:
        raise DataError(f"units: got {units!r}; give one pint unit per state column ({d}), "
                        "'' for dimensionless")
    seen: set[str] = set()
    variables, factors = [], []
    for j, (nm, text) in enumerate(zip(names, units)):
        if not isinstance(nm, str) or not nm.isidentifier():
            raise DataError(f"names[{j}]: {nm!r} is not an identifier usable in formulas; "
                            "use letters, digits and '_' (e.g. 'theta')")
        if nm in seen:
            raise DataError(f"names[{j}]: duplicate name {nm!r}; give each variable a unique "
                            "name")
        seen.add(nm)
        try:
            u = parse_unit(str(text))
        except UnitError as exc:
            raise DataError(f"units[{j}] ({nm!r}): {exc}") from None
        variables.append(Variable(nm, si_unit_text(u.text, u.dims, u.to_base)))
        factors.append(u.to_base)
    return variables, np.array(factors)


def _time_factor(time_unit: str) -> float:
    from hamiltonian_data.units import UnitError, parse_unit

    try:
        u = parse_unit(str(time_unit))
    except UnitError as exc:
        raise DataError(f"time_unit: {exc}") from None
    if u.dims != _TIME_DIMS:
        raise DataError(f"time_unit: {time_unit!r} is not a time; give e.g. 's' or 'ms'")
    return u.to_base


def _times(t, lengths: list[int]) -> list[np.ndarray]:
    """``t`` (scalar dt, one shared (T,) array or one (T_i,) array per trajectory) ->
    list of (T_i,) float arrays."""
    if np.ndim(t) == 0:
        try:
            dt = float(t)
        except (TypeError, ValueError):
            raise DataError(f"t: got {t!r}; give a time step, one times array or a list of "
                            "them") from None
        if not dt > 0 or not np.isfinite(dt):
            raise DataError(f"t: time step {dt!r} must be a positive finite number")
        return [np.arange(n) * dt for n in lengths]
    per_traj = (isinstance(t, Sequence) and len(t) > 0 and np.ndim(t[0]) == 1) or np.ndim(t) == 2
    try:
        ts = [np.asarray(ti, dtype=np.float64) for ti in t] if per_traj else [
            np.asarray(t, dtype=np.float64)] * len(lengths)
    except (TypeError, ValueError) as exc:
        raise DataError(f"t: not numeric ({exc}); give a time step, one times array or a "
                        "list of them") from None
    if len(ts) != len(lengths):
        raise DataError(f"t: {len(ts)} time arrays for {len(lengths)} trajectories; give one "
                        "per trajectory, or one shared array, or a time step")
    for i, (ti, n) in enumerate(zip(ts, lengths)):
        if ti.shape != (n,):
            raise DataError(f"t{f'[{i}]' if per_traj else ''}: shape {ti.shape}, but x[{i}] "
                            f"has {n} samples; give ({n},) times")
    return ts


def _check_samples(ts: list[np.ndarray], need: int) -> None:
    for i, ti in enumerate(ts):
        bad = np.nonzero(np.diff(ti) <= 0)[0]
        if bad.size:
            k = bad[0] + 1
            raise DataError(f"t[{i}], sample {k}: time {ti[k]:g} is not after the previous "
                            f"sample's {ti[k - 1]:g}; sort the samples by increasing time and "
                            "remove duplicates")
        if ti.shape[0] < need:
            raise DataError(f"x[{i}]: {ti.shape[0]} sample(s), at least {need} are needed"
                            + (" for finite-difference derivatives" if need == MIN_SAMPLES
                               else "") + "; add samples or drop the trajectory")


# -- split -----------------------------------------------------------------------------------
def _indices(arg: str, value: Sequence[int], n: int) -> list[int]:
    try:
        idx = [int(i) for i in value]
    except (TypeError, ValueError):
        raise DataError(f"{arg}: got {value!r}; give a list of trajectory indices") from None
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise DataError(f"{arg}: indices {bad} out of range for {n} trajectories (0..{n - 1})")
    return idx


def _split(trajs: list[Trajectory], train, test) -> tuple[tuple, tuple]:
    n = len(trajs)
    if train is None and test is None:
        if n > 1:
            return tuple(trajs[:n // 2]), tuple(trajs[n // 2:])
        tr = trajs[0]
        k = time_split_index(len(tr))
        if k is None:
            raise DataError(f"x: the only trajectory has {len(tr)} samples, too few to split "
                            f"80/20 into train and test (need at least {MIN_SPLIT_SAMPLES}); "
                            "add samples or trajectories")
        return ((Trajectory(tr.t[:k], tr.x[:k], tr.dxdt[:k]),),
                (Trajectory(tr.t[k:], tr.x[k:], tr.dxdt[k:]),))
    tr_idx = None if train is None else _indices("train", train, n)
    te_idx = None if test is None else _indices("test", test, n)
    if tr_idx is None:
        tr_idx = [i for i in range(n) if i not in te_idx]
    if te_idx is None:
        te_idx = [i for i in range(n) if i not in tr_idx]
    if set(tr_idx) & set(te_idx):
        raise DataError(f"train/test: trajectories {sorted(set(tr_idx) & set(te_idx))} are in "
                        "both; give disjoint index lists")
    for arg, idx in (("train", tr_idx), ("test", te_idx)):
        if not idx:
            raise DataError(f"{arg}: no trajectory left for {arg}; give at least one index "
                            "to each of train and test")
    return tuple(trajs[i] for i in tr_idx), tuple(trajs[i] for i in te_idx)


def dataset_from_arrays(x, t, names, units, *, time_unit="s", dxdt=None, train=None,
                        test=None, name="arrays", invariant=None, source=None,
                        system=None) -> Dataset:
    """:meth:`Dataset.from_arrays` (arguments documented there)."""
    xs = _as_trajectories(x, "x")
    d = xs[0].shape[1]
    for i, xi in enumerate(xs):
        if xi.shape[1] != d:
            raise DataError(f"x[{i}]: {xi.shape[1]} columns, x[0] has {d}; every trajectory "
                            "needs the same variables")
    variables, factors = _variables(names, units, d)
    time_factor = _time_factor(time_unit)
    ts = _times(t, [xi.shape[0] for xi in xs])
    _check_finite(xs, "x")
    _check_finite(ts, "t")
    _check_magnitude(xs, "x")
    _check_magnitude(ts, "t", span=False)
    _check_samples(ts, MIN_SAMPLES if dxdt is None else 2)
    ts = [ti * time_factor for ti in ts]                       # [s]
    xs = [xi * factors for xi in xs]                           # SI base units
    if dxdt is None:
        ds = [np.gradient(xi, ti, axis=0, edge_order=2) for xi, ti in zip(xs, ts)]
    else:
        ds = _as_trajectories(dxdt, "dxdt")
        if len(ds) != len(xs) or any(a.shape != b.shape for a, b in zip(ds, xs)):
            raise DataError(f"dxdt: shapes {[a.shape for a in ds]} do not match x's "
                            f"{[b.shape for b in xs]}; give one derivative per state value")
        _check_finite(ds, "dxdt")
        _check_magnitude(ds, "dxdt", span=False)
        ds = [di * factors / time_factor for di in ds]
    _check_magnitude(xs, "x (in SI base units)")
    _check_constant(xs, variables, source or "")
    trajs = [Trajectory(t=ti, x=xi, dxdt=di) for ti, xi, di in zip(ts, xs, ds)]
    tr, te = _split(trajs, train, test)
    return Dataset.from_trajectories(name, tuple(variables), tr, te, invariant,
                                     "arrays" if source is None else source, system)
