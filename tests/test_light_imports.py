"""The calibrated test and the constants' intervals without ``scipy.stats``/``scipy.signal``
(about 1.2 CPU s of imports, paid while a fit's workers need the cores): the replacements
give scipy's values."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from scipy.signal import savgol_filter

from dslsearch.acceptance import _f_median, f_upper, savgol_matrix
from dslsearch.uncertainty import _t_quantile


@pytest.mark.parametrize("n,window,order", [(7, 7, 3), (50, 7, 3), (200, 7, 5), (31, 9, 5)])
def test_savgol_matrix_is_scipys_smoother(n, window, order):
    expected = savgol_filter(np.eye(n), window, order, axis=0, mode="interp")
    np.testing.assert_allclose(savgol_matrix(n, window, order), expected, rtol=0, atol=1e-11)


def test_savgol_matrix_smooths_a_cubic_exactly_and_refuses_bad_windows():
    t = np.linspace(-1, 1, 40)
    y = 2 * t ** 3 - t + 0.5
    np.testing.assert_allclose(savgol_matrix(40, 7, 3) @ y, y, atol=1e-12)
    for bad in [(40, 6, 3), (40, 7, 7), (5, 7, 3)]:
        with pytest.raises(ValueError, match="odd window"):
            savgol_matrix(*bad)


@pytest.mark.parametrize("dfn,dfd", [(1, 5), (3, 1000), (20, 30000)])
def test_f_distribution_is_scipy_stats(dfn, dfd):
    for F in [-1.0, 0.0, 0.3, 1.0, 2.5, 40.0, np.inf]:
        assert f_upper(F, dfn, dfd) == stats.f.sf(F, dfn, dfd)
    assert _f_median(dfd) == stats.f.median(1, dfd)


def test_t_quantile_is_scipy_stats():
    for dof in [1, 3, 30, 300]:
        for p in [0.975, 0.995]:
            assert _t_quantile(p, dof) == stats.t.ppf(p, dof)


def test_a_noisy_fit_imports_neither_scipy_stats_nor_scipy_signal():
    code = ("import sys\n"
            "from noether_search import load\n"
            "from dslsearch.fitting import FitConfig\n"
            "from noether_search.stages.fit import fit_laws\n"
            "res = fit_laws(load('pendulum', noise=0.05, seed=0), 7, FitConfig(workers=2),\n"
            "               search='exhaustive')\n"
            "assert res.laws, 'no law'\n"
            "print(sorted(m for m in ('scipy.stats', 'scipy.signal') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
