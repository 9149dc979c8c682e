"""Peer methods for the discovery benchmark: other ways to find conserved quantities, run
on the same data, under the same time budget, and scored like our laws.

Benchmark code only, never imported by ``noether_search``; the peers need the optional
``bench`` extra (``pip install -e '.[bench]'``: pysindy, gplearn).

- ``"sindy"`` (:mod:`.sindy`): the sparse null-space method on a pysindy feature library
  (polynomials and Fourier features): coefficients ``c`` with ``d/dt[Θ(x)·c] ≈ 0``.
- ``"gplearn"`` (:mod:`.gp`): genetic programming (gplearn) with the conservation score R
  as its fitness.

Each entry of :data:`PEERS` is ``discover(dataset, *, seconds, seed) -> PeerResult``.
Importable as ``peers`` from a script in ``benchmarks/`` and as ``benchmarks.peers`` from
the repository root.
"""

from __future__ import annotations

from collections.abc import Callable

from ._common import PeerLaw, PeerResult


def _sindy(dataset, *, seconds: float, seed: int) -> PeerResult:
    from .sindy import discover

    return discover(dataset, seconds=seconds, seed=seed)


def _gplearn(dataset, *, seconds: float, seed: int) -> PeerResult:
    from .gp import discover

    return discover(dataset, seconds=seconds, seed=seed)


#: name -> ``discover(dataset: Dataset, *, seconds: float, seed: int) -> PeerResult``;
#: pysindy and gplearn are imported on the first call
PEERS: dict[str, Callable[..., PeerResult]] = {"sindy": _sindy, "gplearn": _gplearn}

__all__ = ["PEERS", "PeerLaw", "PeerResult"]
