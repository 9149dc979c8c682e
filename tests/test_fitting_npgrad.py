"""The numpy gradient path equals the torch path: values, gradients, R, Adam, fits.

Values and gradients agree to rounding (a stated tolerance, not bit for bit: numpy and
torch sum in different orders); Adam's arithmetic is compared with ``torch.optim.Adam``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dslsearch.fitting import npgrad, optimise
from dslsearch.fitting.objective import Segments, r_reg_torch
from dslsearch.fitting.skeleton import RECIPROCAL
from dslsearch.ops import ADD, COS, DIV, EXP, INV, LOG, MUL, SIN, SQRT, SQUARE, SUB

RTOL = 1e-12

# every unary op over every binary op, mixed in one batch: u(b(slot, param)) * param
UNARY = [SIN, COS, SQUARE, SQRT, LOG, EXP, INV, RECIPROCAL.code]
BINARY = [ADD, SUB, MUL, DIV]
TOPO = ("B", ("U", ("B", ("S",), ("P",))), ("P",))


def _batch():
    codes = np.array([(MUL, u, b) for u in UNARY for b in BINARY], np.int64)
    G = len(codes)
    x = np.linspace(0.2, 2.0, 13)
    slots = [np.tile(x, (G, 1))]
    rng = np.random.default_rng(0)
    params = rng.uniform(0.3, 1.7, (G, 3, 2)) * rng.choice([-1.0, 1.0], (G, 3, 2))
    return codes, slots, params


def test_values_and_gradients_equal_torch_on_a_mixed_batch():
    codes, slots, params = _batch()
    G, S, P = params.shape
    seg = Segments(np.repeat([0, 1, 2], [4, 4, 5]))
    sl = [s[:, None, None, :] for s in slots]
    pn = params[:, None]                                                     # (G, 1, S, P)
    V, tape = npgrad.forward(TOPO, codes, sl, [pn[..., k:k + 1] for k in range(P)])
    R, dV = npgrad.r_all(V, [seg], (G, 1, S, 13), grad=True)
    dV[~np.isfinite(R)] = 0.0
    grads = np.concatenate(npgrad.backward(TOPO, codes, tape, dV), -1)

    pt = torch.tensor(pn, requires_grad=True)
    Vt = optimise.evaluate_topology(TOPO, torch.as_tensor(codes), [torch.as_tensor(s) for s in sl],
                                    [pt[..., k:k + 1] for k in range(P)])
    Rt = r_reg_torch(Vt.expand(G, 1, S, 13)[:, 0], seg)[:, None]
    loss = torch.where(torch.isfinite(Rt), Rt, torch.zeros_like(Rt)).sum()
    (gt,) = torch.autograd.grad(loss, pt)
    Vt, Rt, gt = Vt.detach().numpy(), Rt.detach().numpy(), gt.numpy()

    finite = np.isfinite(Vt)
    assert np.array_equal(finite, np.isfinite(V))
    np.testing.assert_allclose(V[finite], Vt[finite], rtol=RTOL)
    ok = np.isfinite(Rt)
    assert ok.sum() > G  # most rows are finite: the test compares real numbers
    assert np.array_equal(ok, np.isfinite(R))
    np.testing.assert_allclose(R[ok], Rt[ok], rtol=1e-9, atol=1e-14)
    gfin = np.isfinite(gt) & np.isfinite(grads)
    np.testing.assert_allclose(grads[gfin], gt[gfin], rtol=1e-7, atol=1e-10)


def test_adam_equals_torch_optim():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 2, 3, 2, dtype=torch.float64, generator=gen)
    a = x0.clone().requires_grad_(True)
    ref = torch.optim.Adam([a], lr=0.05)
    b = x0.numpy().copy()
    ours = npgrad.Adam(b, 0.05)
    for i in range(60):
        g = torch.randn(x0.shape, dtype=torch.float64, generator=gen) * 10.0 ** (i % 5 - 2)
        a.grad = g.clone()
        ref.step()
        ours.step(g.numpy().copy())
    np.testing.assert_allclose(b, a.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_fit_and_polish_equal_torch(seed):
    """A law nonlinear in its constant, ``p - sin(k*q)`` (k drawn per seed), among
    rivals of the same topology: both paths find the same optimum; the constants of the
    candidates that reach it agree to 1e-6 relative after the Newton polish."""
    rng = np.random.default_rng(seed)
    k, n_traj, n = rng.uniform(0.5, 2.0), 5, 40
    q = rng.uniform(-2.0, 2.0, n_traj * n)
    labels = np.repeat(np.arange(n_traj), n)
    p = rng.uniform(-1.0, 1.0, n_traj)[labels] + np.sin(k * q)
    topo, ops = optimise.topology((SUB, ("S",), (SIN, (MUL, ("S",), ("P",)))))
    codes = np.array([ops, (SUB, SIN, DIV), (ADD, COS, MUL), (SUB, SQUARE, MUL)], np.int64)
    slots = [np.tile(p, (4, 1)), np.tile(q, (4, 1))]
    seg = Segments(labels)
    cfg = optimise.AdamConfig()
    torch.set_num_threads(1)
    Rt, pt, ct = optimise.fit_gradient(topo, codes, slots, [seg], cfg)
    Rn, pn, cn = npgrad.fit_gradient(topo, codes, slots, [seg], cfg)
    np.testing.assert_allclose(Rn, Rt, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(pn, pt, rtol=1e-6)
    assert np.array_equal(cn, ct)
    Rqt, qt = optimise.newton_polish(topo, codes, slots, pt[0], seg, cfg.polish_steps)
    Rqn, qn = npgrad.newton_polish(topo, codes, slots, pn[0], seg, cfg.polish_steps)
    found = Rqt < 1e-9
    assert found[:2].all() and not found[2:].any()
    np.testing.assert_allclose(qn[found], qt[found], rtol=1e-6)
    np.testing.assert_allclose(qn[0], [k], rtol=1e-6)
    np.testing.assert_allclose(qn[1], [1 / k], rtol=1e-6)
    np.testing.assert_allclose(Rqn[~found], Rqt[~found], rtol=1e-6)


def test_unknown_op_falls_back_to_torch():
    assert npgrad.supported(np.array([[SIN, MUL]]))
    assert not npgrad.supported(np.array([[SIN, 99]]))


def test_row_order_does_not_change_values_or_gradients():
    """Runs of equal operations (sorted batch) and per-code gathering (shuffled batch, many
    runs) give every row the same value and gradient, bit for bit."""
    codes, slots, params = _batch()
    codes, params = np.tile(codes, (3, 1)), np.tile(params, (3, 1, 1))
    slots = [np.tile(slots[0], (3, 1))]
    perm = np.random.default_rng(1).permutation(len(codes))

    def run(c, s, p):
        pn = p[:, None]
        V, tape = npgrad.forward(TOPO, c, [s[0][:, None, None, :]],
                                 [pn[..., k:k + 1] for k in range(2)])
        dV = np.broadcast_to(np.cos(V), V.shape)
        return V, np.concatenate(npgrad.backward(TOPO, c, tape, dV), -1)

    V, g = run(codes, slots, params)
    Vp, gp = run(codes[perm], [slots[0][perm]], params[perm])
    assert np.array_equal(V[perm], Vp, equal_nan=True)
    assert np.array_equal(g[perm], gp, equal_nan=True)


def test_noise_floor_error_comes_before_any_fitting():
    """The noise floor is computed in the background while the shards are fitted; its error
    (too short trajectories) is still raised before any shard is fitted."""
    import hamiltonian_data
    from dslsearch.enumerate import enumerate_formulas
    from dslsearch.fitting import FitConfig, fit_table

    x = np.stack([np.sin(np.arange(5.0) + k) for k in range(3)])
    short = hamiltonian_data.Dataset.from_arrays(np.stack([x, x ** 2], -1), np.arange(5.0),
                                                 ["a", "b"], ["", ""])
    table = enumerate_formulas(short.variables, 3)
    fitted = []
    with pytest.raises(ValueError, match="at least 7 samples"):
        fit_table(table, short, FitConfig(workers=1), on_shard=lambda k, r: fitted.append(k))
    assert fitted == []


def test_engine_is_checked():
    with pytest.raises(ValueError, match="engine: expected one of numpy, torch, got 'jax'"):
        optimise.AdamConfig(engine="jax")


def test_fit_runs_without_torch():
    """A whole fit (gradient-fitted units included) never imports torch on the numpy path."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import hamiltonian_data
        from dslsearch.enumerate import enumerate_formulas
        from dslsearch.fitting import FitConfig, fit_table
        from dslsearch.fitting.shard import _group_units
        from dslsearch.fitting.plan import plan_shards
        ds = hamiltonian_data.load(system="pendulum")
        table = enumerate_formulas(ds.variables, 5)
        plan = plan_shards(table, FitConfig(workers=1))
        n_grad = sum(len(_group_units(plan.units(k))[2]) for k in range(len(plan.shards)))
        res = fit_table(table, ds, FitConfig(workers=1))
        print(n_grad > 0, res.n_fitted > 0, "torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "False"]
