"""Per-candidate fit results: one :class:`FitRows` per shard, concatenated for a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class FitRows:
    """Fit results of some candidates of a table (a shard, or all of them).

    Attributes:
        candidate_index: (n,) int64 position in the table's ``candidates`` array.
        node: (n,) int64 node id of each candidate's formula.
        params: (n, P_max) float64 fitted parameters in pre-order, NaN-padded, SI base
            units of the data (NaN for a candidate that failed).
        R_true, R_random: (n,) float64 R on the true and on random sequences.
        status: (n,) int8 :class:`~dslsearch.fitting.FitStatus` codes.
        message: n user-facing status texts.
    """

    candidate_index: np.ndarray
    node: np.ndarray
    params: np.ndarray
    R_true: np.ndarray
    R_random: np.ndarray
    status: np.ndarray
    message: list[str]

    def __len__(self) -> int:
        return int(self.candidate_index.size)

    @classmethod
    def empty(cls) -> FitRows:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 1)),
                   np.zeros(0), np.zeros(0), np.zeros(0, np.int8), [])

    @classmethod
    def concat(cls, parts: Sequence[FitRows]) -> FitRows:
        """All rows of ``parts`` in candidate order, parameters padded to the widest."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        idx = np.concatenate([p.candidate_index for p in parts])
        order = np.argsort(idx, kind="stable")
        p_max = max(p.params.shape[1] for p in parts)
        params = np.concatenate([np.pad(p.params, ((0, 0), (0, p_max - p.params.shape[1])),
                                        constant_values=np.nan) for p in parts])
        messages = [m for p in parts for m in p.message]
        return cls(candidate_index=idx[order],
                   node=np.concatenate([p.node for p in parts])[order],
                   params=params[order],
                   R_true=np.concatenate([p.R_true for p in parts])[order],
                   R_random=np.concatenate([p.R_random for p in parts])[order],
                   status=np.concatenate([p.status for p in parts])[order],
                   message=[messages[i] for i in order])
