"""Per-step frame metrics: MSE, PSNR and SSIM (scikit-image's implementations)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class FrameMetrics:
    """Metrics of N predicted sequences of T frames, per sequence and step.

    Attributes:
        mse: (N, T) mean squared pixel error (pixels in [0, 1]).
        psnr: (N, T) peak signal-to-noise ratio [dB] (data range 1; inf for identical frames).
        ssim: (N, T) structural similarity in [−1, 1] (uniform 7×7 window, skimage default).
    """

    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray


def frame_metrics(pred: np.ndarray, true: np.ndarray) -> FrameMetrics:
    """MSE, PSNR and SSIM of every predicted frame.

    Args:
        pred: (N, T, S, S) predicted frames in [0, 1].
        true: (N, T, S, S) true frames in [0, 1].

    Returns:
        :class:`FrameMetrics` with (N, T) arrays.
    """
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio
    from skimage.metrics import structural_similarity

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim != 4:
        raise ValueError(f"frame_metrics: pred {pred.shape} and true {true.shape} must both "
                         "be (N, T, S, S)")
    N, T = pred.shape[:2]
    mse, psnr, ssim = (np.empty((N, T)) for _ in range(3))
    with np.errstate(divide="ignore"):
        for n in range(N):
            for t in range(T):
                p, y = pred[n, t], true[n, t]
                mse[n, t] = mean_squared_error(y, p)
                psnr[n, t] = (np.inf if mse[n, t] == 0.0
                              else peak_signal_noise_ratio(y, p, data_range=1.0))
                ssim[n, t] = structural_similarity(y, p, data_range=1.0)
    return FrameMetrics(mse, psnr, ssim)
