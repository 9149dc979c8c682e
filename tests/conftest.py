"""Fixtures shared by the test modules (each module gets its own copy)."""

import hamiltonian_data
import pytest

from dslsearch.enumerate import enumerate_formulas


@pytest.fixture(scope="module")
def pendulum():
    """The built-in pendulum's data set (``hamiltonian_data.load``)."""
    return hamiltonian_data.load(system="pendulum")


@pytest.fixture(scope="module")
def table5(pendulum):
    """Every formula of the pendulum's variables up to 5 nodes."""
    return enumerate_formulas(pendulum.variables, 5)
