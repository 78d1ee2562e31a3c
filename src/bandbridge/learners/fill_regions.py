"""The gap's regions by the dates clear there (before the scene only, after it only, or both sides), and a route
for each: the candidate of :data:`CANDIDATES` that held out best on the clear pixels **of the same kind**, from the
folds' held-out predictions the scene's choice is made of (no fit more).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bandbridge.policy import FILL_FIT_MIN

NONE, BEFORE, AFTER, BOTH = 0, 1, 2, 3  # a pixel's code: which sides hold a date clear there
SOURCES = {BEFORE: "a date before only", AFTER: "a date after only", BOTH: "dates before and after"}
CANDIDATES = {BEFORE: ("as-is", "linear", "fit"), AFTER: ("as-is", "linear", "fit"),
              BOTH: ("as-is", "linear", "interpolated", "fit")}  # where one side only is clear the
# interpolation is that side's date, the as-is route
REGION_MIN = FILL_FIT_MIN  # held-out clear pixels of a kind below which its region takes the scene's route


@dataclass
class Region:
    """One region of the gap: its ``code``, its ``share`` of the pixels to fill, its ``route``,
    every candidate's held-out MAE on the clear pixels of its kind (stored units; empty where too
    few to judge) and how many those were."""

    code: int
    share: float
    route: str
    mae: dict[str, float] = field(default_factory=dict)
    held_out: int = 0

    def text(self) -> str:
        """The region in words: share, sources, route and its held-out figures."""
        said = ", ".join(f"{k} {v:.4g}" for k, v in self.mae.items())
        why = (f"held out on {self.held_out:,} clear pixel(s) of its kind: {said}" if self.mae else
               f"{self.held_out:,} clear pixel(s) of its kind, under the {REGION_MIN:,} to judge it: the scene's route")
        return f"{self.share:.0%} of the gap, {SOURCES[self.code]}: {self.route} ({why})"


def region_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Each pixel's code ``(H, W)`` uint8 from where a date before and a date after are clear."""
    return (before.astype(np.uint8) * BEFORE + after.astype(np.uint8) * AFTER).astype(np.uint8)


def judge(codes: np.ndarray, held: dict[str, np.ndarray], y: np.ndarray, gap_codes: np.ndarray, scene: str,
          force: str | None = None) -> dict[int, Region]:
    """A :class:`Region` for each code among the pixels to fill (``gap_codes``, ``(M,)``): the
    candidate of :data:`CANDIDATES` with the lowest MAE over the held-out pixels of its code
    (``codes (N,)``, ``held`` each route's held-out prediction ``(N, C)``, ``y (N, C)`` the truth);
    the ``scene``'s route under :data:`REGION_MIN` pixels, ``force``'s where a route is forced."""
    out = {}
    total = max(len(gap_codes), 1)
    for code in sorted(set(np.unique(gap_codes).tolist()) - {NONE}):
        mine = codes == code
        n, share = int(mine.sum()), float((gap_codes == code).sum() / total)
        tried = [k for k in CANDIDATES[code] if k in held]
        mae = {k: float(np.mean(np.abs(held[k][mine] - y[mine]))) for k in tried} if n >= REGION_MIN else {}
        out[code] = Region(code, share, force or (min(mae, key=mae.get) if mae else scene), mae, n)
    return out


def used(regions: dict[int, Region], scene: str) -> set[str]:
    """The routes some region takes (the scene's where there are no regions)."""
    return {r.route for r in regions.values()} or {scene}


def compose(regions: dict[int, Region], scene: str, codes: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
    """Per pixel its region's route's ``values`` (each ``(C, h, w)``, the routes of :func:`used`),
    the ``scene``'s route where a pixel has no region; ``codes (h, w)``."""
    out = values[scene if scene in values else next(iter(values))].copy()
    for code, r in regions.items():
        at = codes == code
        out[:, at] = values[r.route][:, at]
    return out


def plan_text(before: bool, after: bool) -> str:
    """What ``fill --plan`` can say of the regions before the dates are read: which kinds may
    occur and which candidates each will hold out on the clear pixels of its kind."""
    kinds = [k for k, ok in ((BEFORE, before), (AFTER, after), (BOTH, before and after)) if ok]
    return "; ".join(f"{SOURCES[k]}: {', '.join(CANDIDATES[k])}" for k in kinds)
