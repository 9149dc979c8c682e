"""The report's pixel-pendulum section: metrics per prediction step (as the paper's
Figure 3), a strip of predicted against true frames, and the table of means over seeds.

:func:`video_section` reads the store's video results (``video/<hash>/…``) and returns the
figures it saved and the LaTeX lines; a store without video results gives neither.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noether_search.report.figures import FigureFile

#: method -> (label, colour, line style), as in the paper's Figure 3
_STYLE = {"base": ("SVG-style base", "tab:red", "--"),
          "more_steps": ("base, more steps", "tab:orange", "-."),
          "noether": ("Noether Network", "tab:blue", "-")}
_YLABEL = {"mse": "MSE (per pixel)", "psnr": "PSNR [dB]", "ssim": "SSIM"}


def plot_video_metrics(result):
    """Mean MSE, PSNR and SSIM at each prediction step over the test windows, for each model;
    the line is the mean over seeds, the band ± one standard deviation over seeds."""
    from matplotlib.figure import Figure

    from noether_search.video.results import METHODS, METRICS

    fig = Figure(figsize=(9.0, 2.8), layout="constrained")
    axes = fig.subplots(1, len(METRICS))
    for ax, metric in zip(axes, METRICS):
        for method in METHODS:
            label, colour, style = _STYLE[method]
            curves = result.by_step(metric, method)            # (seeds, horizon)
            steps = np.arange(1, curves.shape[1] + 1)
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            ax.plot(steps, mean, style, color=colour, label=label)
            ax.fill_between(steps, mean - std, mean + std, color=colour, alpha=0.15,
                            linewidth=0)
        ax.set_xlabel("prediction step")
        ax.set_ylabel(_YLABEL[metric])
        ax.grid(alpha=0.3)
    axes[0].legend()
    return fig


def plot_video_strip(result, every: int = 2):
    """True frames of the first test window and each model's prediction (first seed), one
    row each, every ``every``-th predicted step."""
    from matplotlib.figure import Figure

    from noether_search.video.results import METHODS

    run = result.runs[0]
    rows = [("true", run.strip_true)] + [(_STYLE[m][0], run.strip_pred[m]) for m in METHODS]
    cols = list(range(0, run.strip_true.shape[0], every))
    fig = Figure(figsize=(0.55 * len(cols) + 1.2, 0.6 * len(rows) + 0.4),
                 layout="constrained")
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for r, (name, frames) in enumerate(rows):
        for c, t in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(frames[t], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(str(t + 1), fontsize=7)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    return fig


def _save(fig, out_dir: Path, stem: str) -> FigureFile:
    pdf, png = out_dir / f"{stem}.pdf", out_dir / f"{stem}.png"
    fig.savefig(pdf, format="pdf", metadata={"CreationDate": None})
    fig.savefig(png, format="png", dpi=150)
    return FigureFile(stem, pdf, png)


def _rel(fig: FigureFile, tex_dir: Path) -> str:
    try:
        return fig.pdf.resolve().relative_to(tex_dir.resolve()).as_posix()
    except ValueError:
        return fig.pdf.resolve().as_posix()


def _table(result) -> list[str]:
    from noether_search.video.results import METHODS

    s = result.summary()
    out = [r"\begin{center}", r"\begin{tabular}{lrrr}", r"\toprule",
           r"model & MSE & PSNR [dB] & SSIM \\", r"\midrule"]
    for m in METHODS:
        cells = [f"{s[f'{m}_{k}']:.5f} $\\pm$ {s[f'{m}_{k}_std']:.5f}" for k in ("mse",)]
        cells += [f"{s[f'{m}_{k}']:.3f} $\\pm$ {s[f'{m}_{k}_std']:.3f}"
                  for k in ("psnr", "ssim")]
        out.append(" & ".join([_STYLE[m][0]] + cells) + r" \\")
    return out + [r"\bottomrule", r"\end{tabular}", r"\end{center}"]


def video_section(store, out_dir: str | Path,
                  tex_dir: str | Path | None = None) -> tuple[dict[str, FigureFile], list[str]]:
    """Figures and LaTeX lines of every video experiment in ``store`` (a
    :class:`~noether_search.store.ResultsStore`); ``({}, [])`` when it holds none."""
    import matplotlib

    from noether_search.report.latex import texttt
    from noether_search.stages.video import load_video

    results = load_video(store)
    if not results:
        return {}, []
    out_dir = Path(out_dir)
    tex_dir = Path(tex_dir) if tex_dir is not None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, FigureFile] = {}
    lines = [r"\section{Video prediction with controls}"]
    for i, result in enumerate(results):
        c, s = result.config, result.summary()
        source = ("the rendered swing-up pendulum" if c.source is None else
                  f"the videos of {texttt(Path(c.source.path).name)} "
                  f"({c.source.episodes} episodes)")
        lines.append(f"Data: {source}.")
        with matplotlib.rc_context({"font.size": 8, "legend.fontsize": 7}):
            metrics = _save(plot_video_metrics(result), out_dir, f"fig-video-metrics-{i}")
            strip = _save(plot_video_strip(result), out_dir, f"fig-video-strip-{i}")
        figures[f"video_metrics_{i}"], figures[f"video_strip_{i}"] = metrics, strip
        lines.append(
            f"Given {c.history} frames and {c.horizon} actions, each model predicts "
            f"{c.horizon} frames ({c.predictor.size}$\\times${c.predictor.size} pixels). "
            f"{c.n_train} training episodes, {c.n_test} test episodes "
            f"({s['episodes']['test_windows']} windows), {len(result.runs)} seed(s); "
            f"mean $\\pm$ standard deviation over seeds of the mean over steps and windows.")
        lines += _table(result)
        for fig, caption in ((metrics, "Test metrics at each prediction step (mean over "
                              "seeds, band: $\\pm$ one standard deviation)."),
                             (strip, "True frames of a test window and each model's "
                              "prediction (first seed), every second step.")):
            lines += [r"\begin{figure}[htbp]", r"\centering",
                      rf"\includegraphics[width=\linewidth]{{{_rel(fig, tex_dir)}}}",
                      rf"\caption{{{caption}}}", r"\end{figure}"]
    return figures, lines
