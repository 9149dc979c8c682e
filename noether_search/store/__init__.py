"""The results store: a folder of versioned, checksummed HDF5 artifacts, written atomically.

:class:`ResultsStore` opens a store and reads and writes artifacts; every artifact kind has
one :class:`Codec` (:mod:`noether_search.store.codecs`). The on-disk layout is documented in
``docs/STORE.md``.
"""

from noether_search.store._integrity import Integrity
from noether_search.store._store import (DEFAULT_ROOT, FORMAT_NAME, MARKER, SCHEMA_VERSION,
                                         DamagedArtifact, DamagedArtifactWarning, ResultsStore,
                                         StoreError, default_run_dir, json_clean)
from noether_search.store.codec import Codec

__all__ = [
    "Codec", "DEFAULT_ROOT", "DamagedArtifact", "DamagedArtifactWarning", "FORMAT_NAME",
    "Integrity", "MARKER", "ResultsStore", "SCHEMA_VERSION", "StoreError", "default_run_dir",
    "json_clean",
]
