"""The discovery benchmark's matching: a law recovers a known invariant when each is a
function of the other on the data."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dslsearch.law import Law

VARIABLES = [("q", ""), ("p", "")]


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_discovery.py"
    spec = importlib.util.spec_from_file_location("bench_discovery", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform([-2.0, -2.0], [2.0, 2.0], size=(200, 2))


def energy() -> Law:
    return Law.parse("p**2 - 3*cos(q)", VARIABLES)


def test_square_of_the_invariant_matches(bench, x):
    squared = Law.parse("(p**2 - 3*cos(q))**2", VARIABLES)
    assert bench.matches(squared, energy(), x)
    assert bench.matches(energy(), squared, x)


def test_unrelated_law_does_not_match(bench, x):
    other = Law.parse("p*q", VARIABLES)
    assert not bench.matches(other, energy(), x)


def test_spurious_is_a_law_outside_the_known_span(bench, x):
    known = [energy()]
    assert not bench.spurious(Law.parse("(p**2 - 3*cos(q))**2", VARIABLES), known, x, 1)
    assert bench.spurious(Law.parse("p*q", VARIABLES), known, x, 1)


# -- scoring of ours and the peers ------------------------------------------------------------
class TrivialPeerLaw:
    """A peer's law as benchmarks/peers reports one: text, fn, grad, r."""

    def __init__(self, text, fn, grad, r=float("nan")):
        self.text, self.fn, self.grad, self.r = text, fn, grad, r


class TrivialResult:
    def __init__(self, laws):
        self.laws, self.seconds, self.note = laws, 0.0, "in-test peer"


def _energy_peer_law():
    return TrivialPeerLaw("p^2 - 3 cos q", lambda x: x[:, 1] ** 2 - 3 * np.cos(x[:, 0]),
                          lambda x: np.stack([3 * np.sin(x[:, 0]), 2 * x[:, 1]], 1))


def _product_peer_law():
    return TrivialPeerLaw("p q", lambda x: x[:, 0] * x[:, 1],
                          lambda x: np.stack([x[:, 1], x[:, 0]], 1))


def test_a_peer_law_is_scored_like_ours(bench, monkeypatch):
    monkeypatch.setattr(bench, "peer_methods", lambda: {
        "trivial": lambda dataset, *, seconds, seed: TrivialResult(
            [_energy_peer_law(), _product_peer_law()])})
    row = bench._peer("trivial", "pendulum", 0.0, 0, 1.0)
    assert row["method"] == "trivial" and row["found"] == 1 and row["spanned"] == 1
    assert row["spurious"] == ["p q"] and row["n_independent"] == 2
    control = bench._peer("trivial", "damped-oscillator", 0.0, 0, 1.0)
    assert control["known"] == 0 and len(control["spurious"]) == 2   # all spurious


def test_peer_as_law_gradient_through_torch():
    import torch

    from dslsearch.independence import independent_laws

    x = np.random.default_rng(0).uniform(-2, 2, (100, 2))
    b = importlib.util.module_from_spec(importlib.util.spec_from_file_location(
        "bd", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_discovery.py"))
    b.__loader__.exec_module(b)
    law = b.PeerAsLaw(_energy_peer_law(), VARIABLES, 0.0)
    xt = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(law.torch_fn()(xt).sum(), xt)
    np.testing.assert_allclose(g.numpy(), _energy_peer_law().grad(x))
    assert independent_laws([law, energy()], x).n_independent == 1


def test_scores_pool_systems_and_count_controls(bench):
    rows = [{"known": 1, "spanned": 1, "basis": ["E"], "spurious": [], "seconds": 2.0},
            {"known": 3, "spanned": 2, "basis": ["a", "b", "c"], "spurious": ["c"],
             "seconds": 4.0},
            {"known": 0, "spanned": 0, "basis": ["x"], "spurious": ["x"], "seconds": 6.0}]
    sc = bench.scores(rows)
    assert sc["detection"] == 3 / 4 and sc["fdr"] == 2 / 5
    assert sc["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35) and sc["seconds"] == 4.0
    assert bench.scores(rows[:1])["fdr"] == 0.0 and bench.scores(rows[:1])["f1"] == 1.0


def test_seed_summary_scores_each_seed_and_gives_the_spread(bench):
    def row(seed, spanned, spurious):
        return {"method": "ours", "system": "a", "noise": 0.1, "seed": seed, "known": 2,
                "spanned": spanned, "basis": ["g"] * 2, "spurious": ["g"] * spurious,
                "seconds": 1.0, "cpu_seconds": 1.0}

    text = bench.seed_summary([row(0, 2, 0), row(1, 1, 1), row(2, 2, 1)], "cmd")
    assert "| ours | 0.1 | 1 | 1 | 0.50 (1/2) | 0.50 (1/2) | 0.50 |" in text
    assert "| ours | 0.1 | 0 | 1 | 1.00 (2/2) | 0.00 (0/2) | 1.00 |" in text
    assert "- ours, noise 0.1, 3 seed(s): detection 0.50–1.00, fdr 0.00–0.50, f1 0.50–1.00" \
        in text


def test_first_seed_runs_only_the_seeds_from_k(bench):
    from types import SimpleNamespace

    import hamiltonian_data

    args = SimpleNamespace(systems=["pendulum", "real-pendulum"], noise=[0.0, 0.05],
                           first_seed=3, seeds=5, methods=["ours"])
    runs = bench.plan(args, hamiltonian_data.SYSTEMS)
    assert [r for r in runs if r[0] == "pendulum"] == [
        ("pendulum", 0.0, 3, "ours"), ("pendulum", 0.0, 4, "ours"),
        ("pendulum", 0.05, 3, "ours"), ("pendulum", 0.05, 4, "ours")]
    assert [r for r in runs if r[0] == "real-pendulum"] == [("real-pendulum", 0.0, 0, "ours")]


def test_strict_columns_count_only_laws_conserved_on_the_noise_free_states(bench, monkeypatch):
    """At noise 0.05 the exact energy counts in the strict columns; a law with a wrong
    constant (``p² − 2.7 cos q``, not conserved on the noise-free states) is a strict false
    discovery, whatever the gradient test says of it."""
    near = TrivialPeerLaw("p^2 - 2.7 cos q", lambda x: x[:, 1] ** 2 - 2.7 * np.cos(x[:, 0]),
                          lambda x: np.stack([2.7 * np.sin(x[:, 0]), 2 * x[:, 1]], 1))

    def run(laws):
        monkeypatch.setattr(bench, "peer_methods", lambda: {
            "trivial": lambda dataset, *, seconds, seed: TrivialResult(laws)})
        return bench._peer("trivial", "pendulum", 0.05, 0, 1.0)

    exact = run([_energy_peer_law()])
    assert exact["spanned_strict"] == 1 and exact["spurious_strict"] == []
    assert exact["clean_r"][0] < 1e-9
    off = run([near])
    assert off["clean_r"][0] > bench.STRICT_R
    assert off["spanned_strict"] == 0 and off["spurious_strict"] == ["p^2 - 2.7 cos q"]
    sc = bench.scores([exact, off])
    assert (sc["detected_strict"], sc["false_strict"]) == (1, 1)
    assert "| 0.50 (1/2) | 0.50 (1/2) |" in bench.summary([exact, off], "cmd")


def test_the_refit_method_names_a_row_only_when_not_the_default(bench):
    from types import SimpleNamespace

    args = SimpleNamespace(depth=7, search=None, ops=None, term_size=None, test="calibrated",
                           term_ops=None, noisy_sums=False, refit="moments")
    assert "refit" not in bench.run_settings(args, "ours")      # keys of stored rows kept
    args.refit = "ml"
    assert bench.run_settings(args, "ours")["refit"] == "ml"


def test_within_columns_count_a_law_whose_intervals_hold_the_invariant(bench):
    """A noisy fit's ``p² − 2.9 cos q`` (pendulum, true constant 3) is not conserved on the
    noise-free states; with an interval that holds 3 it is the energy within the uncertainty
    it states (its noise-free fit, constant 3), with one that does not it stays as reported."""
    import hamiltonian_data

    system = hamiltonian_data.SYSTEMS["pendulum"]
    noisy, clean = system.generate(noise=0.05, seed=0), system.generate(noise=0.0, seed=0)
    near = Law.parse("p**2 - 2.9*cos(q)", [(v.name, v.unit) for v in noisy.variables])
    assert bench.clean_r(near, clean) > bench.STRICT_R
    wide = near.with_intervals(((2.8, 3.1),))
    fitted = bench.within_uncertainty(wide, clean)
    assert fitted is not None and abs(fitted.params[0] - 3.0) < 1e-3
    assert bench.within_uncertainty(near.with_intervals(((2.85, 2.95),)), clean) is None
    assert bench.within_uncertainty(near, clean) is None           # no interval stated

    x = noisy.x_train
    row = bench._compare(system, noisy, [wide], [wide], x, clean)
    assert (row["spanned_strict"], row["spanned_within"], row["spurious_within"]) == (0, 1, [])
    narrow = near.with_intervals(((2.85, 2.95),))
    row = bench._compare(system, noisy, [narrow], [narrow], x, clean)
    assert row["spanned_within"] == row["spanned"]
    assert row["spurious_within"] == row["spurious"]
    sc = bench.scores([row | {"seconds": 1.0}])
    assert sc["detected_within"] == row["spanned_within"]
    assert row["inside"] == [[False]] and bench.coverage([row]) == (0, 1)
    assert "0/1 constants inside" in bench.summary([row | {"seconds": 1.0, "noise": 0.05}], "cmd")


def test_noise_free_fit_says_which_constants_lie_inside(bench):
    """The noise-free fit of ``p² − 2.9 cos q`` gives 3: inside (2.8, 3.1), not inside
    (2.85, 2.95); a law not of the invariant's form (``p² + 2.9 q``) has no noise-free fit."""
    import hamiltonian_data

    clean = hamiltonian_data.SYSTEMS["pendulum"].generate(noise=0.0, seed=0)
    variables = [(v.name, v.unit) for v in clean.variables]
    near = Law.parse("p**2 - 2.9*cos(q)", variables)
    assert bench.noise_free_fit(near.with_intervals(((2.8, 3.1),)), clean)[1] == [True]
    assert bench.noise_free_fit(near.with_intervals(((2.85, 2.95),)), clean)[1] == [False]
    other = Law.parse("p**2 + 2.9*q", variables).with_intervals(((2.8, 3.1),))
    assert bench.noise_free_fit(other, clean) is None
