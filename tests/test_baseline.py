"""The vanilla MLP baseline: architecture, training, store reuse, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hamiltonian_data import load
from noether_search.baseline import (MLP, BaselineConfig, default_horizon, derivative_mse,
                                     rollout, train_mlp)
from noether_search.stages import baseline_key, train_baseline
from noether_search.store import ResultsStore

SMALL = BaselineConfig(hidden=32, steps=300, lr=3e-3)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny matrices: a second intra-op thread only adds contention on 2 shared cores
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def spring():
    return load("spring")


def test_mlp_architecture():
    m = MLP(3)
    assert m.linear1.weight.shape == (200, 3) and m.linear2.weight.shape == (200, 200)
    assert m.linear3.weight.shape == (3, 200) and m.linear3.bias is None
    assert all(p.dtype == torch.float32 for p in m.parameters())
    w = m.linear2.weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(200), atol=1e-4, rtol=0)   # orthogonal
    assert m(torch.zeros(5, 3)).shape == (5, 3)


def test_config_for_dataset(spring):
    assert BaselineConfig.for_dataset(spring).weight_decay == 1e-4
    assert BaselineConfig.for_dataset(load("real-pendulum")).weight_decay == 1e-5
    assert BaselineConfig.for_dataset(spring, steps=5).steps == 5
    assert BaselineConfig() == BaselineConfig(hidden=200, steps=2000, lr=1e-3,
                                              weight_decay=1e-4, seed=0)


def test_small_baseline_beats_zero(spring):
    calls = []
    model = train_mlp(spring, SMALL, progress=lambda s, n, loss: calls.append((s, n, loss)))
    train, test = derivative_mse(model, spring)
    zero = float(np.mean(spring.dxdt_test ** 2))
    assert test < 0.2 * zero and train < 0.2 * float(np.mean(spring.dxdt_train ** 2))
    assert calls[-1][:2] == (300, 300) and calls[-1][2] < calls[0][2]


def test_training_is_seeded(spring):
    cfg = BaselineConfig(hidden=16, steps=5)
    a, b = train_mlp(spring, cfg), train_mlp(spring, cfg)
    torch.testing.assert_close(a.linear1.weight, b.linear1.weight)
    c = train_mlp(spring, BaselineConfig(hidden=16, steps=5, seed=1))
    assert not torch.equal(a.linear1.weight, c.linear1.weight)


def test_reuse_does_not_retrain(tmp_path, spring):
    store = ResultsStore.open(tmp_path / "run")
    cfg = BaselineConfig(hidden=16, steps=20)
    first = train_baseline(spring, cfg, store=store)
    assert first.trained and store.exists(first.key) and first.key == baseline_key(spring, cfg)
    calls = []
    second = train_baseline(spring, cfg, store=store, progress=lambda *a: calls.append(a))
    assert second.trained is False and calls == []
    for (n1, p1), (n2, p2) in zip(first.model.state_dict().items(),
                                  second.model.state_dict().items()):
        assert n1 == n2
        assert torch.equal(p1, p2)
    assert second.metrics == pytest.approx(first.metrics)
    with store.read(first.key, encoding_type="baseline") as f:
        assert f.attrs["data_hash"] == spring.content_hash()
        assert f.attrs["seed"] == 0
        assert set(f["weights"]) == {"linear1.weight", "linear1.bias", "linear2.weight",
                                     "linear2.bias", "linear3.weight"}
    # another config or other data -> another key
    assert baseline_key(spring, BaselineConfig(hidden=16, steps=21)) != first.key
    assert baseline_key(load("spring", seed=1), cfg) != first.key


def _spring_field(x: torch.Tensor) -> torch.Tensor:
    # the true field via autograd of H = q² + p²: rollout must not run under no_grad
    x = x.detach().requires_grad_(True)
    H = (x ** 2).sum()
    dH = torch.autograd.grad(H, x)[0]
    return torch.stack([dH[:, 1], -dH[:, 0]], dim=1)


def test_rollout_of_true_field_is_exact(spring):
    r = rollout(_spring_field, spring, dtype=torch.float64)
    assert r.horizon == default_horizon(spring) == 58
    assert r.pred.shape == r.true.shape == (25, 59, 2) and r.rmse_by_step.shape == (58,)
    assert r.t[-1] == pytest.approx(6.0)
    assert r.rmse < 1e-4
    short = rollout(_spring_field, spring, horizon=10)
    np.testing.assert_allclose(short.true, np.stack([tr.x[:11] for tr in spring.test]))
    assert short.rmse < 1e-4


def test_rollout_of_zero_field_is_bad(spring):
    r = rollout(lambda x: torch.zeros_like(x), spring, horizon=29)
    assert r.rmse > 0.1
    assert np.all(np.diff(r.rmse_by_step[:5]) > 0)


def test_rollout_horizon_limits(tmp_path, spring):
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        rollout(_spring_field, spring, horizon=0)
    real = load("real-pendulum")
    assert default_horizon(real) == 19
    with pytest.raises(ValueError, match="choose horizon <= 109"):
        rollout(_spring_field, real, horizon=200)


@pytest.mark.slow
@pytest.mark.parametrize("name,limit", [("pendulum", 0.1), ("spring", 0.04),
                                        ("real-pendulum", 0.3)])
def test_full_baseline(name, limit):
    ds = load(name)
    model = train_mlp(ds, BaselineConfig.for_dataset(ds))
    train, test = derivative_mse(model, ds)
    assert rollout(model, ds).rmse < limit
    if name == "real-pendulum":
        assert train < 4e-3 and test < 4e-3    # HNN: 2.7e-3 / 2.2e-3
