"""Sentinel-1 in ``bandbridge fill``'s design (``fill_fit.design``): backscatter in dB mapped to model
values, its holes, and the SAR channels — now, then (at the nearest earlier date), their difference,
at the nearest later date and its change since now, and at **each pixel's base date** (issue 75: SAR of
every date, where dates have their own SAR) and its change since now. The later and per-date channels
go in with the extra dates: the held-out check keeps them only where they help (``fill_fit.decide``).
"""

from __future__ import annotations

import numpy as np

from bandbridge.learners.guided import HALF

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


def dated(index: np.ndarray, sar_m: list[np.ndarray | None], then_m: np.ndarray) -> np.ndarray:
    """Per pixel the SAR (model values, holes filled) of the date the base is from: ``index (H, W)`` the
    base's date (``fill_fit.composite``, −1 none), ``sar_m`` each date's SAR (None: that date has none);
    ``then_m`` where the base's date has none, or no date is clear."""
    out = then_m.copy()
    for i, s in enumerate(sar_m):
        if s is not None:
            take = index == i
            out[:, take] = s[:, take]
    return out


def sar_parts(now_db: np.ndarray, then_db: np.ndarray | None, holes: list | None, later_db: np.ndarray | None,
              dated_m: np.ndarray | None = None) -> tuple[list[np.ndarray], list[str]]:
    """The design's SAR channels (model values) and their names: now, then, their difference (+½: in
    [0, 1]), later and its change since now (+½), and ``dated_m`` (:func:`dated`) and its change to now
    (+½); ``holes``: :func:`sar_model`'s for now, then and later."""
    now = sar_model(now_db, holes[0] if holes else None)
    parts, names = [now], ["SAR now"]
    if then_db is not None:
        then = sar_model(then_db, holes[1] if holes else None)
        parts += [then, np.clip(now - then + HALF, 0, 1)]
        names += ["SAR then", "their difference"]
    if later_db is not None:  # issue 75: SAR of every date, kept where the held-out check says it helps
        later = sar_model(later_db, holes[2] if holes and len(holes) > 2 else None)
        parts += [later, np.clip(later - now + HALF, 0, 1)]
        names += SAR_LATER
    if dated_m is not None:
        parts += [dated_m, np.clip(now - dated_m + HALF, 0, 1)]
        names += SAR_DATED
    return parts, names
