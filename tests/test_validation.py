"""The validation split of ``rank``: held-out training data that chooses and never trains."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import hamiltonian_data
from dslsearch.formula import from_sympy
from dslsearch.law import Law
from noether_search.baseline import BaselineConfig
from noether_search.model import MLP, fine_tune, meta_tailor
from noether_search.stages import MetaConfig, RankConfig, meta_tailor_laws, train_baseline
from noether_search.stages.control import train_control
from noether_search.stages.rank import _best
from noether_search.stages.validation import VAL_FRACTION, split_train


@pytest.fixture(scope="module")
def real():
    return hamiltonian_data.load(system="real-pendulum")


def _rows(a: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(a)}


def test_ideal_system_holds_out_whole_trajectories_disjoint_from_the_fit_part(pendulum):
    split = split_train(pendulum, VAL_FRACTION, seed=0)
    assert len(split.val.train) == 5 and len(split.fit.train) == 20
    assert all(a == 0 and b == 45 for _, a, b in split.held_out)
    held = {i for i, _, _ in split.held_out}
    kept = [tr for i, tr in enumerate(pendulum.train) if i not in held]
    np.testing.assert_array_equal(split.fit.x_train, np.concatenate([t.x for t in kept]))
    assert not _rows(split.fit.x_train) & _rows(split.val.x_train)
    assert _rows(split.fit.x_train) | _rows(split.val.x_train) == _rows(pendulum.x_train)
    assert split.fit.test is pendulum.test and split.val.dt == pendulum.dt


def test_split_is_deterministic_per_seed(pendulum):
    a, b = split_train(pendulum, 0.2, seed=3), split_train(pendulum, 0.2, seed=3)
    assert a.held_out == b.held_out
    draws = {split_train(pendulum, 0.2, seed=s).held_out for s in range(5)}
    assert len(draws) > 1                      # the seed moves which trajectories are held out


def test_single_trajectory_is_cut_into_blocks_with_no_shared_sample(real):
    split = split_train(real, VAL_FRACTION, seed=0)
    assert len(real.train) == 1 and len(split.val.train) == 2      # 2 of 11 blocks of 40
    H = 19                                                          # the real pendulum's horizon
    assert all(len(tr) >= H + 1 for tr in split.val.train)
    held = set()
    for _, a, b in split.held_out:
        held |= set(range(a, b))
    fit_rows = _rows(split.fit.x_train)
    for s in range(len(real.train[0])):
        in_fit = real.train[0].x[s].tobytes() in fit_rows
        assert not (in_fit and s in held)
        # a fit pair's forward-difference target never uses a held-out state
        assert not (in_fit and s + 1 in held)
    assert len(split.val.x_train) == 80


def test_fraction_zero_keeps_everything_and_bad_fractions_are_refused(pendulum):
    split = split_train(pendulum, 0.0)
    assert split.val is None and split.fit is pendulum
    with pytest.raises(ValueError, match="val_fraction must be a number in"):
        split_train(pendulum, 1.0)
    from noether_search.stages import rank
    with pytest.raises(ValueError, match="val_fraction"):
        rank(pendulum, RankConfig(val_fraction=-0.1))


def test_rank_key_keeps_runs_without_validation_and_separates_fractions():
    keys = {RankConfig(val_fraction=v).key("f", "b") for v in (0.0, 0.2, 0.3)}
    assert len(keys) == 3


def _pairs(ds):
    return (torch.tensor(np.array(ds.x_train), dtype=torch.float32),
            torch.tensor(np.array(ds.dxdt_train), dtype=torch.float32))


@pytest.fixture(scope="module")
def small(pendulum):
    """A deliberately weak baseline (few steps), so further training changes it."""
    split = split_train(pendulum, VAL_FRACTION, seed=0)
    base = train_baseline(pendulum, BaselineConfig(hidden=32, steps=30, seed=0))
    law = Law(*from_sympy("p**2 - 3*cos(q)", ["q", "p"]), [("q", ""), ("p", "")])
    return split, base.model, law


def test_meta_tailor_and_fine_tune_keep_the_epoch_with_the_lowest_validation_loss(small):
    split, model, law = small
    x, dxdt = _pairs(split.fit)
    val = _pairs(split.val)
    r = meta_tailor(model, law.torch_fn(), x, dxdt, split.fit.dt, 0.1, epochs=15, lr=3e-3,
                    val=val)
    curve = [r.initial_val_loss, *r.val_loss_history]
    assert len(r.val_loss_history) == 15 and r.best_epoch == int(np.argmin(curve))
    assert r.final_val_loss == pytest.approx(min(curve))
    f = fine_tune(model, x, dxdt, epochs=15, lr=3e-3, val=val)
    assert len(f.val_loss_history) == 15
    assert f.final_val_loss <= min(f.val_loss_history) and f.final_val_loss <= \
        float(((model(val[0]) - val[1]) ** 2).mean()) + 1e-12
    without = meta_tailor(model, law.torch_fn(), x, dxdt, split.fit.dt, 0.1, epochs=3)
    assert math.isnan(without.final_val_loss) and len(without.val_loss_history) == 0


def test_selection_uses_the_validation_trajectories(small):
    split, model, law = small
    config = MetaConfig(epochs=3, outer_lrs=(1e-3,), extra_rates=(1.0,), select="rollout")
    (t,) = meta_tailor_laws(model, [law], [1e-2], split.fit, config, val=split.val)
    assert math.isnan(t.train_rollout_rmse) and math.isfinite(t.val_rollout_rmse)
    assert len(t.runs) == 2 and t.val_rollout_rmse == min(r[2] for r in t.runs)
    assert math.isfinite(t.meta_val_loss)
    control = train_control(model, split.fit, config, val=split.val)
    assert all(math.isfinite(r.val_rollout_rmse) and math.isnan(r.train_rollout_rmse)
               for r in control.runs)
    assert math.isfinite(control.run.val_loss)


def test_best_law_is_chosen_on_validation_not_training_numbers():
    from noether_search.stages.rank import RankedLaw

    def ranked(name, train, val):
        return RankedLaw(formula=name, pretty=name, size=3, R_true=0.0, R_random=1.0,
                         variants=1, screen_loss=0.0, screen_gain=0.0, inner_lr=1.0,
                         meta_train_loss=train, meta_val_loss=val,
                         train_rollout_rmse=math.nan, val_rollout_rmse=val)

    top = (ranked("a", 1e-5, 2e-3), ranked("b", 1e-3, 1e-3))
    assert _best(top, "rollout").formula == "b" and _best(top, "loss").formula == "b"


def test_refit_retrains_the_chosen_settings_on_every_training_trajectory(small, pendulum):
    """The retrained runs keep the chosen rates, train on the whole training part (so their
    training loss is measured on it) and carry the validation scores that chose them."""
    from noether_search.stages.rank import Oracle, _ranked
    from noether_search.stages.refit import refit_chosen
    from noether_search.stages.screen import screen_laws

    split, model, law = small
    config = MetaConfig(epochs=3, outer_lrs=(1e-3, 1e-4), extra_rates=(1.0,), select="rollout")
    (t,) = meta_tailor_laws(model, [law], [1e-2], split.fit, config, val=split.val)
    (s,) = screen_laws(model, [law], split.fit)
    best = _ranked(s, t)
    control = train_control(model, split.fit, config, val=split.val)
    oracle = Oracle(formula="p**2 - 3*cos(q)", law=law, inner_lr=t.inner_lr, tailored=t)
    seen = []
    again = refit_chosen(model, best, oracle, control, pendulum, config, None, "rank/x",
                         lambda *a: seen.append(a))
    assert seen[0] == ("refit", 0, 1) and seen[-1] == ("refit", 1, 1)
    for old, new in ((best.tailored, again.best.tailored), (t, again.oracle.tailored)):
        assert new.inner_lr == old.inner_lr and new.run.outer_lr == old.run.outer_lr
        assert new.val_rollout_rmse == old.val_rollout_rmse
        assert new.run.val_loss == old.run.val_loss
        # the run meta_tailor gives on all training pairs with the chosen rates
        direct = meta_tailor(model, law.torch_fn(), *_pairs(pendulum), pendulum.dt,
                             old.inner_lr, epochs=3, lr=old.run.outer_lr, seed=config.seed)
        for name, w in direct.model_state.items():
            assert torch.equal(new.run.model_state[name], w)
            assert not torch.equal(old.run.model_state[name], w) or "bias" in name
    assert again.best.meta_train_loss == again.best.tailored.meta_train_loss
    assert again.control.outer_lr == control.outer_lr and again.control.runs == control.runs
    assert again.control.run.val_rollout_rmse == control.run.val_rollout_rmse
    direct = fine_tune(model, *_pairs(pendulum), epochs=3, lr=control.outer_lr)
    for name, w in direct.model_state.items():
        assert torch.equal(again.control.run.model_state[name], w)
    assert not torch.equal(again.control.run.model_state["linear1.weight"],
                           control.run.model_state["linear1.weight"])
