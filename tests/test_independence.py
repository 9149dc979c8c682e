"""Independent invariants: grouping functions of each other, dropping near-misses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from dslsearch.fitting.objective import Segments, r_score
from dslsearch.independence import RTOL, Independence, independent_laws
from dslsearch.law import Law
from hamiltonian_data.systems import Pendulum

OSC = (("x", ""), ("y", ""), ("px", ""), ("py", ""))
BODY = (("w1", ""), ("w2", ""), ("w3", ""))
INERTIA = (33 / 31, 1.0, 0.5)    # I1·E − L² ∝ w2² + 4.375·w3²


def oscillator(n_traj: int = 6, n_t: int = 60, seed: int = 0):
    """Isotropic 2-D oscillator (m = k = 1): states (n_traj·n_t, 4) and trajectory labels."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 6, n_t)
    xs = []
    for _ in range(n_traj):
        a, b = rng.uniform(0.5, 2.0, 2)
        phi, psi = rng.uniform(0, 2 * np.pi, 2)
        xs.append(np.stack([a * np.cos(t + phi), b * np.cos(t + psi),
                            -a * np.sin(t + phi), -b * np.sin(t + psi)], 1))
    return np.concatenate(xs), np.repeat(np.arange(n_traj), n_t)


def rigid_body(n_traj: int = 5, n_t: int = 80, seed: int = 0):
    """Torque-free rigid body (Euler's equations): states (n_traj·n_t, 3) and labels."""
    I1, I2, I3 = INERTIA

    def f(_, w):
        return [(I2 - I3) / I1 * w[1] * w[2], (I3 - I1) / I2 * w[2] * w[0],
                (I1 - I2) / I3 * w[0] * w[1]]

    rng = np.random.default_rng(seed)
    t = np.linspace(0, 10, n_t)
    xs = [solve_ivp(f, (0, 10), rng.uniform(-1, 1, 3), t_eval=t, method="DOP853",
                    rtol=1e-13, atol=1e-13).y.T for _ in range(n_traj)]
    return np.concatenate(xs), np.repeat(np.arange(n_traj), n_t)


def law(text: str, variables, x=None, labels=None) -> Law:
    """A law from text, with R_true measured on ``x`` when given."""
    out = Law.parse(text, variables)
    if x is None:
        return out
    return Law.parse(text, variables, R_true=float(r_score(out(x), Segments(labels))))


def energy_laws(texts):
    x, labels = oscillator()
    return [law(t, OSC, x, labels) for t in texts], x


@pytest.mark.parametrize("texts", [
    ("x**2 + px**2", "(x**2 + px**2)**2"),
    ("x**2 + px**2", "x**2 + px**2 + 3.0", "2.0*x**2 + 2.0*px**2"),
    ("(x**2 + px**2)**2", "1/(x**2 + px**2)", "sin(0.3*x**2 + 0.3*px**2)"),
])
def test_functions_of_one_invariant_are_one_group(texts):
    laws, x = energy_laws(texts)
    ind = independent_laws(laws, x)
    assert isinstance(ind, Independence) and ind.rtol == RTOL
    assert ind.n_independent == 1 and ind.near_misses == ()
    assert sorted(ind.groups[0]) == list(range(len(texts)))
    simplest = min(range(len(laws)), key=lambda i: (laws[i].size, laws[i].R_true))  # as documented
    assert ind.basis[0] is laws[simplest] and ind.groups[0][0] == simplest


def test_isotropic_oscillator_has_three():
    laws, x = energy_laws(["x**2 + px**2", "y**2 + py**2", "x*py - y*px"])
    ind = independent_laws(laws, x)
    assert ind.n_independent == 3
    assert sorted(ind.groups) == [(0,), (1,), (2,)]


def test_a_combination_joins_the_last_basis_law_it_needs():
    laws, x = energy_laws(["x**2 + y**2 + px**2 + py**2", "x**2 + px**2", "y**2 + py**2",
                           "(x*py - y*px)**2", "x*py - y*px"])
    ind = independent_laws(laws, x)
    assert ind.n_independent == 3
    # simplest first: E_x, E_y, L (7 nodes each) are the basis; E (15) and L**2 (8) are not
    basis = [g[0] for g in ind.groups]
    assert sorted(basis) == [1, 2, 4]
    last_energy = max(basis.index(1), basis.index(2))
    assert ind.groups[last_energy] == (basis[last_energy], 0)
    assert ind.groups[basis.index(4)] == (4, 3)


def test_sum_with_its_parts_gives_two():
    laws, x = energy_laws(["x**2 + px**2 + y**2 + py**2", "x**2 + px**2", "y**2 + py**2"])
    assert independent_laws(laws, x).n_independent == 2


def test_near_miss_is_dropped():
    x, labels = rigid_body()
    exact = law("w2**2 + 4.375*w3**2", BODY, x, labels)
    near = law("w2**2 + 4.0*w3**2", BODY, x, labels)
    energy = law(f"{INERTIA[0]}*w1**2 + w2**2 + 0.5*w3**2", BODY, x, labels)
    assert exact.R_true < 1e-20 and near.R_true > 1e-5            # the data are as described
    ind = independent_laws([near, energy, exact], x)
    assert ind.near_misses == (0,)
    assert ind.n_independent == 2 and {b for g in ind.groups for b in g} == {1, 2}


def test_near_miss_dropped_even_when_simpler():
    x, labels = rigid_body()
    exact = law("(w2**2 + 4.375*w3**2)**2", BODY, x, labels)
    near = law("w2**2 + 3.0*w3**2", BODY, x, labels)              # fewer nodes, R ~ 4e-3
    assert near.size < exact.size
    ind = independent_laws([exact, near], x)
    assert ind.near_misses == (1,) and ind.basis == (exact,)


def test_noisy_fits_of_one_invariant_stay_one_group():
    """Constants off by the fit's own error: a function of each other within precision."""
    ds = Pendulum().generate(noise=0.0, seed=0)
    x, variables = ds.x_train, (("q", "rad"), ("p", "kg*m**2/s"))
    labels = np.repeat(np.arange(len(ds.train)), [len(tr) for tr in ds.train])
    a = law("p**2 - 2.99*cos(q)", variables, x, labels)
    b = law("(p**2 - 3.01*cos(q))**2", variables, x, labels)
    ind = independent_laws([a, b], x)
    assert ind.n_independent == 1 and ind.near_misses == ()


def test_points_where_a_law_is_undefined_are_dropped():
    laws, x = energy_laws(["x**2 + px**2", "1/(y**2 + py**2)"])
    x = np.concatenate([x, np.tile([1.0, 0.0, 1.0, 0.0], (5, 1))])  # E_y = 0: 1/E_y undefined
    assert not np.isfinite(laws[1](x)).all()
    inverse = law("1/(x**2 + px**2)", OSC)
    ind = independent_laws([laws[0], inverse, laws[1]], x)
    assert ind.n_independent == 2 and ind.groups == ((0, 1), (2,))


def test_single_law_and_empty():
    laws, x = energy_laws(["x**2 + px**2"])
    ind = independent_laws(laws, x)
    assert ind.n_independent == 1 and ind.groups == ((0,),) and ind.basis == (laws[0],)
    assert independent_laws([], x).n_independent == 0


def test_bad_input_is_named():
    laws, x = energy_laws(["x**2 + px**2"])
    with pytest.raises(ValueError, match="x: has 3 columns"):
        independent_laws(laws, x[:, :3])
    with pytest.raises(ValueError, match="rtol"):
        independent_laws(laws, x, rtol=0.0)


def test_independent_invariants_stay_apart_in_imprecise_fits():
    """Constants 1% off (R ~ 1e-6): the precision widens the tolerance, the cap keeps E and
    L² of the rigid body apart."""
    x, labels = rigid_body()
    I1, I2, I3 = INERTIA
    energy = law(f"{I1 * 1.01}*w1**2 + w2**2 + {I3}*w3**2", BODY, x, labels)
    momentum = law(f"{I1 ** 2}*w1**2 + {0.99 * I2 ** 2}*w2**2 + {I3 ** 2}*w3**2", BODY, x,
                   labels)
    assert energy.R_true > 1e-7 and momentum.R_true > 1e-7
    assert independent_laws([energy, momentum], x).n_independent == 2
