"""On noisy points a law is a function of others only if its trajectory levels are a
function of theirs (:class:`dslsearch.independence.Levels`): Kepler's energy beside the
angular momentum at σ = 0.01."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dslsearch.acceptance import noise_floor
from dslsearch.independence import Levels, independent_laws


@pytest.fixture(scope="module")
def kepler():
    import hamiltonian_data

    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.law import Law

    ds = hamiltonian_data.SYSTEMS["kepler"].generate(noise=0.01, seed=7)
    x, labels = segments(ds, FitConfig(seed=7))

    def law(text, R):          # the R the sum search measured for each (noisy data)
        return dataclasses.replace(Law.parse(text, ds), R_true=R)

    laws = {"L": law("px*y - 1.0*py*x", 1.57e-4),
            "E": law("px**2 + py**2 - 2.01358007395249/sqrt(x**2 + y**2)", 0.0177),
            "L2": law("(px*y - 1.0*py*x)**2 + 0.3*(px*y - 1.0*py*x)", 0.0131)}
    return x, labels, noise_floor(ds.train), laws


def test_the_energy_is_not_a_near_miss_of_the_angular_momentum(kepler):
    """Its R is 113 times the angular momentum's (its terms carry more noise), and on
    near-circular orbits the two gradients are nearly parallel: the gradients alone call
    it a near-miss; its trajectory levels are no function of the angular momentum's."""
    x, labels, sigma, laws = kepler
    plain = independent_laws([laws["L"], laws["E"]], x)
    assert plain.n_independent == 1 and plain.near_misses == (1,)
    levels = independent_laws([laws["L"], laws["E"]], x, levels=Levels(labels, sigma))
    assert levels.n_independent == 2 and levels.near_misses == ()


def test_a_function_of_a_law_stays_one(kepler):
    x, labels, sigma, laws = kepler
    for given in (None, Levels(labels, sigma)):
        result = independent_laws([laws["L"], laws["L2"]], x, levels=given)
        assert result.n_independent == 1 and result.groups == ((0, 1),)
    three = independent_laws([laws["L"], laws["E"], laws["L2"]], x,
                             levels=Levels(labels, sigma))
    assert three.n_independent == 2


def test_levels_need_a_label_per_state(kepler):
    x, labels, sigma, laws = kepler
    with pytest.raises(ValueError, match="levels.labels"):
        independent_laws([laws["L"]], x, levels=Levels(labels[:-1], sigma))


def test_the_sum_search_keeps_the_energy_beside_the_angular_momentum(kepler):
    """``sums.run._dependent`` with the data's levels (the judge's noise floor)."""
    from dslsearch.sums.run import _dependent

    x, labels, sigma, laws = kepler
    assert _dependent(laws["E"], [laws["L"]], x)
    assert not _dependent(laws["E"], [laws["L"]], x, Levels(labels, sigma))
    assert _dependent(laws["L2"], [laws["L"]], x, Levels(labels, np.asarray(sigma)))


def test_a_near_law_whose_levels_do_not_spread_beyond_its_scatter_stays_dependent():
    """The rigid body at σ = 0.05, seed 12: beside its two invariants the sum search found
    ``L1² + 2.64 sqrt(L2² + L3²)``, which approximates a function of them (R 5e-4 on the
    noise-free states). Its levels are off a cubic in theirs beyond the noise of the
    levels (between ratio 9.5 against 4.1), yet they spread less than its own scatter
    (R with the explained levels taken out 0.86): it stays in the second invariant's
    group. Kepler's energy beside the angular momentum: 0.024."""
    import hamiltonian_data

    from dslsearch.acceptance import gradients, means_explained, unexplained_r
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.law import Law

    ds = hamiltonian_data.SYSTEMS["rigid-body"].generate(noise=0.05, seed=12)
    x, labels = segments(ds, FitConfig(seed=12))
    sigma = noise_floor(ds.train)
    laws = [dataclasses.replace(Law.parse(t, ds), R_true=R) for t, R in (
        ("4*L1**2 + L2**2", 0.00706), ("2.98802452792185*L1**2 - L3**2", 0.00745),
        ("L1**2 + 2.63695375790654*sqrt(L2**2 + L3**2)", 0.00785))]
    near = laws[2]
    v, g, better = near(x), gradients(near, x), [law(x) for law in laws[:2]]
    assert not means_explained(v, g, better, labels, sigma)
    assert unexplained_r(v, g, better, labels, sigma) > 0.5
    result = independent_laws(laws, x, levels=Levels(labels, sigma))
    assert result.n_independent == 2 and result.groups == ((0,), (1, 2))


def test_the_energy_carries_its_conservation_in_its_levels(kepler):
    from dslsearch.acceptance import gradients, unexplained_r

    x, labels, sigma, laws = kepler
    E = laws["E"]
    assert unexplained_r(E(x), gradients(E, x), [laws["L"](x)], labels, sigma) < 0.1


def test_exact_functions_of_each_other_stay_grouped_whatever_their_levels():
    """Two functions of the same non-conserved variable (``(L1 − 0.12)⁴`` and
    ``L1² (L1 − 1.18)``, laws the exhaustive search accepted on the rigid body at
    σ = 0.1, seed 13) are functions of each other at every point, while their trajectory means,
    means of a quantity that varies along each trajectory, are not: the levels do not
    override a dependence the gradients show to ``rtol``."""
    import hamiltonian_data

    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.law import Law

    ds = hamiltonian_data.SYSTEMS["rigid-body"].generate(noise=0.1, seed=13)
    x, labels = segments(ds, FitConfig(seed=13))
    laws = [dataclasses.replace(Law.parse(t, ds), R_true=R) for t, R in (
        ("(L1 - 0.11974334397765)**4", 0.053), ("L1**2*(L1 - 1.17629226885981)", 0.023))]
    for given in (None, Levels(labels, noise_floor(ds.train))):
        result = independent_laws(laws, x, levels=given)
        assert result.n_independent == 1
