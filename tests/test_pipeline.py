"""`rank` end to end on a reduced configuration: complete summary, stages reused."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import hamiltonian_data
from noether_search.baseline import BaselineConfig
from noether_search.stages import RankConfig, rank
from noether_search.store import ResultsStore


@pytest.fixture(scope="module")
def spring_csv(tmp_path_factory):
    """The ideal spring written as a user file with dimensionless q and p, so that its
    invariant q**2 + p**2 has 5 nodes and a depth-5 search (fast) can find it."""
    ds = hamiltonian_data.load(system="spring")
    path = tmp_path_factory.mktemp("data") / "spring_dimless.csv"
    rows = ["trajectory,t [s],q,p"]
    for k, tr in enumerate(ds.train[:8] + ds.test[:8]):
        for t, (q, p) in zip(tr.t, tr.x):
            rows.append(f"{k},{float(t)!r},{float(q)!r},{float(p)!r}")
    path.write_text("\n".join(rows) + "\n")
    return path


def run_rank(store, dataset, config, baseline_config):
    """The summary of ``rank`` (as ``summary.json`` holds it)."""
    return rank(dataset, config, store, baseline_config=baseline_config).to_json()


def small_run(store, dataset):
    return run_rank(store, dataset, RankConfig(depth=5, top=3, epochs=3, outer_lrs=(1e-3,)),
                    baseline_config=BaselineConfig(steps=150))


def test_reduced_run_gives_complete_summary_and_reuses_stages(tmp_path, spring_csv):
    dataset = hamiltonian_data.load(data=spring_csv)
    store = ResultsStore.open(tmp_path / "run")
    summary = small_run(store, dataset)

    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("system", "best", "top", "baseline_rmse", "noether_rmse", "oracle_rmse",
                "rmse_by_step", "stage_seconds"):
        assert key in on_disk
    assert on_disk["system"] == "spring_dimless"
    assert summary["survivors"] >= 1 and summary["laws"] >= 1
    best = summary["best"]
    assert best is not None and best["R_true"] < 1e-6
    # the best law is q² + c·p² (merged variants included) with c ≈ 1
    from dslsearch.formula import from_sympy
    f, values = from_sympy(best["formula"], ["q", "p"])
    x = dataset.x_test
    v = f.evaluate(x, values)
    ref = x[:, 0] ** 2 + x[:, 1] ** 2
    assert abs(np.corrcoef(v, ref)[0, 1]) > 1 - 1e-6
    assert on_disk["oracle_rmse"] is None and on_disk["oracle"] is None  # user data: no oracle
    horizon = summary["horizon"]
    assert len(summary["rmse_by_step"]["baseline"]) == horizon
    assert len(summary["rmse_by_step"]["noether"]) == horizon
    for name in ("baseline", "control", "noether"):  # the RMSE is that of the steps' RMSEs
        by_step = np.asarray(summary["rmse_by_step"][name])
        assert summary[f"{name}_rmse"] == pytest.approx(np.sqrt(np.mean(by_step ** 2)), rel=1e-5)
    # the control: fine-tuned as long as meta-tailoring on the fit pairs, its epoch chosen
    # on the held-out validation pairs (tests/test_validation.py checks the minimum)
    control = summary["control"]
    assert summary["control_rmse_by_step"] == summary["rmse_by_step"]["control"]
    assert control["outer_lr"] == 1e-3 and control["best_epoch"] in range(4)
    assert control["val_loss"] > 0 and control["initial_train_loss"] > 0
    val = summary["validation"]
    assert val["fraction"] == 0.2 and val["val_pairs"] > 0
    assert val["fit_pairs"] + val["val_pairs"] <= len(dataset.x_train)
    assert summary["seeds"] == 1 and summary["baseline_rmse_std"] is None
    assert summary["baseline_rmse_mean"] == summary["baseline_rmse"]
    assert summary["noether_beats_baseline"] == int(summary["noether_rmse"]
                                                    < summary["baseline_rmse"])

    # a second run recomputes nothing: every artifact keeps its bytes and mtime
    artifacts = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").rglob("*.h5")}
    again = small_run(store, dataset)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes())
            for p in (tmp_path / "run").rglob("*.h5")} == artifacts
    assert again["best"] == summary["best"]
    assert again["noether_rmse"] == summary["noether_rmse"]


def test_deleted_meta_stage_is_recomputed_alone(tmp_path, spring_csv):
    dataset = hamiltonian_data.load(data=spring_csv)
    store = ResultsStore.open(tmp_path / "run")
    first = small_run(store, dataset)
    meta = sorted((tmp_path / "run").rglob("meta/000.h5"))
    assert meta, "meta-tailoring artifact missing"
    baseline_files = sorted((tmp_path / "run" / "baseline").glob("*.h5"))
    before = {p: p.stat().st_mtime_ns for p in baseline_files}
    meta[0].unlink()
    for p in (tmp_path / "run").rglob("rollouts.h5"):
        p.unlink()
    second = small_run(store, dataset)
    assert meta[0].exists()
    assert {p: p.stat().st_mtime_ns for p in baseline_files} == before  # baseline reused
    assert second["noether_rmse"] == pytest.approx(first["noether_rmse"], rel=1e-6)


@pytest.mark.slow
def test_rank_cli_json(tmp_path, spring_csv):
    from noether_search.cli import cli

    res = CliRunner().invoke(cli, ["rank", "--data", str(spring_csv), "--depth", "5", "--top", "2",
                                   "--epochs", "2", "--out", str(tmp_path / "r"), "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["best"]["formula"] and obj["top"] and obj["stage_seconds"]["fit"] >= 0


def test_rank_cli_errors():
    from noether_search.cli import cli

    res = CliRunner().invoke(cli, ["rank", "--system", "pendulum", "--data", "x.csv"])
    assert res.exit_code == 2 and "mutually exclusive" in res.output
    res = CliRunner().invoke(cli, ["rank", "--data", "does-not-exist.csv"])
    assert res.exit_code != 0 and "Traceback" not in res.output


def test_fixed_inner_lr_overrides_the_screen(tmp_path, spring_csv):
    dataset = hamiltonian_data.load(data=spring_csv)
    store = ResultsStore.open(tmp_path / "run")
    summary = run_rank(store, dataset, RankConfig(depth=5, top=2, epochs=2, outer_lrs=(1e-3,),
                                                  inner_lr=0.1),
                       baseline_config=BaselineConfig(steps=100))
    assert summary["top"] and all(law["inner_lr"] == 0.1 for law in summary["top"])
    assert summary["config"]["inner_lr"] == 0.1


def test_selection_by_loss_meta_tailors_one_rate_per_law(tmp_path, spring_csv):
    dataset = hamiltonian_data.load(data=spring_csv)
    store = ResultsStore.open(tmp_path / "run")
    cfg = RankConfig(depth=5, top=1, epochs=2, outer_lrs=(1e-3,), select="loss")
    summary = run_rank(store, dataset, cfg, baseline_config=BaselineConfig(steps=100))
    metas = sorted(p.name for p in (tmp_path / "run").rglob("meta/*.h5"))
    assert metas == ["000.h5"]
    assert summary["best"]["train_rollout_rmse"] is None  # not computed with select="loss"
    assert summary["best"]["val_rollout_rmse"] is None
    assert summary["best"]["meta_val_loss"] > 0           # the validation loss chose it


def test_selection_by_rollout_tries_several_rates(tmp_path, spring_csv):
    dataset = hamiltonian_data.load(data=spring_csv)
    store = ResultsStore.open(tmp_path / "run")
    cfg = RankConfig(depth=5, top=1, epochs=2, outer_lrs=(1e-3,), select="rollout")
    summary = run_rank(store, dataset, cfg, baseline_config=BaselineConfig(steps=100))
    runs = sorted(p.name for p in (tmp_path / "run").rglob("meta/000*.h5"))
    assert len([r for r in runs if "-rollout" not in r]) >= 3
    assert len([r for r in runs if r.endswith("-val-rollout.h5")]) >= 3
    best = summary["best"]
    assert best["val_rollout_rmse"] is not None and best["val_rollout_rmse"] > 0
    assert best["train_rollout_rmse"] is None   # selection on held-out trajectories only
    assert summary["validation"]["val_pairs"] > 0


def test_seeds_repeat_baseline_meta_tailoring_and_control(tmp_path, spring_csv):
    dataset = hamiltonian_data.load(data=spring_csv)
    store = ResultsStore.open(tmp_path / "run")
    cfg = RankConfig(depth=5, top=1, epochs=2, outer_lrs=(1e-3,), select="loss", seeds=2)
    result = rank(dataset, cfg, store, baseline_config=BaselineConfig(steps=100))
    s = result.to_json()
    assert s["seeds"] == 2 and [r["seed"] for r in s["per_seed"]] == [0, 1]
    assert len({r["run_key"] for r in s["per_seed"]}) == 2
    assert s["per_seed"][0]["run_key"] == s["run_key"]  # single-seed fields are seed 0's
    assert s["per_seed"][0]["noether_rmse"] == s["noether_rmse"]
    assert len(list((tmp_path / "run" / "baseline").glob("*.h5"))) == 2  # one per seed
    assert len(list((tmp_path / "run").glob("rank/*/control/0.h5"))) == 2
    assert len(list((tmp_path / "run").glob("rank/*/refit/control/0.h5"))) == 2  # retrained
    for m in ("baseline", "control", "noether"):
        values = [r[f"{m}_rmse"] for r in s["per_seed"]]
        assert values[0] != values[1]  # the seed changed the baseline and what follows
        assert s[f"{m}_rmse_mean"] == pytest.approx(np.mean(values))
        assert s[f"{m}_rmse_std"] == pytest.approx(np.std(values, ddof=1))
        assert len(s["rmse_by_step_std"][m]) == s["horizon"]
    wins = sum(r["noether_rmse"] < r["control_rmse"] for r in s["per_seed"])
    assert s["noether_beats_control"] == wins
    # the seed-0 run is the one a single-seed run gives (same key, same numbers)
    one = rank(dataset, RankConfig(**{**cfg.__dict__, "seeds": 1}), store,
               baseline_config=BaselineConfig(steps=100)).to_json()
    assert one["run_key"] == s["run_key"] and one["noether_rmse"] == s["noether_rmse"]


def test_seed_reaches_every_stage():
    dataset = hamiltonian_data.load(system="pendulum")
    cfg = RankConfig(seed=3)
    assert cfg.fit_config().seed == 3
    assert cfg.baseline_config(dataset).seed == 3
    assert cfg.meta_config().seed == 3
    assert RankConfig(seeds=4).key("f", "b") == RankConfig().key("f", "b")
    with pytest.raises(ValueError, match="seeds"):
        rank(dataset, RankConfig(seeds=0))
