"""The options of the neural Noether model aimed at states beyond the training range: the
embedding's input normalisation, the cap on the inner step and the outer validation split
(tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hamiltonian_data import Dataset
from noether_search.model import MLP
from noether_search.neural import Embedding, embedding_scale, meta_train, noether_predict
from noether_search.neural.tailor import cap_step
from noether_search.stages.neural import NeuralConfig, neural

DT = 0.1


def rings(radii, n_t: int = 64) -> Dataset:
    """Training trajectories of the unit oscillator on circles of the given radii, in that
    order (one period each), and two test trajectories."""
    t = np.arange(n_t) * DT
    x = [np.stack([r * np.cos(t + r), -r * np.sin(t + r)], axis=1) for r in [*radii, 0.7, 1.1]]
    dxdt = [np.stack([xi[:, 1], -xi[:, 0]], axis=1) for xi in x]
    n = len(radii)
    return Dataset.from_arrays(x, t, names=["q", "p"], units=["", ""], dxdt=dxdt,
                               train=list(range(n)), test=[n, n + 1], name="rings")


def test_normalised_embedding_is_the_plain_one_on_standardised_states():
    torch.manual_seed(0)
    x = torch.randn(50, 2) * torch.tensor([3.0, 0.2]) + torch.tensor([1.0, -4.0])
    plain = Embedding(2, k=2, hidden=8)
    normed = Embedding(2, k=2, hidden=8)
    normed.load_state_dict(plain.state_dict())
    assert torch.equal(normed(x), plain(x))                # identity until normalised
    normed.normalise_inputs(x.numpy())
    z = (x - x.double().mean(0).float()) / x.double().std(0).float()
    torch.testing.assert_close(normed(x), plain(z))
    assert not torch.allclose(normed(x), plain(x))
    again = Embedding(2, k=2, hidden=8)
    again.load_state_dict(normed.state_dict())             # μ, σ travel with the state
    torch.testing.assert_close(again(x), normed(x))
    assert all(n not in dict(normed.named_parameters()) for n in ("input_shift",
                                                                 "input_scale"))
    with pytest.raises(ValueError, match="normalise_inputs"):
        normed.normalise_inputs(np.ones((1, 2)))


def test_cap_bounds_the_relative_change_and_keeps_its_direction():
    f0 = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    pred = f0 + torch.tensor([[0.5, 0.0], [0.0, 0.01], [-3.0, 4.0]])
    out = cap_step(f0, pred, 0.1)
    change = (out - f0).norm(dim=-1) / f0.norm(dim=-1)
    torch.testing.assert_close(change, torch.tensor([0.1, 0.005, 0.1]))
    torch.testing.assert_close(out[1], pred[1])            # under the cap: unchanged
    torch.testing.assert_close(out[2] - f0[2], torch.tensor([-0.3, 0.4]))   # same direction
    torch.testing.assert_close(cap_step(f0, pred, 100.0), pred)


def test_capped_inner_step_in_prediction_and_meta_training():
    torch.manual_seed(0)
    x = torch.randn(40, 2)
    dxdt = torch.stack([x[:, 1], -x[:, 0]], dim=1)
    model, g = MLP(2, hidden=8), Embedding(2, k=2, hidden=8)
    scale = embedding_scale(g, x)
    with torch.no_grad():
        f0 = model(x)
        free = noether_predict(model, g, x, DT, 30.0, scale)
        capped = noether_predict(model, g, x, DT, 30.0, scale, max_step=1e-3)
    assert ((free - f0).norm(dim=-1) / f0.norm(dim=-1)).max() > 1e-2    # the cap bites
    assert ((capped - f0).norm(dim=-1) / f0.norm(dim=-1)).max() <= 1e-3 * (1 + 1e-3)
    r = meta_train(model, g, x, dxdt, DT, 30.0, epochs=3, embed_lr=1e-2, max_step=1e-3)
    assert r.best_epoch > 0 and np.isfinite(r.final_train_loss)
    with pytest.raises(ValueError, match="max_step"):
        meta_train(model, g, x, dxdt, DT, 0.1, epochs=1, max_step=0.0)


def test_outer_split_holds_out_the_widest_trajectories():
    from noether_search.stages._neural import reach, split_validation

    data = rings([0.5, 1.5, 0.8, 1.2, 0.6, 1.0, 0.9, 0.7])
    assert np.argsort(reach(data.train))[-2:].tolist() == [3, 1]
    fit, val = split_validation(data, 0.25, "outer")
    radius = [float(np.hypot(*tr.x[0])) for tr in val.train]
    assert radius == pytest.approx([1.5, 1.2])              # the two widest, data order
    assert len(fit.train) == 6 and max(np.hypot(*tr.x[0]) for tr in fit.train) < 1.01
    last = split_validation(data, 0.25, "last")[1]
    assert [float(np.hypot(*tr.x[0])) for tr in last.train] == pytest.approx([0.9, 0.7])


def test_stage_with_the_options_and_bad_options():
    from noether_search.baseline import BaselineConfig
    from noether_search.stages._neural import load_run

    config = NeuralConfig(embed_hidden=8, epochs=2, outer_lrs=(1e-3,), inner_lrs=(0.1,),
                          embed_lrs=(1e-2,), val_split="outer", normalise_inputs=True, pretrain_epochs=50,
                          max_step=0.05)
    data = rings([0.5, 1.5, 0.8, 1.2, 0.6, 1.0, 0.9, 0.7])
    r = neural(data, config, baseline_config=BaselineConfig(hidden=16, steps=30))
    assert np.isfinite(r.rmse["neural"]) and np.isfinite(r.chosen.val_rmse)
    _, g = load_run(r.baseline.model, r.run)
    x = np.concatenate([tr.x for tr in data.train])
    torch.testing.assert_close(g.input_shift, torch.tensor(x.mean(0), dtype=torch.float32))
    assert r.to_json()["config"]["val_split"] == "outer"
    with pytest.raises(ValueError, match="val_split"):
        neural(data, NeuralConfig(val_split="random"))
    with pytest.raises(ValueError, match="max_step"):
        neural(data, NeuralConfig(max_step=-1.0))


def test_plain_weight_holds_the_unadapted_predictor_to_the_data():
    torch.manual_seed(0)
    x = torch.randn(40, 2)
    dxdt = torch.stack([x[:, 1], -x[:, 0]], dim=1)
    model, g = MLP(2, hidden=8), Embedding(2, k=2, hidden=8)

    def plain_loss(weight: float) -> float:
        r = meta_train(model, g, x, dxdt, DT, 1.0, epochs=20, lr=1e-2, embed_lr=1e-2,
                       plain_weight=weight)
        net = MLP(2, hidden=8)
        net.load_state_dict(r.model_state)
        with torch.no_grad():
            return float(((net(x) - dxdt) ** 2).mean())

    assert plain_loss(10.0) < plain_loss(0.0)
    with pytest.raises(ValueError, match="plain_weight"):
        meta_train(model, g, x, dxdt, DT, 0.1, epochs=1, plain_weight=-1.0)
    assert NeuralConfig(plain_weight=0.0).key("d", "b") != \
        NeuralConfig(plain_weight=1.0).key("d", "b")


def test_loss_guard_skips_runs_that_fit_their_training_data_badly():
    from dataclasses import replace

    from noether_search.stages._neural import best
    from noether_search.store.codecs import NeuralRun

    def run(train_loss: float, val_rmse: float) -> NeuralRun:
        return NeuralRun(model_state={}, embed_state={}, embed_dim=2, embed_hidden=8,
                         inner_lr=0.1, outer_lr=1e-3, embed_lr=1e-2, scale=np.ones(2),
                         final_train_loss=train_loss, initial_train_loss=1.0,
                         history=np.zeros(0), val_rmse=val_rmse)

    runs = (run(1e-4, 0.10), run(2e-3, 0.03), run(2.5e-4, 0.08), run(float("inf"), 0.01))
    assert best(runs) is runs[3]                           # validation alone
    assert best(runs, 3.0) is runs[2]                      # within 3x the lowest loss
    assert best(runs, 30.0) is runs[1]
    assert best([replace(runs[1], final_train_loss=float("nan"))], 3.0).val_rmse == 0.03
    with pytest.raises(ValueError, match="max_loss_ratio"):
        neural(rings([0.5, 1.5, 0.8]), NeuralConfig(max_loss_ratio=0.5))
