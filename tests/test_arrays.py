"""Dataset.from_arrays: layouts of x and t, unit conversion, derivatives, split, errors."""

from __future__ import annotations

import numpy as np
import pytest

from hamiltonian_data import DataError, Dataset, load


# the toy trajectories hold p constant on purpose
pytestmark = pytest.mark.filterwarnings("ignore::hamiltonian_data.arrays.DataWarning")


def _line(n=10, slope=1.0):
    """(n, 2) trajectory q = slope * k, p = 2."""
    k = np.arange(n, dtype=float)
    return np.stack([slope * k, np.full(n, 2.0)], axis=1)


def test_units_converted_to_si():
    ds = Dataset.from_arrays([_line(), _line()], 100.0, ["theta", "x"], ["deg", "cm"],
                             time_unit="ms", name="demo")
    assert ds.name == "demo" and ds.source == "arrays" and ds.system is None
    assert [(v.name, v.unit) for v in ds.variables] == [("theta", "rad"), ("x", "m")]
    np.testing.assert_allclose(ds.train[0].t[:3], [0.0, 0.1, 0.2])
    np.testing.assert_allclose(ds.train[0].x[1], [np.deg2rad(1.0), 0.02])
    assert ds.dt == pytest.approx(0.1)
    # finite differences in SI: 1 deg per 0.1 s
    np.testing.assert_allclose(ds.train[0].dxdt[:, 0], np.deg2rad(1.0) / 0.1)
    np.testing.assert_allclose(ds.train[0].dxdt[:, 1], 0.0, atol=1e-12)


def test_si_units_keep_their_spelling():
    ds = Dataset.from_arrays([_line()] * 2, 0.1, ["q", "p"], ["rad", "kg*m**2/s"])
    assert [v.unit for v in ds.variables] == ["rad", "kg*m**2/s"]


@pytest.mark.parametrize("t", [0.5, np.arange(10) * 0.5, [np.arange(10) * 0.5] * 4,
                               list(np.arange(10) * 0.5)])
def test_time_layouts(t):
    ds = Dataset.from_arrays([_line()] * 4, t, ["q", "p"], ["", ""])
    for tr in (*ds.train, *ds.test):
        np.testing.assert_allclose(tr.t, np.arange(10) * 0.5)


def test_x_layouts_and_default_split():
    stack = np.stack([_line(slope=s) for s in (1, 2, 3)])         # (3, 10, 2)
    ds = Dataset.from_arrays(stack, 1.0, ["q", "p"], ["m", "kg*m/s"])
    assert len(ds.train) == 1 and len(ds.test) == 2                # first half (rounded down)
    single = Dataset.from_arrays(_line(), 1.0, ["q", "p"], ["m", "kg*m/s"])
    assert len(single.train[0]) == 8 and len(single.test[0]) == 2  # 80/20 in time
    np.testing.assert_array_equal(single.test[0].t, [8.0, 9.0])


def test_explicit_split_and_derivatives():
    xs = [_line(slope=s) for s in (1, 2, 3, 4)]
    dxdt = [np.full((10, 2), 7.0) for _ in xs]
    ds = Dataset.from_arrays(xs, 1.0, ["q", "p"], ["cm", ""], dxdt=dxdt, train=[1, 3])
    assert [tr.x[1, 0] for tr in ds.train] == pytest.approx([0.02, 0.04])
    assert [tr.x[1, 0] for tr in ds.test] == pytest.approx([0.01, 0.03])
    np.testing.assert_allclose(ds.dxdt_train[:, 0], 0.07)          # cm/s -> m/s
    np.testing.assert_allclose(ds.dxdt_train[:, 1], 7.0)
    only_test = Dataset.from_arrays(xs, 1.0, ["q", "p"], ["", ""], test=[0])
    assert len(only_test.train) == 3 and len(only_test.test) == 1


def test_same_dataset_as_a_file(tmp_path):
    from hamiltonian_data import write_csv

    ds = load("spring")
    write_csv(tmp_path / "spring.csv", ds)
    trajs = [*ds.train, *ds.test]
    arrays = Dataset.from_arrays([tr.x for tr in trajs], [tr.t for tr in trajs],
                                 ds.names, [v.unit for v in ds.variables])
    assert arrays.content_hash() == load(data=tmp_path / "spring.csv").content_hash()


BAD = [
    (dict(x="abc"), r"x: got str; give a non-empty list"),
    (dict(x=[]), r"x: got list"),
    (dict(x=[np.arange(10.0)]), r"x\[0\]: shape \(10,\), expected \(T, d\).*a\[:, None\]"),
    (dict(x=[_line(), np.ones((10, 3))]), r"x\[1\]: 3 columns, x\[0\] has 2"),
    (dict(names=["q"]), r"names: got \['q'\]; give one name per state column \(2\)"),
    (dict(names=["q", "q-dot"]), r"names\[1\]: 'q-dot' is not an identifier"),
    (dict(names=["q", "q"]), r"names\[1\]: duplicate name 'q'"),
    (dict(units=["rad"]), r"units: got \['rad'\]; give one pint unit per state column"),
    (dict(units=["rad", "blorps"]), r"units\[1\] \('p'\):.*not a unit pint"),
    (dict(time_unit="m"), r"time_unit: 'm' is not a time"),
    (dict(t=-1.0), r"t: time step -1.0 must be a positive"),
    (dict(t=["a", "b"]), r"t: not numeric"),
    (dict(t=np.arange(5.0)), r"t: shape \(5,\), but x\[0\] has 10 samples"),
    (dict(t=[np.arange(10.0)] * 3), r"t: 3 time arrays for 2 trajectories"),
    (dict(t=[np.arange(10.0), np.r_[0, 2, 1, 3:10]]),
     r"t\[1\], sample 2: time 1 is not after the previous sample's 2"),
    (dict(x=[_line(), np.r_[_line()[:9], [[np.nan, 1]]]]),
     r"x\[1\], row 9, column 0: nan is not a finite number"),
    (dict(x=[_line(2), _line(2)], t=1.0), r"x\[0\]: 2 sample\(s\), at least 3"),
    (dict(x=[_line(4)]), r"x: the only trajectory has 4 samples, too few to split"),
    (dict(dxdt=[np.ones((10, 2))]), r"dxdt: shapes .* do not match"),
    (dict(train=[0, 5]), r"train: indices \[5\] out of range for 2 trajectories"),
    (dict(train=[0], test=[0]), r"train/test: trajectories \[0\] are in both"),
    (dict(train=[0, 1]), r"test: no trajectory left for test"),
]


@pytest.mark.parametrize("kwargs,match", BAD)
def test_errors_name_the_argument(kwargs, match):
    args = dict(x=[_line(), _line()], t=1.0, names=["q", "p"], units=["rad", "rad/s"])
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        Dataset.from_arrays(**args)
