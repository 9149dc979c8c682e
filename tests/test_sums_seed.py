"""Backward-elimination seeds of the beam on noisy data (dslsearch.sums.seed)."""

import numpy as np
import pytest

from dslsearch.fitting.objective import Segments, relabel, within
from dslsearch.fitting.optimise import solve_scatter
from dslsearch.sums import SumsConfig
from dslsearch.sums.seed import eliminate, elimination_seeds, held_out_r, removals
from dslsearch.sums.select import Cross, beam_search


def _split(K: int, n: int):
    labels = np.repeat(np.arange(K), n)
    fit = np.zeros(labels.size, bool)
    fit[::3] = True
    return labels, fit, Segments(relabel(labels[fit])), relabel(labels[~fit])


def _cancelling(seed: int = 0, K: int = 12, n: int = 90, distractors: int = 14):
    """Rows: three terms whose sum is constant per trajectory while every one or two of
    them vary a lot (they cancel only together), then ``distractors`` smooth terms, each
    with measurement noise; the law's terms are rows 0, 1, 2 placed among the others."""
    rng = np.random.default_rng(seed)
    labels, fit, seg_fit, labels_out = _split(K, n)
    N = labels.size
    t = np.linspace(0, 60, N)
    level = np.repeat(rng.normal(size=K), n)
    a = np.sin(t) + 0.5 * np.sin(2.3 * t)
    b = np.cos(1.7 * t) - 0.8 * a
    c = level - a - b
    others = [np.sin(w * t + p) for w, p in rng.uniform(0.3, 3.0, size=(distractors, 2))]
    rows = np.stack([a, b, c, *others]) + 0.02 * rng.normal(size=(3 + distractors, N))
    return rows, labels, fit, seg_fit, labels_out


def _standard(rows, fit, seg_fit):
    Ff = rows[:, fit]
    mean = Ff.mean(1, keepdims=True)
    norm = np.sqrt(((Ff - mean) ** 2).sum(1, keepdims=True))
    Zf = (Ff - mean) / norm
    return Zf, within(Zf, seg_fit), (rows[:, ~fit] - mean) / norm


def test_each_removal_in_closed_form_is_the_exact_fit_of_the_rest():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(7, 60))
    Aw = A - A.mean(1, keepdims=True) + 0.3 * rng.normal(size=(7, 60))
    T, W = A @ A.T, Aw @ Aw.T
    R, C = removals(T, W)
    for i in range(7):
        rest = [j for j in range(7) if j != i]
        r, v = solve_scatter(T[np.ix_(rest, rest)][None], [W[np.ix_(rest, rest)][None]])
        assert np.isclose(R[i], r[0, 0], rtol=1e-9)
        assert abs(C[i, i]) < 1e-12 and np.isclose(C[i] @ T @ C[i], 1.0)
        assert np.isclose(C[i] @ W @ C[i], R[i], rtol=1e-9)


def test_elimination_reaches_terms_that_cancel_only_together():
    rows, labels, fit, seg_fit, labels_out = _cancelling()
    Zf, Zfw, Zo = _standard(rows, fit, seg_fit)
    # no partial sum of the law is conserved: a beam from single terms has no lead
    pairs = [held_out_r(np.stack([Zo[i] + s * Zo[j] for s in (-1.0, 1.0)]), labels_out).min()
             for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(pairs) > 0.1
    path = eliminate(Zf, Zfw, Zo, labels_out)
    assert path[3][0][0] == (0, 1, 2) and path[3][0][1] < 0.01
    assert sorted(path) == list(range(1, rows.shape[0]))


def test_the_seeds_reach_the_law_and_the_beam_keeps_them():
    rows, labels, fit, seg_fit, labels_out = _cancelling(2)
    order = np.r_[3:rows.shape[0], 0:3]          # the law's terms last: the least simple
    rows = rows[order]
    law = tuple(range(rows.shape[0] - 3, rows.shape[0]))
    Zf, Zfw, _ = _standard(rows, fit, seg_fit)
    cross = Cross(Zf, Zfw)
    # the pool leaves the law's last term out: the second pass's extensions bring it in
    seeds = elimination_seeds(lambda j: rows[j], np.arange(rows.shape[0] - 1), cross, fit,
                              seg_fit, labels_out, 4)
    assert law in seeds
    size = np.ones(rows.shape[0], np.int64)
    plain = beam_search(Zf, Zfw, size, 4, 2, 1e-13, refine=0)
    seeded = beam_search(Zf, Zfw, size, 4, 2, 1e-13, refine=0, seeds=tuple(seeds))
    assert law in {ts.terms for ts in seeded[2]}
    assert all(len(a) <= len(b) for a, b in zip(plain, seeded))


def test_terms_not_finite_are_left_out_and_small_pools_give_no_seeds():
    rows, labels, fit, seg_fit, labels_out = _cancelling(3, distractors=2)
    Zf, Zfw, _ = _standard(rows, fit, seg_fit)
    values = lambda j: None if j > 0 else rows[j]
    assert elimination_seeds(values, np.arange(5), Cross(Zf, Zfw), fit, seg_fit,
                             labels_out, 3) == []


def test_the_settings_key_changes_with_the_seeds():
    assert SumsConfig(seed_pool=0).key() != SumsConfig().key()


def test_the_noise_band_picks_the_law_whose_terms_carry_more_noise():
    """The law ``a + b`` has a noisier ``a`` (its R is higher) and a noise ratio near 1;
    the stand-in ``c + b`` is quieter, with a lower R and a residual the noise does not
    explain. The band on R keeps only the stand-in; the band on the noise ratio keeps
    the law, and among sets within it the one of fewest nodes."""
    from dslsearch.sums.select import TermSet
    from dslsearch.sums.validate import held_out_choice

    rng = np.random.default_rng(5)
    labels, fit, seg_fit, labels_out = _split(12, 90)
    N = labels.size
    t = np.linspace(0, 40, N)
    a0 = np.sin(t) + rng.normal(size=12).repeat(90)
    b0 = np.repeat(rng.normal(size=12), 90) - a0
    za, zb = rng.normal(size=(2, 4, N))
    a, b = a0 + 0.2 * za[0], b0 + 0.01 * zb[0]
    c = a0 + 0.08 * np.sin(5 * t)
    rows = [a, b, c, c + 1e-3 * rng.normal(size=N)]

    class Values:
        def values(self, i):
            return rows[i]

        def noise(self, i):
            return [0.2 * za, 0.01 * zb, np.zeros((4, N)), 1e-3 * za][i]

    level = [TermSet((1, 2), 0.001), TermSet((1, 3), 0.001), TermSet((0, 1), 0.002)]
    keep, sizes = np.arange(4), np.array([1, 1, 1, 1])
    args = (level, keep, sizes, Values(), fit, seg_fit, labels_out, 2.0)
    assert held_out_choice(*args)[0].terms in {(1, 2), (1, 3)}
    assert held_out_choice(*args, 10.0)[0].terms == (0, 1)
    assert held_out_choice(*args, 1.01)[0].terms != (0, 1)     # the law's R is beyond cap

    class Quiet(Values):
        def noise(self, i):
            return None

    unrated = (level, keep, sizes, Quiet(), fit, seg_fit, labels_out, 2.0, 10.0)
    assert held_out_choice(*unrated)[0].terms in {(1, 2), (1, 3)}   # no noise ratio: by R


def test_a_round_takes_the_fewest_terms_within_the_noise_of_the_lowest_noise_ratio():
    from types import SimpleNamespace as NS

    from dslsearch.sums.run import _noise_band

    def point(n_terms, ratio):
        return NS(n_terms=n_terms, law=NS(evidence=NS(noise_ratio=ratio)))

    front = [point(3, 1.40), point(4, 1.04), point(5, 1.04), point(6, 0.97)]
    assert _noise_band(front, [0, 1, 2, 3], 2.0, 900) == [1]
    assert _noise_band(front, [0, 1, 2, 3], 2.0, 10 ** 6) == [3]   # a narrow band
    front[2] = NS(n_terms=5, law=NS(evidence=None))
    assert _noise_band(front, [0, 1, 2, 3], 2.0, 900) == [0, 1, 2, 3]


def test_every_subset_of_the_simplest_terms_holds_the_law():
    from dslsearch.sums.seed import subset_seeds

    rows, labels, fit, seg_fit, labels_out = _cancelling(4, distractors=8)
    seeds = subset_seeds(lambda j: rows[j], np.arange(rows.shape[0]), fit, seg_fit,
                         labels_out, 3, top=1)
    assert [len(s) for s in seeds] == [2, 3] and seeds[1] == (0, 1, 2)
    assert subset_seeds(lambda j: rows[j], np.arange(rows.shape[0]), fit, seg_fit,
                        labels_out, 3, most=10) == []


def _noisy_fit(name: str, noise: float, seed: int, **settings):
    import hamiltonian_data
    from dslsearch.acceptance import noise_floor
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.sums import fit_sums
    from noether_search.stages.fit import calibrated_judge

    ds = hamiltonian_data.SYSTEMS[name].generate(noise=noise, seed=seed)
    config = FitConfig(seed=seed)
    x, labels = segments(ds, config)
    judge = calibrated_judge(x, labels, noise_floor(ds.train, robust=True), 30000, config)
    return fit_sums(ds, None, config, SumsConfig(**settings), judge=judge)


def _conserved_on_clean_states(law, name: str, seed: int) -> float:
    import hamiltonian_data
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.objective import r_score
    from dslsearch.fitting.plan import segments

    clean = hamiltonian_data.SYSTEMS[name].generate(noise=0.0, seed=seed)
    x, labels = segments(clean, FitConfig(seed=seed))
    return float(r_score(law(x), Segments(labels)))


@pytest.mark.slow
def test_the_double_pendulum_energy_is_reached_at_noise_005():
    """Seed 5: the energy's partial sums are less conserved than every set the beam keeps;
    without the seeds the energy is not reached (a stand-in with ``θ1²``, R 4.5e-3 on the
    clean states of the same trajectories, before the noise ratios were weighed by their
    points; no law since), with them the energy (4e-4; its constants fitted on noisy
    data)."""
    law = _noisy_fit("double-pendulum", 0.05, 5).laws[0]
    assert _conserved_on_clean_states(law, "double-pendulum", 5) < 1e-3
    plain = _noisy_fit("double-pendulum", 0.05, 5, seed_pool=0, seed_subsets=0).laws
    assert all(_conserved_on_clean_states(other, "double-pendulum", 5) > 3e-3
               for other in plain)


def test_the_rest_score_of_a_sum_carried_by_one_trajectory_is_its_rests():
    """Held-out R with the rest (``rest=True``): the larger of R on all held-out points and
    R without the trajectories that carry half of the between-trajectory sum of squares.
    A conserved row keeps about its R; a row whose spread one trajectory carries (far off
    the others, while it drifts on them) is scored by the others, where it drifts."""
    rng = np.random.default_rng(3)
    K, n = 10, 40
    labels = np.repeat(np.arange(K), n)
    t = np.tile(np.linspace(0, 2 * np.pi, n), K)
    conserved = np.repeat(rng.normal(size=K), n) + 0.01 * rng.normal(size=K * n)
    carried = 0.3 * np.sin(t) + np.where(labels == 4, 20.0, 0.0)
    G = np.stack([conserved, carried])
    plain, rest = held_out_r(G, labels, rest=False), held_out_r(G, labels, rest=True)
    assert plain[1] < 0.01                       # the one trajectory hides the drift
    assert rest[1] > 0.9                          # on the others it is all drift
    assert plain[0] < 1e-3 and rest[0] < 1e-3      # conserved on every trajectory
    assert np.all(rest >= plain)
    few = np.repeat(np.arange(3), n)             # too few trajectories: plain R
    assert np.array_equal(held_out_r(G[:, :3 * n], few, rest=True),
                          held_out_r(G[:, :3 * n], few, rest=False))


@pytest.mark.slow
def test_the_double_pendulum_energy_is_reached_beside_a_trajectory_far_off_the_others():
    """Seed 16, σ = 0.01: one trajectory turns over and stays at θ1 ≈ −3 to −14, so sums
    of ``θ1²``, ``|θ1|``, … that tell it from the rest have R ≈ 0.1 on the fitting and the
    held-out points, and the elimination's path keeps them: no law. Scored by the rest of
    the trajectories as well (``seed_rest``), the path reaches the energy; so do the
    subsets of simple terms of lowest noise ratio (``seed_subsets_noise``) without it."""
    law = _noisy_fit("double-pendulum", 0.01, 16).laws[0]
    assert _conserved_on_clean_states(law, "double-pendulum", 16) < 1e-4
    for settings in ({"seed_rest": False}, {"seed_subsets_noise": 0}):
        law = _noisy_fit("double-pendulum", 0.01, 16, **settings).laws[0]
        assert _conserved_on_clean_states(law, "double-pendulum", 16) < 1e-4
    assert _noisy_fit("double-pendulum", 0.01, 16, seed_rest=False,
                      seed_subsets_noise=0).laws == []
