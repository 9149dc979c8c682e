"""Tailoring with one known law, on the whole training set: what `docs/TAILORING.md`'s
"Measurements" section quotes (the ideal pendulum and spring, seed 0).

    python benchmarks/bench_tailor.py [--systems pendulum spring] [--store DIR]

With ``--store DIR`` the baseline is reused from / saved to ``DIR/{system}`` (the same
artifact as ``rank``'s baseline with default settings, seed 0).

Per system: the baseline MLP (HNN's settings), the control (100 more full-batch plain Adam
steps, the epoch with the lowest training loss kept), one tailoring step with the true law
(the screen, no training), and the meta-tailored true and wrong laws (100 full-batch
epochs, outer rates 1e-3 and 1e-4, the lower training loss kept), with training and test
MSE on dx/dt and test rollout RMSE; then the screen's training MSE per inner rate for both
laws and both schemes of the conservation loss. No validation split here (`rank` has one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

LAWS = {"pendulum": ("p**2 - 3*cos(q)", "q**2 + p**2"),
        "spring": ("q**2 + p**2", "p**2 - 3*cos(q)")}


def _law(text: str, dataset):
    from dslsearch.formula import from_sympy
    from dslsearch.law import Law

    formula, values = from_sympy(text, list(dataset.names))
    return Law(formula, [1.0 if v is None else v for v in values],
               [(v.name, "") for v in dataset.variables])


def _mse(field, x, dxdt) -> float:
    return float(((field(x) - dxdt) ** 2).mean())


def _row(name, field, data, train_mse=None) -> str:
    from noether_search.baseline.evaluate import rollout

    (x, dxdt), (xt, dxt), dataset = data
    tr = _mse(field, x, dxdt) if train_mse is None else train_mse
    ro = rollout(field, dataset)
    return f"| {name} | {tr:.3e} | {_mse(field, xt, dxt):.3e} | {ro.rmse:.4f} |"


def _meta(model, law, x, dxdt, dt, lam, scheme="central"):
    from noether_search.model import meta_tailor

    runs = [meta_tailor(model, law.torch_fn(), x, dxdt, dt, lam, lr=lr, scheme=scheme)
            for lr in (1e-3, 1e-4)]
    return min(runs, key=lambda r: r.final_train_loss)


def system_tables(name: str, root: str | None) -> None:
    """Print the model table and the screens of one system."""
    import copy

    import torch

    import hamiltonian_data
    from noether_search.baseline import BaselineConfig
    from noether_search.model import TailoredField, fine_tune, screen
    from noether_search.stages import train_baseline
    from noether_search.store import ResultsStore

    ds = hamiltonian_data.load(system=name)
    x = torch.tensor(ds.x_train, dtype=torch.float32)
    dxdt = torch.tensor(ds.dxdt_train, dtype=torch.float32)
    xt = torch.tensor(ds.x_test, dtype=torch.float32)
    dxt = torch.tensor(ds.dxdt_test, dtype=torch.float32)
    store = None if root is None else ResultsStore.open(f"{root}/{name}")
    model = train_baseline(ds, BaselineConfig.for_dataset(ds), store=store).model
    true, wrong = (_law(t, ds) for t in LAWS[name])
    data = ((x, dxdt), (xt, dxt), ds)

    def loaded(state):
        m = copy.deepcopy(model)
        m.load_state_dict(state)
        return m

    with torch.no_grad():
        base_row = _row("baseline MLP", model, data)
    ctrl = min((fine_tune(model, x, dxdt, lr=lr) for lr in (1e-3, 1e-4)),
               key=lambda r: r.final_train_loss)
    with torch.no_grad():
        ctrl_row = _row("control: 100 more plain Adam steps", loaded(ctrl.model_state), data)
    scr = {(s, k): r for s in ("central", "forward")
           for k, r in zip(("true", "wrong"), screen(model, [true.torch_fn(), wrong.torch_fn()],
                                                      x, dxdt, ds.dt, scheme=s))}
    print(f"\n### {name}\n\n| model | train MSE | test MSE | rollout RMSE |")
    print("| --- | ---: | ---: | ---: |")
    print(base_row)
    print(ctrl_row)
    st = scr[("central", "true")]
    print(f"| one tailoring step, true law, λ = {st.best_lr:.3g} (screen) | "
          f"{st.best_loss:.3e} | – | – |")
    for label, law in (("true", true), ("wrong", wrong)):
        lam = scr[("central", label)].best_lr
        r = _meta(model, law, x, dxdt, ds.dt, lam)
        tuned = loaded(r.model_state)
        f = TailoredField(tuned, law.torch_fn(), ds.dt, r.inner_lr, r.g_scale)
        print(_row(f"meta-tailored, {label} law, λ = {lam:.3g}, tailored field", f, data,
                   r.final_train_loss))
        if label == "true":
            with torch.no_grad():
                print(_row("same weights without the tailoring step", tuned, data))
    print("\nScreen: training MSE after one step at λ = 10^−3 … 10^1\n")
    for (s, k), r in scr.items():
        print(f"- {s}, {k} law: " + ", ".join(f"{v:.3e}" for v in r.loss_by_lr)
              + f" (best λ = {r.best_lr:.3g}, gain {r.gain:.2e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=list(LAWS))
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    print(f"`python benchmarks/bench_tailor.py {' '.join(sys.argv[1:])}`".replace(" `", "`"))
    for name in args.systems:
        t0 = time.perf_counter()
        system_tables(name, args.store)
        print(f"\n{name}: {time.perf_counter() - t0:.0f} s "
              f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
