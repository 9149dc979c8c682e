"""The baseline tailored by a fixed embedding, on its own training pairs: does the Noether
step lower the training loss? The pendulum's pretrained embedding (k = 2 and k = 1), its
energy E and the warp E³, each with the default loss (``std``) and the warp-invariant one
(``gradient``); then where the pretrained embedding's level sets differ from the energy's.

    OMP_NUM_THREADS=1 python benchmarks/bench_neural_warp.py --seeds 0 9 [--store DIR]
        [--pretrain-epochs 500] [--pretrain-flow W] [--level-only]

The baseline is the stage's (reused from ``DIR/pendulum-seed{seed}`` when stored there, as
``bench_neural.py`` writes it); nothing is meta-trained and no test data is used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import numpy as np
import torch

LAMS = (0.03, 0.1, 0.3, 1.0)


def energy(z: torch.Tensor) -> torch.Tensor:
    """The pendulum's invariant p² − 3 cos q (hamiltonian_data's), (B, 2) -> (B,)."""
    return z[:, 1] ** 2 - 3 * torch.cos(z[:, 0])


def unit_normal(fn, z: torch.Tensor, j: int | None = None) -> torch.Tensor:
    """∇g_j / |∇g_j| at the states z, (B, d)."""
    z = z.clone().requires_grad_(True)
    out = fn(z)
    out = out[:, j] if j is not None else out
    (grad,) = torch.autograd.grad(out.sum(), z)
    return grad / grad.norm(dim=-1, keepdim=True)


def seed_rows(seed: int, root: str, pretrain_epochs: int, pretrain_flow: float = 0.0,
              level_only: bool = False) -> list[str]:
    """Markdown rows for one seed: post-step training MSE per λ, and the level-set check."""
    from noether_search.baseline import BaselineConfig
    from noether_search.cli._common import load_dataset, open_store
    from noether_search.neural.loss import embedding_scale
    from noether_search.neural.tailor import noether_predict
    from noether_search.stages._common import train_pairs
    from noether_search.stages._neural import initial_embeddings
    from noether_search.stages.baseline import train_baseline
    from noether_search.stages.neural import NeuralConfig

    from pathlib import Path
    d = load_dataset("pendulum", None, 0.0, seed)
    base = train_baseline(d, BaselineConfig.for_dataset(d, seed=seed),
                          store=open_store(Path(root) / f"pendulum-seed{seed}"))
    base = getattr(base, "model", base)
    x, dxdt = (torch.tensor(np.asarray(a), dtype=torch.float32) for a in train_pairs(d))
    with torch.no_grad():
        err = base(x) - dxdt
    rows = [f"| {seed} | baseline | – | {float((err ** 2).mean()):.3e} |"]
    embs = {}
    for k in (2, 1):
        g = initial_embeddings(d, NeuralConfig(embed_dim=k, seed=seed,
                                               pretrain_epochs=pretrain_epochs,
                                               pretrain_flow=pretrain_flow), [seed])[seed]
        for p in g.parameters():
            p.requires_grad_(False)
        embs[f"pretrained, k={k}"] = g
    embs["energy E"], embs["E³"] = energy, lambda z: energy(z) ** 3
    for name, g in ({} if level_only else embs).items():
        for norm in ("std", "gradient"):
            pred = noether_predict(base, g, x, float(d.dt), torch.tensor(LAMS),
                                   embedding_scale(g, x, normalise=norm), normalise=norm)
            mse = ", ".join(f"{float(((p - dxdt) ** 2).mean()):.3e}" for p in pred)
            rows.append(f"| {seed} | {name} | {norm} | {mse} |")
    rms = lambda t: float(t.pow(2).mean().sqrt())                 # noqa: E731
    n_e = unit_normal(energy, x)
    level = [f"| {seed} | {rms((n_e * err).sum(-1)):.4f} | "
             + ", ".join(f"{rms((unit_normal(embs['pretrained, k=2'], x, j) * dxdt).sum(-1)):.4f}"
                         for j in range(2))
             + f" | {rms((unit_normal(embs['pretrained, k=1'], x, 0) * dxdt).sum(-1)):.4f} |"]
    return rows, level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 9])
    parser.add_argument("--store", default=None)
    parser.add_argument("--pretrain-flow", type=float, default=0.0,
                        help="weight of the flow alignment in the pretraining (0: off)")
    parser.add_argument("--level-only", action="store_true",
                        help="only the level-set table (no tailoring of the baseline)")
    parser.add_argument("--pretrain-epochs", type=int, default=500,
                        help="conservation pretraining steps of the embedding (the stage's "
                             "default 500)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        out = [seed_rows(s, args.store or tmp, args.pretrain_epochs, args.pretrain_flow,
                         args.level_only) for s in args.seeds]
    print("`python " + " ".join(["benchmarks/bench_neural_warp.py", *sys.argv[1:]]) + "`\n")
    print("Post-step training MSE of the baseline tailored by a fixed g, at λ = "
          + ", ".join(map(str, LAMS)) + ":\n")
    print("| seed | g | loss | MSE |\n| --- | --- | --- | --- |")
    for rows, _ in out:
        print("\n".join(rows))
    print("\nRMS over the training states (state units / s): the baseline's error along "
          "∇E/|∇E|, against the true field's component along ∇g_j/|∇g_j| of the pretrained "
          "embedding (0 for a conserved g):\n")
    print("| seed | baseline error along n_E | true field along n_g, k=2 | same, k=1 |\n"
          "| --- | --- | --- | --- |")
    for _, level in out:
        print("\n".join(level))


if __name__ == "__main__":
    main()
