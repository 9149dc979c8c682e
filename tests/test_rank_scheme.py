"""`RankConfig(scheme=...)`: the paper's forward Euler step reaches the screen, meta-tailoring
and the tailored field; the default's run keys are those runs had before it existed."""

import math

import hamiltonian_data
import pytest
import torch
from noether_search.model import MLP
from noether_search.stages import RankConfig
from noether_search.stages.meta import MetaConfig, meta_tailor_laws
from noether_search.stages.rank import _check_config
from noether_search.stages.screen import screen_laws


class _Energy:
    """p² − 3 cos q, the ideal pendulum's invariant (columns q, p)."""

    def torch_fn(self):
        return lambda x: x[:, 1] ** 2 - 3 * torch.cos(x[:, 0])

    def __str__(self):
        return "p**2 - 3*cos(q)"


def test_default_scheme_and_jobs_keep_the_run_keys():
    # values of RankConfig.key before `scheme` and `jobs` were settings: stored runs reused
    assert RankConfig().key("f", "b") == "8dbacc61fc89"
    assert RankConfig(seed=2, val_fraction=0.0, select="loss", jobs=2).key("f", "b") \
        == "613ccd9a2801"
    assert RankConfig(scheme="forward").key("f", "b") != RankConfig().key("f", "b")
    with pytest.raises(ValueError, match="scheme"):
        _check_config(RankConfig(scheme="euler"))  # what rank() calls first


def test_forward_scheme_reaches_screen_meta_tailoring_and_field():
    ds = hamiltonian_data.load(system="pendulum")
    torch.manual_seed(0)
    model = MLP(2, hidden=16)
    law = _Energy()
    screens = {s: screen_laws(model, [law], ds, scheme=s)[0] for s in ("central", "forward")}
    assert screens["central"].loss != screens["forward"].loss
    out = {}
    for s in ("central", "forward"):
        cfg = MetaConfig(epochs=2, outer_lrs=(1e-3,), select="loss", scheme=s)
        t = meta_tailor_laws(model, [law], [0.1], ds, cfg)[0]
        assert t.scheme == s and t.field(model, ds).scheme == s
        out[s] = t.meta_train_loss
    assert math.isfinite(out["forward"]) and out["forward"] != out["central"]
