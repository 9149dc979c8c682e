"""``write_report``: collect a store, draw the figures, write ``report.tex``, optionally
compile it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from noether_search.report.collect import ReportData, collect
from noether_search.report.figures import FigureFile, write_figures
from noether_search.report.latex import write_tex

REPORT_NAME = "report.tex"


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
        tex: the ``report.tex`` path.
        figures: figure name -> its PDF and PNG files.
        pdf: ``report.pdf`` when compiled, else None.
        data: the collected store contents the report shows.
    """

    tex: Path
    figures: dict[str, FigureFile]
    pdf: Path | None
    data: ReportData

    @property
    def paths(self) -> list[Path]:
        """Every file written, in order."""
        out = [self.tex]
        for fig in self.figures.values():
            out += [fig.pdf, fig.png]
        return out + ([self.pdf] if self.pdf else [])


def write_report(store_dir: str | Path, output_dir: str | Path | None = None,
                 pdf: bool = False, depth: int | None = None, top: int = 10,
                 timeout: float = 180.0) -> ReportFiles:
    """Write ``report.tex`` and its figures for the store at ``store_dir``.

    Args:
        store_dir: the results store folder.
        output_dir: where to write (default: ``store_dir``).
        pdf: also compile ``report.pdf``.
        depth: which enumeration to report (default: the ranked one, else the largest).
        top: laws typeset in full.
        timeout: seconds allowed for the LaTeX compilation.

    Raises:
        noether_search.store.StoreError: not a store, or an unreadable artifact.
        noether_search.report.LatexError: ``pdf`` and LaTeX is missing or fails; the
            ``.tex`` and figures are written before.
    """
    from noether_search.report.compile import compile_pdf
    from noether_search.report.video import video_section
    from noether_search.store import ResultsStore

    data = collect(store_dir, depth=depth)
    out = Path(output_dir) if output_dir is not None else data.root
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(data, out)
    video_figures, video_lines = video_section(ResultsStore.open(data.root, create=False), out)
    figures |= video_figures
    tex = write_tex(data, figures, out / REPORT_NAME, top=top, extra=video_lines)
    files = ReportFiles(tex=tex, figures=figures, pdf=None, data=data)
    if pdf:
        files.pdf = compile_pdf(tex, timeout=timeout)
    return files
