"""Images of a found law's terms under permutations of same-unit variables
(dslsearch.sums.symmetry), the seeds they give later rounds on noisy data."""

import numpy as np
import pytest

from dslsearch.fitting.objective import Segments
from dslsearch.sums.symmetry import image_sets, unit_permutations


class _Var:
    def __init__(self, name, unit):
        self.name, self.unit = name, unit


KEPLER = [_Var("x", "m"), _Var("y", "m"), _Var("px", "kg*m/s"), _Var("py", "kg*m/s")]


def test_permutations_keep_each_variable_within_its_unit():
    perms = unit_permutations(KEPLER)
    assert sorted(perms) == [(0, 1, 3, 2), (1, 0, 2, 3), (1, 0, 3, 2)]
    assert unit_permutations([_Var("a", "m"), _Var("b", "s")]) == []
    three = unit_permutations([_Var(n, "kg") for n in "abc"])
    assert len(three) == 5 and len(set(three)) == 5
    assert len(unit_permutations([_Var(n, "kg") for n in "abcde"], limit=7)) == 7


def _library():
    from dslsearch.enumerate import enumerate_formulas
    from dslsearch.sums import build_library

    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (80, 4))
    table = enumerate_formulas([(v.name, v.unit) for v in KEPLER], 3)
    lib = build_library(table, x, Segments(np.repeat(np.arange(8), 10)), np.arange(80), 3)
    return lib, x


def _term(lib, text):
    names = [str(lib.formula(t)) for t in range(lib.n_terms)]
    return names.index(f"Formula({text})")


def test_a_set_maps_to_the_terms_of_the_permuted_variables():
    lib, x = _library()
    xpx, ypy, ypx, xpy = (_term(lib, t) for t in ("x0*x2", "x1*x3", "x1*x2", "x0*x3"))
    images = image_sets(lib, x, [(xpx, ypx)], [(1, 0, 3, 2)])
    assert images == [tuple(sorted((ypy, xpy)))]
    # the angular momentum's terms map onto themselves: no new set
    assert image_sets(lib, x, [(ypx, xpy)], [(1, 0, 3, 2)]) == []
    # x0 - x1 maps to x1 - x0: the same term up to sign
    diff = _term(lib, "x0 - x1")
    assert image_sets(lib, x, [(diff, xpx)], [(1, 0, 2, 3)]) == [
        tuple(sorted((diff, _term(lib, "x1*x2"))))]
    assert image_sets(lib, x, [], [(1, 0, 3, 2)]) == []
    assert image_sets(lib, x, [(xpx,)], []) == []


@pytest.mark.slow
def test_keplers_second_runge_lenz_component_is_seeded_by_the_first():
    """Kepler at σ = 0.1, seed 37: the angular momentum and one Runge–Lenz component are
    found; the other component's partial sums rank below the beam's stand-ins, and only
    the first component's terms with ``x ↔ y``, ``px ↔ py`` reach it."""
    import hamiltonian_data
    from dslsearch.acceptance import noise_floor
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.sums import SumsConfig, fit_sums
    from noether_search.stages.fit import calibrated_judge

    ds = hamiltonian_data.SYSTEMS["kepler"].generate(noise=0.1, seed=37)
    config = FitConfig(seed=37)
    x, labels = segments(ds, config)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 30000, config)

    def components(laws):
        """Which Runge–Lenz components (``x/r`` or ``y/r`` with the two momentum terms
        of ``A_y`` or ``A_x``) the laws hold."""
        found = set()
        for law in laws:
            text = str(law)
            if "x/sqrt(x**2 + y**2)" in text and "py**2*x" in text and "px*py*y" in text:
                found.add("A_x")
            if "y/sqrt(x**2 + y**2)" in text and "px**2*y" in text and "px*py*x" in text:
                found.add("A_y")
        return found

    with_images = fit_sums(ds, None, config, SumsConfig(), judge=judge).laws
    without = fit_sums(ds, None, config, SumsConfig(seed_symmetric=False), judge=judge).laws
    assert components(with_images) == {"A_x", "A_y"}
    assert components(without) == {"A_x"}
