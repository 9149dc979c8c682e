"""The pixel pendulum: dynamics, rendering, Noether inner step, meta-training, metrics, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from noether_search.video.config import NoetherConfig, PredictorConfig, VideoConfig
from noether_search.video.env import PendulumEnv, make_episodes, sinusoid_actions
from noether_search.video.metrics import frame_metrics
from noether_search.video.render import render

torch = pytest.importorskip("torch")


def test_env_matches_hand_checked_step():
    env = PendulumEnv()
    # θ̈ = 15 sin(0.5) + 3·clip(3, ±2) = 13.19139...; semi-implicit Euler, dt = 0.05
    theta, omega = env.step(0.5, 1.0, 3.0)
    acc = 15.0 * math.sin(0.5) + 6.0
    assert omega == pytest.approx(1.0 + 0.05 * acc, abs=1e-12)
    assert theta == pytest.approx(0.5 + 0.05 * (1.0 + 0.05 * acc), abs=1e-12)
    # the speed is clipped to 8 rad/s before the angle update
    theta, omega = env.step(math.pi / 2, 7.9, 2.0)
    assert omega == 8.0 and theta == pytest.approx(math.pi / 2 + 0.4)


def test_actions_follow_the_papers_sinusoid():
    ep = make_episodes(3, 50, seed=4)
    for e in ep:
        assert 0.05 <= e.freq <= 0.15 and 0.0 <= e.phase <= 2 * math.pi
        np.testing.assert_allclose(e.actions, 2 * np.sin(e.freq * np.arange(50) + e.phase))
    assert np.abs(sinusoid_actions(100, 0.1, 0.0)).max() <= 2.0


def test_rendering_is_deterministic_for_a_seed():
    a = [render(e.theta, 32) for e in make_episodes(2, 20, seed=7)]
    b = [render(e.theta, 32) for e in make_episodes(2, 20, seed=7)]
    c = [render(e.theta, 32) for e in make_episodes(2, 20, seed=8)]
    for x, y in zip(a, b):
        assert x.dtype == np.float32 and x.shape == (20, 32, 32)
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_render_puts_the_bob_where_theta_says():
    up, left = render(np.array([0.0, math.pi / 2]), 32)
    # θ = 0 upright: bright pixels above the centre row; θ = π/2 (counter-clockwise): left
    rows, cols = np.nonzero(up == up.max())
    assert rows.mean() < 16 and abs(cols.mean() - 16) < 1
    rows, cols = np.nonzero(left == left.max())
    assert cols.mean() < 16 and abs(rows.mean() - 16) < 1
    assert 0.0 < up[up > 0].min() < 0.6  # anti-aliased edge pixels


def _tiny():
    from noether_search.video.model import Predictor
    from noether_search.video.noether import Embedding

    torch.manual_seed(0)
    pc = PredictorConfig(size=16, channels=4, latent=8, hidden=16, layers=1)
    model, emb = Predictor(pc), Embedding(pc.latent, NoetherConfig(embed_dim=4, hidden=16))
    eps = make_episodes(2, 12, seed=0)
    frames = torch.from_numpy(np.stack([render(e.theta, 16) for e in eps]))
    actions = torch.from_numpy(np.stack([e.actions for e in eps]).astype(np.float32))
    return model, emb, frames, actions


@pytest.mark.parametrize("form", ["a", "b"])
def test_inner_step_lowers_the_noether_loss(form):
    from noether_search.video.noether import inner_step, noether_loss

    model, emb, frames, actions = _tiny()
    with torch.no_grad():
        outs = model.outputs(frames[:, :4], actions, 8)            # (2, 11, 8)
    before = noether_loss(emb, outs, actions, 4, form)
    adapted = inner_step(emb, outs, actions, 4, lr=0.05, create_graph=False, form=form)
    after = noether_loss(emb, adapted.detach(), actions, 4, form)
    assert before.shape == (2,)
    assert (after < before).all()
    # only the predicted outputs move; the history's outputs are given
    assert torch.equal(adapted[:, :3], outs[:, :3])
    assert not torch.equal(adapted[:, 3:], outs[:, 3:])


def test_embedding_learns_only_through_the_second_order_step():
    from noether_search.video.train import task_loss

    model, emb, frames, actions = _tiny()
    start = [p.detach().clone() for p in emb.parameters()]
    opt = torch.optim.Adam(list(model.parameters()) + list(emb.parameters()), lr=1e-2)
    loss = task_loss(model, emb, frames, actions, history=4, inner_lr=0.5)
    loss.backward()
    grads = [p.grad for p in emb.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0.0
    opt.step()
    assert any(not torch.equal(p, s) for p, s in zip(emb.parameters(), start))


def test_noether_loss_forms_and_bad_form():
    from noether_search.video.noether import noether_loss

    _, emb, _, actions = _tiny()
    const = torch.ones(2, 11, 8)           # the same output at every step: nothing changes
    for form in ("a", "b"):
        assert torch.allclose(noether_loss(emb, const, torch.zeros_like(actions), 4, form),
                              torch.zeros(2))
    with pytest.raises(ValueError, match="form='c'"):
        noether_loss(emb, const, actions, 4, "c")


def test_teacher_forcing_matches_closed_loop_inside_the_history():
    model, _, frames, actions = _tiny()
    with torch.no_grad():
        free = model.outputs(frames[:, :4], actions, 8)
        forced = model.outputs(frames[:, :4], actions, 8, teacher=frames)
    assert torch.allclose(free[:, :4], forced[:, :4], atol=1e-6)   # o_1..o_4 see true frames
    assert not torch.allclose(free[:, 5:], forced[:, 5:])


def test_metrics_known_cases():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.2, 0.8, size=(2, 3, 16, 16))
    same = frame_metrics(true, true)
    assert np.all(same.mse == 0.0) and np.all(same.ssim == pytest.approx(1.0))
    assert np.all(np.isinf(same.psnr))
    shifted = frame_metrics(true + 0.1, true)
    np.testing.assert_allclose(shifted.mse, 0.01, rtol=1e-9)
    np.testing.assert_allclose(shifted.psnr, 20.0, rtol=1e-9)   # 10 log10(1 / 0.01)
    assert np.all(shifted.ssim < 1.0)
    with pytest.raises(ValueError, match="must both be"):
        frame_metrics(true, true[:, :2])


def test_config_validation_names_the_setting():
    with pytest.raises(ValueError, match="history"):
        VideoConfig(history=2).validate()
    assert VideoConfig.from_json(VideoConfig().to_json()) == VideoConfig()


_TINY = ["video", "--frames", "40", "--episodes", "1", "--val-episodes", "1",
         "--train-episodes", "1", "--base-epochs", "1", "--extra-epochs", "1",
         "--seeds", "1", "--size", "16", "--json"]


def test_cli_json_keys_and_resume(tmp_path):
    from click.testing import CliRunner

    from noether_search.cli import cli

    args = _TINY + ["--store", str(tmp_path / "run")]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    for method in ("base", "more_steps", "noether"):
        assert math.isfinite(out[f"{method}_mse"]) and out[f"{method}_mse_std"] == 0.0
        assert 0.0 <= out[f"{method}_mse"] <= 1.0
    assert out["episodes"]["test"] == 1 and out["seeds"] == [0]
    assert out["seconds"] > 0.0
    again = json.loads(CliRunner().invoke(cli, args).stdout)   # the seed is reused
    assert again["noether_mse"] == out["noether_mse"]
    from noether_search.stages.video import load_video
    from noether_search.store import ResultsStore

    (result,) = load_video(ResultsStore.open(tmp_path / "run"))
    assert result.runs[0].strip_true.shape == (26, 16, 16)
    assert set(result.runs[0].strip_pred) == {"base", "more_steps", "noether"}
    assert result.runs[0].inner_lr in VideoConfig().noether.inner_lrs
    assert again["inner_lr"] == [result.runs[0].inner_lr]


def test_report_has_the_video_section(tmp_path):
    from click.testing import CliRunner

    from noether_search.cli import cli
    from noether_search.report import write_report

    args = _TINY + ["--store", str(tmp_path / "run"), "--inner-lr", "0.5"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    files = write_report(tmp_path / "run", output_dir=tmp_path / "report")
    tex = files.tex.read_text()
    assert r"\section{Video prediction with controls}" in tex
    assert "Data: the rendered swing-up pendulum." in tex
    assert "fig-video-metrics-0.pdf" in tex and "fig-video-strip-0.pdf" in tex
    for name in ("video_metrics_0", "video_strip_0"):
        assert files.figures[name].png.stat().st_size > 0


def test_cli_names_the_bad_option(tmp_path):
    from click.testing import CliRunner

    from noether_search.cli import cli

    result = CliRunner().invoke(cli, ["video", "--frames", "20", "--store", str(tmp_path)])
    assert result.exit_code == 2
    assert "--frames" in result.output and "n_frames=20" in result.output
