"""Trajectory files: round trips, unit conversion, and every bad-file case."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hamiltonian_data import DataError, load, write_csv, write_h5

GOOD = """trajectory,t [s],q [rad],p [kg*m**2/s]
a,0.0,0.0,1.0
a,0.1,0.1,0.99
a,0.2,0.2,0.96
a,0.3,0.3,0.91
b,0.0,1.0,0.0
b,0.1,0.99,-0.1
b,0.2,0.96,-0.2
b,0.3,0.91,-0.3
"""


def _write(tmp_path, text, name="traj.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_csv(tmp_path):
    ds = load(data=_write(tmp_path, GOOD))
    assert ds.name == "traj"
    assert [(v.name, v.unit) for v in ds.variables] == [("q", "rad"), ("p", "kg*m**2/s")]
    assert len(ds.train) == len(ds.test) == 1
    assert ds.x_train.shape == (4, 2)
    # second-order finite differences are exact on a linear q(t) = t
    np.testing.assert_allclose(ds.train[0].dxdt[:, 0], 1.0)
    assert ds.invariant is None
    assert ds.dt == pytest.approx(0.1)


def test_units_converted_to_si(tmp_path):
    text = "trajectory,t [ms],theta [deg],x [cm],v\n" + "".join(
        f"0,{100 * k},{10 * k},{k},{k}\n" for k in range(10))
    ds = load(data=_write(tmp_path, text))
    assert [(v.name, v.unit) for v in ds.variables] == [("theta", "rad"), ("x", "m"), ("v", "")]
    np.testing.assert_allclose(ds.train[0].t[:3], [0.0, 0.1, 0.2])
    np.testing.assert_allclose(ds.train[0].x[1], [np.deg2rad(10), 0.01, 1.0])
    # one trajectory: 80 % of the samples train, the rest test
    assert len(ds.train[0]) == 8 and len(ds.test[0]) == 2


@pytest.mark.parametrize("fmt", ["csv", "h5"])
def test_round_trip_builtin(tmp_path, fmt):
    ds = load("spring")
    path = tmp_path / f"spring.{fmt}"
    (write_csv if fmt == "csv" else write_h5)(path, ds)
    back = load(data=path)
    assert back.variables == ds.variables
    assert len(back.train) == len(back.test) == 25
    for a, b in zip((*ds.train, *ds.test), (*back.train, *back.test)):
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_array_equal(a.x, b.x)
        # finite differences of 30 samples on a smooth orbit: close to the exact field
        np.testing.assert_allclose(b.dxdt[1:-1], a.dxdt[1:-1], atol=0.02)


BAD_CSV = [
    ("", "empty"),
    ("   \n\n", "empty"),
    ("t [s],q [rad]\n0,1\n", r"line 1: no trajectory column.*add a first column 'trajectory'"),
    ("trajectory,q [rad],p\n0,1,2\n", r"line 1: no time column.*'t \[s\]'"),
    ("trajectory,t [s]\n0,0\n0,1\n0,2\n", r"line 1: no state column"),
    ("trajectory,t [s],q [rad],q [m]\n", r"line 1, column 4: duplicate column name 'q' "
                                         r"\(also column 3\)"),
    ("trajectory,t [s],p [kg*m/s\n", r"line 1, column 3 'p \[kg\*m/s': unbalanced unit bracket"),
    ("trajectory,t [s],q [furlongs_per_blob]\n", r"line 1, column 3 \('q'\).*not a unit pint"),
    ("trajectory,t [s],q [kg**]\n", r"line 1, column 3 \('q'\).*not a unit pint"),
    ("trajectory,t [m],q\n", r"column 2 \('t'\): unit \[m\] is not a time"),
    ("trajectory,t,q\n", r"column 2 \('t'\): the time column has no unit"),
    ("trajectory,t [s],q [rad]\n", "a header but no data rows"),
    ("trajectory,t [s],q [rad]\n0,0,1\n0,0.1,abc\n0,0.2,1\n",
     r"line 3, column 3 \('q \[rad\]'\): 'abc' is not a number"),
    ("trajectory,t [s],q [rad]\n0,0,1\n0,0.1,nan\n0,0.2,1\n",
     r"line 3, column 3 \('q \[rad\]'\): 'nan' is not a finite number"),
    ("trajectory,t [s],q [rad]\n0,0,1\n0,inf,1\n0,0.2,1\n",
     r"line 3, column 2 \('t \[s\]'\): 'inf' is not a finite number"),
    ("trajectory,t [s],q [rad]\n0,0,1\n0,0.1,\n0,0.2,1\n", r"line 3, column 3.*'' is not a number"),
    ("trajectory,t [s],q [rad]\n0,0,1\n0,0.2,1\n0,0.1,1\n0,0.3,1\n",
     r"line 4: time 0.1 s of trajectory '0' is not after.*sort each trajectory"),
    ("trajectory,t [s],q [rad]\n0,0,1\n0,0,1\n0,0.3,1\n", r"line 3: time 0 s .* not after"),
    ("trajectory,t [s],q [rad]\n0,0,1\n0,0.1,1\n0,0.2,1\n1,0,1\n1,0.1,1\n",
     r"line 5: trajectory '1' has 2 sample\(s\), at least 3"),
    ("trajectory,t [s],q [rad]\n0,0,1,5\n", r"line 2: 4 cells, the header has 3"),
    ("trajectory [s],t [s],q\n0,0,1\n", r"column 1: the trajectory column takes no unit"),
    ("trajectory,t [s],q-dot\n0,0,1\n", r"column 3: state name 'q-dot' is not an identifier"),
]


@pytest.mark.parametrize("text,match", BAD_CSV)
def test_bad_csv(tmp_path, text, match):
    path = _write(tmp_path, text, "bad.csv")
    with pytest.raises(DataError, match=match) as info:
        load(data=path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load(data=tmp_path / "nope.csv")


def _h5(tmp_path, **datasets):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        for key, (data, attrs) in datasets.items():
            ds = f.create_dataset(key, data=data)
            for k, v in attrs.items():
                ds.attrs[k] = v
    return path


def _raw(tmp_path, data: bytes):
    path = tmp_path / "bad.h5"
    path.write_bytes(data)
    return path


X_ATTRS = {"names": ["q", "p"], "units": ["rad", "kg*m**2/s"]}


@pytest.mark.parametrize("make,match", [
    (lambda p: _h5(p, t=(np.arange(3.0), {"unit": "s"}), x=(np.ones((3, 2)), X_ATTRS)),
     r"key 'trajectory': no trajectory column"),
    (lambda p: _h5(p, trajectory=(np.zeros(3), {}), x=(np.ones((3, 2)), X_ATTRS)),
     r"key 't': no time column"),
    (lambda p: _h5(p, trajectory=(np.zeros(3), {}), t=(np.arange(3.0), {"unit": "s"})),
     r"key 'x': no state column"),
    (lambda p: _h5(p, trajectory=(np.zeros(3), {}), t=(np.arange(3.0), {"unit": "s"}),
                   x=(np.ones((3, 2)), {"names": ["q", "p"], "units": ["rad", "blorps"]})),
     r"key 'x', column 1 .*not a unit pint"),
    (lambda p: _h5(p, trajectory=(np.zeros(3), {}), t=(np.arange(3.0), {"unit": "s"}),
                   x=(np.array([[1, 2], [np.nan, 1], [1, 1]]), X_ATTRS)),
     r"key 'x', row 1, column 0: nan is not a finite number"),
    (lambda p: _h5(p, trajectory=(np.zeros(3), {}), t=(np.array([0, 2, 1.0]), {"unit": "s"}),
                   x=(np.ones((3, 2)), X_ATTRS)),
     r"key 't', row 2: time 1 s .* not after"),
    (lambda p: _h5(p, trajectory=(np.zeros(3), {}), t=(np.arange(3.0), {"unit": "s"}),
                   x=(np.ones((3, 2)), {"names": ["q", "q"], "units": ["rad", "rad"]})),
     r"duplicate column name 'q'"),
    (lambda p: _raw(p, b""), "empty"),
    (lambda p: _raw(p, b"not hdf5"), "not a readable HDF5"),
])
def test_bad_h5(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(DataError, match=match) as info:
        load(data=path)
    assert str(path) in str(info.value)
