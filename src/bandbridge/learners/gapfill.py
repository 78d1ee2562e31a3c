"""Cloud gaps of an optical scene filled from other clear dates and Sentinel-1, fitted on the scene's own clear
pixels (``inference/place/fill.py`` runs it by strips, ``fill_fit.py`` decides). The routes (``y`` the scene's
bands in stored units):

- **the base**: per pixel, the nearest date clear there (``fill_fit.composite``), **as is**;
- **linear per band**: ``y_b ≈ a_b · base_b + c_b`` on the clear pixels (the baseline a user has without this);
- **the fit**: the learner-selection core on the clear pixels, features of the base, the other dates and SAR
  where the held-out check keeps them, its target the change from the per-band map (``y − (a·base + c) + ½`` in
  model values: a learner that learns nothing gives the map, and a change past the model range is not clipped).

The route with the lowest MAE held out on the same clear pixels fills the gap. **The edge**: that route's
held-out error round the gap is spread into it, fading with the distance from the clear part
(:func:`edge_correction`, :data:`~bandbridge.policy.FILL_EDGE_PX`), as NSPI and Poisson blending interpolate the
residual: a local bias near the edge is carried away, and the seam with it.
"""

from __future__ import annotations

import numpy as np

from bandbridge.policy import FILL_EDGE_PX


def edge_correction(residual: np.ndarray, px: float = FILL_EDGE_PX) -> np.ndarray:
    """``residual (C, H, W)`` (observed − predicted, NaN where unknown) spread over the image:
    a Gaussian-weighted mean of the known residuals (σ = ``px``), faded by ``exp(−d / px)`` with
    ``d`` the distance to the nearest known pixel; 0 where nothing is known or ``px`` is 0."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter
    known = np.isfinite(residual).all(0)
    if px <= 0 or not known.any():
        return np.zeros_like(residual, dtype=np.float32)
    k = gaussian_filter(known.astype(np.float64), px, mode="constant")
    out = np.zeros(residual.shape, np.float32)
    w = np.where(k > 1e-6, np.exp(-distance_transform_edt(~known) / px) / np.maximum(k, 1e-6), 0.0)  # fade / k
    for c in range(residual.shape[0]):
        np.multiply(gaussian_filter(np.where(known, residual[c], 0.0), px, output=np.float64, mode="constant"), w,
                    out=out[c], casting="same_kind")
    return out
