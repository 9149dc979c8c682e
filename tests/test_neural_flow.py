"""The flow-alignment loss of the embedding's pretraining (tiny sizes): zero for a conserved
quantity, invariant to a monotone warp, lowered by pretraining, and off by default."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from noether_search.neural import Embedding
from noether_search.neural.pretrain import (embedding_gradients, flow_alignment, flow_crossing,
                                            pretrain_embedding)
from noether_search.stages.neural import NeuralConfig
from test_neural import oscillator, oscillator_csv  # noqa: F401 (fixture)


def pendulum_states(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random pendulum states (q, p) and the exact field of H = p² − 3 cos q:
    dq/dt = 2p, dp/dt = −3 sin q."""
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.uniform([-2.0, -1.5], [2.0, 1.5], size=(n, 2)), dtype=torch.float64)
    f = torch.stack([2 * x[:, 1], -3 * torch.sin(x[:, 0])], dim=1)
    return x, f


def energy(z: torch.Tensor) -> torch.Tensor:
    return (z[:, 1] ** 2 - 3 * torch.cos(z[:, 0]))[:, None]            # (N, 1)


def loss_of(fn, x: torch.Tensor, f: torch.Tensor) -> float:
    return float(flow_alignment(embedding_gradients(fn, x), f))


def test_zero_for_the_energy_and_positive_for_a_non_conserved_function():
    x, f = pendulum_states()
    assert loss_of(energy, x, f) < 1e-20
    assert flow_crossing(energy, x.float(), f.float())[0] < 1e-5
    assert loss_of(lambda z: z[:, :1], x, f) > 0.1                    # q is not conserved
    assert loss_of(lambda z: (z[:, :1] + z[:, 1:]), x, f) > 0.1


def test_invariant_to_a_monotone_warp():
    x, f = pendulum_states(seed=1)
    tilted = lambda z: energy(z) + 0.3 * z[:, :1]                      # noqa: E731
    base = loss_of(tilted, x, f)
    assert base > 1e-3
    for warp in (lambda g: 2.5 * g - 4, lambda g: 0.3 * g ** 3 - 2, lambda g: -torch.exp(g)):
        assert loss_of(lambda z: warp(tilted(z)), x, f) == pytest.approx(base, rel=1e-5)  # up to ε


def test_pretraining_with_the_flow_term_lowers_it():
    data = oscillator(n_traj=6, n_t=16)
    xs = [np.asarray(t.x) for t in data.train]
    fs = [np.asarray(t.dxdt) for t in data.train]
    x = torch.tensor(np.concatenate(xs), dtype=torch.float32)
    f = torch.tensor(np.concatenate(fs), dtype=torch.float32)
    torch.manual_seed(0)
    g = Embedding(2, k=1, hidden=16)
    start = loss_of(g, x, f)
    plain = pretrain_embedding(g, xs, epochs=150, lr=1e-2)
    flow = pretrain_embedding(g, xs, epochs=150, lr=1e-2, derivatives=fs, flow_weight=10.0)
    after = {}
    for name, r in (("plain", plain), ("flow", flow)):
        h = Embedding(2, k=1, hidden=16)
        h.load_state_dict(r.embed_state)
        after[name] = loss_of(h, x, f)
    assert after["flow"] < 0.1 * start
    assert after["flow"] < after["plain"]


def test_flow_weight_needs_derivatives_and_a_valid_weight():
    xs = [np.asarray(t.x) for t in oscillator().train]
    g = Embedding(2, k=1, hidden=8)
    with pytest.raises(ValueError, match="derivatives"):
        pretrain_embedding(g, xs, epochs=1, flow_weight=1.0)
    with pytest.raises(ValueError, match="flow_weight"):
        pretrain_embedding(g, xs, epochs=1, flow_weight=-1.0, derivatives=xs)
    with pytest.raises(ValueError, match="pretrain_flow"):
        from noether_search.stages.neural import neural
        neural(oscillator(), NeuralConfig(pretrain_flow=float("nan")))


def test_store_key_unchanged_when_off_and_changed_when_on():
    # keys of the settings before the option existed (computed from that code)
    assert NeuralConfig().key("abc", "def") == "a68a231262e0"
    assert NeuralConfig(pretrain_epochs=0).key("abc", "def") == "1c73c1dc07fe"
    assert NeuralConfig(noether_norm="gradient", pretrain_epochs=5000,
                        embed_lrs=(0.0,)).key("abc", "def") == "0cf976a6b039"
    on = NeuralConfig(pretrain_flow=1.0)
    assert on.key("abc", "def") != NeuralConfig().key("abc", "def")
    assert (NeuralConfig(pretrain_epochs=0, pretrain_flow=1.0).key("abc", "def")
            == "1c73c1dc07fe")                  # without pretraining it means nothing


def test_cli_passes_the_option(tmp_path, oscillator_csv):
    from click.testing import CliRunner

    from noether_search.cli import cli

    res = CliRunner().invoke(cli, ["neural", "--data", str(oscillator_csv), "--epochs", "1",
                                   "--inner-lrs", "0.1", "--embed-hidden", "8",
                                   "--embed-lrs", "0", "--no-refit", "--pretrain-epochs", "3",
                                   "--pretrain-flow", "2.5",
                                   "--out", str(tmp_path / "r"), "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["config"]["pretrain_flow"] == 2.5


def test_the_stage_pretrains_with_the_data_derivatives():
    from noether_search.stages._neural import initial_embeddings

    data = oscillator(n_traj=6, n_t=16)
    x = torch.tensor(data.x_train, dtype=torch.float32)
    f = torch.tensor(data.dxdt_train, dtype=torch.float32)
    got = {}
    for w in (0.0, 10.0):
        cfg = NeuralConfig(embed_dim=1, embed_hidden=16, pretrain_epochs=120, pretrain_flow=w)
        got[w] = loss_of(initial_embeddings(data, cfg, [0])[0], x, f)
    assert got[10.0] < got[0.0]
