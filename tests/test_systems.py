"""Built-in systems: HNN constants, conservation, split, the real pendulum parsing."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

import hamiltonian_data
from hamiltonian_data import SYSTEMS, DataError, Pendulum, Spring, load


@pytest.mark.parametrize("name", ["pendulum", "spring"])
def test_ideal_trajectories_conserve_invariant(name):
    system = SYSTEMS[name]
    ds = load(name)
    for tr in (*ds.train, *ds.test):
        energy = system.energy(tr.x[:, 0], tr.x[:, 1])
        assert np.ptp(energy) < 1e-7 * max(1.0, energy.mean())
        # the invariant string is the energy up to scale and offset
        q, p = tr.x[:, 0], tr.x[:, 1]
        inv = eval(ds.invariant, {"cos": np.cos, "q": q, "p": p})  # noqa: S307 - our own string
        assert np.ptp(inv) < 1e-7


@pytest.mark.parametrize("name,points,rmin,rmax", [("pendulum", 45, 1.3, 2.3),
                                                   ("spring", 30, 0.1, 1.0)])
def test_ideal_systems_match_hnn_setup(name, points, rmin, rmax):
    ds = load(name)
    assert len(ds.train) == len(ds.test) == 25
    assert ds.x_train.shape == (25 * points, 2) and ds.x_test.shape == (25 * points, 2)
    assert ds.dt == pytest.approx(3 / (points - 1))
    for tr in (*ds.train, *ds.test):
        assert tr.t[0] == 0 and tr.t[-1] == pytest.approx(3.0) and len(tr) == points
        assert rmin - 1e-6 <= np.hypot(*tr.x[0]) < rmax + 1e-6
        np.testing.assert_allclose(tr.dxdt, SYSTEMS[name].vector_field(tr.x), atol=1e-12)
    assert [v.name for v in ds.variables] == ["q", "p"]


def test_hnn_constants():
    assert Pendulum().invariant == "p**2 - 3*cos(q)"
    assert Spring().invariant == "q**2 + p**2"
    q, p = np.array([0.3]), np.array([0.7])
    assert Pendulum().energy(q, p) == pytest.approx(3 * (1 - np.cos(0.3)) + 0.49)
    assert Spring().energy(q, p) == pytest.approx(0.09 + 0.49)
    np.testing.assert_allclose(Pendulum().vector_field(np.array([0.3, 0.7])),
                               [1.4, -3 * np.sin(0.3)])
    np.testing.assert_allclose(Spring().vector_field(np.array([0.3, 0.7])), [1.4, -0.6])


def test_units():
    assert [(v.name, v.unit) for v in SYSTEMS["pendulum"].variables] == [
        ("q", "rad"), ("p", "kg*m**2/s")]
    assert [(v.name, v.unit) for v in SYSTEMS["spring"].variables] == [
        ("q", "m"), ("p", "kg*m/s")]
    assert [(v.name, v.unit) for v in SYSTEMS["real-pendulum"].variables] == [
        ("q", "rad"), ("p", "rad/s")]


def test_seed_and_noise():
    a, b = load("spring", seed=0), load("spring", seed=1)
    assert a.content_hash() != b.content_hash()
    assert load("spring", seed=0).content_hash() == a.content_hash()
    noisy = Spring().generate(noise=0.1, seed=0)
    # same initial draws: noise is added on top of the same clean trajectories
    diff = noisy.x_train - a.x_train
    assert 0.07 < diff.std() < 0.13
    np.testing.assert_array_equal(noisy.dxdt_train, a.dxdt_train)  # exact field at clean states


def test_dataset_is_immutable():
    ds = load("spring")
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 1.0
    with pytest.raises(AttributeError):
        ds.name = "x"


def test_real_pendulum_split_as_hnn():
    ds = load("real-pendulum")
    assert ds.x_train.shape == (445, 2) and ds.x_test.shape == (110, 2)
    assert len(ds.train[0]) == 444 and len(ds.test[0]) == 110
    assert ds.test[0].t[0] == pytest.approx(81.0)
    assert ds.dt == pytest.approx(1 / 6)
    assert ds.invariant == "p**2 - 2.4*cos(q)"
    # forward differences with true gaps: dq/dt is a noisy copy of p
    assert np.corrcoef(ds.dxdt_train[:, 0], ds.x_train[:, 1])[0, 1] > 0.99
    # the stray last pair is train (HNN), row 554
    tr = ds.train[0]
    np.testing.assert_allclose(ds.dxdt_train[:444], tr.dxdt)
    with pytest.raises(DataError, match="noise"):
        load("real-pendulum", noise=0.1)


def test_real_pendulum_file_is_byte_exact():
    data = resources.files("hamiltonian_data").joinpath("data", "real_pend_h_1.txt").read_bytes()
    assert len(data) == 57274
    assert hashlib.sha256(data).hexdigest() == (
        "45d92988198b89a5933f5a53e67aa819d06937516f71a462ac09e1307d8b3411")


def test_load_arguments():
    with pytest.raises(DataError, match="exactly one"):
        load()
    with pytest.raises(DataError, match="unknown system 'pendel'"):
        load("pendel")
    assert set(hamiltonian_data.SYSTEMS) == {"pendulum", "spring", "real-pendulum"}
