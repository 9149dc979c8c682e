"""The swing-up pendulum of OpenAI Gym ("Pendulum"), with the paper's sinusoidal actions.

Dynamics (Gym's ``PendulumEnv.step``; θ = 0 is upright, θ grows counter-clockwise):

    θ̈ = 3 g / (2 l) · sin θ + 3 / (m l²) · u,      u = clip(a, −2, 2)   [N·m]

integrated with Gym's semi-implicit (symplectic) Euler step of ``dt`` = 0.05 s::

    θ̇_{t+1} = clip(θ̇_t + θ̈(θ_t, u_t) · dt, −8, 8)     [rad/s]
    θ_{t+1} = θ_t + θ̇_{t+1} · dt                      [rad]

Initial states are Gym's ``reset``: θ_0 ~ U[−π, π], θ̇_0 ~ U[−1, 1]. Actions follow the
paper's scripted policy (App. D), ``a_t = 2 sin(ω t + α)`` with ω ~ U[0.05, 0.15] rad/step and
α ~ U[0, 2π] drawn once per episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PendulumEnv:
    """Gym's pendulum: parameters of the rod and of the integrator.

    Attributes:
        g: gravitational acceleration [m/s²].
        m: mass [kg].
        l: rod length [m].
        dt: time step [s].
        max_speed: |θ̇| is clipped to this after each step [rad/s].
        max_torque: |u| is clipped to this before each step [N·m].
    """

    g: float = 10.0
    m: float = 1.0
    l: float = 1.0
    dt: float = 0.05
    max_speed: float = 8.0
    max_torque: float = 2.0

    def step(self, theta: float, omega: float, action: float) -> tuple[float, float]:
        """One semi-implicit Euler step: ``(θ, θ̇)`` [rad, rad/s] and torque ``action``
        [N·m] (clipped to ±max_torque) -> the next ``(θ, θ̇)``."""
        u = min(max(float(action), -self.max_torque), self.max_torque)
        acc = 3.0 * self.g / (2.0 * self.l) * math.sin(theta) + 3.0 / (self.m * self.l ** 2) * u
        omega = min(max(omega + acc * self.dt, -self.max_speed), self.max_speed)
        return theta + omega * self.dt, omega


@dataclass(frozen=True, eq=False)
class Episode:
    """One episode: the state at each frame and the action taken after it.

    Attributes:
        theta: (T,) angle [rad] at frames 0..T−1 (not wrapped).
        omega: (T,) angular velocity [rad/s].
        actions: (T,) torque a_t [N·m] applied between frame t and t+1.
        freq: ω of the action sinusoid [rad/step].
        phase: α of the action sinusoid [rad].
    """

    theta: np.ndarray
    omega: np.ndarray
    actions: np.ndarray
    freq: float
    phase: float


def sinusoid_actions(n: int, freq: float, phase: float) -> np.ndarray:
    """``a_t = 2 sin(freq · t + phase)`` for t = 0..n−1: (n,) torques [N·m]."""
    return 2.0 * np.sin(freq * np.arange(n) + phase)


def run_episode(rng: np.random.Generator, n_frames: int,
                env: PendulumEnv = PendulumEnv()) -> Episode:
    """Draw an initial state and an action sinusoid from ``rng`` and simulate ``n_frames``."""
    theta, omega = rng.uniform(-math.pi, math.pi), rng.uniform(-1.0, 1.0)
    freq, phase = rng.uniform(0.05, 0.15), rng.uniform(0.0, 2.0 * math.pi)
    actions = sinusoid_actions(n_frames, freq, phase)
    thetas, omegas = np.empty(n_frames), np.empty(n_frames)
    for t in range(n_frames):
        thetas[t], omegas[t] = theta, omega
        theta, omega = env.step(theta, omega, actions[t])
    return Episode(thetas, omegas, actions, float(freq), float(phase))


def make_episodes(n: int, n_frames: int, seed: int) -> list[Episode]:
    """``n`` episodes of ``n_frames`` frames, reproducible from ``seed``."""
    if n < 1 or n_frames < 2:
        raise ValueError(f"make_episodes: n={n}, n_frames={n_frames}; need n >= 1 and "
                         "n_frames >= 2")
    rng = np.random.default_rng(seed)
    return [run_episode(rng, n_frames) for _ in range(n)]
