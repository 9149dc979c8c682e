"""The codec of one artifact kind: its encoding name and version, and how it is written to and
read from an HDF5 file.

Every artifact kind of the results store has exactly one :class:`Codec` (all of them are in
:mod:`noether_search.store.codecs`); :meth:`ResultsStore.save` and :meth:`ResultsStore.load`
are the only places that open artifact files for a stage. ``encode`` writes the object into an
open, empty ``h5py.File`` (root attributes ``encoding-type``, ``encoding-version`` and
``schema-version`` are set by the store); ``decode`` reads it back. A codec may read older
versions of its own encoding (``decode`` sees the file's ``encoding-version``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How one artifact kind is stored.

    Attributes:
        name: the ``encoding-type`` attribute of its files (e.g. ``"fit-shard"``).
        version: the ``encoding-version`` written; files of a newer version are refused.
        encode: ``encode(f, obj)`` writes ``obj`` into the open ``h5py.File`` ``f``.
        decode: ``decode(f) -> obj`` reads it back from an open ``h5py.File``.
        attrs: optional ``attrs(obj) -> dict`` of extra root attributes written with ``obj``.
    """

    name: str
    version: int
    encode: Callable[[Any, T], None]
    decode: Callable[[Any], T]
    attrs: Callable[[T], dict] | None = None
