"""Settings of the sum-of-terms search."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class SumsConfig:
    """Settings of :func:`~dslsearch.sums.fit_sums` (every field enters its store key).

    The acceptance factor, the random-sequence seed, the fit stride and the windows come
    from the fit stage's :class:`~dslsearch.fitting.FitConfig`, so both searches judge a
    law by the same test.
    """

    term_size: int = 6          # largest term in nodes (parameter-free formulas of the table)
    max_terms: int = 6          # largest number of terms in a sum
    beam: int = 24              # term sets kept at each number of terms
    pair_screen: int = 2000     # every pair of the simplest this many terms is tried
    gain: float = 10.0          # complexity penalty: a term must divide R by this factor;
    #                             the chosen law minimises log R + n_terms * log(gain)
    exact: float = 1e-13        # R below this is round-off: stop adding terms, and among
    #                             such sets prefer the fewest nodes
    dedup_digits: int = 9       # standardised values rounded to this many digits to find
    #                             terms equal up to sign, scale and offset

    def key(self) -> str:
        """8 hex digits over the settings (part of the store key of a sums result)."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]
