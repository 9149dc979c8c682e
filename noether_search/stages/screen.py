"""The screen stage: every law as a one-step tailoring loss at each inner learning rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from noether_search.stages._common import check_store_key, train_pairs


@dataclass(frozen=True, eq=False)
class ScreenedLaw:
    """One law's one-step tailoring screen on the training pairs.

    Attributes:
        law: the screened :class:`Law`.
        inner_lr: the rate of the grid (10^k, k = −3, −2.5, …, 1) with the lowest loss
            (nan when every rate failed).
        loss: training MSE on dx/dt after one inner step at ``inner_lr``
            [(state units / s)², SI]; inf when the law failed.
        gain: ``baseline_loss − loss`` (> 0: the law helps in one step).
        g_scale: standard deviation of the law on the training states (its units).
        baseline_loss: training MSE of the untailored model (the same for every law).
        loss_by_lr: (K,) the loss at every rate of the grid (empty when reloaded from a
            store that did not keep it).
    """

    law: object
    inner_lr: float
    loss: float
    gain: float
    g_scale: float
    baseline_loss: float
    loss_by_lr: np.ndarray

    @property
    def ok(self) -> bool:
        """True when the law could tailor at some rate (finite loss)."""
        return math.isfinite(self.loss)


def screen_laws(model, laws: Sequence, dataset, store=None, key: str | None = None,
                *, scheme: str = "central") -> list[ScreenedLaw]:
    """Screen ``laws`` with one tailoring step of ``model`` on ``dataset``'s training pairs.

    Args:
        model: the baseline MLP (not modified).
        laws: the laws (anything with ``torch_fn()`` and ``str()``), e.g. ``FitResult.laws``.
        dataset: uses ``x_train``, ``dxdt_train`` (N, d) and ``dt`` [s].
        store: optional results store: the artifact ``key`` is reused when present and
            written otherwise. Without a store nothing touches the disk.
        key: the artifact's key (with ``store``), e.g. ``"rank/<run>/screen"``.
        scheme: finite-difference scheme of the conservation loss (``"central"`` or the
            paper's ``"forward"``, docs/TAILORING.md).

    Returns:
        One :class:`ScreenedLaw` per law, in the order of ``laws``. A law that fails (raises,
        constant or non-finite on the data) gets an infinite loss; nothing is raised for it.
    """
    from noether_search.store.codecs import RANK_SCREEN

    check_store_key(store, key, "screen_laws")
    table = store.load_cached(key, RANK_SCREEN) if store is not None else None
    if table is not None:  # a damaged screen is computed again
        if len(table.expr) != len(laws):
            raise ValueError(f"screen_laws: stored artifact '{key}' screens {len(table.expr)} "
                             f"laws, got {len(laws)}; pass the laws it was made from or "
                             "another key")
    else:
        table = _screen_table(model, laws, dataset, scheme)
        if store is not None:
            store.save(key, RANK_SCREEN, table)
    return [ScreenedLaw(law=law, inner_lr=float(table.best_lr[i]),
                        loss=float(table.best_loss[i]), gain=float(table.gain[i]),
                        g_scale=float(table.g_scale[i]), baseline_loss=table.baseline_loss,
                        loss_by_lr=np.asarray(table.loss_by_lr[i]) if len(table.loss_by_lr)
                        else np.zeros(0))
            for i, law in enumerate(laws)]


def _screen_table(model, laws: Sequence, dataset, scheme: str = "central"):
    from noether_search.model import screen
    from noether_search.store.codecs import ScreenTable

    x, dxdt = train_pairs(dataset)
    results = screen(model, [law.torch_fn() for law in laws], x, dxdt, float(dataset.dt),
                     scheme=scheme)

    def column(name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in results], dtype=float)

    return ScreenTable(
        expr=tuple(str(law) for law in laws), best_lr=column("best_lr"),
        best_loss=column("best_loss"), gain=column("gain"), g_scale=column("g_scale"),
        loss_by_lr=np.array([r.loss_by_lr for r in results]) if results else np.zeros((0, 9)),
        baseline_loss=float(results[0].baseline_loss) if results else math.nan)
