"""Action-conditioned video prediction of the swing-up pendulum with a meta-learned
conserved embedding (the paper's pixel pendulum with controls, §4.1 and App. D).

Modules: ``env`` (Gym's pendulum dynamics and the scripted actions), ``render`` (the
rasteriser), ``data`` (windows of episodes), ``model`` (SVG without the prior),
``noether`` (embedding, Noether loss, inner step), ``train`` (training phases, prediction),
``metrics`` (MSE, PSNR, SSIM per step), ``run`` (one seed), ``config`` and ``results``
(torch-free settings and results). Importing this package does not import torch; the
modules that need it import it themselves.
"""

from noether_search.video.config import NoetherConfig, PredictorConfig, VideoConfig
from noether_search.video.results import METHODS, METRICS, SeedRun, VideoResult

__all__ = ["METHODS", "METRICS", "NoetherConfig", "PredictorConfig", "SeedRun", "VideoConfig",
           "VideoResult"]
