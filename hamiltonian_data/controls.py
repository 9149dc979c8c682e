"""Negative controls: five systems with no conservation law, on which the right answer of
the search is "no law".

=====================  ======================  ============================================
name                   state                   why nothing is conserved
=====================  ======================  ============================================
damped-oscillator      q, p                    friction: the energy decays to 37 % over
                                               the data window
driven-pendulum        q, p, phi               damped and periodically driven (chaotic);
                                               phi is the phase of the drive
lorenz                 x, y, z                 dissipative, chaotic (σ = 10, ρ = 28, β = 8/3)
van-der-pol            x, y                    self-excited: trajectories approach a limit
                                               cycle, gaining or losing "energy"
damped-duffing         q, p                    cubic spring with friction: the energy decays
=====================  ======================  ============================================

Each has ``invariants = ()``. The systems are generated like every
:class:`~hamiltonian_data.systems.OdeSystem` (DOP853 at rtol = atol = 1e-10, all
trajectories as one ODE system, noise as a fraction of each variable's std), sampled finely
enough that each trajectory is smooth at the sampling scale (at least 30 samples per
oscillation), as the noise-floor estimate of :mod:`dslsearch.acceptance` assumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hamiltonian_data.dataset import Variable
from hamiltonian_data.systems import OdeSystem


class ControlSystem(OdeSystem):
    """Shared settings of the negative controls: no invariant, DOP853, batched."""

    method: ClassVar[str] = "DOP853"
    batched: ClassVar[bool] = True
    n_independent: ClassVar[int] = 0

    @property
    def invariants(self) -> tuple[str, ...]:
        """None: the system conserves nothing."""
        return ()


@dataclass(frozen=True)
class DampedOscillator(ControlSystem):
    """Mass-spring with linear friction: dq/dt = p/m, dp/dt = −k q − b p/m; the energy
    decays as exp(−b t / m) on average."""

    name: ClassVar[str] = "damped-oscillator"
    variables: ClassVar[tuple[Variable, ...]] = (Variable("q", "m"), Variable("p", "kg*m/s"))
    summary: ClassVar[str] = ("generated: damped harmonic oscillator (negative control, "
                              "no invariant)")

    m: float = 1.0              # mass [kg]
    k: float = 1.0              # spring constant [N/m]
    b: float = 0.1              # friction [kg/s]: energy × exp(−1) over t_end
    r_min: float = 0.5          # initial radius in the (q [m], p [kg·m/s]) plane
    r_max: float = 1.5
    n_trajectories: int = 40    # first half train, second half test
    n_points: int = 60          # samples on [0, t_end] (about 38 per period)
    t_end: float = 10.0         # [s]
    rtol: float = 1e-10
    atol: float = 1e-10

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 2) -> (..., 2)."""
        q, p = x[..., 0], x[..., 1]
        return np.stack([p / self.m, -self.k * q - self.b * p / self.m], axis=-1)

    def initial_state(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform angle, radius ~ U[r_min, r_max)."""
        angle = rng.uniform(0.0, 2 * np.pi)
        return rng.uniform(self.r_min, self.r_max) * np.array([np.cos(angle), np.sin(angle)])


@dataclass(frozen=True)
class DrivenPendulum(ControlSystem):
    """Damped pendulum driven by a periodic torque, chaotic at these settings:
    dq/dt = p/(m l²), dp/dt = −m g l sin q − (b/(m l²)) p + A cos(phi), dphi/dt = Ω.
    The drive's phase ``phi`` is a state variable (the system is then autonomous)."""

    name: ClassVar[str] = "driven-pendulum"
    variables: ClassVar[tuple[Variable, ...]] = (
        Variable("q", "rad"), Variable("p", "kg*m**2/s"), Variable("phi", "rad"))
    summary: ClassVar[str] = ("generated: damped pendulum with periodic forcing (negative "
                              "control, no invariant)")

    m: float = 1.0              # bob mass [kg]
    l: float = 1.0              # rod length [m]
    g: float = 1.0              # gravity [m/s²]
    b: float = 0.5              # friction [kg·m²/s]
    A: float = 1.2              # drive amplitude [N·m]
    omega: float = 2.0 / 3.0    # drive frequency [rad/s]
    n_trajectories: int = 30
    n_points: int = 80          # samples on [0, t_end]
    t_end: float = 20.0         # [s]
    rtol: float = 1e-10
    atol: float = 1e-10

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 3) -> (..., 3)."""
        q, p, phi = x[..., 0], x[..., 1], x[..., 2]
        inertia = self.m * self.l ** 2
        dp = (-self.m * self.g * self.l * np.sin(q) - self.b * p / inertia
              + self.A * np.cos(phi))
        return np.stack([p / inertia, dp, np.full_like(q, self.omega)], axis=-1)

    def initial_state(self, rng: np.random.Generator) -> np.ndarray:
        """q ~ U[−π, π), p ~ U[−1, 1), phi ~ U[0, 2π)."""
        return np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-1.0, 1.0),
                         rng.uniform(0.0, 2 * np.pi)])


@dataclass(frozen=True)
class Lorenz(ControlSystem):
    """The Lorenz system dx/dt = σ(y − x), dy/dt = x(ρ − z) − y, dz/dt = xy − βz
    (dimensionless), chaotic at the classical parameters."""

    name: ClassVar[str] = "lorenz"
    variables: ClassVar[tuple[Variable, ...]] = (
        Variable("x", ""), Variable("y", ""), Variable("z", ""))
    summary: ClassVar[str] = "generated: Lorenz system (negative control, no invariant)"

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0
    n_trajectories: int = 24
    n_points: int = 100         # samples on [0, t_end] (dt = 0.01)
    t_end: float = 0.99
    rtol: float = 1e-10
    atol: float = 1e-10

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 3) -> (..., 3)."""
        a, b, c = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([self.sigma * (b - a), a * (self.rho - c) - b,
                         a * b - self.beta * c], axis=-1)

    def initial_state(self, rng: np.random.Generator) -> np.ndarray:
        """x, y ~ U[−15, 15), z ~ U[5, 40)."""
        return np.array([rng.uniform(-15, 15), rng.uniform(-15, 15), rng.uniform(5, 40)])


@dataclass(frozen=True)
class VanDerPol(ControlSystem):
    """The Van der Pol oscillator dx/dt = y, dy/dt = μ(1 − x²) y − x (dimensionless)."""

    name: ClassVar[str] = "van-der-pol"
    variables: ClassVar[tuple[Variable, ...]] = (Variable("x", ""), Variable("y", ""))
    summary: ClassVar[str] = "generated: Van der Pol oscillator (negative control, no invariant)"

    mu: float = 1.0
    n_trajectories: int = 40
    n_points: int = 60          # samples on [0, t_end]
    t_end: float = 8.0
    rtol: float = 1e-10
    atol: float = 1e-10

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 2) -> (..., 2)."""
        a, b = x[..., 0], x[..., 1]
        return np.stack([b, self.mu * (1 - a ** 2) * b - a], axis=-1)

    def initial_state(self, rng: np.random.Generator) -> np.ndarray:
        """x, y ~ U[−3, 3)."""
        return rng.uniform(-3.0, 3.0, 2)


@dataclass(frozen=True)
class DampedDuffing(ControlSystem):
    """Unforced Duffing oscillator with friction: dq/dt = p/m,
    dp/dt = −k q − β q³ − b p/m; the energy p²/2m + k q²/2 + β q⁴/4 decays."""

    name: ClassVar[str] = "damped-duffing"
    variables: ClassVar[tuple[Variable, ...]] = (Variable("q", "m"), Variable("p", "kg*m/s"))
    summary: ClassVar[str] = ("generated: damped Duffing oscillator (negative control, "
                              "no invariant)")

    m: float = 1.0              # mass [kg]
    k: float = 1.0              # linear spring constant [N/m]
    beta: float = 1.0           # cubic spring constant [N/m³]
    b: float = 0.1              # friction [kg/s]
    r_min: float = 0.5          # initial radius in the (q, p) plane
    r_max: float = 1.5
    n_trajectories: int = 40
    n_points: int = 60
    t_end: float = 10.0         # [s]
    rtol: float = 1e-10
    atol: float = 1e-10

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        """(..., 2) -> (..., 2)."""
        q, p = x[..., 0], x[..., 1]
        return np.stack([p / self.m, -self.k * q - self.beta * q ** 3 - self.b * p / self.m],
                        axis=-1)

    def initial_state(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform angle, radius ~ U[r_min, r_max)."""
        angle = rng.uniform(0.0, 2 * np.pi)
        return rng.uniform(self.r_min, self.r_max) * np.array([np.cos(angle), np.sin(angle)])


#: the negative controls, in the order of the table above
CONTROLS = (DampedOscillator(), DrivenPendulum(), Lorenz(), VanDerPol(), DampedDuffing())
