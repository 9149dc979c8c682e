"""The classical systems of hamiltonian_data.mechanics: shapes, units, physics of the data
(every listed invariant conserved, independent as claimed, orthogonal to the flow), ranges
of the initial states, determinism, rows of ``noether-search systems``."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest
import sympy

import hamiltonian_data
from hamiltonian_data import (SYSTEMS, CoupledOscillators, DoublePendulum, HenonHeiles, Kepler,
                              LotkaVolterra, Oscillator2D, RigidBody, load)

UNITS = {
    "oscillator-2d": [("x", "m"), ("y", "m"), ("px", "kg*m/s"), ("py", "kg*m/s")],
    "kepler": [("x", "m"), ("y", "m"), ("px", "kg*m/s"), ("py", "kg*m/s")],
    "lotka-volterra": [("x", ""), ("y", "")],
    "rigid-body": [("L1", "kg*m**2/s"), ("L2", "kg*m**2/s"), ("L3", "kg*m**2/s")],
    "coupled-oscillators": [("q1", "m"), ("q2", "m"), ("p1", "kg*m/s"), ("p2", "kg*m/s")],
    "double-pendulum": [("theta1", "rad"), ("theta2", "rad"), ("omega1", "rad/s"),
                        ("omega2", "rad/s")],
    "henon-heiles": [("x", "m"), ("y", "m"), ("px", "kg*m/s"), ("py", "kg*m/s")],
}
NAMES = list(UNITS)
# (invariants listed, of which independent)
COUNTS = {"oscillator-2d": (3, 3), "kepler": (4, 3), "lotka-volterra": (1, 1),
          "rigid-body": (2, 2), "coupled-oscillators": (3, 2), "double-pendulum": (1, 1),
          "henon-heiles": (1, 1)}
# other parameters than the defaults: the invariant strings follow the parameters
VARIANTS = [Oscillator2D(m=2.0, k=3.0, n_trajectories=4, n_points=20),
            Kepler(m=2.0, k=3.0, n_trajectories=4, n_points=20),
            LotkaVolterra(alpha=1.3, beta=0.7, gamma=0.9, delta=0.4, n_trajectories=4,
                          n_points=20),
            RigidBody(I1=1.5, I2=2.5, I3=4.0, n_trajectories=4, n_points=20),
            CoupledOscillators(m=2.0, k=3.0, kc=0.7, n_trajectories=4, n_points=20),
            DoublePendulum(m1=2.0, m2=1.0, l1=1.5, l2=0.7, g=9.8, n_trajectories=4,
                           n_points=20),
            HenonHeiles(m=2.0, omega=1.5, lam=0.5, n_trajectories=4, n_points=20)]


@lru_cache(maxsize=None)
def _compiled(invariant: str, names: tuple[str, ...]):
    """(value, terms, gradient) functions of the states (N, d) for a sympy string."""
    syms = sympy.symbols(names, real=True)
    expr = sympy.sympify(invariant, locals=dict(zip(names, syms)))

    def vectorised(e):
        f = sympy.lambdify(syms, e, "numpy")
        return lambda x: np.broadcast_to(f(*x.T), x.shape[:1]).astype(float)

    value = vectorised(expr)
    terms = [vectorised(t) for t in sympy.Add.make_args(sympy.expand(expr))]
    grads = [vectorised(sympy.diff(expr, s)) for s in syms]
    return (value, lambda x: np.max([np.abs(t(x)) for t in terms], axis=0),
            lambda x: np.stack([g(x) for g in grads], axis=1))


def _drift(system, dataset) -> list[float]:
    """Per invariant, the largest spread along a trajectory relative to the largest term."""
    out = []
    for inv in system.invariants:
        value, scale, _ = _compiled(inv, dataset.names)
        out.append(max(np.ptp(value(tr.x)) / scale(tr.x).max()
                       for tr in (*dataset.train, *dataset.test)))
    return out


def test_registered_and_listed():
    for name in NAMES:
        assert name in SYSTEMS and isinstance(SYSTEMS[name], hamiltonian_data.OdeSystem)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_units_and_split(name):
    system, ds = SYSTEMS[name], load(name)
    n, T, d = system.n_trajectories, system.n_points, len(UNITS[name])
    assert [(v.name, v.unit) for v in ds.variables] == UNITS[name]
    assert len(ds.train) == n // 2 and len(ds.test) == n - n // 2
    assert ds.x_train.shape == ds.dxdt_train.shape == (n // 2 * T, d)
    assert ds.x_test.shape == ((n - n // 2) * T, d)
    assert ds.dt == pytest.approx(system.t_end / (T - 1))
    assert ds.system is system and ds.invariant == system.invariants[0]
    assert len(system.invariants) == COUNTS[name][0] and system.n_independent == COUNTS[name][1]
    for tr in (*ds.train, *ds.test):
        assert tr.t[0] == 0 and tr.t[-1] == pytest.approx(system.t_end)
        np.testing.assert_allclose(tr.dxdt, system.vector_field(tr.x), rtol=0, atol=0)
    assert system.horizon(ds) == 2 * (T - 1)


@pytest.mark.parametrize("name", NAMES)
def test_invariants_conserved_along_trajectories(name):
    assert max(_drift(SYSTEMS[name], load(name))) < 1e-8


@pytest.mark.parametrize("system", VARIANTS, ids=lambda s: s.name)
def test_invariants_follow_the_parameters(system):
    assert max(_drift(system, system.generate(seed=3))) < 1e-8


@pytest.mark.parametrize("name", NAMES)
def test_invariants_are_orthogonal_to_the_flow(name):
    """dI/dt = ∇I · f vanishes at every state (independent of the integrator)."""
    system, ds = SYSTEMS[name], load(name)
    f = system.vector_field(ds.x_train)
    for inv in system.invariants:
        grad = _compiled(inv, ds.names)[2](ds.x_train)
        rate = np.abs((grad * f).sum(axis=1))
        assert rate.max() <= 1e-10 * (np.abs(grad) * np.abs(f)).sum(axis=1).max()


@pytest.mark.parametrize("name", NAMES)
def test_invariants_independent_as_claimed(name):
    """The gradients of the listed invariants span n_independent dimensions at the data."""
    system, ds = SYSTEMS[name], load(name)
    jac = np.stack([_compiled(inv, ds.names)[2](ds.x_train) for inv in system.invariants],
                   axis=1)                                            # (N, k, d)
    sv = np.linalg.svd(jac / np.linalg.norm(jac, axis=2, keepdims=True), compute_uv=False)
    rank = (sv > 1e-6 * sv[:, :1]).sum(axis=1)                         # (N,)
    assert rank.max() == system.n_independent
    assert np.median(rank) == system.n_independent


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_by_seed(name):
    system = SYSTEMS[name]
    a = system.generate(seed=0)
    assert load(name, seed=0).content_hash() == a.content_hash()
    assert system.generate(seed=1).content_hash() != a.content_hash()


def test_noise_on_top_of_the_same_states():
    clean, noisy = load("kepler"), Kepler().generate(noise=0.01, seed=0)
    spread = np.concatenate([clean.x_train, clean.x_test]).std(axis=0)
    ratio = (noisy.x_train - clean.x_train).std(axis=0) / spread   # a fraction of each std
    assert np.all((0.008 < ratio) & (ratio < 0.012))
    np.testing.assert_array_equal(noisy.dxdt_train, clean.dxdt_train)


@pytest.mark.parametrize("name", NAMES)
def test_truth_agrees_with_generated_data(name):
    system, ds = SYSTEMS[name], load(name)
    x0 = np.stack([tr.x[0] for tr in ds.test[:4]])
    truth = system.truth(x0, ds.test[0].t)
    assert truth.shape == (4, system.n_points, len(UNITS[name]))
    np.testing.assert_allclose(truth, np.stack([tr.x for tr in ds.test[:4]]), atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_describe_row(name):
    system = SYSTEMS[name]
    row = system.describe()
    n = system.n_trajectories
    assert row["name"] == name and row["invariants"] == list(system.invariants)
    assert row["invariant"] == system.invariants[0]
    assert row["trajectories"] == {"count": n, "train": n // 2, "test": n - n // 2,
                                   "samples_each": system.n_points}
    assert row["variables"] == [{"name": v, "unit": u} for v, u in UNITS[name]]
    assert row["source"].startswith("generated: ") and "\n" not in row["source"]


def test_systems_command_lists_every_invariant():
    from click.testing import CliRunner

    from noether_search.cli import cli

    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["systems", "--json"]).stdout)}
    assert rows["kepler"]["invariants"][0] == "x*py - y*px"
    assert rows["pendulum"]["invariants"] == ["p**2 - 3*cos(q)"]
    assert set(NAMES) <= set(rows)


# -- the initial states cover the physically meaningful ranges --------------------------------
def _energies(system, ds):
    value = _compiled(system.invariants[0], ds.names)[0]
    return np.array([value(tr.x[:1])[0] for tr in (*ds.train, *ds.test)])


def test_kepler_orbits_bound_with_varied_eccentricity():
    system, ds = SYSTEMS["kepler"], load("kepler")
    x0 = np.stack([tr.x[0] for tr in (*ds.train, *ds.test)])
    r = np.hypot(x0[:, 0], x0[:, 1])
    energy = (x0[:, 2] ** 2 + x0[:, 3] ** 2) / (2 * system.m) - system.k / r
    ang = x0[:, 0] * x0[:, 3] - x0[:, 1] * x0[:, 2]
    ecc = np.sqrt(1 + 2 * energy * ang ** 2 / (system.m * system.k ** 2))
    assert (energy < 0).all()
    assert ecc.min() >= system.e_min - 1e-9 and ecc.max() <= system.e_max + 1e-9
    assert ecc.max() - ecc.min() > 0.3
    assert (ang > 0).any() and (ang < 0).any()         # both senses of rotation


def test_henon_heiles_bound_below_escape_energy():
    system, ds = SYSTEMS["henon-heiles"], load("henon-heiles")
    energy = _energies(system, ds) / (2 * system.m)
    escape = system.m * system.omega ** 2 / (6 * system.lam ** 2)
    assert energy.max() < escape and energy.min() > 0
    assert energy.min() < 0.3 * escape and energy.max() > 0.8 * escape
    assert max(np.abs(tr.x[:, :2]).max() for tr in ds.train) < 1 / system.lam


def test_lotka_volterra_populations_positive_and_cycling():
    ds = load("lotka-volterra")
    assert min(tr.x.min() for tr in (*ds.train, *ds.test)) > 0
    for tr in ds.train:   # prey and predators both rise and fall
        assert (np.diff(np.sign(tr.dxdt[:, 0])) != 0).any()
        assert (np.diff(np.sign(tr.dxdt[:, 1])) != 0).any()


def test_rigid_body_principal_moments_ordered():
    system = SYSTEMS["rigid-body"]
    assert system.I1 < system.I2 < system.I3


def test_double_pendulum_regular_and_chaotic():
    """Energies from near the minimum to above it by more than the flip of the lower bob;
    a 1e-8 perturbation stays small on the lowest-energy trajectory over 10 s and grows by
    orders of magnitude on the highest."""
    system, ds = SYSTEMS["double-pendulum"], load("double-pendulum")
    energy = _energies(system, ds) / 2
    minimum = -(system.m1 + system.m2) * system.g * system.l1 - system.m2 * system.g * system.l2
    assert energy.min() < 0.9 * minimum and energy.max() > 0
    x0 = np.stack([tr.x[0] for tr in (*ds.train, *ds.test)])[[energy.argmin(), energy.argmax()]]
    t = np.linspace(0.0, 10.0, 11)
    sep = np.abs(system.truth(x0, t) - system.truth(x0 + 1e-8, t)).max(axis=(1, 2))
    assert sep[0] < 1e-6 and sep[1] > 1e-3


def test_oracle_is_the_first_invariant_when_in_the_formula_language():
    from noether_search.stages.rank import oracle_law

    law = oracle_law(load("kepler"))
    assert law is not None and law.formula.size == 7            # x*py - y*px
    t = np.linspace(0.0, 1.0, 5)
    ds = hamiltonian_data.Dataset.from_arrays(
        [np.stack([t + 1, t + 2], axis=1)] * 2, t, ["x", "y"], ["", ""], invariant="erf(x)")
    assert oracle_law(ds) is None                                # no oracle, no error
