"""The real pendulum of Schmidt & Lipson (2009), parsed and split exactly as HNN does.

The file ``data/real_pend_h_1.txt`` (attribution in ``data/README.md``) holds one damped
trajectory: a header line ``%o v`` and 556 rows ``trial t o v``. The state is q = o (angle,
rad) and p = v (angular velocity, rad/s; *not* a true momentum). The file states no time
unit; we take it to be seconds. Targets are forward differences with the real time gaps,
(x[i+1] − x[i]) / (t[i+1] − t[i]), so the last row is dropped: 555 pairs. HNN's split:
train = rows 0–443 plus row 554 (445 pairs), test = rows 444–553 (110 pairs).

As trajectories: train is rows 0–443 (one trajectory, 444 samples; the stray row 554 is a
pair only), test is rows 444–553 (one trajectory, 110 samples, even 1/6 s steps).

Rollouts default to 19 steps of 1/6 s (the horizon plotted on the Noether Networks poster),
capped at the test data: there are no true states beyond the measurements. The baseline
uses HNN's weight decay 1e-5 for these data.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import numpy as np

from hamiltonian_data.dataset import Dataset, DataError, Trajectory, Variable
from hamiltonian_data.system import System, shortest_test_horizon

FILE_NAME = "real_pend_h_1.txt"
N_PAIRS = 555
N_TRAIN = 444      # int(555 * 0.8)
N_TEST = 110       # int(555 * (1 - 0.8)) = 110 by floating-point rounding (HNN)
HORIZON = 19       # rollout steps plotted on the Noether Networks poster


def read_table(text: str, name: str = FILE_NAME) -> np.ndarray:
    """Parse the Lipson text (header ``%o v``, then ``trial t o v`` rows) into (n, 4)."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip().replace('"', "")
        if not line or line.startswith("%"):
            continue
        try:
            rows.append([float(c) for c in line.split()])
        except ValueError as exc:
            raise DataError(f"{name}, line {lineno}: not 4 numbers ({exc}); the file is "
                            "damaged, reinstall noether-search") from None
        if len(rows[-1]) != 4:
            raise DataError(f"{name}, line {lineno}: {len(rows[-1])} columns, expected 4 "
                            "(trial t o v); the file is damaged, reinstall noether-search")
    return np.array(rows)


@dataclass(frozen=True)
class RealPendulum(System):
    """Measured, slightly damped pendulum (Schmidt & Lipson 2009)."""

    name: ClassVar[str] = "real-pendulum"
    variables: ClassVar[tuple[Variable, ...]] = (Variable("q", "rad"), Variable("p", "rad/s"))
    summary: ClassVar[str] = "measured (Schmidt & Lipson)"
    baseline_weight_decay: ClassVar[float] = 1e-5          # HNN's setting for these data
    invariant_note: ClassVar[str | None] = (
        "human-proposed energy; not conserved (the pendulum is damped)")
    paper_baseline: ClassVar[str | None] = "derivative MSE 2.7e-3 / 2.2e-3 train/test (HNN)"

    coefficient: float = 2.4   # human-proposed energy H = p² + coefficient·(1 − cos q)
    n_trajectories: ClassVar[int] = 1

    @property
    def invariants(self) -> tuple[str, ...]:
        """Human-proposed reference p² − 2.4 cos q. Not truly conserved: the pendulum is
        damped; the ranking stage uses it as the oracle, as the Noether paper does."""
        return (f"p**2 - {self.coefficient:g}*cos(q)",)

    def energy(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Human-proposed energy p² + 2.4 (1 − cos q) [rad²/s²]."""
        return p ** 2 + self.coefficient * (1 - np.cos(q))

    def generate(self, noise: float = 0.0, seed: int = 0) -> Dataset:
        """Load the measurements (``seed`` is unused; ``noise`` must be 0).

        Raises:
            DataError: ``noise`` is not 0 (the data are measured, not generated).
        """
        if noise:
            raise DataError("real-pendulum is measured data; noise applies to the generated "
                            "systems only: drop --noise")
        text = resources.files("hamiltonian_data").joinpath("data", FILE_NAME).read_text()
        table = read_table(text)
        t, x = table[:, 1], table[:, 2:4]
        dxdt = (x[1:] - x[:-1]) / (t[1:] - t[:-1])[:, None]   # forward differences, (555, 2)
        xs, ts = x[:-1], t[:-1]
        train_rows = np.r_[0:N_TRAIN, N_PAIRS - 1]           # rows 0-443 plus 554
        test_rows = np.arange(N_TRAIN, N_TRAIN + N_TEST)     # rows 444-553
        train = Trajectory(t=ts[:N_TRAIN], x=xs[:N_TRAIN], dxdt=dxdt[:N_TRAIN])
        test = Trajectory(t=ts[test_rows], x=xs[test_rows], dxdt=dxdt[test_rows])
        return Dataset(
            name=self.name, variables=self.variables, train=(train,), test=(test,),
            x_train=xs[train_rows], dxdt_train=dxdt[train_rows],
            x_test=xs[test_rows], dxdt_test=dxdt[test_rows],
            invariant=self.invariant, dt=float(np.median(np.diff(t))),
            source="measured: Schmidt & Lipson (2009), real_pend_h_1.txt; time unit taken as s",
            system=self)

    def horizon(self, dataset: Dataset) -> int:
        """19 steps of 1/6 s, capped at the shortest test trajectory."""
        return min(HORIZON, shortest_test_horizon(dataset))

    def truth(self, x0: np.ndarray, t: np.ndarray) -> None:
        """None: measured data have no true states beyond the measurements."""
        return None

    def describe(self) -> dict:
        """The row of ``noether-search systems`` (no data read)."""
        trajectories = {"count": 1, "train": 1, "test": 1, "samples_each": None,
                        "train_samples": N_TRAIN, "test_samples": N_TEST}
        text = f"1, split in time ({N_TRAIN} train / {N_TEST} test samples)"
        return self._describe_row(trajectories, text)
