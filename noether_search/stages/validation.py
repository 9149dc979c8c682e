"""The validation split of ``rank``: held-out training trajectories that choose, never train.

``rank`` trains the screen, meta-tailoring and the control on the *fit* part of the training
data and makes every choice after training on the *validation* part: the epoch kept in a
run, the outer rate, the inner rate, the law (the Noether model) and the control's rate.
The test trajectories are never used, and the baseline MLP (the common starting point, the
paper's vanilla model) and the law fit still use all training trajectories.

The split (:func:`split_train`), deterministic given ``fraction`` and ``seed``:

- **Several training trajectories** (the ideal systems: 25): ``k = round(fraction · n)``
  whole trajectories are held out, drawn by ``numpy.random.default_rng(seed)`` without
  replacement (fraction 0.2: 5 of 25, 225 of 1,125 pairs).
- **Too few for that** (the real pendulum's single training trajectory of 444 samples, or
  when ``k`` would be 0 or ``n``): every training trajectory is cut into consecutive blocks
  of ``2·(H + 1)`` samples (H: the rollout horizon of the selection rollouts, 19 on the real
  pendulum, so 40 samples; the last block of a trajectory takes the remainder), and
  ``max(1, round(fraction · blocks))`` blocks are held out, drawn the same way (real
  pendulum: 2 of 11 blocks, 80 samples). A fit block that ends where a held-out block begins
  loses its last sample, since its forward-difference target would use the held-out
  block's first state. Pairs that are not samples of a training trajectory (the real
  pendulum's stray pair 554) are not used after the split.

Each held-out block is at least ``H + 1`` samples long, so the selection rollouts
(``train_rollout_rmse`` on :attr:`Split.val`, windows of H steps) run on it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: default fraction of the training trajectories (or blocks) held out for validation
VAL_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class Split:
    """The training data split in a fit part and a validation part.

    Attributes:
        fit: the dataset with only the fit trajectories as ``train`` and their samples as
            the training pairs (test part, ``dt`` and ``system`` unchanged).
        val: the same with the held-out trajectories or blocks, or None with fraction 0.
        held_out: ``(trajectory index, first sample, end sample)`` of every held-out piece
            (indices into the original ``dataset.train``; end exclusive).
        fraction: the requested fraction; seed: the seed of the draw.
    """

    fit: object
    val: object | None
    held_out: tuple[tuple[int, int, int], ...]
    fraction: float
    seed: int

    def to_json(self) -> dict:
        n_val = 0 if self.val is None else int(self.val.x_train.shape[0])
        return {"fraction": self.fraction, "seed": self.seed,
                "held_out": [list(p) for p in self.held_out],
                "fit_pairs": int(self.fit.x_train.shape[0]), "val_pairs": n_val}


def split_train(dataset, fraction: float = VAL_FRACTION, seed: int = 0,
                horizon: int | None = None) -> Split:
    """Hold out part of ``dataset``'s training trajectories for validation (module docstring).

    Args:
        dataset: a ``Dataset``.
        fraction: share held out, in [0, 1); 0 returns ``Split(fit=dataset, val=None)``.
        seed: seeds which trajectories (blocks) are held out.
        horizon: rollout steps H of the selection rollouts (None: the dataset's default,
            as ``train_rollout_rmse`` uses); sets the block length 2·(H + 1).

    Raises:
        ValueError: ``fraction`` outside [0, 1), or training data too short to hold out
            a block of ``H + 1`` samples and keep one.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 <= fraction < 1.0):
        raise ValueError(f"val_fraction must be a number in [0, 1), got {fraction!r}; "
                         "use 0 to select on the training data, 0.2 by default")
    if fraction == 0:
        return Split(fit=dataset, val=None, held_out=(), fraction=0.0, seed=seed)
    pieces = _pieces(dataset, fraction, horizon)
    k = max(1, round(fraction * len(pieces)))
    pick = set(np.random.default_rng(seed).choice(len(pieces), size=k, replace=False).tolist())
    held = [pieces[j] for j in sorted(pick)]
    fit = []
    for j, (i, a, b) in enumerate(pieces):
        if j in pick:
            continue
        cut = j + 1 in pick and pieces[j + 1][0] == i   # followed by a held-out block
        fit.append((i, a, b - 1 if cut else b))
    return Split(fit=_subset(dataset, fit), val=_subset(dataset, held), held_out=tuple(held),
                 fraction=float(fraction), seed=seed)


def _pieces(dataset, fraction: float, horizon: int | None) -> list[tuple[int, int, int]]:
    """Whole trajectories when a fraction of them can be held out, else blocks of 2(H+1)."""
    train = dataset.train
    n = len(train)
    if 1 <= round(fraction * n) < n:
        return [(i, 0, len(tr)) for i, tr in enumerate(train)]
    from noether_search.baseline.evaluate import default_horizon

    H = default_horizon(dataset) if horizon is None else int(horizon)
    H = max(1, min(H, max(len(tr) for tr in train) - 1))
    size = 2 * (H + 1)
    pieces = []
    for i, tr in enumerate(train):
        starts = list(range(0, max(len(tr) - size, 0) + 1, size))
        if len(tr) - starts[-1] < H + 1:      # too short for a rollout window: drop it
            starts = starts[:-1]
        pieces += [(i, s, starts[m + 1] if m + 1 < len(starts) else len(tr))
                   for m, s in enumerate(starts)]
    if len(pieces) < 2:
        raise ValueError(f"{dataset.name}: the training trajectories (lengths "
                         f"{[len(tr) for tr in train]}) are too short to hold out a block of "
                         f"{H + 1} samples for validation and keep one; pass val_fraction=0 "
                         "or a shorter horizon")
    return pieces


def _subset(dataset, pieces: list[tuple[int, int, int]]):
    """``dataset`` whose training part is the given pieces of its training trajectories."""
    from hamiltonian_data.dataset import Trajectory

    trajs = tuple(Trajectory(t=tr.t[a:b], x=tr.x[a:b], dxdt=tr.dxdt[a:b])
                  for tr, a, b in ((dataset.train[i], a, b) for i, a, b in pieces))
    return replace(dataset, train=trajs, x_train=np.concatenate([t.x for t in trajs]),
                   dxdt_train=np.concatenate([t.dxdt for t in trajs]))
