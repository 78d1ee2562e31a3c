"""``bandbridge fill``'s two passes over the scene by strips of :data:`ROWS` rows (``fill_rows.py``
reads each input by rows), so that memory holds a few bits a pixel of the scene, never its values:

1. :func:`scan`: the scene's validity, its gap (its own cloud mask or ``--mask``, dilated by
   :data:`~bandbridge.policy.FILL_DILATE` px) and clear part as whole-scene booleans, a sample of
   its clear values for the model units (``fill_fit.Units``) and of the SAR for its holes' value;
2. :func:`guides`: what the fit's design is computed from — the raw inputs stacked on the scene's grid as a
   VRT and the flags (per pixel which dates are clear there, which SAR values hold; ``fill_stack.py``) —
   with which pixels have a base, the per-band map's sums over the clear ones, which dates fill the gap and
   the range of the dates' values (the feed). The design itself (the base, the other dates, SAR now, then,
   their difference, SAR later…, in model values) is computed per window from the stack by
   ``models/fill_design.FillDesign``, in the fit's bundle as in the fit's sample: no copy of the tile.

:class:`FileSource` is the fit's view of the two (``learners/fill_fit.Source``): the design over windows
around the sampled pixels, and the scene's values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bandbridge.bands import band_role
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_read import (holds_nothing, no_cloud_mask, sar_kind, shared_bands, snow_is_ground,
                                                 to_db)
from bandbridge.inference.place.fill_rows import RowReader, ahead
from bandbridge.inference.place.fill_stack import Stack, StackFiles, bits_of, direct, pack, write_stack
from bandbridge.learners.fill_fit import (FEED, FILL_LINEAR_MIN, HALF, SAR_HI, SAR_LO, Units, channels_of, composite,
                                         feed_of, interpolate)
from bandbridge.models.fill_design import sar_scale
from bandbridge.learners.fill_regions import region_map
from bandbridge.policy import FILL_DILATE, FILL_SNOW_MIN

ROWS = 512  # rows read, computed and written at a time
SAMPLE_PX = 4_000_000  # values kept for the units and the SAR's median (every k-th pixel above it)


@dataclass
class Scan:
    """The scene after :func:`scan`: whole-scene booleans ``(H, W)`` and its model units."""

    scene: RowReader
    valid: np.ndarray
    clear: np.ndarray
    gap: np.ndarray
    masked_by: str
    units: Units | None = None
    snow_ok: bool = True
    holes: list | None = None  # SAR now's, then's and later's median (model values) for their holes


def _every(n: int, h: int, w: int) -> int:
    return max(1, -(-h * w // SAMPLE_PX)) if n else 1


def scan(scene: RowReader, mask: RowReader | None, sar: list[RowReader | None]) -> Scan:
    """Pass 1 (see the module docstring); refused in one line where the scene holds no data, has no
    cloud mask or ``--mask`` does not overlap it."""
    g = scene.layer.grid
    h, w = g.height, g.width
    if mask is None and not scene.masked:
        raise BandbridgeError(f"{scene.item}: no cloud mask in the file or beside it (an SCL or QA_PIXEL band, "
                              "a file named *SCL*.tif, or a cube's #scl=FILE); give one with --mask")
    valid, cloudy = np.zeros((h, w), bool), np.zeros((h, w), bool)
    snow = np.zeros((h, w), bool) if scene.mask_kind == "SCL" else None
    k = _every(1, h, w)
    every = 1 if k == 1 else max(1, -(-h // ROWS) // 8)  # about 8 strips of SAR for its median in a large scene
    kept, rc, sars, overlap, spare = [], [], [[] for _ in sar], False, []

    def load(a: int):  # the strip's reads (one strip ahead, fill_rows.ahead)
        b = min(h, a + ROWS)
        m = mask.rows(g, a, b, True, [0])[0] if mask is not None else None
        s = [sar_raw(s, g, a, b)[:, ::k, ::k].reshape(2, -1) if s is not None and (a // ROWS) % every == 0
             else None for s in sar]  # spread strips: a median needs no more
        return scene.rows(g, a, b), scene.mask_rows(g, a, b), m, s

    for a, (y, (clear, sn), m, s) in ahead(load, range(0, h, ROWS)):
        b = min(h, a + ROWS)
        valid[a:b] = np.isfinite(y).all(0)
        if snow is not None and sn is not None:
            snow[a:b] = sn
        if mask is not None:
            finite = ~np.isnan(m)
            overlap |= bool(finite.any())
            cloudy[a:b] = finite & (m != 0)
        else:
            cloudy[a:b] = ~clear
        rr, cc = np.nonzero(valid[a:b] & ~cloudy[a:b])
        rr, cc = rr[::k], cc[::k]
        kept.append(y[:, rr, cc])
        rc.append((rr + a, cc))
        spare.append(y[:, valid[a:b]][:, ::8 * k])  # the valid values, sparser: the units where none stays clear
        for i, v in enumerate(s):
            if v is not None:
                sars[i].append(v)
    if not valid.any():
        raise BandbridgeError(f"{scene.item}: every pixel is no data; give a scene that holds data")
    if mask is not None and not overlap:  # its footprint meets the scene's (fill_checks), yet no value there
        raise holds_nothing(f"--mask {mask.item}", "give a mask with values (nonzero: the gap)")
    gap = dilate(cloudy, FILL_DILATE)
    del cloudy
    clear = valid & ~gap
    gap &= valid
    by = f"--mask {Path(mask.item).name}" if mask is not None else scene.layer.masked_by
    out = Scan(scene, valid, clear, gap, by)
    rows, cols = np.concatenate([r for r, _ in rc]), np.concatenate([c for _, c in rc])
    keep = clear[rows, cols]  # the sample's pixels still clear once the gap is dilated
    v = np.concatenate(kept, axis=1)[:, keep]
    if not v.size:  # no clear pixel once dilated (a --mask over the whole scene): the units from the scene's valid
        # values; from no value they were NaN, which turned every date into NaN and "as it is" into no value (issue 85)
        v = np.concatenate(spare, axis=1)
    del spare
    out.units = Units(v[:, :, None], np.ones((v.shape[1], 1), bool))
    if snow is not None:
        scene.layer.snow = snow
        out.snow_ok = snow_is_ground(scene.layer, clear)
        scene.layer.snow = None
    for r, v in zip(sar, sars):  # how each SAR file stores backscatter, told once from its sample
        if r is not None and v:
            r.sar_kind = sar_kind(np.concatenate(v, axis=1), r.layer.dtype)
    out.holes = [_median(_sar_model(np.concatenate(v, axis=1), r)) if v else None for r, v in zip(sar, sars)]
    for s, h in zip(sar, out.holes):
        if s is not None and h is None:
            raise holds_nothing(f"{s.flag} {s.item}", "give a Sentinel-1 file that holds data over the scene")
    return out


def dilate(m: np.ndarray, n: int) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(m, iterations=n)`` (the cross, ``n`` times; nothing past
    the edge) by shifted ORs: the same pixels, 0.46 s against 2.85 s for a 10980² scene."""
    for _ in range(n):
        d = m.copy()
        d[1:] |= m[:-1]
        d[:-1] |= m[1:]
        d[:, 1:] |= m[:, :-1]
        d[:, :-1] |= m[:, 1:]
        m = d
    return m


def _median(m: np.ndarray) -> np.ndarray | None:
    """Per channel the median of the finite values; None where a channel has none."""
    if not np.isfinite(m).all(0).any():
        return None
    return np.array([np.nanmedian(c) for c in m], np.float32)


def _sar_model(raw: np.ndarray, s: RowReader) -> np.ndarray:
    """SAR's VV, VH as stored → [0, 1] (``fill_fit.sar_model``'s map), NaN holes."""
    return np.clip((to_db(raw, s.layer.dtype, s.sar_kind) - SAR_LO) / (SAR_HI - SAR_LO), 0, 1)


def sar_bands(s: RowReader) -> list[int]:
    """The file indices of VV and VH; refused in one line without both."""
    roles = [band_role(n) for n in s.layer.names]
    if "vv" not in roles or "vh" not in roles:
        raise BandbridgeError(f"{s.flag} {s.item}: no VV and VH bands (it has {s.layer.names}); give a Sentinel-1 "
                              "GRD file with both polarisations")
    return [s.data[roles.index("vv")], s.data[roles.index("vh")]]


def sar_raw(s: RowReader, g, a: int, b: int) -> np.ndarray:
    """VV, VH as stored over rows ``[a, b)`` of ``g``, NaN where not valid."""
    return s.rows(g, a, b, bands=sar_bands(s))


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
    copied: list[str] = field(default_factory=list)  # the inputs written onto the scene's grid (fill_stack.direct: not)

    def rows(self, a: int, b: int) -> np.ndarray:
        """The design ``(Ci, b − a, W)`` in model values over rows ``[a, b)``."""
        return self.stack.design((a, 0, b - a, self.has_base.shape[1]))


def guides(sc: Scan, earlier: list[RowReader], sar: list[RowReader | None], work: Path,
           days: list[int | None] | None = None, dated: list[int | None] | None = None) -> Guides:
    """Pass 2 (see the module docstring): the flags (and the copies of inputs the VRT cannot name) written in
    ``work``, the stack's VRT beside them; ``earlier`` every date, nearest first, ``days`` their days before the
    scene (negative: after it; default all before): where dates on both sides are clear, their interpolation is a
    channel too; ``sar``: SAR now, then and at the nearest later date (``fill.Inputs.sar``; None: not given), then
    other dates' own (``Inputs.sar_all``); ``dated``: per date the index of its own SAR in ``sar`` (None: the SAR
    of each pixel's base date is no channel; ``Inputs.dated_slots``).
    Refused in one line where a date holds none of the scene's bands or no clear pixel over it."""
    g, scene = sc.scene.layer.grid, sc.scene
    h, w = g.height, g.width
    c, nd = len(scene.layer.names), len(earlier)
    days = list(days) if days is not None else [1] * nd
    sides = any(d is not None and d > 0 for d in days) and any(d is not None and d < 0 for d in days)
    for e in earlier:
        if not e.masked:  # its clouds would be pasted into the gap as ground
            raise no_cloud_mask(f"{e.flag or '--earlier'} {e.item}", earlier=True)
    idx = [shared_bands(scene.layer, e.layer, "--earlier") for e in earlier]
    present = [[j >= 0 for j in ix] for ix in idx]
    later_sar = sar[0] is not None and len(sar) > 2 and sar[2] is not None  # the nearest later date's (fill.Inputs)
    roles = {"now": 0 if sar[0] is not None else None,
             "then": 1 if sar[0] is not None and len(sar) > 1 and sar[1] is not None else None,
             "later": 2 if later_sar else None}  # each role's slot in ``sar`` (and sc.holes)
    slots = [k for k in roles.values() if k is not None]
    slots += sorted({k for k in dated or [] if k is not None} - set(slots))
    used_sar = [sar[k] for k in slots]
    ci = c * (max(nd, 1) + sides) + (2 if sar[0] is not None else 0) + (4 if roles["then"] is not None else 0)
    ci += 4 if later_sar else 0
    ci += 4 if dated else 0
    bits = bits_of(nd, len(used_sar))
    files = StackFiles(work / "flags.tif", bits, max(1, -(-(nd + 2 * len(used_sar)) // bits)))
    for i, e in enumerate(earlier):
        if not direct(e, g):
            files.copies[f"date {i}"] = (work / f"date{i + 1}.tif", c)
    for k, r in enumerate(used_sar):
        if not direct(r, g):
            files.copies[f"sar {k}"] = (work / f"sar{k + 1}.tif", 2)
    has = np.zeros((h, w), bool)
    sums = np.zeros((6, c))  # n, Σx, Σy, Σx², Σxy, spread seen
    seen, snowy = np.zeros(nd, bool), np.zeros(nd)
    counts = np.zeros((2, nd + 1))  # gap pixels each date is the base of, over all and where the dates do not
    # lie on both sides (the last: those that do)
    lo, span = None, [np.inf, -np.inf]
    region = np.zeros((h, w), np.uint8) if sides else None  # one kind of region without dates on both sides

    def load(a: int):  # a strip's flags and what the pass learns of it; two strips at once (fill_rows.ahead)
        b = min(h, a + ROWS)
        dates, flags, oks, copies = [], [], [], {}  # flags: per date (clear somewhere, snow pixels left out)
        for i, e in enumerate(earlier):
            v = e.rows(g, a, b)
            v = np.stack([v[j] if j >= 0 else np.full(v.shape[1:], np.nan, np.float32) for j in idx[i]])
            if f"date {i}" in files.copies:  # on another grid, or no plain file: its bands as read, here
                copies[f"date {i}"] = v
            cl, sn = e.mask_rows(g, a, b)
            n_snow = 0.0
            if cl is not None:
                if not sc.snow_ok and sn is not None:
                    n_snow = float((sn & cl).sum())
                    cl = cl & ~sn
                v = np.where(cl, v, np.nan)
            flags.append((bool(np.isfinite(v).all(0)[sc.valid[a:b]].any()), n_snow))
            oks.append(np.isfinite(v[present[i]]).all(0))
            dates.append(v)
        for k, r in enumerate(used_sar):
            raw = sar_raw(r, g, a, b)
            if f"sar {k}" in files.copies:
                copies[f"sar {k}"] = raw
            db = to_db(raw, r.layer.dtype, r.sar_kind)
            oks += [np.isfinite(db[0]), np.isfinite(db[1])]
        copies["flags"] = pack(oks, bits) if oks else np.zeros((1, b - a, w), np.uint8)
        mm = [sc.units.to_model(v) for v in dates if np.isfinite(v).any()]  # every value the design holds of a date
        x0x1 = (min(float(np.nanmin(m)) for m in mm), max(float(np.nanmax(m)) for m in mm)) if mm else (np.inf, -np.inf)
        del mm
        if not dates:  # Sentinel-1 alone: no date, no base (the SAR fit fills what it can)
            dates.append(np.full((c, b - a, w), np.nan, np.float32))
        base, ok, index = composite(dates)
        reg = None
        if region is not None:  # which sides hold a date clear at each pixel (fill_regions)
            before, after = np.zeros((b - a, w), bool), np.zeros((b - a, w), bool)
            for v, d in zip(dates, days):
                side = after if d is not None and d < 0 else before
                side |= np.isfinite(v).all(0)
            reg = region_map(before, after)
        between, n = None, np.zeros((2, nd + 1))
        if sides:
            pick = lambda f: [(v, d) for v, d in zip(dates, days) if d is not None and f(d)]  # noqa: E731
            before, after = pick(lambda d: d > 0), pick(lambda d: d < 0)
            between = interpolate([v for v, _ in before], [d for _, d in before], [v for v, _ in after],
                                  [-d for _, d in after])
            both = np.isfinite(between).all(0) & sc.gap[a:b]
            n[1, nd] = both.sum()
        todo = sc.gap[a:b] & ok
        n[0, :nd] = np.bincount(index[todo], minlength=max(nd, 1))[:nd]
        rest = todo & ~both if between is not None else todo
        n[1, :nd] = np.bincount(index[rest], minlength=max(nd, 1))[:nd]
        y = scene.rows(g, a, b)
        learn = sc.clear[a:b] & ok
        return flags, ok, n, base[:, learn], y[:, learn], copies, x0x1, reg

    with files.open(g):
        for a, (flags, ok, n, xb, yb, copies, (x0, x1), reg) in ahead(load, range(0, h, ROWS), 2):
            b = min(h, a + ROWS)
            if region is not None:
                region[a:b] = reg
            for i, (any_clear, n_snow) in enumerate(flags):
                seen[i] |= any_clear
                snowy[i] += n_snow
            has[a:b] = ok
            counts += n
            xb, yb = xb.astype(np.float64), yb.astype(np.float64)
            if xb.size:
                lo = xb[:, :1] if lo is None else lo  # centred on a first value: sums without cancellation
                xb, yb = xb - lo, yb - lo
                sums += [np.full(c, xb.shape[1]), xb.sum(1), yb.sum(1), (xb * xb).sum(1), (xb * yb).sum(1),
                         np.ptp(xb, axis=1)]
            span = [min(span[0], x0), max(span[1], x1)]
            files.write(a, copies)
    for i, e in enumerate(earlier):
        if not seen[i] and not snowy[i]:
            raise BandbridgeError(f"--earlier {e.item}: no clear pixel over {scene.item} (another place, or all "
                                  "cloudy); give an earlier clear scene of the same place")
    if earlier and not has.any():
        raise BandbridgeError(f"--earlier {earlier[0].item}: every clear pixel of it is SCL snow, and the scene's "
                              f"clear part shows none (under {FILL_SNOW_MIN:.0%}): no picture of the ground; give an "
                              "earlier date without snow")
    chans = channels_of(c, max(nd, 1) - 1, sides, ci, later_sar, bool(dated))
    dropped = [(e.layer.when, snowy[i] / (h * w)) for i, e in enumerate(earlier) if snowy[i]]
    feed = feed_of(*span) if np.isfinite(span[0]) else FEED
    scales = [sar_scale(r.sar_kind or "db", SAR_LO, SAR_HI) for r in used_sar]
    vrt, names = write_stack(work / "stack.vrt", g, list(zip(earlier, idx)), [(r, sar_bands(r)) for r in used_sar],
                             files, sc.units, scales)
    cfg = {"bands": c, "dates": [{"days": d, "present": p} for d, p in zip(days, present)], "sides": sides,
           "sar": [{"kind": r.sar_kind or "db", "scale": sc_[0], "offset": sc_[1],
                    "hole": [float(v) for v in sc.holes[k]]} for r, k, sc_ in zip(used_sar, slots, scales)],
           **{role: (slots.index(k) if k is not None else None) for role, k in roles.items()},
           "dated": [None if k is None else slots.index(k) for k in dated] if dated else None,
           "bits": bits, "feed": list(feed), "lo": SAR_LO, "hi": SAR_HI, "half": HALF}
    copied = [r.item for k, r in [*((f"date {i}", e) for i, e in enumerate(earlier)),
                                  *((f"sar {k}", r) for k, r in enumerate(used_sar))] if k in files.copies]
    return Guides(Stack(vrt, names, cfg), chans, has, _solve(sums, lo), dropped, counts, [bool(x) for x in seen],
                  feed, region, copied)


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

    def __init__(self, sc: Scan, gd: Guides, use_dates: bool = True):
        self.sc, self.gd = sc, gd
        self.shape = sc.valid.shape
        self.bands = len(gd.channels["base"])
        self.learn, self.clear_y = sc.clear & gd.has_base, sc.clear
        self.units, self.linear = sc.units, gd.linear
        self.channels = gd.channels
        self.feed = gd.feed
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
