"""The paired comparison of noise ratios in the held-out choice (dslsearch.sums.validate):
two sums whose noise comes from the same term at the same few points (Lotka–Volterra's
``log x`` where ``x`` is small) have uncertain noise ratios each, and a precise difference."""

import math

import numpy as np

from dslsearch.fitting.objective import Segments, relabel
from dslsearch.sums.select import TermSet
from dslsearch.sums.validate import _held_out, held_out_choice, paired_se


class _Values:
    def __init__(self, rows, noise):
        self.rows, self.draws = rows, noise

    def values(self, t):
        return self.rows[t]

    def noise(self, t):
        return self.draws[t]


def _split(K: int, n: int):
    labels = np.repeat(np.arange(K), n)
    fit = np.zeros(labels.size, bool)
    fit[::3] = True
    return labels, fit, Segments(relabel(labels[fit])), relabel(labels[~fit])


def _case(drift: float, seed: int = 0):
    """Terms ``s`` (noisy at 5 % of the points only, like ``log x`` near ``x = 0``), ``a``
    (quiet) with ``s + a`` constant per trajectory, and ``c``: ``a``'s true values plus a
    slow error of size ``drift`` (a quieter stand-in for ``a``)."""
    rng = np.random.default_rng(seed)
    K, n = 12, 90
    labels, fit, seg_fit, labels_out = _split(K, n)
    N = labels.size
    t = np.linspace(0, 40, N)
    a0 = np.sin(t) + rng.normal(size=K).repeat(n)
    s0 = np.repeat(rng.normal(size=K), n) - a0
    scale = np.where(rng.random(N) < 0.05, 0.5, 0.02)       # noise at few points
    zs, za = rng.normal(size=(2, 4, N))
    s = s0 + scale * rng.normal(size=N)
    a = a0 + 0.02 * rng.normal(size=N)
    c = a0 + drift * np.sin(3 * t)
    rows = [s, a, c]
    noise = [scale * zs, 0.02 * za, np.zeros((4, N))]
    return rows, noise, fit, seg_fit, labels_out


def test_paired_se_of_independent_noise_is_that_of_each_ratio():
    rng = np.random.default_rng(1)
    N = 500
    ea, eb = rng.normal(size=(2, 4, N)) * np.array([np.sqrt(2), np.sqrt(0.5)])[:, None, None]
    pa, pb = np.mean(ea ** 2, axis=0), np.mean(eb ** 2, axis=0)   # as _held_out gives them
    se = paired_se((pa, ea), (pb, eb))
    assert abs(se - math.sqrt(4 / N)) < 0.15 * math.sqrt(4 / N)
    same = paired_se((pa, ea), (pa, ea))
    assert same < 1e-6                        # the same noise: the difference is exact


def test_a_stand_in_sharing_the_laws_noisy_term_is_left_out():
    rows, noise, fit, seg_fit, labels_out = _case(drift=0.012)
    law = _held_out(np.stack(rows[:2]), np.stack(noise[:2]), fit, seg_fit, labels_out)
    alt = _held_out(np.stack([rows[0], rows[2]]), np.stack([noise[0], noise[2]]), fit,
                    seg_fit, labels_out)
    # each ratio rests on few points: the stand-in is within the band of the law's ratio
    dof_law = (labels_out.size - 12) * law[2] / labels_out.size
    assert law[2] < 0.2 * labels_out.size
    assert law[1] < alt[1] < law[1] * (1 + 2 * math.sqrt(2 / dof_law))
    # their difference does not: the shared term's noise cancels
    assert alt[1] > law[1] * (1 + 2 * paired_se(law[3], alt[3]))
    level = [TermSet((0, 2), 0.001), TermSet((0, 1), 0.002)]
    keep, sizes = np.arange(3), np.array([1, 5, 1])           # the stand-in is simpler
    values = _Values(rows, noise)
    args = (level, keep, sizes, values, fit, seg_fit, labels_out, 2.0, 10.0)
    assert held_out_choice(*args, paired=False)[0].terms == (0, 2)
    assert held_out_choice(*args, paired=True)[0].terms == (0, 1)
