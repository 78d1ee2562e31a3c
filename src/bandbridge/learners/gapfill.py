"""Cloud gaps of an optical scene filled from an earlier clear date and Sentinel-1, fitted at the
place itself on the scene's own clear pixels (self-supervised, as ``guided.py`` fits a reference).

What ``bandbridge fill`` does (``inference/place/fill.py`` runs it on files by strips, the decision
in ``fill_fit.py``; this module holds the edge correction). With the scene's bands ``y (C, H, W)``
(stored units), its clear pixels and its gap, the earlier dates' same bands and the SAR
backscatter (dB) at both dates:

- **the base**: per pixel, the nearest earlier date that is clear there (``fill_fit.composite``);
- **the fit**: the learner-selection core (``select.choose``: spatial folds with a buffer, the
  candidates of ``fill_fit.FIT_CANDIDATES``) on the clear pixels, features ``φ`` (``guided.features``:
  the bands, local means and deviations) of the base, the other dates where the held-out check
  says they help, SAR now, SAR then and their difference (and SAR at the nearest later date with
  its change since now, where the check keeps the dates); the target is the change from the base
  mapped per band (``y − (a·base + c) + ½`` in model values), so a learner that
  learns nothing gives the per-band map, and a change larger than the model range (a cloud the
  scene classification called snow, a harvest) is not clipped;
- **linear per band**: ``y_b ≈ a_b · base_b + c_b`` fitted on the clear pixels (the baseline a user
  has without any of this), and **as is**: the base itself.

Each route's error is held out on the same clear pixels (the folds' blocks, ``fill_fit.held_out``), in
the scene's stored units; the route with the lowest held-out MAE fills the gap (``fill_fit.ROUTES``).
Below :data:`~bandbridge.policy.FILL_FIT_MIN` clear pixels no fit is tried, below
:data:`~bandbridge.policy.FILL_LINEAR_MIN` the base goes in as it is.

**The edge**: the chosen route's held-out error is known on the clear pixels around the gap; it is
spread into the gap, fading with the distance from the clear part
(:func:`edge_correction`, :data:`~bandbridge.policy.FILL_EDGE_PX`), as gap fillers that
interpolate the residual (NSPI, Poisson blending) do: where the route is off by a local bias, the
filled pixels near the edge carry the same bias away, and the seam with it.
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
    fade = np.exp(-distance_transform_edt(~known) / px)
    for c in range(residual.shape[0]):
        num = gaussian_filter(np.where(known, residual[c], 0.0).astype(np.float64), px, mode="constant")
        out[c] = np.where(k > 1e-6, num / np.maximum(k, 1e-6), 0.0) * fade
    return out
