"""The one display stretch, for the web page's panels and `bandbridge compare`'s PNG.

A panel is stretched linearly between the ``PERCENTILES`` of its valid values, in physical units
(reflectance, DN, dB). Two panels of the same bands and units share one range so they can be
compared by eye (the synthetic band on the real band's range) — unless the shown panel's values
mostly fall outside the reference's: a synthetic band darker or brighter than the real one would
then be a flat white or black panel, so both take the union of the two ranges and say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandbridge.policy import STRETCH_OUTSIDE

PERCENTILES = (2.0, 98.0)  # the stretch of every panel, of its valid values


@dataclass(frozen=True)
class Stretch:
    lo: float
    hi: float
    units: str
    union: bool = False  # the union of two panels' ranges (they disagreed)

    def describe(self) -> str:
        how = "the union of both panels' 2–98 % ranges (they disagree)" if self.union else \
            f"{PERCENTILES[0]:g}–{PERCENTILES[1]:g} % stretch"
        return f"{how}: {self.lo:.4g}…{self.hi:.4g} {self.units}"


def stretch(values: np.ndarray, units: str) -> Stretch:
    """``PERCENTILES`` of the finite ``values`` (any shape; one range for all of them)."""
    v = values[np.isfinite(values)]
    lo, hi = (float(x) for x in np.percentile(v, PERCENTILES)) if v.size else (0.0, 1.0)
    return Stretch(lo, hi if hi > lo else lo + 1e-6, units)


def shared_stretch(shown: np.ndarray, reference: np.ndarray, units: str) -> Stretch:
    """One range for ``shown`` and ``reference`` (same bands, same ``units``): the reference's,
    or the union of both when more than ``policy.STRETCH_OUTSIDE`` of ``shown``'s finite values lie beyond it."""
    ref = stretch(reference, units)
    v = shown[np.isfinite(shown)]
    if v.size == 0 or np.mean((v < ref.lo) | (v > ref.hi)) <= STRETCH_OUTSIDE:
        return ref
    own = stretch(shown, units)
    return Stretch(min(ref.lo, own.lo), max(ref.hi, own.hi), units, union=True)
