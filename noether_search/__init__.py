"""noether-search: discover conserved quantities as unit-checked formulas (Noether Networks).

Packages: :mod:`dslsearch` (formula language, enumeration, fitting, ranking),
:mod:`hamiltonian_data` (systems and trajectory files), :mod:`noether_search` (results store,
baseline, pipeline, reports and the ``noether-search`` command line).
"""

__version__ = "0.1.0"
