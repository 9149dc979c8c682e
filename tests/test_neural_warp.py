"""The warp-invariant Noether loss (normalise="gradient"): each component's change over one
predicted step divided by the length of its gradient at the state (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from noether_search.model import MLP
from noether_search.neural import Embedding, embedding_scale, meta_train, noether_loss
from noether_search.neural.tailor import noether_predict
from noether_search.stages.neural import NeuralConfig, neural
from test_neural import DT, oscillator


def energy(x: torch.Tensor) -> torch.Tensor:
    """(B, 2) -> (B,): a positive energy of the oscillator, (q² + p²)/2 + 1."""
    return (x ** 2).sum(-1) / 2 + 1


def warped(x: torch.Tensor) -> torch.Tensor:
    """A monotone warp of the energy, 0.3·E³ − 2 (slope 0.9·E², state-dependent)."""
    return 0.3 * energy(x) ** 3 - 2


@pytest.fixture(scope="module")
def states():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=gen, dtype=torch.float64) * 1.5
    f = torch.stack([x[:, 1], -x[:, 0]], -1) + 0.05 * torch.randn(64, 2, generator=gen,
                                                                     dtype=torch.float64)
    return x, f


def spread(ratio: torch.Tensor) -> float:
    """Relative spread of a positive per-state ratio: (max − min) / median."""
    ratio = ratio.detach()
    return float((ratio.max() - ratio.min()) / ratio.median())


def test_gradient_loss_is_invariant_to_a_warp_state_by_state(states):
    x, f = states
    dt = 0.01                                     # invariant to first order in the step
    ratio = {}
    for norm in ("std", "gradient"):
        le = noether_loss(energy, x, f, dt, embedding_scale(energy, x, normalise=norm),
                          normalise=norm)
        lw = noether_loss(warped, x, f, dt, embedding_scale(warped, x, normalise=norm),
                          normalise=norm)
        ratio[norm] = lw / le                                              # (B,)
    assert spread(ratio["gradient"]) < 1e-3       # one constant for every state
    assert spread(ratio["std"]) > 1.0             # the default weighs states by h'(E)²


def test_gradient_loss_is_the_squared_distance_across_the_level_set(states):
    x, f = states
    scale = embedding_scale(energy, x, normalise="gradient")
    loss = noether_loss(energy, x, f, DT, scale, normalise="gradient")
    n = x / x.norm(dim=-1, keepdim=True)                  # ∇E / |∇E| for E = |x|²/2 + 1
    torch.testing.assert_close(loss, ((n * f).sum(-1) * DT / scale[0]) ** 2)


def test_warped_embedding_steps_like_the_energy_with_the_gradient_loss(states):
    torch.manual_seed(0)
    x, _ = states
    model = MLP(2, hidden=8).double()
    with torch.no_grad():
        f0 = model(x)
    steps = {}
    for norm in ("std", "gradient"):
        pe, pw = (noether_predict(model, g, x, DT, 0.3,
                                  embedding_scale(g, x, normalise=norm), normalise=norm)
                  for g in (energy, warped))
        steps[norm] = ((pw - f0).norm(dim=-1) / (pe - f0).norm(dim=-1))     # (B,)
    assert spread(steps["gradient"]) < 2e-2 and spread(steps["std"]) > 1.0


def test_meta_training_and_inner_step_with_the_gradient_loss():
    torch.manual_seed(0)
    data = oscillator()
    x = torch.tensor(data.x_train, dtype=torch.float32)
    dxdt = torch.tensor(data.dxdt_train, dtype=torch.float32)
    model, embed = MLP(2, hidden=8), Embedding(2, k=2, hidden=8)
    r = meta_train(model, embed, x, dxdt, DT, 0.1, epochs=5, lr=1e-3, embed_lr=1e-2,
                   normalise="gradient")
    changed = [k for k, v in embed.state_dict().items() if not torch.equal(v, r.embed_state[k])]
    assert r.best_epoch > 0 and changed and r.final_train_loss < r.initial_train_loss
    scale = embedding_scale(embed, x, normalise="gradient")
    with torch.no_grad():
        before = noether_loss(embed, x, model(x), DT, scale, normalise="gradient")
        after = noether_loss(embed, x, noether_predict(model, embed, x, DT, 0.1, scale,
                                                       normalise="gradient"),
                             DT, scale, normalise="gradient")
    assert float(after.sum()) < float(before.sum())
    with pytest.raises(ValueError, match="normalise"):
        meta_train(model, embed, x, dxdt, DT, 0.1, epochs=1, normalise="grad")


def test_stage_option_enters_the_key_and_is_checked():
    from noether_search.baseline import BaselineConfig

    std, grad = (NeuralConfig(noether_norm=n).key("d", "b") for n in ("std", "gradient"))
    assert std != grad and NeuralConfig().key("d", "b") in (std, grad)
    data = oscillator(n_traj=8)
    config = NeuralConfig(embed_hidden=8, epochs=2, outer_lrs=(1e-3,), inner_lrs=(0.1,),
                          embed_lrs=(1e-2,), pretrain_epochs=20, noether_norm="gradient")
    r = neural(data, config, baseline_config=BaselineConfig(hidden=16, steps=30))
    assert np.isfinite(r.rmse["neural"])
    with pytest.raises(ValueError, match="noether_norm"):
        neural(data, NeuralConfig(noether_norm="level"))
