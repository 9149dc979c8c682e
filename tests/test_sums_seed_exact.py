"""On noise-free data the sum search's beam is also seeded as on noisy data
(``SumsConfig.seed_exact``): every subset of the simplest terms and the backward
elimination, scored by R on the training points that are not fitting points. Lotka–Volterra's
invariant ``δx − γ log x + βy − α log y`` has no conserved partial sum, so the beam, which
grows sets one term at a time by R, can pass it by."""

from __future__ import annotations

import numpy as np
import pytest

from dslsearch.fitting import FitConfig
from dslsearch.fitting.objective import Segments, r_score
from dslsearch.fitting.plan import segments
from dslsearch.sums import SumsConfig
from hamiltonian_data import load


@pytest.mark.slow
def test_lotka_volterra_noise_free_law_found_with_the_seeds():
    """Seed 5, noise-free: without the seeds the sum search reports no law (its best sums
    are stand-ins such as ``x/sqrt(x − sin x)`` that the test rejects); with them it reports
    the invariant, conserved to round-off (``x + 2y − 3 log x − 4 log y`` up to scale)."""
    from noether_search.stages import fit_laws

    ds = load("lotka-volterra", seed=5)
    config = FitConfig(test="calibrated", seed=5)
    found = {on: fit_laws(ds, 7, config, search="sums", sums=SumsConfig(seed_exact=on))
             for on in (False, True)}
    assert found[False].laws == []
    laws = found[True].laws
    assert len(laws) == 1
    x, labels = segments(ds, config)
    assert r_score(np.asarray(laws[0](x), float), Segments(labels)) < 1e-12
    text = str(laws[0])
    assert "log(x)" in text and "log(y)" in text


def test_seed_exact_off_keeps_the_store_key():
    """On by default; off, the defaults' store key is the one they had before the setting
    existed (``fbb40a49``), so stores made then are reused."""
    on, off = SumsConfig(), SumsConfig(seed_exact=False)
    assert on.seed_exact
    assert on.key() != off.key()
    assert off.key() == "fbb40a49"
