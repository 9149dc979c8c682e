"""The report's section on the neural Noether model (``neural.json``, written by ``neural``).

:func:`read_neural` reads the summary, :func:`neural_section` typesets the comparison table
(``figures.plot_neural_rmse_by_step`` draws its RMSE by rollout step). A store without a
``neural`` run gives no section and no figure.
"""

from __future__ import annotations

from pathlib import Path

#: model name -> (label, colour, line style), in table order
NEURAL_MODELS = {"baseline": ("vanilla MLP", "tab:red", "--"),
                 "control": ("control (fine-tuned, no law)", "tab:orange", "-."),
                 "neural": ("neural Noether (learned g)", "tab:purple", "-"),
                 "symbolic": ("symbolic Noether (best law)", "tab:blue", "-"),
                 "oracle": ("oracle (known invariant)", "tab:green", ":")}


def read_neural(store) -> dict | None:
    """``neural.json`` of the store as a dict, or None when ``neural`` has not run.

    Raises:
        StoreError: the file exists but is not a JSON object.
    """
    return store.read_json("neural.json", "neural")


def neural_section(data, figs: dict, tex_dir: Path) -> list[str]:
    """LaTeX lines of the neural Noether section ([] when the store has no ``neural`` run)."""
    from noether_search.report.latex import _any_formula, _figure, _m, _table, num

    s = getattr(data, "neural", None)
    if not s:
        return []
    out = [r"\section{Neural Noether Network (learned conserved embedding)}",
           "A Noether Network whose conserved quantity is a neural embedding "
           rf"$g_\phi: \mathbf{{R}}^d \to \mathbf{{R}}^{{{int(s['config']['embed_dim'])}}}$, "
           "meta-learned with the predictor (Algorithm 1 of Noether Networks), against the "
           "vanilla MLP, the control (the baseline trained further with the plain task loss "
           "for as many epochs), the symbolic Noether model of the ranking stage and the "
           f"oracle; test rollouts over {int(s['horizon'])} steps."]
    def law(key: str, missing: str) -> str:
        return _any_formula(str(s[key]), data) if s.get(key) else missing

    laws = {"neural": "learned $g_\\phi$",
            "symbolic": law("symbolic_formula", "-- (no ranking run in the store)"),
            "oracle": law("oracle_formula", "-- (no known invariant)")}
    rows = [[label, laws.get(name, "--"), _m(num(s.get(f"{name}_rmse")))]
            for name, (label, _, _) in NEURAL_MODELS.items()]
    out += _table("llr", ["model", "conservation loss", "RMSE"], rows)
    chosen = s.get("chosen") or {}
    probe = s.get("probe_r2")
    out.append(r"\noindent Chosen on validation trajectories held out of the training set: "
               f"inner rate {_m(num(chosen.get('inner_lr')))}, outer rate "
               f"{_m(num(chosen.get('outer_lr')))}, embedding rate "
               f"{_m(num(chosen.get('embed_lr')))}"
               + (", then retrained on all training trajectories"
                  if (s.get("final") or {}).get("refit") else "")
               + ". Linear-probe $R^2$ of the known "
               "invariant as an affine function of the embedding on the test states: "
               + ("-- (no known invariant)." if probe is None else _m(num(probe, 3)) + "."))
    out += _figure(figs.get("neural_rmse_by_step"),
                   "Neural Noether comparison: RMSE at each rollout step on the test set.",
                   tex_dir)
    return out
