"""The peers alone: what the sparse null-space method (pysindy library) and genetic
programming with R as fitness (gplearn) report on built-in systems.

    python benchmarks/bench_peers.py [--systems NAME ...] [--peers sindy gplearn]
        [--noise 0 ...] [--seeds 1] [--seconds 30]
    python benchmarks/bench_peers.py --spectra [--systems pendulum spring] [--noise ...]

Each peer gets the same training data (``system.generate(noise=σ, seed=s)``) and the same
budget ``--seconds`` per system. A reported law *finds* a known invariant when their
gradients are parallel on the training states (median sine of the angle, gradients of the
standardised state, below ``clip(2·sqrt(R_law), 1e-4, 0.05)``); it is *spurious* when its
gradient is not in the span of the known invariants' gradients by the same tolerance (on a
system without a known invariant, every law is spurious). Prints one markdown table headed
by the command that produced it, then each law found.

``--spectra`` prints instead the sparse null-space peer's rate ratios ``ρ`` (its step 1) and
the laws its rule counts, the numbers its constants ``rho_max`` and ``gap_min`` were chosen
from (on the pendulum and the spring only).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import PEERS  # noqa: E402
from peers._common import _sine, sample_states  # noqa: E402

DEFAULT_SYSTEMS = ("pendulum", "spring", "oscillator-2d", "kepler", "lotka-volterra")


def measured(name: str) -> bool:
    """True for measured data (no added noise, one seed)."""
    import hamiltonian_data

    return hamiltonian_data.SYSTEMS[name].summary.startswith("measured")


def known_gradients(system, names: tuple[str, ...], x: np.ndarray) -> list[np.ndarray]:
    """Gradients ``(M, d)`` of the system's stated invariants at ``x (M, d)`` (sympy)."""
    import sympy as sp

    syms = sp.symbols(names)
    out = []
    for text in system.invariants:
        expr = sp.sympify(text, locals=dict(zip(names, syms)))
        fns = [sp.lambdify(syms, sp.diff(expr, s), "numpy") for s in syms]
        cols = [np.broadcast_to(np.asarray(f(*x.T), np.float64), x.shape[:1]) for f in fns]
        out.append(np.stack(cols, 1))
    return out


def _unit(g: np.ndarray, scale: np.ndarray) -> np.ndarray:
    g = g * scale
    with np.errstate(all="ignore"):
        return g / np.linalg.norm(g, axis=1, keepdims=True)


def score(laws, known: list[np.ndarray], x: np.ndarray) -> dict:
    """Known invariants found and spurious laws among ``laws`` on the states ``x``."""
    scale = np.where(x.std(0) > 0, x.std(0), 1.0)
    K = [_unit(k, scale) for k in known]             # gradients of the standardised state
    found, spurious = set(), []
    for law in laws:
        g = _unit(law.grad(x), scale)
        tol = min(0.05, max(1e-4, 2 * math.sqrt(law.r if math.isfinite(law.r) else 0.0)))
        found |= {i for i, k in enumerate(K) if _sine(g, [k]) < tol}
        if not K or _sine(g, K) > tol:
            spurious.append(law.text)
    return {"found": len(found), "spurious": spurious}


def run(name: str, peer: str, noise: float, seed: int, seconds: float) -> dict:
    import hamiltonian_data

    system = hamiltonian_data.SYSTEMS[name]
    dataset = system.generate(noise=noise, seed=seed)
    result = PEERS[peer](dataset, seconds=seconds, seed=seed)
    x = sample_states(np.asarray(dataset.x_train), 400, seed)
    known = known_gradients(system, dataset.names, x)
    return {"system": name, "peer": peer, "noise": noise, "seed": seed, "known": len(known),
            "laws": [law.text for law in result.laws], "seconds": result.seconds,
            "note": result.note, **score(result.laws, known, x)}


def table(rows: list[dict], command: str) -> str:
    lines = [f"`{command}` (os.cpu_count() = {os.cpu_count()}, load average "
             f"{os.getloadavg()[0]:.1f})", "",
             "| system | peer | noise | seed | known found | laws | spurious | s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['system']} | {r['peer']} | {r['noise']:g} | {r['seed']} "
                     f"| {r['found']}/{r['known']} | {len(r['laws'])} | {len(r['spurious'])} "
                     f"| {r['seconds']:.1f} |")
    lines.append("")
    for r in rows:
        laws = ", ".join(f"`{t}`" for t in r["laws"]) or "none"
        lines.append(f"- {r['system']}, {r['peer']} (noise {r['noise']:g}, seed {r['seed']}): "
                     f"{laws} ({r['note']})")
    return "\n".join(lines)


def spectra(systems, noises, seeds: int, command: str) -> str:
    """Markdown table of the smallest rate ratios ρ of the sparse null-space peer."""
    import hamiltonian_data
    from peers.sindy import SindyConfig, _count, spectrum

    cfg = SindyConfig()
    lines = [f"`{command}`", "", "| system | noise | seed | ρ_1 … ρ_5 | largest null ρ "
             "| smallest non-null ρ | gap | laws counted |", "|---|---|---|---|---|---|---|---|"]
    for name in systems:
        system = hamiltonian_data.SYSTEMS[name]
        n_true = len(system.invariants)
        for noise in noises:
            for seed in range(seeds):
                rho = spectrum(system.generate(noise=noise, seed=seed))
                k, _ = _count(rho, cfg)
                null = f"{rho[n_true - 1]:.3g}" if n_true else "–"
                lines.append(f"| {name} | {noise:g} | {seed} | "
                             + ", ".join(f"{v:.2g}" for v in rho[:5])
                             + f" | {null} | {rho[n_true]:.3g} | "
                             + (f"{rho[n_true] / rho[n_true - 1]:.3g}" if n_true else "–")
                             + f" | {k} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", nargs="+", default=list(DEFAULT_SYSTEMS))
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--noise", nargs="+", type=float, default=[0.0])
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per system and noise")
    ap.add_argument("--seconds", type=float, default=30.0, help="budget per system and peer")
    ap.add_argument("--spectra", action="store_true",
                    help="print the null-space peer's rate ratios instead (its constants)")
    args = ap.parse_args(argv)
    command = "python benchmarks/bench_peers.py " + " ".join(sys.argv[1:])
    if args.spectra:
        print(spectra(args.systems, args.noise, args.seeds, command))
        return
    rows = [run(name, peer, noise, seed, args.seconds)
            for name in args.systems for noise in args.noise for seed in range(args.seeds)
            for peer in args.peers if not (measured(name) and (noise or seed))]
    print(table(rows, command))


if __name__ == "__main__":
    main()
