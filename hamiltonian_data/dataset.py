"""The ``Dataset`` every stage consumes: state variables with units, trajectories, and
(state, time derivative) pairs split into train and test.

All arrays are float64 and in SI base units (converted when a file is read). Arrays are
made read-only, so a dataset can be shared between stages without copies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hamiltonian_data.system import System


class DataError(ValueError):
    """A data file or data request is unusable. The message names the file, the line or
    column, what is wrong and how to fix it."""


@dataclass(frozen=True)
class Variable:
    """A state variable.

    Attributes:
        name: identifier used in formulas (``"q"``).
        unit: pint syntax, SI base units (``"kg*m**2/s"``); ``""`` = dimensionless.
    """

    name: str
    unit: str


def _frozen_array(a: np.ndarray, ndim: int, what: str) -> np.ndarray:
    arr = np.array(a, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"{what}: expected a {ndim}-d array, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One trajectory sampled at increasing times.

    Attributes:
        t: (T,) times [s].
        x: (T, d) states, SI base units.
        dxdt: (T, d) time derivatives of the states [unit of x / s].
    """

    t: np.ndarray
    x: np.ndarray
    dxdt: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _frozen_array(self.t, 1, "Trajectory.t"))
        object.__setattr__(self, "x", _frozen_array(self.x, 2, "Trajectory.x"))
        object.__setattr__(self, "dxdt", _frozen_array(self.dxdt, 2, "Trajectory.dxdt"))
        T = self.t.shape[0]
        if self.x.shape[0] != T or self.dxdt.shape != self.x.shape:
            raise ValueError(f"Trajectory: t {self.t.shape}, x {self.x.shape} and dxdt "
                             f"{self.dxdt.shape} must share their length (and x, dxdt their shape)")

    def __len__(self) -> int:
        return self.t.shape[0]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Trajectories of one system and the (x, dx/dt) pairs models are trained on.

    Attributes:
        name: system name (``"pendulum"``), the data file's stem or the name given to
            :meth:`from_arrays`.
        variables: the d state variables, in column order.
        train, test: trajectories.
        x_train, dxdt_train: (N, d) training pairs.
        x_test, dxdt_test: (M, d) test pairs.
        invariant: known/human-proposed conserved quantity in sympy syntax over the variable
            names (``"p**2 - 3*cos(q)"``), or None.
        dt: nominal time step [s] (median gap between samples).
        source: where the data came from, for reports.
        system: the :class:`~hamiltonian_data.system.System` that made the data (its
            horizon, truth and baseline settings apply), or None for files and arrays. Not
            part of :meth:`content_hash`.
    """

    name: str
    variables: tuple[Variable, ...]
    train: tuple[Trajectory, ...]
    test: tuple[Trajectory, ...]
    x_train: np.ndarray
    dxdt_train: np.ndarray
    x_test: np.ndarray
    dxdt_test: np.ndarray
    invariant: str | None
    dt: float
    source: str
    system: System | None = field(default=None, compare=False, repr=False)
    _hash: list = field(default_factory=list, init=False, repr=False, compare=False)  # memo

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", tuple(self.variables))
        object.__setattr__(self, "train", tuple(self.train))
        object.__setattr__(self, "test", tuple(self.test))
        for name in ("x_train", "dxdt_train", "x_test", "dxdt_test"):
            object.__setattr__(self, name, _frozen_array(getattr(self, name), 2, f"Dataset.{name}"))
        d = len(self.variables)
        for name in ("x_train", "dxdt_train", "x_test", "dxdt_test"):
            if getattr(self, name).shape[1] != d:
                raise ValueError(f"Dataset.{name}: shape {getattr(self, name).shape} does not "
                                 f"match the {d} variables")
        object.__setattr__(self, "dt", float(self.dt))

    @classmethod
    def from_trajectories(cls, name: str, variables: tuple[Variable, ...],
                          train: tuple[Trajectory, ...], test: tuple[Trajectory, ...],
                          invariant: str | None, source: str,
                          system: System | None = None) -> Dataset:
        """Build a dataset whose pairs are all samples of the train/test trajectories."""
        gaps = np.concatenate([np.diff(tr.t) for tr in (*train, *test)])
        return cls(
            name=name, variables=tuple(variables), train=tuple(train), test=tuple(test),
            x_train=np.concatenate([tr.x for tr in train]),
            dxdt_train=np.concatenate([tr.dxdt for tr in train]),
            x_test=np.concatenate([tr.x for tr in test]),
            dxdt_test=np.concatenate([tr.dxdt for tr in test]),
            invariant=invariant, dt=float(np.median(gaps)), source=source, system=system)

    @classmethod
    def from_arrays(cls, x: Sequence[ArrayLike] | np.ndarray,
                    t: Sequence[ArrayLike] | ArrayLike | float,
                    names: Sequence[str], units: Sequence[str], *, time_unit: str = "s",
                    dxdt: Sequence[ArrayLike] | np.ndarray | None = None,
                    train: Sequence[int] | None = None, test: Sequence[int] | None = None,
                    name: str = "arrays", invariant: str | None = None,
                    source: str | None = None, system: System | None = None) -> Dataset:
        """Build a dataset from numpy arrays, as trajectory files are built.

        Args:
            x: the trajectories: a list of (T_i, d) arrays, one (T, d) array (a single
                trajectory) or an (n, T, d) array. Units: ``units``.
            t: sample times in ``time_unit``: a list of (T_i,) arrays (one per trajectory),
                one (T,) array shared by all, or a scalar time step (times 0, dt, 2 dt, ...).
                Strictly increasing.
            names: the d variable names (identifiers, used in formulas).
            units: the d units in pint syntax (``"kg*m**2/s"``, ``"deg"``; ``""`` =
                dimensionless).
            time_unit: unit of ``t`` (pint syntax, a time).
            dxdt: time derivatives, same layout as ``x``, in (unit of x) / ``time_unit``;
                default: second-order finite differences,
                ``numpy.gradient(x, t, edge_order=2)``.
            train, test: indices of the training and test trajectories (either may be
                omitted: the other trajectories). Default: the first half of the
                trajectories (rounded down) train, the rest test; a single trajectory is
                split in time, its first 80 % of samples (at least 3) train.
            name: the dataset's name (run folders, reports).
            invariant: a known conserved quantity in sympy syntax over ``names``, or None.
            source: where the data came from, for reports (default: ``"arrays"``).
            system: the system that made the data, for :meth:`System.generate`
                implementations built on arrays; None (the default) for measured data.

        Returns:
            The dataset, values converted to SI base units.

        Raises:
            DataError: naming the argument, what was received and the fix.
        """
        from hamiltonian_data.arrays import dataset_from_arrays

        return dataset_from_arrays(x, t, names, units, time_unit=time_unit, dxdt=dxdt,
                                   train=train, test=test, name=name, invariant=invariant,
                                   source=source, system=system)

    @property
    def dim(self) -> int:
        """State dimension d."""
        return len(self.variables)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def content_hash(self) -> str:
        """sha256 (hex) of every array, the variable names and units, and the invariant.

        Two datasets with equal hashes train identical baselines; the name and source
        strings are not part of it.
        """
        if self._hash:
            return self._hash[0]
        h = hashlib.sha256()
        head = {"variables": [[v.name, v.unit] for v in self.variables],
                "invariant": self.invariant, "n_train": len(self.train), "n_test": len(self.test)}
        h.update(json.dumps(head, sort_keys=True).encode())

        def add(a: np.ndarray) -> None:
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())

        for a in (self.x_train, self.dxdt_train, self.x_test, self.dxdt_test):
            add(a)
        for tr in (*self.train, *self.test):
            add(tr.t)
            add(tr.x)
            add(tr.dxdt)
        self._hash.append(h.hexdigest())
        return self._hash[0]
