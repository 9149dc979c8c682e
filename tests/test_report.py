"""`noether-search report`: collected data, figures, report.tex and its PDF.

The stores here are FIXTURES built by hand: a real enumeration (``enumerate_candidates``) plus a fit
shard, ``summary.json`` and rollouts written in the layouts of ``noether_search/store/codecs.py``
and the rank stages (``noether_search/stages/``) with made-up numbers, so the report is tested without
running the (slow) pipeline. ``test_real_rank_run`` (slow) runs the real thing.
"""

import json
import math

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from noether_search.stages import enumerate_candidates
from noether_search.cli import cli
from noether_search.report import (LatexNotFound, collect, compile_pdf, escape, write_figures,
                                   write_report)
from noether_search.report.compile import find_compiler
from noether_search.report.latex import dims_latex, num
from noether_search.store import ResultsStore, StoreError

SPRING = (("q", "m"), ("p", "kg*m/s"))
PENDULUM = (("q", "rad"), ("p", "kg*m**2/s"))
BEST = "q**2 + 0.25*p**2"           # fixture's best law (the spring's energy, scaled)
RUN_KEY = "rank/fixture000000"
NO_LATEX = ("no latexmk/pdflatex on PATH (install latexmk texlive-latex-base "
            "texlive-latex-recommended)")


def has_latex():
    """True when `compile_pdf` finds a compiler on the current PATH (checked at run time)."""
    return find_compiler() is not None


def require_latex():
    """Skip the calling test when no LaTeX compiler is installed."""
    if not has_latex():
        pytest.skip(NO_LATEX)


@pytest.fixture
def latex():
    """Request this fixture in every test that compiles a PDF."""
    require_latex()


def enumerated_store(root, variables=PENDULUM, depth=5):
    """A store holding only an enumeration (as `noether-search enumerate` writes it)."""
    store = ResultsStore.open(root)
    table = enumerate_candidates(variables, depth, store=store)
    return store, table


def add_fit_shard(store, table, n_fitted):
    """FIXTURE fit shard (layout of the fit-shard codec) for the first
    ``n_fitted`` candidates; the spring law q**2 + c0*p**2 passes the filter."""
    exprs = list(table.expr_strings())
    idx = np.arange(n_fitted)
    if "q**2 + c0*p**2" in exprs:
        idx = np.union1d(idx, [exprs.index("q**2 + c0*p**2")])
    n_fitted = len(idx)
    rng = np.random.default_rng(0)
    p_max = max(table.formula(int(table.candidates[i])).n_params for i in idx)
    params = np.full((n_fitted, max(p_max, 1)), np.nan)
    for row, i in enumerate(idx):
        n = table.formula(int(table.candidates[i])).n_params
        params[row, :n] = rng.uniform(0.1, 2.0, n)
    r_true = rng.uniform(0.3, 1.0, n_fitted)
    r_rand = rng.uniform(0.3, 1.0, n_fitted)
    status = np.zeros(n_fitted, np.int8)
    status[1] = 2  # one NaN/inf failure
    message = ["fitted"] * n_fitted
    message[1] = "produces NaN or inf on the data"
    if "q**2 + c0*p**2" in exprs:
        k = n_fitted - 1
        params[k, 0], r_true[k], r_rand[k] = 0.25, 1e-7, 0.9
    with store.write("fits/d7-fixture0000/shard-00000", "fit-shard", 1) as f:
        f.create_dataset("candidate_index", data=idx.astype(np.int64))
        f.create_dataset("node", data=table.candidates[idx].astype(np.int64))
        f.create_dataset("params", data=params)
        f.create_dataset("R_true", data=r_true)
        f.create_dataset("R_random", data=r_rand)
        f.create_dataset("status", data=status)
        f.create_dataset("message", data=np.array(message, dtype=object),
                         dtype=h5py.string_dtype())


def add_rank_outputs(store, n_test=3, horizon=20):
    """FIXTURE summary.json and rollouts in the layout of noether_search.stages."""
    t = np.linspace(0.0, 2.0, horizon + 1)
    r = np.linspace(0.5, 1.0, n_test)[:, None]
    true = np.stack([r * np.cos(t), -2 * r * np.sin(t)], axis=-1)     # q**2 + p**2/4 = r**2
    drift = {"baseline": 1.0 + 0.05 * t, "noether": 1.0 + 0.01 * t, "oracle": 1.0 + 0.005 * t}
    preds = {name: true * d[None, :, None] for name, d in drift.items()}
    formulas = {"baseline": "", "noether": BEST, "oracle": "q**2 + 0.25*p**2"}
    rmse = {}
    with store.write(f"{RUN_KEY}/rollouts", "rank-rollouts", 1) as f:
        models = f.create_group("models")
        f.create_dataset("true", data=true)
        f.create_dataset("t", data=t)
        for name, pred in preds.items():
            by_step = np.sqrt(((pred - true) ** 2)[:, 1:].mean(axis=(0, 2)))
            rmse[name] = float(np.sqrt(((pred - true) ** 2)[:, 1:].mean()))
            g = models.create_group(name)
            g.attrs["rmse"], g.attrs["horizon"], g.attrs["formula"] = rmse[name], horizon, \
                formulas[name]
            g.create_dataset("rmse_by_step", data=by_step)
            g.create_dataset("pred", data=pred)
    law = {"formula": BEST, "pretty": "q**2 + 0.25 [s²/kg²]*p**2", "size": 7, "R_true": 1e-7,
           "R_random": 0.9, "variants": 2, "screen_loss": 0.01, "screen_gain": 0.002,
           "inner_lr": 1e-3, "meta_train_loss": 0.008, "g_scale": 1.0}
    other = dict(law, formula="q**2 + 0.2501*p**2 + 0.001*q", size=9, meta_train_loss=0.009,
                 screen_gain=0.001, variants=1)
    nan_law = dict(law, formula="sin(0.5*p*q)", size=5, meta_train_loss=None, R_random=None)
    summary = {
        "system": "spring_test", "source": "generated: fixture_data 50% #1 & {x}",
        "depth": 7, "candidates": 13386, "fitted": 13000, "failed": 300, "survivors": 12,
        "laws": 3, "best": law, "top": [law, other, nan_law],
        "baseline_rmse": rmse["baseline"], "noether_rmse": rmse["noether"],
        "oracle_rmse": rmse["oracle"],
        "oracle": {"formula": "q**2 + 0.25*p**2", "inner_lr": 1e-3, "meta_train_loss": 0.0079},
        "rmse_by_step": {}, "horizon": horizon,
        "baseline": {"deriv_mse_train": 0.01, "deriv_mse_test": 0.02,
                     "train_loss_after_screen_step": None},
        "screen_baseline_train_loss": 0.012, "config": {"depth": 7, "factor": 100.0},
        "run_key": RUN_KEY, "stage_seconds": {"fit": 1.0},
    }
    store.write_json("summary.json", summary)


@pytest.fixture(scope="module")
def ranked_store(tmp_path_factory):
    """Spring, depth 7, half the candidates fitted, rank outputs present (FIXTURE)."""
    root = tmp_path_factory.mktemp("ranked") / "spring_run"
    store, table = enumerated_store(root, SPRING, 7)
    add_fit_shard(store, table, 1000)
    add_rank_outputs(store)
    return root


@pytest.fixture(scope="module")
def enum_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("enum") / "pendulum_d5"
    enumerated_store(root, PENDULUM, 5)
    return root


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# -- collect ------------------------------------------------------------------------------
def test_collect_ranked_store(ranked_store):
    data = collect(ranked_store)
    assert data.stages == {"enumerate": True, "fit": True, "rank": True, "rollouts": True}
    assert data.depth == 7 and data.variables == SPRING
    assert data.n_candidates == 13386 and data.n_survivors == 12 and data.n_laws == 3
    assert data.best.formula == BEST and data.best.variants == 2
    assert math.isnan(data.top[2].meta_train_loss)
    assert set(data.rollouts.pred) == {"baseline", "noether", "oracle"}
    assert data.rollouts.true.shape == (3, 21, 2)
    assert data.fits.status[:2] == ["ok", "nonfinite"] and data.fits.status[-1] == "not fitted"
    assert data.fits.survivor.sum() == 1   # only the fixture's spring law passes
    assert any("scored 1,001 of 13,386" in note for note in data.notes)


def test_collect_enumeration_only(enum_store):
    data = collect(enum_store)
    assert data.stages == {"enumerate": True, "fit": False, "rank": False, "rollouts": False}
    assert data.counts_by_size == {1: 2, 2: 4, 3: 29, 4: 126, 5: 799}
    assert data.fits is None and data.best is None and data.rollouts is None


def test_collect_errors(tmp_path, enum_store):
    with pytest.raises(StoreError, match="no such folder"):
        collect(tmp_path / "missing")
    with pytest.raises(StoreError, match="no results store here"):
        collect(tmp_path)
    with pytest.raises(StoreError, match=r"no enumeration of depth 7 .* depths present: 5"):
        collect(enum_store, depth=7)


# -- latex pieces -------------------------------------------------------------------------
def test_escape_specials_and_unicode():
    assert escape("a_b 50% #1 & {x} $y ~^\\") == (
        r"a\_b 50\% \#1 \& \{x\} \$y \textasciitilde{}\textasciicircum{}\textbackslash{}")
    assert escape("kg·m²") == r"kg$\cdot$m\textsuperscript{2}"
    assert escape("日本") == "??"


def test_units_and_numbers_in_latex():
    assert dims_latex((4, 2, -2, 0, 0, 0, 0)) == r"\mathrm{kg}^{2}\,\mathrm{m}^{4}\,\mathrm{s}^{-2}"
    assert dims_latex((0,) * 7) == "1"
    assert num(1.5e-7, 3) == r"1.5\times10^{-7}" and num(float("nan")) == r"\text{--}"


# -- figures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ranked_report(ranked_store, tmp_path_factory):
    """The report of the ranked FIXTURE store, written once for several tests."""
    return write_report(ranked_store, output_dir=tmp_path_factory.mktemp("rep") / "out_dir")


def test_figures_written_and_valid(ranked_report):
    figs = ranked_report.figures
    assert set(figs) == {"rmse_by_step", "law_along_trajectories", "phase_portraits",
                         "counts_by_size"}
    for fig in figs.values():
        assert fig.pdf.read_bytes()[:5] == b"%PDF-" and fig.pdf.stat().st_size > 1000
        assert fig.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.png.stat().st_size > 1000


def test_figures_of_enumeration_only(enum_store, tmp_path):
    figs = write_figures(collect(enum_store), tmp_path)
    assert set(figs) == {"counts_by_size"}


# -- report -------------------------------------------------------------------------------
def test_report_tex_contents(ranked_report):
    files = ranked_report
    out = files.tex.parent
    tex = files.tex.read_text()
    assert out.name == "out_dir" and files.tex.name == "report.tex"
    assert r"spring\_test" in tex and r"fixture\_data 50\% \#1 \& \{x\}" in tex
    assert r"g = c_{0} p^{2} + q^{2}" in tex                      # best law, symbolic
    assert r"c_{0} = 0.25\;\mathrm{kg}^{-2}\,\mathrm{s}^{2}" in tex   # its constant, unit
    assert r"0.25 p^{2} + q^{2}" in tex                           # best law, fitted
    assert "Noether Network (ours)" in tex and "oracle" in tex
    for name in ("fig-rmse-by-step.pdf", "fig-law-along-trajectories.pdf",
                 "fig-phase-portraits.pdf", "fig-counts-by-size.pdf"):
        assert "{" + name + "}" in tex and (out / name).is_file()
    assert "has not run" not in tex


def test_report_tex_has_no_control_characters(ranked_report, enum_store, tmp_path):
    """Backslash commands survive Python strings (a non-raw "\\texttt" holds a TAB)."""
    res = run("report", enum_store, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    for tex in (ranked_report.tex.read_text(), (tmp_path / "report.tex").read_text()):
        bad = sorted({hex(ord(ch)) for ch in tex if ord(ch) < 32 and ch != "\n"})
        assert bad == [], f"control characters in report.tex: {bad}"
    tex = ranked_report.tex.read_text()
    assert r"lowest training loss with \texttt{-{}-select loss}" in tex
    assert "exttt" not in tex.replace(r"\texttt", "")


def test_pdf_tests_skip_without_latex(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no latexmk / pdflatex
    assert not has_latex()
    with pytest.raises(pytest.skip.Exception, match="no latexmk/pdflatex on PATH"):
        require_latex()


def test_report_compiles_to_pdf(ranked_report, latex):
    pdf = compile_pdf(ranked_report.tex)
    assert pdf == ranked_report.tex.with_suffix(".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000


def test_enumeration_only_report_compiles(enum_store, tmp_path, latex):
    out = tmp_path / "with space_and_underscore"
    res = run("report", enum_store, "-o", out, "--pdf")
    assert res.exit_code == 0, res.output
    tex = (out / "report.tex").read_text()
    assert "have not run" in tex and "has not run" in tex
    assert r"$q$ in $\mathrm{rad}$" in tex and "799" in tex
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert f"wrote {out / 'report.pdf'}" in res.output
    assert "stages not in the store yet: fit, rank, rollouts" in res.output


def test_report_default_output_is_store(enum_store):
    res = run("report", enum_store)
    assert res.exit_code == 0, res.output
    assert (enum_store / "report.tex").is_file()
    assert (enum_store / "fig-counts-by-size.png").is_file()


def test_bad_store_dir_is_a_clear_error(tmp_path):
    res = run("report", tmp_path / "nope")
    assert res.exit_code == 1 and "no such folder" in res.output
    res = run("report", tmp_path)
    assert res.exit_code == 1 and "no results store here" in res.output
    (tmp_path / "file.txt").write_text("x")
    res = run("report", tmp_path / "file.txt")
    assert res.exit_code == 1 and "not a folder" in res.output
    assert "Traceback" not in res.output


def test_pdf_without_latex_says_how_to_install(enum_store, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no latexmk / pdflatex
    with pytest.raises(LatexNotFound, match="apt-get install latexmk texlive-latex-base"):
        compile_pdf(tmp_path / "report.tex")
    res = run("report", enum_store, "-o", tmp_path / "r", "--pdf")
    assert res.exit_code == 1 and "apt-get install latexmk" in res.output
    assert "Traceback" not in res.output and (tmp_path / "r" / "report.tex").is_file()


@pytest.mark.parametrize("text, message", [
    ("{not json", "summary.json: not readable JSON"),
    ("[1, 2]", "summary.json: expected a JSON object, got list")])
def test_summary_json_unreadable(tmp_path, text, message):
    root = tmp_path / "s"
    enumerated_store(root, SPRING, 3)
    (root / "summary.json").write_text(text)
    res = run("report", root)
    assert res.exit_code == 1 and message in res.output
    assert "rerun `noether-search rank`" in res.output


def test_neural_figure_from_its_summary(tmp_path):
    """A store with ``neural.json`` gets the neural RMSE-by-step figure, one line per model
    that has a curve, with the model's RMSE in the legend."""
    from noether_search.report.figures import plot_neural_rmse_by_step

    root = tmp_path / "s"
    store, _ = enumerated_store(root, SPRING, 3)
    curves = {"baseline": [0.01, 0.02, 0.04], "neural": [0.01, 0.015, 0.02],
              "oracle": [], "symbolic": None}
    store.write_json("neural.json", {"rmse_by_step": curves, "baseline_rmse": 0.03,
                                     "neural_rmse": 0.016})
    data = collect(root)
    fig = plot_neural_rmse_by_step(data)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["vanilla MLP: RMSE 0.03", "neural Noether (learned g): RMSE 0.016"]
    assert fig.axes[0].get_yscale() == "log"
    assert "neural_rmse_by_step" in write_figures(data, tmp_path / "figs")
    (root / "neural.json").write_text("{broken")
    res = run("report", root)
    assert res.exit_code == 1 and "neural.json: not readable JSON" in res.output
    assert "rerun `noether-search neural`" in res.output


@pytest.mark.slow
def test_real_rank_run(tmp_path):
    """The real pipeline on a tiny spring run, then report (PDF if LaTeX) and export."""
    root = tmp_path / "rank_run"
    res = CliRunner().invoke(cli, ["rank", "--system", "spring", "--depth", "5", "--top", "3",
                                   "--epochs", "5", "--out", str(root)])
    if res.exit_code != 0:
        pytest.fail(f"rank failed: {res.output[-2000:]}")
    summary = json.loads((root / "summary.json").read_text())
    args = ["report", root] + (["--pdf"] if has_latex() else [])
    res = run(*args)
    assert res.exit_code == 0, res.output
    tex = (root / "report.tex").read_text()
    assert "vanilla MLP" in tex
    if summary["best"]:
        assert "best: used by the Noether model" in tex
    res = run("export", root, "--csv", tmp_path / "all.csv")
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "all.csv").read_text().splitlines()
    assert len(lines) == 1 + summary["candidates"]
