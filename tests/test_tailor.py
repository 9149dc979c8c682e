"""Tests of noether_search.model: the MLP with CN, the CNGrad inner step, screen,
meta-tailoring and the tailored field."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from noether_search.model import (
    DEFAULT_LRS,
    MLP,
    CNParams,
    TailoredField,
    law_scale,
    meta_tailor,
    post_step_loss,
    screen,
    tailored_predict,
    tailored_predict_autograd,
)
from noether_search.model.inner import adapted_forward, loss_grad_f

DT = 3 / 44  # the ideal pendulum's time step


def pendulum_field(x: torch.Tensor) -> torch.Tensor:
    """Ideal pendulum: dq/dt = 2p, dp/dt = −3 sin q. x: (B, 2) → (B, 2)."""
    q, p = x[:, 0], x[:, 1]
    return torch.stack([2 * p, -3 * torch.sin(q)], dim=1)


def energy(x: torch.Tensor) -> torch.Tensor:
    """The pendulum's invariant p² − 3 cos q. x: (B, 2) → (B,)."""
    return x[:, 1] ** 2 - 3 * torch.cos(x[:, 0])


def wrong_law(x: torch.Tensor) -> torch.Tensor:
    """Not conserved by the pendulum: q² + p²."""
    return x[:, 0] ** 2 + x[:, 1] ** 2


def states(n: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    """n states with radius in [1.3, 2.3), as in the HNN pendulum data. (n, 2)."""
    gen = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
    radius = 1.3 + torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1).to(dtype)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tensors are tiny: one thread avoids oversubscription on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def damped_model(one_thread):
    """An MLP that learned a *damped* pendulum, dp/dt = −3 sin q − 0.3 p, on 256 states.

    Its error against the true (undamped) field is e = (0, −0.3 p), and ∇H·e = −0.6 p² ≤ 0:
    the error always drains energy. Conserving H is exactly what removes it, so one tailoring
    step with the true invariant must lower the task loss against the true field. Returns
    (model, x_train, true dx/dt).
    """
    torch.manual_seed(0)
    x = states(256, seed=1)
    target = pendulum_field(x) - 0.3 * torch.stack([torch.zeros(256), x[:, 1]], 1)
    model = MLP(2, hidden=64)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600):
        opt.zero_grad()
        ((model(x) - target) ** 2).mean().backward()
        opt.step()
    for p in model.parameters():
        p.grad = None
    return model, x, pendulum_field(x)


def small_double_model(seed: int = 0, hidden: int = 12) -> MLP:
    torch.manual_seed(seed)
    return MLP(2, hidden=hidden).double()


# ----------------------------------------------------------------------------- CN layers


def test_identity_cn_reproduces_the_mlp():
    model = small_double_model()
    x = states(7, seed=2, dtype=torch.float64)
    phi = CNParams.identity(model, 7)
    assert len(phi.gamma) == len(phi.beta) == len(model.hidden_layers) == 2
    assert phi.gamma[0].shape == (7, 12) and phi.beta[1].shape == (7, 12)
    torch.testing.assert_close(model(x, phi), model(x), rtol=0, atol=0)


def test_mlp_declares_its_layers_and_keeps_the_stored_names():
    model = MLP(3, hidden=16)
    assert model.hidden_layers == (model.linear1, model.linear2)
    assert model.readout is model.linear3 and model.readout.bias is None
    assert list(model.state_dict()) == ["linear1.weight", "linear1.bias", "linear2.weight",
                                        "linear2.bias", "linear3.weight"]
    x = torch.randn(4, 3)
    acts = model.activations(x)
    torch.testing.assert_close(acts.h[0], torch.tanh(model.linear1(x)), rtol=0, atol=0)
    torch.testing.assert_close(acts.h[1], torch.tanh(acts.z[1]), rtol=0, atol=0)
    torch.testing.assert_close(acts.out, model(x), rtol=0, atol=0)


@pytest.mark.parametrize("scheme", ["central", "forward"])
@pytest.mark.parametrize("lr", [0.3, "grid"])
def test_closed_form_step_matches_autograd_cngrad(scheme, lr):
    model = small_double_model()
    x = states(9, seed=4, dtype=torch.float64)
    lr = torch.tensor(DEFAULT_LRS, dtype=torch.float64) if lr == "grid" else lr
    s = law_scale(energy, x)
    fast = tailored_predict(model, energy, x, DT, lr, s, scheme=scheme)
    ref = tailored_predict_autograd(model, energy, x, DT, lr, s, scheme=scheme)
    assert fast.shape == ref.shape == ((9, 2) if isinstance(lr, float) else (9, 9, 2))
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)


class DeeperMLP(MLP):
    """The MLP with a third hidden layer: the tailoring code reads the declared layers."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(dim, hidden)
        self.extra = torch.nn.Linear(hidden, hidden)

    @property
    def hidden_layers(self):
        return (self.linear1, self.linear2, self.extra)


def test_closed_form_step_follows_the_declared_hidden_layers():
    torch.manual_seed(2)
    model = DeeperMLP(2, 10).double()
    x = states(8, seed=9, dtype=torch.float64)
    lr = torch.tensor(DEFAULT_LRS, dtype=torch.float64)
    s = law_scale(energy, x)
    assert len(CNParams.identity(model, 8).gamma) == 3
    fast = tailored_predict(model, energy, x, DT, lr, s)
    ref = tailored_predict_autograd(model, energy, x, DT, lr, s)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)


def test_adaptation_is_per_example():
    """Each example's prediction depends only on itself, not on the rest of the batch."""
    model = small_double_model()
    x = states(6, seed=5, dtype=torch.float64)
    s = law_scale(energy, x)
    batch = tailored_predict(model, energy, x, DT, 3.0, s)
    single = torch.cat([tailored_predict(model, energy, x[i:i + 1], DT, 3.0, s)
                        for i in range(6)])
    torch.testing.assert_close(batch, single, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(batch, model(x))  # the step did something


def test_law_scale_makes_tailoring_affine_invariant():
    model = small_double_model()
    x = states(20, seed=6, dtype=torch.float64)

    def scaled(z):
        return -5.0 * energy(z) + 2.0

    a = tailored_predict(model, energy, x, DT, 1.0, law_scale(energy, x))
    b = tailored_predict(model, scaled, x, DT, 1.0, law_scale(scaled, x))
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- the inner step


def test_tailoring_with_the_true_invariant_lowers_the_task_loss(damped_model):
    model, x, dxdt = damped_model
    s = law_scale(energy, x)
    with torch.no_grad():
        before = float(((model(x) - dxdt) ** 2).mean())
    after = post_step_loss(model, energy, x, dxdt, DT, 1.0, s)
    assert after < 0.8 * before
    # The wrong law does not help: its best rate on the grid is worse than the true law's.
    true_res, wrong_res = screen(model, [energy, wrong_law], x, dxdt, DT)
    assert true_res.gain > 0 and true_res.best_loss < wrong_res.best_loss


def test_second_order_gradient_matches_finite_differences():
    """d task_loss / dθ through the inner step (create_graph) vs central differences, float64."""
    model = small_double_model(seed=1)
    x = states(16, seed=7, dtype=torch.float64)
    dxdt = pendulum_field(x)
    s = law_scale(energy, x)
    lr = 2.0

    def task_loss(create_graph: bool) -> torch.Tensor:
        pred = tailored_predict(model, energy, x, DT, lr, s, create_graph=create_graph)
        return ((pred - dxdt) ** 2).mean()

    params = dict(model.named_parameters())
    grads = torch.autograd.grad(task_loss(True), list(params.values()))
    grads = dict(zip(params, grads))
    # First-order approximation (inner gradient treated as a constant): must differ, or the
    # test would not be checking the second-order term.
    with torch.enable_grad():
        acts = model.activations(x)
        v = loss_grad_f(energy, x, acts.out, DT, s, "central").detach()
        fo_loss = ((adapted_forward(model, acts, v, lr) - dxdt) ** 2).mean()
    first_order = dict(zip(params, torch.autograd.grad(fo_loss, list(params.values()))))

    eps = 1e-6
    picks = [("linear1.weight", (3, 1)), ("linear1.bias", (5,)), ("linear2.weight", (2, 7)),
             ("linear2.bias", (0,)), ("linear3.weight", (1, 4))]
    differs = False
    for name, idx in picks:
        p = params[name]
        with torch.no_grad():
            p[idx] += eps
            up = float(task_loss(False))
            p[idx] -= 2 * eps
            down = float(task_loss(False))
            p[idx] += eps
        fd = (up - down) / (2 * eps)
        assert float(grads[name][idx]) == pytest.approx(fd, rel=1e-6, abs=1e-10), name
        differs |= abs(float(first_order[name][idx]) - fd) > 1e-4 * abs(fd)
    assert differs


# ----------------------------------------------------------------------------- screen


def test_screen_returns_one_result_per_law_with_a_loss_per_rate(damped_model):
    model, x, dxdt = damped_model
    x_np, dxdt_np = x.double().numpy().copy(), dxdt.double().numpy().copy()
    x_np.flags.writeable = dxdt_np.flags.writeable = False  # as a Dataset's arrays are
    (res,) = screen(model, [energy], x_np, dxdt_np, DT)
    assert res.loss_by_lr.shape == (9,) and res.error is None
    assert res.best_loss == res.loss_by_lr.min()
    assert res.best_lr == DEFAULT_LRS[int(np.argmin(res.loss_by_lr))]
    assert res.gain == pytest.approx(res.baseline_loss - res.best_loss)
    with torch.no_grad():
        baseline = float(((model(x) - dxdt) ** 2).mean())
    assert res.baseline_loss == pytest.approx(baseline, rel=1e-6)


def test_screen_records_failing_laws_as_inf_without_raising(damped_model):
    model, x, dxdt = damped_model
    calls = []

    def nan_law(z):
        return torch.sqrt(z[:, 0]) + z[:, 1]  # NaN wherever q < 0

    def raising_law(z):
        raise ZeroDivisionError("boom")

    def constant_law(z):
        return z[:, 0] - z[:, 0]

    def bad_shape_law(z):
        return z

    laws = [nan_law, raising_law, energy, constant_law, bad_shape_law]
    res = screen(model, laws, x, dxdt, DT, progress=calls.append)
    assert len(res) == 5 and calls == [1] * 5
    for r in (res[0], res[1], res[3], res[4]):
        assert np.isinf(r.loss_by_lr).all() and r.best_loss == math.inf and r.gain == -math.inf
        assert math.isnan(r.best_lr) and r.error
    assert "non-finite" in res[0].error and "boom" in res[1].error
    assert "constant" in res[3].error and "shape" in res[4].error
    assert res[2].error is None and np.isfinite(res[2].loss_by_lr).all()


def test_screen_marks_an_overflowing_rate_as_inf(damped_model):
    model, x, dxdt = damped_model
    (res,) = screen(model, [energy], x, dxdt, DT, lrs=[1.0, 1e36])
    assert np.isfinite(res.loss_by_lr[0]) and res.loss_by_lr[1] == np.inf
    assert res.best_lr == 1.0 and res.error is None


def test_screen_rejects_mismatched_data(damped_model):
    model, x, dxdt = damped_model
    with pytest.raises(ValueError, match=r"x and dxdt must both be \(N, d\)"):
        screen(model, [energy], x, dxdt[:-1], DT)
    with pytest.raises(ValueError, match="scheme"):
        screen(model, [energy], x, dxdt, DT, scheme="backward")


# ----------------------------------------------------------------------------- meta-tailoring


def test_meta_tailor_is_deterministic_and_lowers_the_post_step_loss(damped_model):
    model, x, dxdt = damped_model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ticks = []
    kw = dict(epochs=12, lr=1e-3, batch_size=100, seed=3)
    a = meta_tailor(model, energy, x, dxdt, DT, 1.0, progress=ticks.append, **kw)
    b = meta_tailor(model, energy, x, dxdt, DT, 1.0, **kw)
    assert ticks == [1] * 12 and a.train_loss_history.shape == (12,)
    np.testing.assert_array_equal(a.train_loss_history, b.train_loss_history)
    for k in a.model_state:
        assert torch.equal(a.model_state[k], b.model_state[k])
        assert torch.equal(model.state_dict()[k], before[k])  # input model untouched
    assert not a.diverged and a.inner_lr == 1.0
    assert a.train_loss_history[-1] < 0.9 * a.initial_train_loss  # training itself helps
    assert a.final_train_loss == a.train_loss_history.min()
    assert a.best_epoch == int(np.argmin(a.train_loss_history)) + 1
    assert a.initial_train_loss == pytest.approx(
        post_step_loss(model, energy, x, dxdt, DT, 1.0, law_scale(energy, x)))
    # A different seed changes the batch order, hence the result.
    c = meta_tailor(model, energy, x, dxdt, DT, 1.0, **{**kw, "seed": 4})
    assert not np.array_equal(a.train_loss_history, c.train_loss_history)


def test_meta_tailor_full_batch_can_learn_the_inner_rate(damped_model):
    model, x, dxdt = damped_model
    x_np = x.double().numpy().copy()
    x_np.flags.writeable = False
    res = meta_tailor(model, energy, x_np, dxdt, DT, 0.5, epochs=5, lr=1e-2, learn_inner_lr=True,
                      keep_best=False)
    assert res.inner_lr != 0.5 and res.train_loss_history.shape == (5,)
    assert math.isfinite(res.final_train_loss)


def test_meta_tailor_records_divergence(damped_model):
    model, x, dxdt = damped_model
    res = meta_tailor(model, energy, x, dxdt, DT, 1e36, epochs=3)
    assert res.diverged and res.final_train_loss == math.inf
    assert res.train_loss_history.shape == (0,) and res.best_epoch == 0
    for k, v in res.model_state.items():
        assert torch.equal(v, model.state_dict()[k])


def test_meta_tailor_keeps_the_best_state_unless_told_otherwise(damped_model):
    """A large outer rate makes the loss jump: the best state is then the input model."""
    model, x, dxdt = damped_model
    best = meta_tailor(model, energy, x, dxdt, DT, 1.0, epochs=3, lr=0.3)
    last = meta_tailor(model, energy, x, dxdt, DT, 1.0, epochs=3, lr=0.3, keep_best=False)
    np.testing.assert_array_equal(best.train_loss_history, last.train_loss_history)
    assert last.train_loss_history.min() > best.initial_train_loss
    assert best.best_epoch == 0 and best.final_train_loss == best.initial_train_loss
    for k, v in best.model_state.items():
        assert torch.equal(v, model.state_dict()[k])
    assert last.best_epoch == 3 and last.final_train_loss == last.train_loss_history[-1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(inner_lr=0.0), "inner_lr must be a positive"),
    (dict(inner_lr=1.0, batch_size=0), "batch_size"),
    (dict(inner_lr=1.0, scheme="euler"), "scheme"),
])
def test_meta_tailor_rejects_bad_arguments(damped_model, kwargs, match):
    model, x, dxdt = damped_model
    with pytest.raises(ValueError, match=match):
        meta_tailor(model, energy, x, dxdt, DT, epochs=1, **kwargs)


def test_meta_tailor_rejects_a_constant_law(damped_model):
    model, x, dxdt = damped_model
    with pytest.raises(ValueError, match="constant"):
        meta_tailor(model, lambda z: torch.ones(z.shape[0]), x, dxdt, DT, 1.0, epochs=1)


# ----------------------------------------------------------------------------- tailored field


def test_tailored_field_works_inside_no_grad_and_keeps_dtype(damped_model):
    model, x, _ = damped_model
    s = law_scale(energy, x)
    field = TailoredField(model, energy, DT, 1.0, s)
    x64 = x[:10].double()
    with torch.no_grad():
        out = field(x64)
    assert out.dtype == torch.float64 and out.shape == (10, 2) and not out.requires_grad
    expected = tailored_predict(model, energy, x[:10], DT, 1.0, s)
    torch.testing.assert_close(out, expected.double())
    assert not torch.allclose(out.float(), model(x[:10]))
    assert all(p.grad is None for p in model.parameters())
    out2 = field(x[:10])  # outside no_grad too
    assert out2.dtype == torch.float32 and not out2.requires_grad


def test_tailored_field_rejects_unbatched_states(damped_model):
    model, x, _ = damped_model
    field = TailoredField(model, energy, DT, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"add a batch dimension"):
        field(x[0])
    with pytest.raises(ValueError, match="scheme"):
        TailoredField(model, energy, DT, 1.0, 1.0, scheme="rk4")


def test_models_other_than_the_mlp_are_rejected():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"noether_search\.model\.MLP"):
        tailored_predict(model, energy, torch.zeros(3, 2), DT, 1.0, 1.0)


def test_fine_tune_keeps_the_best_state_and_leaves_the_model_alone():
    import torch

    from noether_search.model import MLP, fine_tune

    torch.manual_seed(0)
    model = MLP(2, 16)
    x = torch.randn(64, 2)
    dxdt = torch.stack([x[:, 1], -x[:, 0]], dim=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = fine_tune(model, x, dxdt, epochs=20, lr=1e-2)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert r.final_train_loss < r.initial_train_loss and len(r.train_loss_history) == 20
    assert r.final_train_loss == min([r.initial_train_loss, *r.train_loss_history])
    none = fine_tune(model, x, dxdt, epochs=0)
    assert none.best_epoch == 0 and none.final_train_loss == none.initial_train_loss
    with pytest.raises(ValueError, match="lr"):
        fine_tune(model, x, dxdt, lr=0.0)
