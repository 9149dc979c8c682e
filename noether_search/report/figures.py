"""The report's figures, drawn with matplotlib (Agg) and saved as vector PDF and PNG.

Each ``plot_*`` function takes the collected :class:`~noether_search.report.collect.ReportData`
and returns a matplotlib ``Figure``, or None when the store lacks what it needs (the
report then says which stage has not run). :func:`write_figures` saves them all.
No pyplot: figures are built directly, so nothing depends on a display or global state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noether_search.report.collect import FITTED_OK, ReportData
from noether_search.report.neural import NEURAL_MODELS

#: model name -> (label, colour, line style) in every figure
MODELS = {"baseline": ("vanilla MLP", "tab:red", "--"),
          "control": ("control (fine-tuned, no law)", "tab:orange", "-."),
          "noether": ("Noether (best law)", "tab:blue", "-"),
          "oracle": ("oracle (known invariant)", "tab:green", ":")}
_MAX_TRAJ = 4  # test trajectories drawn in trajectory figures (more only clutter)
_RC = {"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 8,
       "figure.dpi": 100, "savefig.dpi": 150}


@dataclass(frozen=True)
class FigureFile:
    """One saved figure: ``name`` with its vector ``pdf`` and bitmap ``png``."""

    name: str
    pdf: Path
    png: Path


def _figure(width: float = 6.0, height: float = 3.2):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _band(ax, summary: dict, name: str, steps: np.ndarray, colour) -> bool:
    """Shade mean ± std over the seeds of model ``name`` (when the summary has several
    seeds); False when the band reaches zero or below (no log scale then)."""
    mean = (summary.get("rmse_by_step_mean") or {}).get(name)
    std = (summary.get("rmse_by_step_std") or {}).get(name)
    if not mean or not std or len(mean) != len(steps):
        return True
    lo, hi = np.asarray(mean) - np.asarray(std), np.asarray(mean) + np.asarray(std)
    ax.fill_between(steps, lo, hi, color=colour, alpha=0.15, linewidth=0)
    return bool(np.all(lo > 0))


def _rmse_curves(curves: dict, rmse: dict, models: dict, title: str, band=None):
    """A figure of test RMSE against rollout step, one line per model.

    Args:
        curves: model name -> RMSE at steps 1..H.
        rmse: model name -> its RMSE over all steps (in the legend; None leaves it out).
        models: model name -> (label, colour, line style); models not in it are drawn with
            their name as label.
        band: optional ``band(ax, name, steps, colour) -> bool`` that shades a spread
            around the curve, False when the shading reaches zero (no log scale then).
    """
    fig = _figure()
    ax = fig.add_subplot()
    positive = True
    for name, curve in curves.items():
        label, colour, style = models.get(name, (name, None, "-"))
        steps = np.arange(1, len(curve) + 1)
        value = rmse.get(name)
        ax.plot(steps, curve, style, color=colour,
                label=label + ("" if value is None else f": RMSE {value:.3g}"))
        positive &= bool(np.all(np.asarray(curve) > 0))
        if band is not None:
            positive &= band(ax, name, steps, colour)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("rollout step")
    ax.set_ylabel("RMSE (SI base units)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_rmse_by_step(data: ReportData):
    """RMSE at each rollout step (test set) of the baseline, control, Noether and oracle
    models; with several seeds, a band of ± one standard deviation around the seeds' mean."""
    ro = data.rollouts
    if ro is None or not ro.rmse_by_step:
        return None
    summary = data.summary or {}
    return _rmse_curves(ro.rmse_by_step, ro.rmse, MODELS,
                        "Prediction error along the test rollouts",
                        band=lambda ax, name, steps, colour: _band(ax, summary, name, steps,
                                                                   colour))


def plot_neural_rmse_by_step(data):
    """Test RMSE at each rollout step of every model of the neural comparison (None without
    a ``neural`` run)."""
    summary = getattr(data, "neural", None) or {}
    curves = summary.get("rmse_by_step") or {}
    if not curves:
        return None
    curves = {name: curves[name] for name in NEURAL_MODELS if curves.get(name)}
    rmse = {name: summary.get(f"{name}_rmse") for name in curves}
    return _rmse_curves(curves, rmse, NEURAL_MODELS,
                        "Neural Noether: prediction error along the test rollouts")


def _best_law(data: ReportData):
    """The best law as a function of states ``(..., d) -> (...)``, or None."""
    if data.best is None or not data.variables:
        return None
    law = data.best.law
    if law is None or not np.all(np.isfinite(law.params)):
        return None

    def g(states: np.ndarray) -> np.ndarray:
        return law(states.reshape(-1, states.shape[-1])).reshape(states.shape[:-1])

    return g


def plot_law_along_trajectories(data: ReportData):
    """The best law's value along true and predicted test trajectories."""
    ro = data.rollouts
    if ro is None:
        return None
    g = _best_law(data)
    if g is None:
        return None
    true_vals = g(ro.true[:_MAX_TRAJ])                      # (n, H+1)
    fig = _figure()
    ax = fig.add_subplot()
    t = ro.t
    for k in range(true_vals.shape[0]):
        ax.plot(t, true_vals[k], "-", color="0.3", lw=2.0, alpha=0.5,
                label="true" if k == 0 else None)
        for name, pred in ro.pred.items():
            label, colour, style = MODELS.get(name, (name, None, "-"))
            vals = g(pred[k])
            ax.plot(t, vals, style, color=colour, lw=1.0, label=label if k == 0 else None)
    ax.set_xlabel("time since the initial state [s]")
    ax.set_ylabel("best law's value")
    ax.set_title(f"Best law along {true_vals.shape[0]} test trajectories")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_phase_portraits(data: ReportData):
    """Phase portraits (q_i, p_i) of true versus predicted test trajectories, one panel per
    model."""
    ro = data.rollouts
    if ro is None or not ro.pred or ro.true.shape[-1] < 2:
        return None
    d = ro.true.shape[-1]
    pair = (0, d // 2)  # Hamiltonian ordering: (q..., p...)
    names = [n for n in MODELS if n in ro.pred] + [n for n in ro.pred if n not in MODELS]
    fig = _figure(2.3 * len(names) + 0.5, 2.8)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    var = data.names if len(data.names) == d else [f"x{i}" for i in range(d)]
    units = [u for _, u in data.variables] if len(data.variables) == d else [""] * d
    for ax, name in zip(axes, names):
        label, colour, style = MODELS.get(name, (name, None, "-"))
        for k in range(min(_MAX_TRAJ, ro.true.shape[0])):
            ax.plot(ro.true[k, :, pair[0]], ro.true[k, :, pair[1]], "-", color="0.3", lw=2.0,
                    alpha=0.4, label="true" if k == 0 else None)
            ax.plot(ro.pred[name][k, :, pair[0]], ro.pred[name][k, :, pair[1]], style,
                    color=colour, lw=1.0, label="predicted" if k == 0 else None)
        ax.set_title(label)
        ax.set_xlabel(f"{var[pair[0]]} [{units[pair[0]] or '1'}]")
        ax.set_ylabel(f"{var[pair[1]]} [{units[pair[1]] or '1'}]")
        ax.grid(alpha=0.3)
    axes[0].legend()
    return fig


def stage_counts(data: ReportData) -> dict[str, dict[int, int]]:
    """Candidates per size at each stage that has run: enumerated, fitted, survivors,
    meta-tailored (top laws)."""
    out: dict[str, dict[int, int]] = {}
    if data.counts_by_size:
        out["enumerated"] = dict(sorted(data.counts_by_size.items()))
    if data.fits is not None and data.candidate_size is not None:
        ok = np.asarray([s == FITTED_OK for s in data.fits.status])
        out["fitted"] = _by_size(data.candidate_size[ok])
        if data.fits.survivor is not None:
            out["survivors"] = _by_size(data.candidate_size[np.asarray(data.fits.survivor, bool)])
    if data.top:
        out["meta-tailored"] = _by_size(np.asarray([law.size for law in data.top]))
    return out


def _by_size(sizes: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(np.asarray(sizes, dtype=int), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def plot_counts(data: ReportData):
    """Candidate counts by size, one bar per stage that has run (log scale)."""
    stages = stage_counts(data)
    if not stages:
        return None
    sizes = sorted({s for counts in stages.values() for s in counts})
    fig = _figure(6.0, 3.0)
    ax = fig.add_subplot()
    width = 0.8 / len(stages)
    for j, (stage, counts) in enumerate(stages.items()):
        xs = [s + (j - (len(stages) - 1) / 2) * width for s in sizes if counts.get(s, 0) > 0]
        ys = [counts[s] for s in sizes if counts.get(s, 0) > 0]
        ax.bar(xs, ys, width=width, label=stage)
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xlabel("formula size (nodes)")
    ax.set_ylabel("candidates")
    ax.set_title("Candidates by size and stage")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return fig


#: figure name -> builder, in the report's order
FIGURES = {"rmse_by_step": plot_rmse_by_step,
           "law_along_trajectories": plot_law_along_trajectories,
           "phase_portraits": plot_phase_portraits,
           "counts_by_size": plot_counts,
           "neural_rmse_by_step": plot_neural_rmse_by_step}


def write_figures(data: ReportData, out_dir: str | Path,
                  prefix: str = "fig-") -> dict[str, FigureFile]:
    """Draw every figure the data allows and save ``{prefix}{name}.pdf`` and ``.png``.

    Args:
        data: the collected store contents.
        out_dir: folder for the files (created if needed).
        prefix: file-name prefix.

    Returns:
        figure name -> :class:`FigureFile`, only for figures that were drawn.
    """
    import matplotlib

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, FigureFile] = {}
    with matplotlib.rc_context(_RC):
        for name, build in FIGURES.items():
            fig = build(data)
            if fig is None:
                continue
            stem = prefix + name.replace("_", "-")  # no underscores in LaTeX file names
            pdf, png = out_dir / f"{stem}.pdf", out_dir / f"{stem}.png"
            # no creation date: the same store gives byte-identical PDFs
            fig.savefig(pdf, format="pdf", metadata={"CreationDate": None})
            fig.savefig(png, format="png")
            written[name] = FigureFile(name, pdf, png)
    return written
