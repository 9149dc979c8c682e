"""Write ``report.tex`` from collected store contents (a leaf module: nothing else in the
package knows about LaTeX).

Formulas are typeset with sympy's LaTeX printer, parameters as ``c_0, c_1, …`` with their
fitted values and units listed below; every user-provided string (system names, sources,
file names) goes through :func:`escape` so underscores, ``%`` or ``#`` cannot break the
document. The document needs only ``amsmath``, ``graphicx``, ``geometry`` (TeX Live's
``texlive-latex-base``) and ``booktabs`` (``texlive-latex-recommended``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

from dslsearch.law import Law
from noether_search.report.collect import ReportData, ReportedLaw
from noether_search.report.neural import neural_section
from noether_search.report.figures import FigureFile

_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
             "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
             "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
             "|": r"\textbar{}"}
# non-ASCII characters our own strings use (units, arrows); others become '?'
_UNICODE = {"·": r"$\cdot$", "×": r"$\times$", "−": "-", "–": "--", "—": "---", "→": r"$\to$",
            "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$", "µ": r"$\mu$",
            "ᐟ": "/", "⁻": r"\textsuperscript{-}", "★": "*", "’": "'", "‘": "`",
            "“": "``", "”": "''", "é": r"\'e", "è": r"\`e", "ü": r"\"u", "ö": r"\"o",
            "ä": r"\"a"}
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))
_BASE_LATEX = ("m", "kg", "s", "A", "K", "mol", "cd")  # order of hamiltonian_data.units.BASE_SYMBOLS
_UNIT_ORDER = (1, 0, 2, 3, 4, 5, 6)  # kg, m, s, …: mass first, as physicists write it
_TOP_LAWS = 10  # laws typeset in full


def escape(text: object) -> str:
    """``text`` safe for LaTeX text mode: specials escaped, known non-ASCII characters
    translated, any other non-ASCII character replaced by ``?``."""
    out = []
    for ch in str(text):
        if ch in _SPECIALS:
            out.append(_SPECIALS[ch])
        elif ch in _SUPERSCRIPTS:
            out.append(r"\textsuperscript{" + _SUPERSCRIPTS[ch] + "}")
        elif ord(ch) < 128:
            out.append(ch if ch.isprintable() or ch in "\n\t" else " ")
        else:
            out.append(_UNICODE.get(ch, "?"))
    return "".join(out)


def texttt(text: object) -> str:
    r"""``\texttt`` of escaped ``text`` that may break after ``/`` (long paths)."""
    return r"\texttt{" + escape(text).replace("/", r"/\allowbreak{}") + "}"


def dims_latex(dims) -> str:
    r"""A dimension vector in math mode: ``\mathrm{kg}^{2}\,\mathrm{m}^{4}\,\mathrm{s}^{-2}``;
    ``1`` for dimensionless."""
    parts = []
    for i in _UNIT_ORDER:
        e = Fraction(dims[i])
        if e == 0:
            continue
        exp = "" if e == 1 else "^{" + (str(e.numerator) if e.denominator == 1
                                         else f"{e.numerator}/{e.denominator}") + "}"
        parts.append(r"\mathrm{" + _BASE_LATEX[i] + "}" + exp)
    return r"\,".join(parts) if parts else "1"


def unit_latex(unit: str) -> str:
    """A pint unit string (``"kg*m**2/s"``) in math mode, via its SI base dimensions."""
    from hamiltonian_data.units import parse_unit

    if not unit:
        return "1"
    try:
        dims = parse_unit(unit).dims
    except ValueError:
        return r"\text{" + escape(unit) + "}"
    if not any(dims) and unit.isidentifier():  # rad, not 1
        return r"\mathrm{" + unit + "}"
    return dims_latex(dims)


def num(value: float | None, digits: int = 4) -> str:
    r"""A number in math mode (``1.23\times10^{-5}``); ``\text{--}`` for None / NaN."""
    if value is None or not math.isfinite(float(value)):
        return r"\text{--}"
    text = f"{float(value):.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant}\times10^{{{int(exp)}}}"
    return text


def _m(text: str) -> str:
    return f"${text}$"


def formula_latex(law: Law, with_values: bool = False) -> str:
    """The law in LaTeX, parameters as ``c_k`` (or their values, rounded to 4 digits)."""
    return law.latex(with_values, digits=4)


def plain_latex(text: str, names) -> str | None:
    """``text`` (sympy syntax) typeset by sympy without unit checks, numbers rounded to 4
    digits; None when sympy cannot read it. For formulas outside the unit-checked language,
    such as a known invariant with the system's constants absorbed (``q**2 + p**2``)."""
    import sympy

    try:
        local = {n: sympy.Symbol(n, real=True) for n in names}
        expr = sympy.sympify(text, locals=local)
        expr = expr.xreplace({f: sympy.Float(float(f"{float(f):.4g}")) for f in
                              expr.atoms(sympy.Float)})
        return sympy.latex(expr)
    except (sympy.SympifyError, SyntaxError, TypeError, ValueError, AttributeError):
        return None


def _parsed(text: str, data: ReportData) -> Law | None:
    from dslsearch.formula import FormulaError

    try:
        return Law.parse(text, data.variables) if data.variables else None
    except (FormulaError, ValueError, TypeError, KeyError, IndexError):
        return None


def _any_formula(text: str, data: ReportData, law: Law | None = None) -> str:
    """A formula for a table cell: the law (unit-checked, rounded) when known or parseable,
    else as sympy reads it, else verbatim."""
    law = law if law is not None else _parsed(text, data)
    if law is not None:
        return _m(formula_latex(law, with_values=True))
    plain = plain_latex(text, data.names)
    return _m(plain) if plain is not None else texttt(text)


def law_block(law: ReportedLaw, data: ReportData, label: str) -> list[str]:
    """A law as a display equation with its constants (values and units) and scores."""
    found = law.law
    lines = []
    if found is None:  # outside the unit-checked language: as sympy reads it, or verbatim
        plain = plain_latex(law.formula, data.names)
        lines.append(rf"\[ {label} = {plain} \]" if plain is not None else
                     rf"\[ {label} = \text{{{texttt(law.formula)}}} \]")
    else:
        lines.append(rf"\[ {label} = {formula_latex(found)} \]")
        consts = [rf"c_{{{k}}} = {num(c.value)}{_pm(c)}\;{dims_latex(c.dims)}"
                  for k, c in enumerate(found.constants)]
        unit = rf"[{label}] = {dims_latex(found.dims)}"
        lines.append(r"\begin{center}\small " + ", \\quad ".join(
            _m(c) for c in consts + [unit]) + r"\end{center}")
    scores = [rf"size {law.size}", rf"$R_\text{{true}} = {num(law.R_true, 3)}$",
              rf"$R_\text{{random}} = {num(law.R_random, 3)}$"]
    if math.isfinite(law.R_true) and law.R_true > 0 and math.isfinite(law.R_random):
        scores.append(rf"$R_\text{{random}}/R_\text{{true}} = {num(law.R_random / law.R_true, 3)}$")
    if law.variants > 1:
        scores.append(f"{law.variants} merged variants")
    if found is not None and found.evidence is not None and not math.isfinite(law.screen_gain):
        scores.append(f"found by the {_SEARCH_NAMES.get(found.search, escape(found.search))} "
                      "search, accepted with "
                      f"{escape(str(found.evidence))}")
    if math.isfinite(law.screen_gain):
        scores.append(rf"one-step tailoring gain ${num(law.screen_gain, 3)}$ "
                      rf"(inner rate ${num(law.inner_lr, 2)}$)")
    if math.isfinite(law.meta_train_loss):
        text = rf"meta-tailored training MSE ${num(law.meta_train_loss, 4)}$"
        base = data.baseline_train_loss
        if base and base > 0:
            change = 100 * (law.meta_train_loss / base - 1)
            sign = "+" if change > 0 else ""
            text += (rf" (${sign}{num(change, 3)}\,\%$ relative to the baseline's "
                     rf"${num(base, 4)}$)")
        scores.append(text)
    lines.append(r"\noindent " + "; ".join(scores) + ".")
    return lines


_SEARCH_NAMES = {"exhaustive": "exhaustive", "sums": "sum-of-terms",
                 "exhaustive+sums": "exhaustive and the sum-of-terms"}


def _pm(constant) -> str:
    """``\\pm`` half the constant's 95 % interval (empty without an interval or when it
    rounds to zero)."""
    half = constant.half_width
    if not math.isfinite(half) or half <= 0:
        return ""
    return rf" \pm {num(half, 2)}"


def _table(spec: str, header: list[str], rows: list[list[str]]) -> list[str]:
    out = [r"\begin{center}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(header) + r" \\", r"\midrule"]
    out += [" & ".join(r) + r" \\" for r in rows]
    out += [r"\bottomrule", r"\end{tabular}", r"\end{center}"]
    return out


def _figure(fig: FigureFile | None, caption: str, tex_dir: Path) -> list[str]:
    if fig is None:
        return []
    try:
        rel = fig.pdf.resolve().relative_to(tex_dir.resolve())
    except ValueError:
        rel = fig.pdf.resolve()
    return [r"\begin{figure}[htbp]", r"\centering",
            rf"\includegraphics[width=\linewidth,height=0.4\textheight,keepaspectratio]"
            rf"{{{rel.as_posix()}}}", rf"\caption{{{caption}}}", r"\end{figure}"]


# -- sections -----------------------------------------------------------------------------
def _searched(data: ReportData, figs: dict[str, FigureFile], tex_dir: Path) -> list[str]:
    out = [r"\section{What was searched}"]
    rows = []
    if data.system is not None:
        rows.append(["system / data", escape(data.system)])
    if data.source:
        rows.append(["source", escape(data.source)])
    if data.variables:
        rows.append(["variables", ", ".join(
            f"${escape(n)}$ in ${unit_latex(u)}$" if n.isidentifier() else
            f"{escape(n)} in ${unit_latex(u)}$" for n, u in data.variables)])
    if data.rollouts is not None:
        n_test, steps, _ = data.rollouts.true.shape
        rows.append(["test trajectories", f"{n_test} ({steps - 1} rollout steps)"])
    if data.depth is not None:
        rows.append(["depth", f"at most {data.depth} nodes per formula"])
    for label, value in (("candidates", data.n_candidates), ("fitted without problems",
                                                               data.n_fitted),
                         ("failed (NaN/inf, not converged)", data.n_failed),
                         (_survivors_label(data), data.n_survivors),
                         ("merged laws", data.n_laws), *_outcome_rows(data)):
        if value is not None:
            rows.append([label, f"{value:,}".replace(",", "{,}")])
    rows.append(["results store", texttt(data.root)])
    out += [r"\begin{center}", r"\begin{tabular}{@{}lp{0.68\linewidth}@{}}", r"\toprule"]
    out += [f"{a} & {b}" + r" \\" for a, b in rows]
    out += [r"\bottomrule", r"\end{tabular}", r"\end{center}"]
    if data.counts_by_size:
        from noether_search.report.figures import stage_counts

        stages = stage_counts(data)
        header = ["size"] + [escape(s) for s in stages]
        sizes = sorted({s for c in stages.values() for s in c})
        body = [[str(s)] + [f"{c.get(s, 0):,}".replace(",", "{,}") for c in stages.values()]
                for s in sizes]
        body.append([r"\textbf{total}"] + [f"{sum(c.values()):,}".replace(",", "{,}")
                                           for c in stages.values()])
        out += _table("r" * len(header), header, body)
        out += _figure(figs.get("counts_by_size"),
                       "Candidate formulas by size (nodes) at each stage that has run "
                       "(log scale).", tex_dir)
    else:
        out.append("No enumeration is in the store yet: run \\texttt{noether-search enumerate}.")
    for note in data.notes:
        out.append(r"\par\noindent\emph{Note:} " + escape(note) + ".")
    return out


def _survivors_label(data: ReportData) -> str:
    outcome = data.fit_outcome
    if outcome is not None and outcome.test == "calibrated":
        return "accepted by the calibrated test (exhaustive search)"
    return "survivors of the random-sequence filter"


def _outcome_rows(data: ReportData) -> list[tuple[str, int | None]]:
    """Rows on the sum search and the independent basis (when the fit stored them)."""
    outcome = data.fit_outcome
    if outcome is None:
        return []
    rows = []
    if outcome.search != "exhaustive":
        rows.append(("laws of the sum-of-terms search", outcome.n_sum_laws))
    if outcome.n_independent >= 0:
        rows.append(("independent invariants", outcome.n_independent))
    return rows


def _fit_laws_intro(data: ReportData) -> list[str]:
    outcome = data.fit_outcome
    searched = ("the exhaustive search" if outcome is None or outcome.search == "exhaustive"
                else "the sum-of-terms search" if outcome.search == "sums"
                else "the exhaustive search and the sum-of-terms search")
    out = ["The ranking stage (\\texttt{noether-search rank}) has not run, so no law has "
           f"been tailored. These are the laws the fit stage reported ({searched}), lowest "
           "conservation loss $R_\\text{true}$ on the training trajectories first"
           + ("" if outcome is None else "; constants with $\\pm$ half their 95\\,\\% "
              "interval (jackknife over trajectories)") + "."]
    if outcome is not None and outcome.n_independent >= 0:
        n = outcome.n_independent
        out.append(f"\\par\\noindent {n} independent invariant{'' if n == 1 else 's'}: the "
                   "laws marked \\emph{independent} form a basis; every other law is a "
                   "function of them (or only approximates one).")
    return out


def _laws_section(data: ReportData, top: int) -> list[str]:
    out = [r"\section{Top laws}"]
    if data.top:
        n = len(data.top)
        out.append(("The law" if n == 1 else f"The {n} laws") + " with the lowest training "
                   "loss after one tailoring step, meta-tailored; $R$ is the conservation loss "
                   "(variance within trajectories over total variance) on the true and on "
                   "random sequences. Constants are in SI base units.")
        best = data.best.formula if data.best else None
        for k, law in enumerate(data.top[:top], 1):
            mark = r" \emph{(best: used by the Noether model)}" if law.formula == best else ""
            out.append(rf"\subsection*{{Law {k}{mark}}}")
            out += law_block(law, data, "g")
        if len(data.top) > top:
            out.append(f"\\par\\noindent {len(data.top) - top} more laws are in "
                       "\\texttt{summary.json}.")
        return out
    if data.fit_laws:
        out += _fit_laws_intro(data)
        basis = set(data.fit_outcome.basis) if data.fit_outcome is not None else set()
        for k, law in enumerate(data.fit_laws[:top], 1):
            mark = r" \emph{(independent)}" if k - 1 in basis else ""
            out.append(rf"\subsection*{{Law {k}{mark}}}")
            out += law_block(law, data, "g")
        if len(data.fit_laws) > top:
            out.append(f"\\par\\noindent {len(data.fit_laws) - top} more laws are in the "
                       "store (\\texttt{noether-search fit -{}-json} lists them).")
        return out
    if data.fits is not None:
        out.append("The fit stage has run, but no candidate passed the random-sequence filter "
                   "(or the laws are not written yet): there is no law to show.")
        return out
    out.append("The fitting and ranking stages have not run on this store, so there are no "
               "laws yet. Run \\texttt{noether-search rank} with the same \\texttt{-{}-out} "
               "folder to fit, filter and rank the candidates.")
    return out


def _comparison(data: ReportData, figs: dict[str, FigureFile], tex_dir: Path) -> list[str]:
    out = [r"\section{Comparison with the baseline and the oracle}"]
    if data.summary is None:
        out.append("The ranking stage has not run, so there is no comparison of predictors "
                   "yet (\\texttt{noether-search rank} writes it).")
        return out
    horizon = f" over {data.horizon} steps" if data.horizon else ""
    out.append("Long-term prediction error on the test trajectories" + horizon + ", as in "
               "Tables 1 and 2 of Noether Networks: the vanilla MLP, the MLP meta-tailored "
               "with the best law found here, and with the known invariant (oracle).")
    best = data.best
    best_tex = "-- (no law survived)" if best is None else _any_formula(best.formula, data,
                                                                        best.law)
    oracle = data.oracle
    if oracle and oracle.get("formula"):
        oracle_tex = _any_formula(str(oracle["formula"]), data)
    else:
        oracle_tex = "-- (no known invariant)"
    rows = [["vanilla MLP", "--", _m(num(data.rmse.get("baseline")))],
            ["control (fine-tuned, no law)", "--", _m(num(data.rmse.get("control")))],
            ["Noether Network (ours)", best_tex, _m(num(data.rmse.get("noether")))],
            ["oracle", oracle_tex, _m(num(data.rmse.get("oracle")))]]
    out += _table("llr", ["model", "conservation loss", "RMSE"], _with_seeds(rows, data))
    if best is None:
        out.append(r"\noindent No law passed the filters, so there is no Noether model to "
                   "compare; a deeper search (\\texttt{-{}-depth}) or a smaller filter factor "
                   "(\\texttt{-{}-factor}) may find one.")
    else:
        out.append(r"\noindent The best law (chosen on the training data after "
                   "meta-tailoring: lowest long-term prediction error on the training "
                   r"trajectories, or lowest training loss with \texttt{-{}-select loss}):")
        out += law_block(best, data, "g_\\text{best}")
    names = {"rmse_by_step": "Prediction RMSE at each rollout step on the test set.",
             "law_along_trajectories": "The best law's value along true test trajectories "
                                       "(grey) and along the models' predictions from the same "
                                       "initial states.",
             "phase_portraits": "Phase portraits of test trajectories: true (grey) versus "
                                "predicted by each model."}
    for name, caption in names.items():
        out += _figure(figs.get(name), caption, tex_dir)
    if data.rollouts is None:
        out.append(r"\par\noindent The rollout trajectories are not in the store, so the "
                   "figures of this section are missing.")
    return out


def _stages(data: ReportData) -> list[str]:
    labels = {"enumerate": "enumeration", "fit": "fitting and random-sequence filter",
              "rank": "tailoring screen, meta-tailoring and comparison (\\texttt{rank})",
              "rollouts": "test rollouts"}
    items = [rf"\item {labels[k]}: {'done' if v else 'has not run'}"
             for k, v in data.stages.items()]
    return [r"\section*{Stages in this store}", r"\begin{itemize}"] + items + [r"\end{itemize}"]


def render(data: ReportData, figures: dict[str, FigureFile], tex_dir: str | Path,
           top: int = _TOP_LAWS, extra: list[str] = ()) -> str:
    """The whole LaTeX document as a string.

    Args:
        data: collected store contents.
        figures: figures written by :func:`~noether_search.report.figures.write_figures`.
        tex_dir: folder the ``.tex`` file goes in (figure paths are made relative to it).
        top: laws typeset in full.
        extra: LaTeX lines of further sections (e.g. the pixel pendulum's), placed before
            the stages list.
    """
    tex_dir = Path(tex_dir)
    title = "Noether search report" + (f": {escape(data.system)}" if data.system else "")
    body = [r"\documentclass[10pt]{article}", r"\usepackage[margin=2.2cm]{geometry}",
            r"\usepackage{amsmath}", r"\usepackage{graphicx}", r"\usepackage{booktabs}",
            r"\setlength{\parindent}{0pt}", r"\setlength{\parskip}{0.5em}",
            rf"\title{{{title}}}", r"\author{noether-search}", r"\date{}",
            r"\begin{document}", r"\maketitle"]
    body += _searched(data, figures, tex_dir)
    body += _laws_section(data, top)
    body += _comparison(data, figures, tex_dir)
    body += neural_section(data, figures, tex_dir)
    body += list(extra)
    body += _stages(data)
    body.append(r"\end{document}")
    return "\n".join(body) + "\n"


def write_tex(data: ReportData, figures: dict[str, FigureFile], path: str | Path,
              top: int = _TOP_LAWS, extra: list[str] = ()) -> Path:
    """Write the report to ``path`` (``report.tex``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data, figures, path.parent, top, extra), encoding="ascii")
    return path


def _with_seeds(rows: list[list[str]], data: ReportData) -> list[list[str]]:
    """With several seeds, each RMSE as ``seed 0's (mean ± std)`` over the seeds."""
    s = data.summary or {}
    if (s.get("seeds") or 1) < 2:
        return rows
    out = []
    for row, name in zip(rows, ("baseline", "control", "noether", "oracle")):
        mean, std = s.get(f"{name}_rmse_mean"), s.get(f"{name}_rmse_std")
        if mean is not None and std is not None:
            row = row[:-1] + [row[-1] + " ($" + num(mean) + r" \pm " + num(std) + "$)"]
        out.append(row)
    return out
