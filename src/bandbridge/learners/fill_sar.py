"""Sentinel-1 in ``bandbridge fill``'s design (``models/fill_design.FillDesign``): dB mapped to model values, its
holes, and the SAR channels — now, then, their difference, at the nearest later date and at **each pixel's base
date** with their change since now; the later and per-date ones go in with the extra dates (``fill_fit.decide``).
"""

from __future__ import annotations

import numpy as np

SAR_LO, SAR_HI = -30.0, 5.0  # dB mapped to [0, 1] (bands.py's sar_db scaling)
SAR_LATER = ["SAR later", "its change since now"]  # the channel group channels_of calls sar_dates, with:
SAR_DATED = ["SAR at the base's date", "its change to now"]  # per pixel the SAR of the date the base is from


def sar_model(db: np.ndarray, holes: np.ndarray | None = None) -> np.ndarray:
    """SAR dB ``(2, H, W)`` → [0, 1], no data at the scene's median (a feature, not a target: a
    hole must not look like a dark field); ``holes`` ``(2,)``: that median where the scene is read
    by strips (``inference/place/fill_strips.py``), else this array's own."""
    m = np.clip((db - SAR_LO) / (SAR_HI - SAR_LO), 0, 1).astype(np.float32)
    for c in range(m.shape[0]):
        bad = ~np.isfinite(m[c])
        if bad.any():
            m[c][bad] = holes[c] if holes is not None else np.nanmedian(m[c]) if (~bad).any() else 0.5
    return m
