"""Reports of a results store: LaTeX with figures, and exports of every candidate.

:func:`collect` gathers a store's contents into a plain :class:`ReportData`; the leaf
modules turn it into files: :mod:`.figures` (matplotlib PDF/PNG), :mod:`.latex`
(``report.tex``), :mod:`.compile` (``report.pdf``) and :mod:`.export` (CSV/JSON).
:func:`write_report` runs the first three. See ``docs/REPORTS.md``.
"""

from noether_search.report._write import ReportFiles, write_report
from noether_search.report.collect import (NOT_FITTED, FitScores, ReportData, ReportedLaw,
                                           Rollouts, collect)
from noether_search.report.compile import LatexError, LatexNotFound, compile_pdf
from noether_search.report.export import candidate_rows, write_csv, write_json
from noether_search.report.figures import FigureFile, write_figures
from noether_search.report.latex import escape, write_tex

__all__ = [
    "NOT_FITTED",
    "FigureFile",
    "FitScores",
    "LatexError",
    "LatexNotFound",
    "ReportData",
    "ReportFiles",
    "ReportedLaw",
    "Rollouts",
    "candidate_rows",
    "collect",
    "compile_pdf",
    "escape",
    "write_csv",
    "write_figures",
    "write_json",
    "write_report",
    "write_tex",
]
