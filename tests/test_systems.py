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
    # same initial draws: noise is added on top of the same clean trajectories, its std a
    # fraction (0.1) of each variable's std over the clean data set
    clean = np.concatenate([a.x_train, a.x_test])
    ratio = (noisy.x_train - a.x_train).std(axis=0) / clean.std(axis=0)
    assert np.all((0.08 < ratio) & (ratio < 0.12))
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
    assert set(hamiltonian_data.SYSTEMS) == {
        "pendulum", "spring", "real-pendulum", "oscillator-2d", "kepler", "lotka-volterra",
        "rigid-body", "coupled-oscillators", "double-pendulum", "henon-heiles",
        "damped-oscillator", "driven-pendulum", "lorenz", "van-der-pol", "damped-duffing"}


# -- the System base class: each system owns its horizon, truth, weight decay, row --------------
@pytest.mark.parametrize("name,horizon,decay", [("pendulum", 88, 1e-4), ("spring", 58, 1e-4),
                                                ("real-pendulum", 19, 1e-5)])
def test_system_horizon_and_weight_decay(name, horizon, decay):
    from noether_search.baseline import BaselineConfig, default_horizon

    system = SYSTEMS[name]
    ds = load(name)
    assert isinstance(system, hamiltonian_data.System) and ds.system is system
    assert system.horizon(ds) == default_horizon(ds) == horizon
    assert system.baseline_weight_decay == decay
    assert BaselineConfig.for_dataset(ds).weight_decay == decay


def test_system_not_part_of_content_hash():
    ds = load("spring")
    other = hamiltonian_data.Dataset.from_trajectories(
        "x", ds.variables, ds.train, ds.test, ds.invariant, "elsewhere")
    assert other.system is None and other.content_hash() == ds.content_hash()


@pytest.mark.parametrize("name", ["pendulum", "spring"])
def test_truth_agrees_with_generated_data(name):
    system, ds = SYSTEMS[name], load(name)
    x0 = np.stack([tr.x[0] for tr in ds.test[:3]])
    truth = system.truth(x0, ds.test[0].t)
    assert truth.shape == (3, len(ds.test[0]), 2)
    np.testing.assert_allclose(truth, np.stack([tr.x for tr in ds.test[:3]]), atol=1e-9)


def test_real_pendulum_has_no_truth_beyond_data():
    system = SYSTEMS["real-pendulum"]
    assert system.truth(np.zeros((1, 2)), np.arange(3.0)) is None
    assert system.invariant_note and "not conserved" in system.invariant_note


@pytest.mark.parametrize("name,count,samples", [("pendulum", 50, 45), ("spring", 50, 30)])
def test_describe_ideal(name, count, samples):
    row = SYSTEMS[name].describe()
    assert row["name"] == name and row["invariant"] == SYSTEMS[name].invariant
    assert row["trajectories"] == {"count": count, "train": count // 2, "test": count // 2,
                                   "samples_each": samples}
    assert row["source"] == "generated (HNN)"
    assert row["variables"] == [{"name": v.name, "unit": v.unit}
                                for v in SYSTEMS[name].variables]


def test_describe_real_pendulum_matches_data():
    row, ds = SYSTEMS["real-pendulum"].describe(), load("real-pendulum")
    assert row["trajectories"]["train_samples"] == len(ds.train[0])
    assert row["trajectories"]["test_samples"] == len(ds.test[0])
    assert row["source"].startswith("measured")


def test_abstract_systems_cannot_be_instantiated():
    with pytest.raises(TypeError, match="abstract"):
        hamiltonian_data.System()
    with pytest.raises(TypeError, match="abstract"):
        hamiltonian_data.IdealSystem()


def test_register_rejects_non_systems():
    with pytest.raises(TypeError, match="System subclass"):
        hamiltonian_data.register(object())


def test_user_system_gets_horizon_and_weight_decay_from_its_class():
    """No name-branching: a new system name works everywhere through its class."""
    from dataclasses import dataclass
    from typing import ClassVar

    from noether_search.baseline import BaselineConfig, default_horizon
    from noether_search.cli._common import known_systems

    @dataclass(frozen=True)
    class Rotor(hamiltonian_data.System):
        """Free rotor: q = ω t, p = ω; p is conserved."""

        name: ClassVar[str] = "rotor"
        variables: ClassVar[tuple] = (hamiltonian_data.Variable("q", "rad"),
                                      hamiltonian_data.Variable("p", "rad/s"))
        summary: ClassVar[str] = "generated (test)"
        baseline_weight_decay: ClassVar[float] = 3e-3
        invariant_note: ClassVar[str | None] = "a note"

        @property
        def invariants(self):
            return ("p",)

        def generate(self, noise=0.0, seed=0):
            t = np.linspace(0.0, 1.0, 11)
            x = [np.stack([w * t, np.full_like(t, w)], axis=1) for w in (0.5, 1.0, 1.5, 2.0)]
            return hamiltonian_data.Dataset.from_arrays(
                x, t, ["q", "p"], ["rad", "rad/s"], name=self.name,
                invariant=self.invariant, source="generated: rotor", system=self)

        def horizon(self, dataset):
            return 7

        def truth(self, x0, t):
            return x0[:, None, :] + t[None, :, None] * np.stack(
                [x0[:, 1], np.zeros(len(x0))], axis=1)[:, None, :]

        def describe(self):
            return self._describe_row({"count": 4}, "4")

    hamiltonian_data.register(Rotor())
    try:
        ds = load("rotor")
        assert ds.system == Rotor() and "rotor" in known_systems()
        assert default_horizon(ds) == 7
        assert BaselineConfig.for_dataset(ds).weight_decay == 3e-3
        from noether_search.cli.systems import _footnotes
        assert _footnotes()["rotor"] == ("**", "a note")
    finally:
        hamiltonian_data.SYSTEMS.pop("rotor")
