"""The reported constants are refitted for the noise with the plain noise floor, or the
robust one where the plain floor takes a fast motion for noise."""

from __future__ import annotations

import numpy as np
import pytest

import hamiltonian_data
from dslsearch.acceptance import FLOOR_GAP, noise_floor, refit_floor


def test_the_plain_floor_overstates_the_double_pendulums_velocity_noise():
    """σ = 0.1, seed 11: the noise added is 0.1 of each variable's spread; the plain floor
    reads about twice that on the angular velocities, the robust floor within 25 %."""
    system = hamiltonian_data.SYSTEMS["double-pendulum"]
    ds = system.generate(noise=0.1, seed=11)
    true = 0.1 * system.generate(noise=0.0, seed=11).x_train.std(0)
    plain, robust = noise_floor(ds.train) / true, noise_floor(ds.train, robust=True) / true
    assert (plain[2:] > 1.7).all()
    assert (np.abs(robust - 1) < 0.25).all()
    chosen = refit_floor(ds.train) / true
    assert np.allclose(chosen[2:], robust[2:]) and np.allclose(chosen[:2], plain[:2])


@pytest.mark.parametrize("name", ["pendulum", "spring"])
def test_smooth_systems_keep_the_plain_floor(name):
    for seed in range(3):
        ds = hamiltonian_data.SYSTEMS[name].generate(noise=0.1, seed=seed)
        plain, robust = noise_floor(ds.train), noise_floor(ds.train, robust=True)
        assert (plain < FLOOR_GAP * robust).all()
        assert np.array_equal(refit_floor(ds.train), plain)


@pytest.mark.slow
def test_double_pendulum_at_noise_01_seed_11_keeps_its_energys_constants():
    """The sum search fits the energy's terms with ``cos θ1`` at 19.38 (19.62 true, the
    ``ω1²`` coefficient scaled to 1); refitted on the plain floor it was reported at
    16.55, off the invariant, and counted a false law."""
    from dslsearch.fitting import FitConfig
    from noether_search.stages import fit_laws

    ds = hamiltonian_data.SYSTEMS["double-pendulum"].generate(noise=0.1, seed=11)
    laws = fit_laws(ds, 7, FitConfig(seed=11)).laws
    import sympy

    assert len(laws) == 1
    expr = sympy.expand(laws[0].sympy())
    names = {s.name: s for s in expr.free_symbols}
    w1, t1, t2 = names["omega1"], names["theta1"], names["theta2"]
    scale = float(expr.coeff(w1, 2))
    c1 = float(expr.coeff(sympy.cos(t1))) / scale
    c2 = float(expr.coeff(sympy.cos(t2))) / scale
    assert abs(c1 / -19.62 - 1) < 0.1 and abs(c2 / -9.81 - 1) < 0.1, (c1, c2)
