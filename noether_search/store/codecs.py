"""Every artifact kind of the results store, one :class:`~noether_search.store.Codec` each.

The on-disk layout of each is described in ``docs/STORE.md``; encoding names and versions are
those of schema 1, so stores written by earlier versions read unchanged.
"""

from __future__ import annotations

from noether_search.store.codec import Codec  # noqa: F401

# -- enumeration and fitting ----------------------------------------------------------------


# -- baseline -------------------------------------------------------------------------------


# -- rank -----------------------------------------------------------------------------------
