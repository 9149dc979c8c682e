"""A store written by schema version 1 (kept in tests/data/store-v1) is still read back.

The fixture was written by the fit stage at depth 5 on `tests/data/spring_dimless_small.csv`
(8 trajectories of the ideal spring with dimensionless q, p). If a change breaks reading it,
the on-disk format changed: bump the encoding version and keep a reader for the old one.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

import hamiltonian_data
from dslsearch.fitting import FitConfig, accepted
from noether_search.stages import fit_laws, load_fits
from noether_search.store import SCHEMA_VERSION, ResultsStore, StoreError
from noether_search.store.codecs import CANDIDATE_TABLE, FIT_LAWS

DATA = Path(__file__).parent / "data"
KEY = "d5-28cc4e888b23"


@pytest.fixture
def old_store(tmp_path):
    root = tmp_path / "store-v1"
    shutil.copytree(DATA / "store-v1", root)
    return ResultsStore.open(root, create=False)


def test_reads_candidates_fits_and_laws(old_store):
    table = old_store.load("candidates/d5", CANDIDATE_TABLE)
    assert table.variables == (("q", ""), ("p", ""))
    assert table.n_candidates == 1778
    fits = load_fits(old_store, KEY)
    assert len(fits.R_true) == table.n_candidates
    ok = accepted(fits.status, fits.R_true, fits.R_random, 100.0)
    assert ok.sum() >= 1
    records = old_store.load(f"fits/{KEY}/laws", FIT_LAWS)
    assert records[0].expr == "p**2 + q**2"
    law = records[0].to_law(table, table.variables)
    assert str(law) == "p**2 + q**2" and law.node == records[0].node


def test_current_code_reuses_the_old_fits(old_store):
    dataset = hamiltonian_data.load(data=DATA / "spring_dimless_small.csv")
    shards = sorted(old_store.root.rglob("shard-*.h5"))
    before = {p: p.stat().st_mtime_ns for p in shards}
    result = fit_laws(dataset, 5, FitConfig(workers=1), store=old_store)
    assert result.key == KEY and result.shards_done == result.shards_total
    assert {p: p.stat().st_mtime_ns for p in shards} == before
    assert str(result.laws[0]) == "p**2 + q**2"
    assert np.isfinite(result.laws[0].R_true)


def test_report_and_export_read_the_old_store(old_store, tmp_path):
    from noether_search.report import collect, write_csv

    data = collect(old_store.root)
    n = write_csv(data, tmp_path / "all.csv")
    assert n == 1778
    assert len((tmp_path / "all.csv").read_text().splitlines()) == n + 1


def test_newer_schema_is_refused(tmp_path):
    root = tmp_path / "future"
    root.mkdir()
    (root / "store.json").write_text(
        f'{{"format": "noether-search-store", "schema_version": {SCHEMA_VERSION + 1}}}')
    with pytest.raises(StoreError, match="upgrade noether-search"):
        ResultsStore.open(root)


def test_non_store_folder_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a results store"):
        ResultsStore.open(tmp_path / "x")
