"""The ideal systems of Hamiltonian Neural Networks (Greydanus et al. 2019): a nonlinear
pendulum and a mass-spring, generated exactly as the HNN code does.

Each system is a frozen dataclass carrying its physical parameters, state variables with
units and its known invariant. The HNN constants are reproduced by the defaults:

- pendulum: H = p²/(2 m l²) + m g l (1 − cos q) with m = 0.5 kg, l = 1 m, g = 6 m/s²,
  i.e. H = p² + 3 (1 − cos q);  dq/dt = 2p, dp/dt = −3 sin q.
- spring:   H = p²/(2 m) + k q²/2 with m = 0.5 kg, k = 2 N/m, i.e. H = p² + q²;
  dq/dt = 2p, dp/dt = −2q.

Generation (HNN ``get_trajectory``/``get_dataset``): for each of 50 trajectories draw
y0 ~ U[−1, 1]², then a radius ~ U[r_min, r_max), rescale y0 to that radius, integrate with
``solve_ivp`` (RK45, rtol = 1e-10 as HNN, and atol = 1e-10 where HNN kept scipy's 1e-6,
which limits energy conservation to ~4e-5; the states differ from HNN's by < 1e-5) on ``linspace(0, 3, n_points)``, take dx/dt as the exact
vector field at the integrated (noise-free) states, then add Gaussian noise of std ``noise``
to q and p. The noise is drawn even when ``noise = 0`` so that the initial states do not
depend on the noise level. The first 25 trajectories are train, the last 25 test. The
random generator is ``numpy.random.default_rng(seed)`` (HNN used the legacy global
``np.random.seed``; the numbers differ, the distribution is the same).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hamiltonian_data.dataset import Dataset, Trajectory, Variable
from hamiltonian_data.system import System


def _fmt(c: float) -> str:
    return f"{c:g}"


class IdealSystem(System):
    """An ideal HNN system: generation, truth and horizon shared by Pendulum and Spring.

    Subclasses are frozen dataclasses with the fields below and implement
    :attr:`invariants`, :meth:`energy` and :meth:`vector_field`.
    """

    summary: ClassVar[str] = "generated (HNN)"
    n_trajectories: int
    n_points: int
    t_end: float
    r_min: float
    r_max: float
    rtol: float
    atol: float

    @abstractmethod
    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 2) states -> (..., 2) exact time derivatives."""

    @abstractmethod
    def energy(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        """H(q, p) [J]."""

    @property
    def times(self) -> np.ndarray:
        """(n_points,) sample times [s]: ``linspace(0, t_end, n_points)``."""
        return np.linspace(0.0, self.t_end, self.n_points)

    def trajectory(self, x0: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Integrate from the initial states ``x0`` (B, 2) at times ``t`` (T,), t[0] = start.

        Returns:
            (B, T, 2) states, solve_ivp RK45 at ``rtol``/``atol``.
        """
        from scipy.integrate import solve_ivp  # scipy on first use: importing stays fast

        x0 = np.atleast_2d(np.asarray(x0, dtype=np.float64))
        t = np.asarray(t, dtype=np.float64)
        out = np.empty((x0.shape[0], t.shape[0], 2))
        for i, y0 in enumerate(x0):
            sol = solve_ivp(lambda _t, y: self.vector_field(y), (t[0], t[-1]), y0,
                            t_eval=t, rtol=self.rtol, atol=self.atol)
            if not sol.success:  # pragma: no cover - smooth systems always integrate
                raise RuntimeError(f"{self.name}: integration failed: {sol.message}")
            out[i] = sol.y.T
        return out

    def truth(self, x0: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(B, T, 2) states integrated from ``x0`` (B, 2) at ``t`` (T,) (:meth:`trajectory`)."""
        return self.trajectory(x0, t)

    def horizon(self, dataset: Dataset) -> int:
        """Twice the data window, t ∈ [0, 2 t_end]: 2 (n_points − 1) steps (88 pendulum,
        58 spring). Beyond the data the truth comes from :meth:`truth`."""
        return 2 * (self.n_points - 1)

    def describe(self) -> dict:
        """The row of ``noether-search systems`` (no data generated)."""
        half = self.n_trajectories // 2
        trajectories = {"count": self.n_trajectories, "train": half,
                        "test": self.n_trajectories - half, "samples_each": self.n_points}
        text = (f"{self.n_trajectories} ({half} train / {self.n_trajectories - half} test) "
                f"x {self.n_points} samples")
        return self._describe_row(trajectories, text)

    def generate(self, noise: float = 0.0, seed: int = 0) -> Dataset:
        """Generate the HNN dataset.

        Args:
            noise: std of Gaussian noise added to q and p (SI units); 0 = the Noether
                paper's noise-free data.
            seed: seed of ``numpy.random.default_rng``.

        Returns:
            A :class:`Dataset` with the first half of the trajectories as train.
        """
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        rng = np.random.default_rng(seed)
        t = self.times
        trajs = []
        for _ in range(self.n_trajectories):
            y0 = rng.random(2) * 2 - 1
            radius = rng.random() * (self.r_max - self.r_min) + self.r_min
            y0 = y0 / np.sqrt((y0 ** 2).sum()) * radius
            x = self.trajectory(y0[None], t)[0]                # (T, 2)
            dxdt = self.vector_field(x)                       # exact, at noise-free states
            x = x + rng.standard_normal(x.shape) * noise      # HNN draws q noise then p noise
            trajs.append(Trajectory(t=t, x=x, dxdt=dxdt))
        half = self.n_trajectories // 2
        source = (f"generated: {self!r}, seed={seed}, noise={noise:g} "
                  "(Hamiltonian Neural Networks, Greydanus et al. 2019)")
        return Dataset.from_trajectories(self.name, self.variables, tuple(trajs[:half]),
                                         tuple(trajs[half:]), self.invariant, source,
                                         system=self)


@dataclass(frozen=True)
class Pendulum(IdealSystem):
    """Ideal frictionless pendulum, H = p²/(2ml²) + mgl(1 − cos q) = p² + 3(1 − cos q)."""

    name: ClassVar[str] = "pendulum"
    variables: ClassVar[tuple[Variable, ...]] = (Variable("q", "rad"), Variable("p", "kg*m**2/s"))
    paper_baseline: ClassVar[str | None] = "rollout RMSE 0.0563 (Noether Networks)"

    m: float = 0.5             # bob mass [kg]
    l: float = 1.0             # rod length [m]
    g: float = 6.0             # gravity [m/s²]; with m, l gives HNN's H = p² + 3(1 − cos q)
    n_trajectories: int = 50   # first half train, second half test
    n_points: int = 45         # samples on [0, t_end] (HNN timescale 15 × 3 s)
    t_end: float = 3.0         # [s]
    r_min: float = 1.3         # initial radius in the (q, p) plane, uniform in [r_min, r_max)
    r_max: float = 2.3
    rtol: float = 1e-10        # solve_ivp relative tolerance (HNN)
    atol: float = 1e-10        # absolute tolerance; HNN keeps scipy's 1e-6 (see module doc)

    @property
    def invariants(self) -> tuple[str, ...]:
        """Known invariant in sympy syntax (energy up to scale and offset)."""
        return (f"p**2 - {_fmt(2 * self.m * self.l ** 2 * self.m * self.g * self.l)}*cos(q)",)

    def energy(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        """H(q, p) [J]."""
        return p ** 2 / (2 * self.m * self.l ** 2) + self.m * self.g * self.l * (1 - np.cos(q))

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 2) -> (..., 2): (dq/dt, dp/dt) = (∂H/∂p, −∂H/∂q)."""
        q, p = x[..., 0], x[..., 1]
        return np.stack([p / (self.m * self.l ** 2), -self.m * self.g * self.l * np.sin(q)], axis=-1)


@dataclass(frozen=True)
class Spring(IdealSystem):
    """Ideal mass-spring, H = p²/(2m) + kq²/2 = p² + q²."""

    name: ClassVar[str] = "spring"
    variables: ClassVar[tuple[Variable, ...]] = (Variable("q", "m"), Variable("p", "kg*m/s"))
    paper_baseline: ClassVar[str | None] = "rollout RMSE 0.0174 (Noether Networks)"

    m: float = 0.5             # mass [kg]
    k: float = 2.0             # spring constant [N/m]; with m gives HNN's H = p² + q²
    n_trajectories: int = 50   # first half train, second half test
    n_points: int = 30         # samples on [0, t_end] (HNN timescale 10 × 3 s)
    t_end: float = 3.0         # [s]
    r_min: float = 0.1         # initial radius in the (q, p) plane, uniform in [r_min, r_max)
    r_max: float = 1.0
    rtol: float = 1e-10        # solve_ivp relative tolerance (HNN)
    atol: float = 1e-10        # absolute tolerance; HNN keeps scipy's 1e-6 (see module doc)

    @property
    def invariants(self) -> tuple[str, ...]:
        """Known invariant in sympy syntax (energy times 2m)."""
        c = self.k * self.m
        return ("q**2 + p**2" if c == 1 else f"{_fmt(c)}*q**2 + p**2",)

    def energy(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        """H(q, p) [J]."""
        return p ** 2 / (2 * self.m) + self.k * q ** 2 / 2

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 2) -> (..., 2): (dq/dt, dp/dt) = (p/m, −kq)."""
        q, p = x[..., 0], x[..., 1]
        return np.stack([p / self.m, -self.k * q], axis=-1)
