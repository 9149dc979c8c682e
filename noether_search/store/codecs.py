"""Every artifact kind of the results store, one :class:`~noether_search.store.Codec` each.

The on-disk layout of each is described in ``docs/STORE.md``; encoding names and versions are
those of schema 1, so stores written by earlier versions read unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import h5py
import numpy as np

from dslsearch.enumerate import FormulaTable
from dslsearch.fitting.rows import FitRows
from dslsearch.law import Law
from noether_search.store.codec import Codec

_STR = h5py.string_dtype()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _strings(values) -> np.ndarray:
    return np.array(list(values), dtype=object)


# -- enumeration and fitting ----------------------------------------------------------------
def _encode_table(f: h5py.File, table: FormulaTable) -> None:
    g = f.create_group("nodes")
    for name in ("op", "a", "b", "size"):
        g.create_dataset(name, data=getattr(table, name), compression="gzip")
    c = f.create_group("candidates")
    c.create_dataset("id", data=table.candidates, compression="gzip")
    c.create_dataset("size", data=table.size[table.candidates], compression="gzip")
    c.create_dataset("expr", data=_strings(table.expr_strings()), dtype=_STR,
                     compression="gzip")


def _table_attrs(table: FormulaTable) -> dict:
    return {"variables": json.dumps([list(v) for v in table.variables]),
            "depth": table.depth,
            "counts_by_size": json.dumps({str(k): v for k, v in table.counts_by_size.items()}),
            "seconds": table.seconds}


def _decode_table(f: h5py.File) -> FormulaTable:
    counts = {int(k): int(v) for k, v in json.loads(f.attrs["counts_by_size"]).items()}
    return FormulaTable(
        variables=tuple(tuple(v) for v in json.loads(f.attrs["variables"])),
        depth=int(f.attrs["depth"]), op=f["nodes/op"][()], a=f["nodes/a"][()],
        b=f["nodes/b"][()], size=f["nodes/size"][()], candidates=f["candidates/id"][()],
        counts_by_size=counts, seconds=float(f.attrs["seconds"]))


#: ``candidates/d{N}``: the enumerated :class:`~dslsearch.enumerate.FormulaTable`.
CANDIDATE_TABLE: Codec[FormulaTable] = Codec("candidate-table", 1, _encode_table,
                                             _decode_table, _table_attrs)

_ROW_ARRAYS = ("candidate_index", "node", "params", "R_true", "R_random", "status")


def _encode_rows(f: h5py.File, rows: FitRows) -> None:
    f.create_dataset("candidate_index", data=rows.candidate_index.astype(np.int64))
    f.create_dataset("node", data=rows.node.astype(np.int64))
    for name in ("params", "R_true", "R_random", "status"):
        f.create_dataset(name, data=getattr(rows, name))
    f.create_dataset("message", data=_strings(rows.message), dtype=_STR)


def _decode_rows(f: h5py.File) -> FitRows:
    arrays = {name: f[name][()] for name in _ROW_ARRAYS}
    return FitRows(**arrays, message=[_text(m) for m in f["message"][()]])


#: ``fits/<key>/shard-{k:05d}``: per-candidate fit results of one shard.
FIT_SHARD: Codec[FitRows] = Codec("fit-shard", 1, _encode_rows, _decode_rows)


@dataclass(frozen=True, eq=False)
class LawRecord:
    """One row of a ``fit-laws`` artifact, before it is joined with its candidate table."""

    node: int
    expr: str
    variants: tuple[str, ...]
    R_true: float
    R_random: float
    params: np.ndarray   # (P_max,) NaN-padded

    def to_law(self, table: FormulaTable | None, variables) -> Law:
        """The :class:`Law`: formula from ``table`` (node id), else parsed from ``expr``."""
        scores = dict(R_true=self.R_true, R_random=self.R_random, variants=self.variants,
                      n_merged=len(self.variants) or 1, node=self.node)
        if table is not None and 0 <= self.node < len(table.op):
            formula = table.formula(self.node)
            return Law(formula, self.params[: formula.n_params], variables, **scores)
        return Law.parse(self.expr, variables, **scores)


def _encode_laws(f: h5py.File, laws: list[Law]) -> None:
    f.create_dataset("node", data=np.asarray([law.node for law in laws], np.int64))
    f.create_dataset("expr", data=_strings(str(law) for law in laws), dtype=_STR)
    f.create_dataset("variants", data=_strings(json.dumps(list(law.variants)) for law in laws),
                     dtype=_STR)
    f.create_dataset("R_true", data=np.asarray([law.R_true for law in laws], np.float64))
    f.create_dataset("R_random", data=np.asarray([law.R_random for law in laws], np.float64))
    p_max = max((law.n_params for law in laws), default=0)
    f.create_dataset("params", data=np.asarray(
        [np.pad(law.params, (0, p_max - law.n_params), constant_values=np.nan)
         for law in laws], np.float64).reshape(len(laws), p_max))


def _decode_laws(f: h5py.File) -> list[LawRecord]:
    return [LawRecord(node=int(f["node"][i]), expr=_text(f["expr"][i]),
                      variants=tuple(json.loads(f["variants"][i])),
                      R_true=float(f["R_true"][i]), R_random=float(f["R_random"][i]),
                      params=np.asarray(f["params"][i], np.float64))
            for i in range(int(f.attrs["n_laws"]))]


#: ``fits/<key>/laws``: the merged laws, best first. Encodes ``list[Law]``, decodes
#: ``list[LawRecord]`` (a law's formula lives in the candidate table: :meth:`LawRecord.to_law`).
FIT_LAWS: Codec = Codec("fit-laws", 1, _encode_laws, _decode_laws,
                        lambda laws: {"n_laws": len(laws)})


# -- baseline -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BaselineRecord:
    """A stored baseline MLP.

    Attributes:
        state: the MLP's ``state_dict`` as float32 arrays.
        config: the ``BaselineConfig`` as sorted-key JSON.
        data_hash: the dataset's ``content_hash()``.
        seed: torch seed of the initialisation.
        dim: state dimension d.
        dataset_name: the dataset's name (informational).
        metrics: ``deriv_mse_train``, ``deriv_mse_test``, ``train_seconds``.
    """

    state: dict[str, np.ndarray]
    config: str
    data_hash: str
    seed: int
    dim: int
    dataset_name: str
    metrics: dict


def _encode_baseline(f: h5py.File, rec: BaselineRecord) -> None:
    weights = f.create_group("weights")
    weights.attrs["encoding-type"] = "state-dict"
    weights.attrs["encoding-version"] = 1
    for name, array in rec.state.items():
        weights.create_dataset(name, data=array)


def _baseline_attrs(rec: BaselineRecord) -> dict:
    return {"config": rec.config, "data_hash": rec.data_hash, "seed": rec.seed,
            "dim": rec.dim, "dataset_name": rec.dataset_name,
            "metrics": json.dumps(rec.metrics)}


def _decode_baseline(f: h5py.File) -> BaselineRecord:
    state = {name: np.array(ds[()]) for name, ds in f["weights"].items()}
    return BaselineRecord(state=state, config=_text(f.attrs["config"]),
                          data_hash=_text(f.attrs["data_hash"]), seed=int(f.attrs["seed"]),
                          dim=int(f.attrs["dim"]), dataset_name=_text(f.attrs["dataset_name"]),
                          metrics=json.loads(f.attrs["metrics"]))


#: ``baseline/<hash>``: a trained vanilla MLP with its config and metrics.
BASELINE: Codec[BaselineRecord] = Codec("baseline", 1, _encode_baseline, _decode_baseline,
                                        _baseline_attrs)


# -- rank -----------------------------------------------------------------------------------
