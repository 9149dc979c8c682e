"""Conservation pretraining of the learned embedding, a fixed embedding in meta-training, and
the probe's rank correlation (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from noether_search.model import MLP
from noether_search.neural import Embedding, linear_probe, meta_train
from noether_search.neural.pretrain import conservation_ratio, pretrain_embedding
from noether_search.stages.neural import NeuralConfig
from test_neural import oscillator  # the same tiny data set as the stage tests

DT = 0.1


def trajectories(n_traj: int = 6, n_t: int = 16) -> list[np.ndarray]:
    """The training trajectories of :func:`oscillator`: n_traj // 2 arcs of n_t samples."""
    return [np.asarray(t.x) for t in oscillator(n_traj=n_traj, n_t=n_t).train]


def energy(x: np.ndarray) -> np.ndarray:
    return (x ** 2).sum(axis=1)                      # q² + p², the oscillator's invariant


def fresh(k: int = 1, seed: int = 0) -> Embedding:
    torch.manual_seed(seed)
    return Embedding(2, k=k, hidden=16)


def test_ratio_is_zero_for_a_conserved_quantity_and_scale_invariant():
    trajs = trajectories(8)
    labels = torch.cat([torch.full((len(t),), i) for i, t in enumerate(trajs)])
    x = np.concatenate(trajs)
    conserved = torch.tensor(energy(x))[:, None]
    assert float(conservation_ratio(conserved, labels, len(trajs))) < 1e-20
    q = torch.tensor(x[:, :1])                        # not conserved: varies along each orbit
    r = float(conservation_ratio(q, labels, len(trajs)))
    assert 0.05 < r <= 1.0
    assert float(conservation_ratio(5 * q - 2, labels, len(trajs))) == pytest.approx(r)


def test_pretraining_lowers_the_loss_changes_parameters_and_finds_the_invariant():
    g = fresh(k=1)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    trajs = trajectories(16, n_t=64)          # 8 whole orbits (period 2π, 6.4 s sampled)
    r = pretrain_embedding(g, trajs, epochs=300, lr=1e-2)
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())   # input kept
    assert r.final_loss < 0.1 * r.initial_loss and r.best_epoch > 0
    assert len(r.loss_history) == 301 and r.final_loss == r.loss_history.min()
    changed = [k for k in before if not torch.equal(before[k], r.embed_state[k])]
    assert changed == [k for k, _ in g.named_parameters()]
    g.load_state_dict(r.embed_state)
    x = np.concatenate(trajs)
    with torch.no_grad():
        z = g(torch.tensor(x, dtype=torch.float32)).double().numpy()
    before_probe = linear_probe(fresh(k=1)(torch.tensor(x, dtype=torch.float32)).detach()
                                .double().numpy(), energy(x))
    after = linear_probe(z, energy(x))
    assert after.spearman > 0.95 and after.spearman > before_probe.spearman


def test_pretraining_is_deterministic_for_a_seed():
    a = pretrain_embedding(fresh(seed=3), trajectories(), epochs=20)
    b = pretrain_embedding(fresh(seed=3), trajectories(), epochs=20)
    assert all(torch.equal(a.embed_state[k], b.embed_state[k]) for k in a.embed_state)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)


def test_pretraining_rejects_one_trajectory_and_bad_settings():
    with pytest.raises(ValueError, match="two or more"):
        pretrain_embedding(fresh(), trajectories()[:1])
    with pytest.raises(ValueError, match="epochs"):
        pretrain_embedding(fresh(), trajectories(), epochs=-1)


def test_a_fixed_embedding_is_left_unchanged_by_meta_training():
    torch.manual_seed(0)
    data = oscillator()
    x = torch.tensor(data.x_train, dtype=torch.float32)
    dxdt = torch.tensor(data.dxdt_train, dtype=torch.float32)
    model, g = MLP(2, hidden=8), fresh(k=2)
    r = meta_train(model, g, x, dxdt, DT, 0.1, epochs=5, lr=1e-3, embed_lr=0.0)
    assert all(torch.equal(g.state_dict()[k], v) for k, v in r.embed_state.items())
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in r.model_state.items())
    with pytest.raises(ValueError, match="embed_lr"):
        meta_train(model, g, x, dxdt, DT, 0.1, epochs=1, embed_lr=-1.0)


def test_probe_rank_correlation_of_a_monotone_function():
    y = np.linspace(0.1, 2.0, 50)
    p = linear_probe(np.stack([y ** 5, np.sin(7 * y)], axis=1)[:, :1], y)
    assert p.spearman == pytest.approx(1.0) and p.r2 < 0.95
    assert np.isnan(linear_probe(np.ones((5, 1)), np.arange(5.0)).spearman)


def test_pretraining_settings_enter_the_store_key():
    k0 = NeuralConfig(pretrain_epochs=0).key("d", "b")
    assert NeuralConfig(pretrain_epochs=0, pretrain_lr=0.5).key("d", "b") == k0
    assert NeuralConfig(pretrain_epochs=500).key("d", "b") != k0
    assert (NeuralConfig(pretrain_epochs=500, pretrain_lr=0.5).key("d", "b")
            != NeuralConfig(pretrain_epochs=500).key("d", "b"))


def test_stage_reports_the_conservation_of_the_embedding(tmp_path):
    from noether_search.stages.neural import neural
    from noether_search.store import ResultsStore

    data = oscillator(n_traj=12, n_t=16)
    config = NeuralConfig(embed_dim=1, embed_hidden=8, epochs=2, inner_lrs=(0.1,),
                          outer_lrs=(1e-3,), embed_lrs=(0.0,), pretrain_epochs=50, horizon=5)
    s = neural(data, config, ResultsStore.open(tmp_path / "s")).to_json()
    e = s["embedding"]
    assert e["pretrained_test_ratio"] == pytest.approx(e["test_ratio"])   # rate 0: fixed
    assert 0 <= e["test_ratio"] < 1 and e["pretrained_probe_r2"] is None   # no invariant
    assert s["neural_rmse"] is not None and s["config"]["pretrain_epochs"] == 50
