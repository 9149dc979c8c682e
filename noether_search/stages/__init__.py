"""The stages of a search as functions from typed inputs to typed results.

Each stage runs in memory. Passing a :class:`~noether_search.store.ResultsStore` as
``store`` makes it reuse the artifact the store already holds for the same inputs and save
what it computes (one :mod:`codec <noether_search.store.codecs>` per artifact kind); without
one nothing touches the disk.
"""

from noether_search.stages.baseline import baseline_key, train_baseline
from noether_search.stages.candidates import enumerate_candidates, table_key
from noether_search.stages.fit import fit_laws, laws_key, load_fits, load_shards, shard_key

__all__ = [
    "baseline_key",
    "enumerate_candidates",
    "fit_laws",
    "laws_key",
    "load_fits",
    "load_shards",
    "shard_key",
    "table_key",
    "train_baseline",
]
