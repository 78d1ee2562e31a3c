"""``bandbridge fill``'s second pass by strips, the flags pass (:func:`guides`): the raw inputs stacked on the
scene's grid with their flags (``fill_stack.py``), which pixels have a base, the per-band map's sums over the
clear ones, which dates fill the gap and the dates' range (the feed); :class:`FileSource`, the fit's view of the
two passes (``learners/fill_fit.Source``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_read import shared_bands, to_db
from bandbridge.inference.place.fill_rows import RowReader, ahead
from bandbridge.inference.place.fill_stack import Stack, StackFiles, direct, pack, write_stack
from bandbridge.inference.place.fill_strips import ROWS, Scan, sar_bands
from bandbridge.learners.fill_fit import FEED, FILL_LINEAR_MIN, HALF, SAR_HI, SAR_LO, channels_of, composite, feed_of, \
    interpolate
from bandbridge.learners.fill_regions import region_map
from bandbridge.models.fill_design import sar_scale
from bandbridge.policy import FILL_SNOW_MIN
from bandbridge.progress import Progress, counted, steps


@dataclass
class Guides:
    """What pass 2 learned of the dates and the stack the design is computed from (``fill_stack.Stack``)."""

    stack: Stack
    channels: dict[str, list[int]]
    has_base: np.ndarray  # (H, W) a date is clear there
    linear: np.ndarray | None  # (C, 2) the per-band map over every clear pixel with a base
    dropped: list = field(default_factory=list)  # (date, share) whose snow was not taken for ground
    counts: np.ndarray | None = None  # (2, dates + 1): gap pixels each date is the base of, over all, and
    # where no dates lie on both sides (the last column: pixels that have them, which the interpolation fills)
    used: list[bool] = field(default_factory=list)  # per date: clear somewhere over the scene (all snow left out: not)
    feed: tuple[float, float] = FEED  # the range the design is fed in (fill_fit.feed_of of its lowest and highest)
    region: np.ndarray | None = None  # (H, W) uint8 fill_regions' code per pixel, where dates lie on both sides

    def rows(self, a: int, b: int) -> np.ndarray:
        """The design ``(Ci, b − a, W)`` in model values over rows ``[a, b)``."""
        return self.stack.design((a, 0, b - a, self.has_base.shape[1]))


@dataclass
class _Layout:
    """What the flags pass reads and writes, told from the inputs' headers (:func:`guides`)."""

    idx: list  # per date the scene's bands in it (-1: not there)
    present: list  # per date per band: there
    sides: bool  # dates before and after the scene
    roles: dict  # SAR "now", "then", "later": its slot in ``sar`` (None: not given)
    slots: list  # the slots of ``sar`` the design reads, in its order
    used_sar: list  # their readers
    ci: int  # the design's channels
    files: StackFiles


def _layout(sc: Scan, earlier: list[RowReader], sar: list, work: Path, days: list, dated) -> _Layout:
    """The pass's layout (see :class:`_Layout`), of dates ``fill_checks`` passed (each masked, sharing a band)."""
    g, scene = sc.scene.layer.grid, sc.scene
    c, nd = len(scene.layer.names), len(earlier)
    sides = any(d is not None and d > 0 for d in days) and any(d is not None and d < 0 for d in days)
    idx = [shared_bands(scene.layer, e.layer) for e in earlier]
    later_sar = sar[0] is not None and len(sar) > 2 and sar[2] is not None  # the nearest later date's (fill.Inputs)
    roles = {"now": 0 if sar[0] is not None else None,
             "then": 1 if sar[0] is not None and len(sar) > 1 and sar[1] is not None else None,
             "later": 2 if later_sar else None}  # each role's slot in ``sar`` (and sc.holes)
    slots = [k for k in roles.values() if k is not None]
    slots += sorted({k for k in dated or [] if k is not None} - set(slots))
    used_sar = [sar[k] for k in slots]
    ci = c * (max(nd, 1) + sides) + (2 if sar[0] is not None else 0) + (4 if roles["then"] is not None else 0)
    ci += (4 if later_sar else 0) + (4 if dated else 0)
    bits = 8 if nd + 2 * len(used_sar) <= 8 else 16  # a flag band's: uint8 where the flags fit in one byte
    files = StackFiles(work / "flags.tif", bits, max(1, -(-(nd + 2 * len(used_sar)) // bits)))
    files.copies |= {f"date {i}": (work / f"date{i + 1}.tif", c) for i, e in enumerate(earlier) if not direct(e, g)}
    files.copies |= {f"sar {k}": (work / f"sar{k + 1}.tif", 2) for k, r in enumerate(used_sar) if not direct(r, g)}
    return _Layout(idx, [[j >= 0 for j in ix] for ix in idx], sides, roles, slots, used_sar, ci, files)


def _dates_rows(sc: Scan, earlier: list[RowReader], lay: _Layout, a: int, b: int, copies: dict):
    """Each date's rows ``[a, b)`` where clear (its copy kept in ``copies`` where the VRT cannot name it),
    per date (clear somewhere over the scene, its snow pixels left out) and the dates' clear flags."""
    g = sc.scene.layer.grid
    dates, flags, oks = [], [], []
    for i, e in enumerate(earlier):
        v = e.rows(g, a, b)
        v = np.stack([v[j] if j >= 0 else np.full(v.shape[1:], np.nan, np.float32) for j in lay.idx[i]])
        if f"date {i}" in lay.files.copies:  # on another grid, or no plain file: its bands as read, here
            copies[f"date {i}"] = v
        cl, sn = e.mask_rows(g, a, b)
        n_snow = 0.0
        if cl is not None:
            if not sc.snow_ok and sn is not None:
                n_snow = float((sn & cl).sum())
                cl = cl & ~sn
            v = np.where(cl, v, np.nan)
        flags.append((bool(np.isfinite(v).all(0)[sc.valid[a:b]].any()), n_snow))
        oks.append(np.isfinite(v[lay.present[i]]).all(0))
        dates.append(v)
    return dates, flags, oks


def _loader(sc: Scan, earlier: list[RowReader], lay: _Layout, days: list):
    """A strip's flags and what the pass learns of it, from its first row (pure: two strips at once,
    ``fill_rows.ahead``)."""
    g, scene = sc.scene.layer.grid, sc.scene
    (h, w), c, nd = sc.valid.shape, len(scene.layer.names), len(earlier)

    def load(a: int):
        b = min(h, a + ROWS)
        copies: dict = {}
        dates, flags, oks = _dates_rows(sc, earlier, lay, a, b, copies)
        for k, r in enumerate(lay.used_sar):
            raw = r.rows(g, a, b, bands=sar_bands(r))  # VV, VH as stored
            if f"sar {k}" in lay.files.copies:
                copies[f"sar {k}"] = raw
            db = to_db(raw, r.layer.dtype, r.sar_kind)
            oks += [np.isfinite(db[0]), np.isfinite(db[1])]
        copies["flags"] = pack(oks, lay.files.bits) if oks else np.zeros((1, b - a, w), np.uint8)
        mm = [sc.units.to_model(v) for v in dates if np.isfinite(v).any()]  # every value the design holds of a date
        x0x1 = (min(float(np.nanmin(m)) for m in mm), max(float(np.nanmax(m)) for m in mm)) if mm else (np.inf, -np.inf)
        del mm
        if not dates:  # Sentinel-1 alone: no date, no base (the SAR fit fills what it can)
            dates.append(np.full((c, b - a, w), np.nan, np.float32))
        base, ok, index = composite(dates)
        reg, n, both = None, np.zeros((2, nd + 1)), np.zeros((b - a, w), bool)
        if lay.sides:  # which sides hold a date clear at each pixel (fill_regions), and their interpolation
            before, after = np.zeros((b - a, w), bool), np.zeros((b - a, w), bool)
            for v, d in zip(dates, days):
                side = after if d is not None and d < 0 else before
                side |= np.isfinite(v).all(0)
            reg = region_map(before, after)
            pick = lambda f: [(v, d) for v, d in zip(dates, days) if d is not None and f(d)]  # noqa: E731
            before, after = pick(lambda d: d > 0), pick(lambda d: d < 0)
            between = interpolate([v for v, _ in before], [d for _, d in before], [v for v, _ in after],
                                  [-d for _, d in after])
            both = np.isfinite(between).all(0) & sc.gap[a:b]
            n[1, nd] = both.sum()
        todo = sc.gap[a:b] & ok
        n[0, :nd] = np.bincount(index[todo], minlength=max(nd, 1))[:nd]
        n[1, :nd] = np.bincount(index[todo & ~both], minlength=max(nd, 1))[:nd]
        learn = sc.clear[a:b] & ok  # the line's n, Σx, Σy, Σx², Σxy, spread, centred on the strip's first value
        x, y = base[:, learn], scene.rows(g, a, b)[:, learn]
        xd, yd = x - (lo := x[:, :1].astype(np.float64)), y - lo
        sums = np.stack([np.full(len(x), x.shape[1], np.float64), xd.sum(1), yd.sum(1), np.einsum("ij,ij->i", xd, xd),
                         np.einsum("ij,ij->i", xd, yd), x.max(1, initial=-np.inf) - x.min(1, initial=np.inf)])
        return flags, ok, n, (lo, sums) if x.size else None, copies, x0x1, reg
    return load


def guides(sc: Scan, earlier: list[RowReader], sar: list[RowReader | None], work: Path,
           days: list[int | None] | None = None, dated: list[int | None] | None = None,
           progress: Progress | None = None) -> Guides:
    """Pass 2 (see the module docstring), its files written in ``work``: ``earlier`` every date, nearest first,
    ``days`` their days before the scene (negative: after; default all before); ``sar``: ``Inputs.sar_all``;
    ``dated``: ``Inputs.dated_slots``. Refused in one line where a date has no clear pixel over the scene, or
    every date's is snow the scene shows none of and there is no SAR now to fill from alone. ``progress`` counts
    its strips."""
    g, (h, w), nd = sc.scene.layer.grid, sc.valid.shape, len(earlier)
    days = list(days) if days is not None else [1] * nd
    lay = _layout(sc, earlier, sar, work, days, dated)
    has = np.zeros((h, w), bool)
    sums = np.zeros((6, len(sc.scene.layer.names)))  # n, Σx, Σy, Σx², Σxy, spread seen
    seen, snowy = np.zeros(nd, bool), np.zeros(nd)
    counts = np.zeros((2, nd + 1))  # Guides.counts
    lo, span = None, [np.inf, -np.inf]
    region = np.zeros((h, w), np.uint8) if lay.sides else None  # one kind of region without dates on both sides
    with lay.files.opened(g):
        done = steps(progress, f"the flags' pass: the dates and the stack, {h:,} rows", -(-h // ROWS))
        for a, (flags, ok, n, part, copies, (x0, x1), reg) in counted(ahead(_loader(sc, earlier, lay, days),
                                                                             range(0, h, ROWS), 2), done):
            b = min(h, a + ROWS)
            if region is not None:
                region[a:b] = reg
            seen |= np.array([f for f, _ in flags], bool)
            snowy += [s for _, s in flags]
            has[a:b] = ok
            counts += n
            if part is not None:  # a strip's sums moved from its first value to the first strip's (no cancellation)
                lo = lo if lo is not None else part[0]
                (m, sx, sy, sxx, sxy, spread), d = part[1], part[0][:, 0] - lo[:, 0]
                sums += [m, sx + m * d, sy + m * d, sxx + 2 * d * sx + m * d * d, sxy + d * (sx + sy) + m * d * d, spread]
            span = [min(span[0], x0), max(span[1], x1)]
            lay.files.write(a, copies)
    for i, e in enumerate(earlier):  # a date with no clear pixel over the scene, or only snow the scene shows none of
        if not seen[i] and not snowy[i]:
            raise BandbridgeError(f"--earlier {e.item}: no clear pixel over {sc.scene.item} (another place, or all "
                                  "cloudy); give an earlier clear scene of the same place")
    if earlier and not has.any() and (not sar or sar[0] is None):  # with SAR now, SAR alone fills (fill.py says so)
        raise BandbridgeError(f"--earlier {earlier[0].item}: every clear pixel of it is SCL snow, and the scene's "
                              f"clear part shows none (under {FILL_SNOW_MIN:.0%}): no picture of the ground; give an "
                              "earlier date without snow")
    dropped = [(e.layer.when, snowy[i] / (h * w)) for i, e in enumerate(earlier) if snowy[i]]
    return _guides_of(sc, earlier, lay, days, dated, span, Guides(None, {}, has, _solve(sums, lo), dropped, counts,
                                                                  [bool(x) for x in seen], FEED, region))


def _guides_of(sc: Scan, earlier: list[RowReader], lay: _Layout, days: list, dated, span: list, gd: Guides) -> Guides:
    """``gd`` with its stack (the VRT and the design's configuration), channels and feed."""
    c, nd = len(sc.scene.layer.names), len(earlier)
    gd.channels = channels_of(c, max(nd, 1) - 1, lay.sides, lay.ci, lay.roles["later"] is not None, bool(dated))
    gd.feed = feed = feed_of(*span) if np.isfinite(span[0]) else FEED
    scales = [sar_scale(r.sar_kind or "db", SAR_LO, SAR_HI) for r in lay.used_sar]
    vrt, names = write_stack(lay.files.flags.parent / "stack.vrt", sc.scene.layer.grid, list(zip(earlier, lay.idx)),
                             [(r, sar_bands(r)) for r in lay.used_sar], lay.files, sc.units, scales)
    slots = lay.slots
    cfg = {"bands": c, "dates": [{"days": d, "present": p} for d, p in zip(days, lay.present)], "sides": lay.sides,
           "sar": [{"kind": r.sar_kind or "db", "scale": sc_[0], "offset": sc_[1],
                    "hole": [float(v) for v in sc.holes[k]]} for r, k, sc_ in zip(lay.used_sar, slots, scales)],
           **{role: (slots.index(k) if k is not None else None) for role, k in lay.roles.items()},
           "dated": [None if k is None else slots.index(k) for k in dated] if dated else None,
           "bits": lay.files.bits, "feed": list(feed), "lo": SAR_LO, "hi": SAR_HI, "half": HALF}
    gd.stack = Stack(vrt, names, cfg)
    return gd


def _solve(s: np.ndarray, lo: np.ndarray | None) -> np.ndarray | None:
    """Per band ``(a, c)`` of the least-squares line from the sums (``fill_fit.linear_maps``'s
    answer, a band without spread its mean); None under :data:`~bandbridge.policy.FILL_LINEAR_MIN` pixels."""
    n, sx, sy, sxx, sxy, spread = s
    if lo is None or n[0] < FILL_LINEAR_MIN:
        return None
    lo = lo[:, 0]
    var = n * sxx - sx * sx
    a = np.where((spread > 0) & (var > 0), (n * sxy - sx * sy) / np.where(var > 0, var, 1), 0.0)
    c = (sy - a * sx) / n  # in the centred units: y − lo = a (x − lo) + c
    return np.stack([a, c + lo - a * lo], 1)


class FileSource:
    """``learners/fill_fit.Source`` of the stack: the design over windows around the sampled pixels, computed
    from the raw inputs as the fit's bundle computes it (``fill_stack.Stack.design``), and the scene's values."""

    def __init__(self, sc: Scan, gd: Guides):
        self.sc, self.gd = sc, gd
        self.shape, self.bands = sc.valid.shape, len(gd.channels["base"])
        self.learn, self.clear_y = sc.clear & gd.has_base, sc.clear
        self.units, self.linear, self.channels, self.feed = sc.units, gd.linear, gd.channels, gd.feed
        self.region = gd.region  # the gap's regions (fill_fit.decide judges a route per region), None: one route
        self._seen: dict = {}  # window -> what it read: the fit and the SAR fit sample mostly the same
        # blocks (the same seed over nearly the same mask), and each scene read decompresses whole blocks

    def read(self, win: tuple[int, int, int, int], channels: list[int]) -> tuple[np.ndarray, np.ndarray]:
        if win not in self._seen:
            x = self.gd.stack.design(win)
            y = self.sc.scene.read(self.sc.scene.layer.grid, win)
            parts = [self.units.to_stored(x[self.channels[k]]) for k in ("base", "between") if self.channels[k]]
            self._seen[win] = x, np.concatenate([y, *parts])
        x, v = self._seen[win]
        return x[channels], v

    def close(self) -> None:
        """What it read let go."""
        self._seen.clear()
