"""The discovery benchmark's peers (benchmarks/peers): each runs on one small case."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pysindy")
pytest.importorskip("gplearn")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import hamiltonian_data  # noqa: E402
from hamiltonian_data.dataset import Dataset, Trajectory, Variable  # noqa: E402
from peers import PEERS, PeerLaw, PeerResult, gp, sindy  # noqa: E402
from peers._common import conservation_score  # noqa: E402


@pytest.fixture(scope="module")
def spring() -> Dataset:
    """The built-in spring, its first 6 training trajectories."""
    d = hamiltonian_data.SYSTEMS["spring"].generate(seed=0)
    return Dataset.from_trajectories(d.name, d.variables, d.train[:6], d.test[:2],
                                     d.invariant, d.source)


def damped(gamma: float = 0.3, n: int = 6) -> Dataset:
    """A damped oscillator q'' = -q - 2γq' (no conserved quantity), exact derivatives."""
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 6.0, 60)
    w = np.sqrt(1 - gamma**2)
    trajs = []
    for _ in range(n):
        a, phi = rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi)
        q = a * np.exp(-gamma * t) * np.cos(w * t + phi)
        p = a * np.exp(-gamma * t) * (-gamma * np.cos(w * t + phi) - w * np.sin(w * t + phi))
        x = np.stack([q, p], 1)
        trajs.append(Trajectory(t=t, x=x, dxdt=np.stack([p, -q - 2 * gamma * p], 1)))
    variables = (Variable("q", "m"), Variable("p", "m/s"))
    return Dataset.from_trajectories("damped", variables, trajs[:4], trajs[4:], None, "test")


def parallel(law: PeerLaw, grad_true: np.ndarray, x: np.ndarray) -> float:
    """Largest |sine| over the points between the law's gradient and ``grad_true``."""
    g = law.grad(x)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    h = grad_true / np.linalg.norm(grad_true, axis=1, keepdims=True)
    return float(np.max(np.abs(g[:, 0] * h[:, 1] - g[:, 1] * h[:, 0])))


def test_peers_registry():
    assert set(PEERS) == {"sindy", "gplearn"}


def test_conservation_score_is_the_fitters_r(spring):
    from dslsearch.fitting.objective import Segments, r_score

    labels = np.repeat(np.arange(len(spring.train)), [len(tr) for tr in spring.train])
    q, p = spring.x_train.T
    for v in (q * p, np.sin(q) + p**3, q**2 + 1.01 * p**2):
        assert conservation_score(v, labels) == pytest.approx(
            float(r_score(v, Segments(labels))), rel=1e-12)
    assert conservation_score(np.full_like(q, 2.0), labels) == 1.0      # constant: worst
    assert conservation_score(q * np.nan, labels) == 1.0                 # undefined: worst
    assert gp._r_fitness(labels.astype(float), q**2 + p**2, None) < 1e-12


def test_sindy_recovers_the_spring_energy(spring):
    result = PEERS["sindy"](spring, seconds=5.0, seed=0)
    assert isinstance(result, PeerResult) and result.seconds > 0
    assert len(result.laws) == 1
    x = spring.x_train[::7]
    law = result.laws[0]
    assert parallel(law, 2 * x, x) < 1e-6          # a function of q² + p²
    assert law.r < 1e-12
    assert "q**2" in law.text and "p**2" in law.text
    assert law.fn(x).shape == (x.shape[0],) and law.grad(x).shape == x.shape


def test_peer_results_pickle(spring):
    """Results cross process boundaries (the benchmark runs each system in a fresh process)."""
    import pickle

    x = spring.x_train[::9]
    for result in (PEERS["sindy"](spring, seconds=1.0, seed=0),
                   gp.discover(spring, seconds=60.0, seed=0,
                               config=gp.GPConfig(population=100, generations=1))):
        back = pickle.loads(pickle.dumps(result))
        for law, copy in zip(result.candidates, back.candidates):
            np.testing.assert_array_equal(law.fn(x), copy.fn(x))
            np.testing.assert_array_equal(law.grad(x), copy.grad(x))


def test_sindy_reports_nothing_without_an_invariant():
    result = PEERS["sindy"](damped(), seconds=5.0, seed=0)
    assert result.laws == [], result.note


def test_sindy_finds_several_independent_laws():
    d = hamiltonian_data.SYSTEMS["oscillator-2d"].generate(seed=0)
    result = PEERS["sindy"](d, seconds=5.0, seed=0)
    assert len(result.laws) == 3, result.note
    assert all(law.r < 1e-12 for law in result.laws)
    x, y, px, py = d.x_train[::11].T
    angular = np.stack([py, -px, -y, x], 1)        # gradient of x·py − y·px
    g = result.laws[0].grad(d.x_train[::11])
    cos = np.abs(np.sum(g * angular, 1)) / np.linalg.norm(g, axis=1) / np.linalg.norm(angular, axis=1)
    assert np.min(cos) > 1 - 1e-9, result.laws[0].text


def test_gplearn_runs_on_a_tiny_budget(spring):
    cfg = gp.GPConfig(population=200, generations=3)
    a = gp.discover(spring, seconds=60.0, seed=3, config=cfg)
    b = gp.discover(spring, seconds=60.0, seed=3, config=cfg)
    assert [law.text for law in a.laws] == [law.text for law in b.laws]   # seeded
    assert [law.r for law in a.candidates] == [law.r for law in b.candidates]
    assert "3/3 generations" in a.note
    assert a.candidates and len(a.laws) <= 1
    x = spring.x_train[::5]
    for law in a.candidates[:10]:
        assert isinstance(law, PeerLaw) and isinstance(law.text, str)
        v, g = law.fn(x), law.grad(x)
        assert v.shape == (x.shape[0],) and g.shape == x.shape
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    assert [law.r for law in a.candidates] == sorted(law.r for law in a.candidates)
    for law in a.laws:
        assert law.r <= cfg.r_max


def test_gplearn_budget_sets_the_generations(spring):
    result = PEERS["gplearn"](spring, seconds=0.5, seed=0)
    n = sum(len(tr) for tr in spring.train)
    expected = max(1, int(0.5 / (gp.SECONDS_PER_EVAL * gp.GPConfig().population * n)))
    assert f"/{expected} generations" in result.note
