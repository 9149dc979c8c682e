"""Compile ``report.tex`` to PDF with latexmk (preferred) or pdflatex, with a timeout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

#: how to get a LaTeX compiler, for the error message
INSTALL_HINT = ("install TeX Live: on Debian/Ubuntu `apt-get install latexmk texlive-latex-base "
                "texlive-latex-recommended texlive-latex-extra`; on macOS MacTeX "
                "(https://tug.org/mactex/); or compile report.tex with any LaTeX installation")


class LatexError(RuntimeError):
    """LaTeX is missing, failed or timed out; the message says why and what to do."""


class LatexNotFound(LatexError):
    """Neither latexmk nor pdflatex is on PATH."""


def find_compiler() -> list[str] | None:
    """The compiler command line: ``latexmk -pdf …`` or ``pdflatex …``; None when absent."""
    common = ["-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    if shutil.which("latexmk") and shutil.which("pdflatex"):
        return ["latexmk", "-pdf", "-silent", *common]
    if shutil.which("pdflatex"):
        return ["pdflatex", *common]
    return None


def _log_tail(tex: Path, output: str, lines: int = 15) -> str:
    log = tex.with_suffix(".log")
    text = log.read_text(errors="replace") if log.is_file() else output
    errors = [ln for ln in text.splitlines() if ln.startswith("!") or ":" in ln and
              ln.split(":", 2)[-1].strip().startswith(("LaTeX Error", "Undefined"))]
    tail = errors[:5] or text.strip().splitlines()[-lines:]
    return "\n".join(tail)


def compile_pdf(tex: str | Path, timeout: float = 180.0) -> Path:
    """Compile ``tex`` in its own folder; returns the PDF path.

    Args:
        tex: the ``.tex`` file.
        timeout: seconds for the whole compilation.

    Raises:
        LatexNotFound: no latexmk/pdflatex on PATH (message says what to install).
        LatexError: compilation failed (message quotes the LaTeX errors and names the log)
            or ran past ``timeout``.
    """
    tex = Path(tex).resolve()
    cmd = find_compiler()
    if cmd is None:
        raise LatexNotFound(f"cannot compile {tex.name}: no latexmk or pdflatex on PATH; "
                            f"{INSTALL_HINT}")
    runs = 1 if cmd[0] == "latexmk" else 2  # pdflatex twice for references
    try:
        for _ in range(runs):
            proc = subprocess.run([*cmd, tex.name], cwd=tex.parent, capture_output=True,
                                  text=True, errors="replace", timeout=timeout,
                                  stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise LatexError(f"{cmd[0]} failed on {tex} (exit {proc.returncode}); see "
                                 f"{tex.with_suffix('.log')}:\n"
                                 f"{_log_tail(tex, proc.stdout + proc.stderr)}")
    except subprocess.TimeoutExpired:
        raise LatexError(f"{cmd[0]} on {tex} did not finish within {timeout:g} s; compile it "
                         f"by hand in {tex.parent} to see where it stops") from None
    pdf = tex.with_suffix(".pdf")
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise LatexError(f"{cmd[0]} reported success but wrote no {pdf.name}; see "
                         f"{tex.with_suffix('.log')}")
    return pdf
