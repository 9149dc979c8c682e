"""Built-in systems, the real pendulum, trajectory files and the ``Dataset`` every stage uses.

``load(system="pendulum")`` generates an ideal HNN system; ``load(data="traj.csv")`` reads
your own trajectories (format: ``docs/TRAJECTORY_FORMAT.md``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hamiltonian_data.dataset import Dataset, DataError, Trajectory, Variable
from hamiltonian_data.real_pendulum import RealPendulum
from hamiltonian_data.systems import Pendulum, Spring
from hamiltonian_data.trajfile import load_file, read, write_csv, write_h5

#: name -> built-in system (frozen dataclass with ``variables``, ``invariant``,
#: ``energy(q, p)``, ``generate(noise, seed)``)
SYSTEMS: dict[str, object] = {
    "pendulum": Pendulum(),
    "spring": Spring(),
    "real-pendulum": RealPendulum(),
}


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
        noise: std of Gaussian noise added to q and p of the generated systems.
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
    "DataError", "Dataset", "Pendulum", "RealPendulum", "SYSTEMS", "Spring", "Trajectory",
    "Variable", "load", "load_file", "read", "write_csv", "write_h5",
]
