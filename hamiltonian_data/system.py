"""The abstract base class of every system: what the rest of the code may know about one.

A system is a frozen dataclass carrying its physical parameters, its state variables with
units and its known invariants, and it owns everything particular to it: how its data are
made (:meth:`System.generate`), the default rollout horizon on its data, the true states
beyond the data, the baseline's weight decay and its row in ``noether-search systems``.
No other code branches on a system's name: it asks the system (``dataset.system``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hamiltonian_data.dataset import Variable

if TYPE_CHECKING:
    from hamiltonian_data.dataset import Dataset


def shortest_test_horizon(dataset: Dataset) -> int:
    """Steps of the shortest test trajectory (samples − 1): the rollout horizon of data
    that have no system to produce states beyond them."""
    return min(len(tr) for tr in dataset.test) - 1


class System(ABC):
    """A dynamical system whose data the search runs on.

    Subclasses are frozen dataclasses (parameters as fields) that set the class variables
    below and implement the abstract methods.

    Class variables:
        name: registry key and dataset name (``"pendulum"``).
        variables: the d state variables, SI base units.
        summary: where the data come from, one line (``noether-search systems``, source).
        baseline_weight_decay: Adam weight decay of the vanilla-MLP baseline on this
            system's data (HNN: 1e-4; 1e-5 for the real pendulum).
        invariant_note: a footnote on :attr:`invariant` when it is a reference that is not
            truly conserved, else None.
        paper_baseline: the published vanilla-MLP figure for this system's data, shown
            next to ours by ``noether-search baseline``, or None.
    """

    name: ClassVar[str]
    variables: ClassVar[tuple[Variable, ...]]
    summary: ClassVar[str]
    baseline_weight_decay: ClassVar[float] = 1e-4
    invariant_note: ClassVar[str | None] = None
    paper_baseline: ClassVar[str | None] = None

    @property
    @abstractmethod
    def invariants(self) -> tuple[str, ...]:
        """Known (or human-proposed) invariants in sympy syntax over the variable names;
        used for comparison only, never by the search."""

    @property
    def invariant(self) -> str | None:
        """The first of :attr:`invariants`, or None when none is known."""
        return self.invariants[0] if self.invariants else None

    @abstractmethod
    def generate(self, noise: float = 0.0, seed: int = 0) -> Dataset:
        """The system's dataset, with ``dataset.system`` set to this system.

        Args:
            noise: std of the Gaussian noise added to each state variable, as a fraction of
                that variable's std over the noise-free data set (0.05: 5 % of its spread).
            seed: random seed of the generation.
        """

    @abstractmethod
    def horizon(self, dataset: Dataset) -> int:
        """Default rollout steps on ``dataset`` (data of this system)."""

    @abstractmethod
    def truth(self, x0: np.ndarray, t: np.ndarray) -> np.ndarray | None:
        """True states from ``x0`` (B, d) at times ``t`` (T,) [s], t[0] = the initial time.

        Returns:
            (B, T, d) states, or None when the system cannot produce states beyond its data
            (measured systems).
        """

    @abstractmethod
    def describe(self) -> dict:
        """The system's row of ``noether-search systems`` without generating data: keys
        ``name``, ``variables``, ``invariant``, ``invariants``, ``trajectories`` (dict),
        ``trajectories_text``, ``source``, ``parameters``."""

    def _describe_row(self, trajectories: dict, trajectories_text: str) -> dict:
        """The row of :meth:`describe` given the system's trajectory layout."""
        return {"name": self.name,
                "variables": [{"name": v.name, "unit": v.unit} for v in self.variables],
                "invariant": self.invariant, "invariants": list(self.invariants),
                "trajectories": trajectories,
                "trajectories_text": trajectories_text, "source": self.summary,
                "parameters": repr(self)}
