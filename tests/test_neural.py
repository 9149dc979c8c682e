"""Neural Noether Networks: the learned embedding, its inner step, meta-training, the probe,
the stage with its store, and the command line (tiny sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hamiltonian_data import Dataset
from noether_search.model import MLP, conservation_loss
from noether_search.neural import (Embedding, embedding_scale, linear_probe, meta_train,
                                   noether_loss, noether_predict)
from noether_search.stages.neural import NeuralConfig, neural
from noether_search.store import ResultsStore
from noether_search.store.codecs import NEURAL_RUN

DT = 0.1


def oscillator(n_traj: int = 6, n_t: int = 16, seed: int = 0) -> Dataset:
    """Trajectories of the unit harmonic oscillator q = r cos(t + a), p = −r sin(t + a)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_t) * DT
    x = [np.stack([r * np.cos(t + a), -r * np.sin(t + a)], axis=1)
         for r, a in rng.uniform([0.5, 0.0], [1.5, 2 * np.pi], size=(n_traj, 2))]
    dxdt = [np.stack([xi[:, 1], -xi[:, 0]], axis=1) for xi in x]
    half = n_traj // 2
    return Dataset.from_arrays(x, t, names=["q", "p"], units=["", ""], dxdt=dxdt,
                               train=list(range(half)), test=list(range(half, n_traj)),
                               name="oscillator")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    data = oscillator()
    x = torch.tensor(data.x_train, dtype=torch.float32)
    dxdt = torch.tensor(data.dxdt_train, dtype=torch.float32)
    return MLP(2, hidden=8), Embedding(2, k=2, hidden=8), x, dxdt


def test_embedding_parameters_change_under_meta_training(tiny):
    model, embed, x, dxdt = tiny
    before = {k: v.clone() for k, v in embed.state_dict().items()}
    r = meta_train(model, embed, x, dxdt, DT, 0.1, epochs=5, lr=1e-3, embed_lr=1e-2)
    assert all(torch.equal(before[k], v) for k, v in embed.state_dict().items())  # input kept
    changed = [k for k in before if not torch.equal(before[k], r.embed_state[k])]
    assert r.best_epoch > 0 and changed == [k for k, _ in embed.named_parameters()]
    assert r.final_train_loss < r.initial_train_loss and r.scale.shape == (2,)


def test_inner_step_lowers_the_noether_loss(tiny):
    model, embed, x, _ = tiny
    scale = embedding_scale(embed, x)
    with torch.no_grad():
        before = noether_loss(embed, x, model(x), DT, scale)                    # (B,)
        after = noether_loss(embed, x, noether_predict(model, embed, x, DT, 1e-2, scale),
                             DT, scale)
    assert before.shape == (x.shape[0],)
    assert float(after.sum()) < float(before.sum())
    assert (after <= before + 1e-12).float().mean() > 0.9   # per example, almost all


def test_one_component_is_the_symbolic_conservation_loss(tiny):
    model, _, x, _ = tiny

    def g(z):
        return z[:, 1] ** 2 - 3 * torch.cos(z[:, 0])

    f = model(x).detach()
    s = float(g(x).std())
    for scheme in ("central", "forward"):
        ours = noether_loss(g, x, f, DT, torch.tensor([s]), scheme)
        torch.testing.assert_close(ours, conservation_loss(g, x, f, DT, s, scheme))


def test_probe_finds_an_affine_function_of_the_invariant_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    energy = x[:, 1] ** 2 - 3 * np.cos(x[:, 0])
    z = np.stack([2.0 * energy + 1.0, rng.normal(size=400)], axis=1)
    assert linear_probe(z, energy).r2 == pytest.approx(1.0, abs=1e-9)
    assert linear_probe(rng.normal(size=(400, 2)), energy).r2 < 0.05
    with pytest.raises(ValueError, match="expected z"):
        linear_probe(z[:10], energy)


TINY = NeuralConfig(embed_dim=2, embed_hidden=8, epochs=3, outer_lrs=(1e-3,),
                    inner_lrs=(1e-2, 1e-1), embed_lrs=(1e-2,), inits=2, pretrain_epochs=50)


def small_baseline():
    from noether_search.baseline import BaselineConfig

    return BaselineConfig(hidden=16, steps=30)


def test_stage_is_stored_and_resumed(tmp_path, monkeypatch):
    data = oscillator()
    store = ResultsStore.open(tmp_path / "run")
    first = neural(data, TINY, store, baseline_config=small_baseline())
    assert len(first.selection) == 4 and first.run.inner_lr in TINY.inner_lrs
    assert first.chosen.val_rmse == min(r.val_rmse for r in first.selection)   # validated
    # the neural model is the chosen setting retrained on every training trajectory
    assert first.run is not first.chosen and first.run.embed_seed == first.chosen.embed_seed
    assert (first.run.inner_lr, first.run.outer_lr, first.run.embed_lr) == \
        (first.chosen.inner_lr, first.chosen.outer_lr, first.chosen.embed_lr)
    assert first.run.initial_train_loss != first.chosen.initial_train_loss   # more pairs
    summary = first.to_json()
    assert summary["final"]["refit"] is True
    by_traj = np.asarray(summary["rmse_by_trajectory"]["neural"])     # (n_test,)
    assert by_traj.shape == (len(data.test),)                         # equal lengths:
    assert np.sqrt((by_traj ** 2).mean()) == pytest.approx(first.rmse["neural"], rel=1e-9)
    assert {r.embed_seed for r in first.selection} == {0, 1}
    assert set(first.rmse) == {"baseline", "control", "neural", "symbolic", "oracle"}
    assert first.rmse["symbolic"] is None and first.rmse["oracle"] is None  # no invariant
    assert first.probe is None and np.isfinite(first.rmse["neural"])
    assert json.loads((store.root / "neural.json").read_text())["neural_rmse"] == \
        pytest.approx(first.rmse["neural"])
    run = store.load(f"{first.run_key}/select/1", NEURAL_RUN)         # codec round trip
    kept = first.selection[1]
    assert run.inner_lr == kept.inner_lr and run.embed_dim == 2 and run.embed_seed == 1
    assert run.val_rmse == kept.val_rmse
    for name, tensor in kept.embed_state.items():
        torch.testing.assert_close(run.embed_state[name], tensor)

    # delete one run: only it is recomputed, the others come from the store
    store.delete(f"{first.run_key}/select/1")
    store.delete(f"{first.run_key}/rollouts")
    calls = []
    import noether_search.stages._neural as steps
    real = steps._train
    monkeypatch.setattr(steps, "_train", lambda *a: calls.append(a) or real(*a))
    again = neural(data, TINY, store, baseline_config=small_baseline())
    assert len(calls) == 1 and again.run_key == first.run_key
    assert again.rmse["neural"] == pytest.approx(first.rmse["neural"], rel=1e-5)


def test_without_refit_the_validated_run_is_the_model():
    from dataclasses import replace

    r = neural(oscillator(), replace(TINY, refit=False, inits=1),
               baseline_config=small_baseline())
    assert r.run is r.chosen and r.to_json()["final"]["refit"] is False
    assert r.run.val_rmse == min(x.val_rmse for x in r.selection)


def test_known_invariant_gives_oracle_and_probe():
    data = oscillator()
    data = Dataset(**{**{k: getattr(data, k) for k in data.__dataclass_fields__
                         if k != "_hash"}, "invariant": "q**2 + p**2"})
    r = neural(data, TINY, baseline_config=small_baseline())
    assert r.rmse["oracle"] is not None and r.oracle is not None
    assert r.probe is not None and -1e-9 <= r.probe.r2 <= 1.0 + 1e-9


def test_bad_settings_name_the_setting():
    with pytest.raises(ValueError, match="val_fraction"):
        neural(oscillator(), NeuralConfig(val_fraction=1.5))
    with pytest.raises(ValueError, match="inner_lrs"):
        neural(oscillator(), NeuralConfig(inner_lrs=()))


@pytest.fixture(scope="module")
def oscillator_csv(tmp_path_factory):
    ds = oscillator(n_t=12)
    path = tmp_path_factory.mktemp("data") / "osc.csv"
    rows = ["trajectory,t [s],q,p"]
    for k, tr in enumerate(ds.train + ds.test):
        for t, (q, p) in zip(tr.t, tr.x):
            rows.append(f"{k},{float(t)!r},{float(q)!r},{float(p)!r}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_cli_json_has_the_keys(tmp_path, oscillator_csv):
    from noether_search.cli import cli

    res = CliRunner().invoke(cli, ["neural", "--data", str(oscillator_csv), "--epochs", "2",
                                   "--inner-lrs", "0.1", "--inits", "1", "--embed-hidden", "8",
                                   "--embed-lrs", "0.01", "--no-refit",
                                   "--out", str(tmp_path / "r"), "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    for key in ("baseline_rmse", "control_rmse", "neural_rmse", "symbolic_rmse",
                "oracle_rmse", "probe_r2", "seconds"):
        assert key in obj
    assert obj["symbolic_rmse"] is None and obj["neural_rmse"] > 0
    assert obj["final"]["refit"] is False and obj["chosen"]["embed_lr"] == 0.01
    res = CliRunner().invoke(cli, ["neural", "--data", str(oscillator_csv), "--inner-lrs",
                                   "fast", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "comma-separated positive rates" in res.output


def test_report_has_the_neural_section(tmp_path):
    import shutil

    from noether_search.report import write_report

    store = ResultsStore.open(tmp_path / "run")
    neural(oscillator(), TINY, store, baseline_config=small_baseline())
    latex = shutil.which("latexmk") or shutil.which("pdflatex")
    files = write_report(store.root, pdf=bool(latex))       # the section compiles
    assert (files.pdf is not None) == bool(latex)
    tex = files.tex.read_text()
    assert "Neural Noether Network" in tex and "neural_rmse_by_step" in files.figures
    assert files.data.neural["neural_rmse"] > 0


def test_validation_split_by_trajectories_and_in_time():
    from noether_search.stages._neural import split_validation

    fit, val = split_validation(oscillator(n_traj=8), 0.25)
    assert (len(fit.train), len(val.train)) == (3, 1) and len(fit.test) == 4
    t = np.arange(40) * DT
    one = Dataset.from_arrays([np.stack([np.cos(t), -np.sin(t)], axis=1)], t, names=["q", "p"],
                              units=["", ""])
    fit, val = split_validation(one, 0.25)
    n = len(one.train[0])
    assert len(fit.train[0]) + len(val.train[0]) == n and len(val.train[0]) == round(0.25 * n)
    assert val.train[0].t[0] > fit.train[0].t[-1]
