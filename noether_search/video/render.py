"""A deterministic, anti-aliased rasteriser of the pendulum: rod and bob, grayscale.

The pivot sits at the image centre; θ = 0 points up (Gym's convention). Each pixel's value is
the analytic coverage estimate ``clip(half-width + ½ − distance, 0, 1)`` of the rod (a
segment) and of the bob (a disc), measured from the pixel's centre, so the image varies
continuously with θ (sub-pixel motion is visible) and is a pure function of θ: the same
angles give bit-identical frames on every machine numpy runs on.
"""

from __future__ import annotations

import numpy as np

#: rod length, rod half-width and bob radius as fractions of the image size
ROD_LENGTH, ROD_HALF_WIDTH, BOB_RADIUS = 0.36, 0.035, 0.09
#: gray levels of the rod and the bob (background 0)
ROD_GRAY, BOB_GRAY = 0.6, 1.0


def render(theta: np.ndarray, size: int = 32) -> np.ndarray:
    """Frames of the pendulum at angles ``theta``.

    Args:
        theta: (T,) angles [rad], 0 = upright, counter-clockwise positive.
        size: image side in pixels (≥ 8).

    Returns:
        (T, size, size) float32 frames in [0, 1], row 0 at the top.
    """
    if size < 8:
        raise ValueError(f"render: size={size}; use at least 8 pixels")
    theta = np.asarray(theta, dtype=np.float64).reshape(-1, 1, 1)
    centre = size / 2.0
    yy, xx = np.mgrid[0:size, 0:size] + 0.5                    # pixel centres, (S, S)
    px, py = xx - centre, yy - centre                           # relative to the pivot
    length = ROD_LENGTH * size
    ex, ey = length * np.sin(-theta), -length * np.cos(theta)   # bob centre, (T, 1, 1)
    # distance from each pixel to the segment pivot -> bob
    s = np.clip((px * ex + py * ey) / (length ** 2), 0.0, 1.0)  # (T, S, S)
    d_rod = np.hypot(px - s * ex, py - s * ey)
    d_bob = np.hypot(px - ex, py - ey)
    rod = np.clip(ROD_HALF_WIDTH * size + 0.5 - d_rod, 0.0, 1.0)
    bob = np.clip(BOB_RADIUS * size + 0.5 - d_bob, 0.0, 1.0)
    return np.maximum(ROD_GRAY * rod, BOB_GRAY * bob).astype(np.float32)
