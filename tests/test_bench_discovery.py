"""The discovery benchmark's matching: a law recovers a known invariant when each is a
function of the other on the data."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dslsearch.law import Law

VARIABLES = [("q", ""), ("p", "")]


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_discovery.py"
    spec = importlib.util.spec_from_file_location("bench_discovery", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform([-2.0, -2.0], [2.0, 2.0], size=(200, 2))


def energy() -> Law:
    return Law.parse("p**2 - 3*cos(q)", VARIABLES)


def test_square_of_the_invariant_matches(bench, x):
    squared = Law.parse("(p**2 - 3*cos(q))**2", VARIABLES)
    assert bench.matches(squared, energy(), x)
    assert bench.matches(energy(), squared, x)


def test_unrelated_law_does_not_match(bench, x):
    other = Law.parse("p*q", VARIABLES)
    assert not bench.matches(other, energy(), x)


def test_spurious_is_a_law_outside_the_known_span(bench, x):
    known = [energy()]
    assert not bench.spurious(Law.parse("(p**2 - 3*cos(q))**2", VARIABLES), known, x, 1)
    assert bench.spurious(Law.parse("p*q", VARIABLES), known, x, 1)
