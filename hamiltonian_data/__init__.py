"""Built-in systems, the real pendulum, trajectory files and the ``Dataset`` every stage uses.

``load(system="pendulum")`` generates an ideal HNN system or one of the classical systems
of :mod:`hamiltonian_data.mechanics` (``"kepler"``, ``"double-pendulum"``, ...) or a
negative control of :mod:`hamiltonian_data.controls` (``"lorenz"``, ..., no invariant);
``load(data="traj.csv")`` reads your own trajectories (format: ``docs/TRAJECTORY_FORMAT.md``);
``Dataset.from_arrays(x, t, names, units)`` builds a dataset from numpy arrays.
:func:`register` adds your own :class:`System` subclass to :data:`SYSTEMS`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hamiltonian_data.controls import (CONTROLS, DampedDuffing, DampedOscillator,
                                       DrivenPendulum, Lorenz, VanDerPol)
from hamiltonian_data.dataset import Dataset, DataError, Trajectory, Variable
from hamiltonian_data.mechanics import (MECHANICS, CoupledOscillators, DoublePendulum,
                                        HenonHeiles, Kepler, LotkaVolterra, Oscillator2D,
                                        RigidBody)
from hamiltonian_data.real_pendulum import RealPendulum
from hamiltonian_data.system import System
from hamiltonian_data.systems import IdealSystem, OdeSystem, Pendulum, Spring
from hamiltonian_data.trajfile import load_file, read, write_csv, write_h5

#: name -> system (the registry behind ``load(system=...)`` and ``--system``)
SYSTEMS: dict[str, System] = {s.name: s for s in (Pendulum(), Spring(), RealPendulum(),
                                                   *MECHANICS, *CONTROLS)}


def register(system: System) -> System:
    """Add ``system`` to :data:`SYSTEMS` under ``system.name`` (replacing one of that name).

    Raises:
        TypeError: ``system`` is not a :class:`System` instance.
    """
    if not isinstance(system, System):
        raise TypeError(f"register: got {type(system).__name__}; give an instance of a "
                        "hamiltonian_data.System subclass")
    SYSTEMS[system.name] = system
    _generate.cache_clear()
    return system


@lru_cache(maxsize=16)
def _generate(system: str, noise: float, seed: int) -> Dataset:
    # datasets are immutable (read-only arrays), so a cached one can be shared
    return SYSTEMS[system].generate(noise=noise, seed=seed)


def load(system: str | None = None, data: str | Path | None = None, noise: float = 0.0,
         seed: int = 0) -> Dataset:
    """Load a built-in system or a trajectory file (exactly one of ``system``, ``data``).

    Args:
        system: a key of :data:`SYSTEMS`.
        data: a CSV or HDF5 trajectory file.
        noise: std of the Gaussian noise added to each state variable of a generated
            system, as a fraction of that variable's std over the noise-free data set
            (0.05: 5 % of its spread); seeded by ``seed``.
        seed: seed of the generated systems.

    Raises:
        DataError: unknown system, both or neither source given, noise with a file or the
            real pendulum, or any problem in the file.
    """
    if (system is None) == (data is None):
        raise DataError("give exactly one of system=NAME (one of "
                        f"{', '.join(SYSTEMS)}) and data=FILE")
    if system is not None:
        if system not in SYSTEMS:
            raise DataError(f"unknown system {system!r}; known systems: {', '.join(SYSTEMS)}")
        return _generate(system, float(noise), int(seed))
    if noise:
        raise DataError(f"{data}: noise applies to the generated systems only; drop it for "
                        "your own data")
    return load_file(data)


__all__ = [
    "CONTROLS", "CoupledOscillators", "DampedDuffing", "DampedOscillator", "DataError",
    "DrivenPendulum", "Lorenz", "VanDerPol", "Dataset", "DoublePendulum", "HenonHeiles",
    "IdealSystem", "Kepler", "LotkaVolterra", "OdeSystem", "Oscillator2D", "Pendulum",
    "RealPendulum", "RigidBody", "SYSTEMS", "Spring", "System", "Trajectory", "Variable",
    "load", "load_file", "read", "register", "write_csv", "write_h5",
]
