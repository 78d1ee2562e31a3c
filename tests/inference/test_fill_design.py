"""The fill's design computed per tile from the raw stack (models/fill_design.py) equals the numpy
design written here from its definition (:func:`design`: the in-memory fill's, issue 83 moved it out of
``learners/fill_fit``), on inputs with NaN, holes, dates on both sides, a date lacking a band and SAR in
each stored form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bandbridge.learners.fill_fit import HALF, SAR_HI, SAR_LO, Units, composite, feed_of, interpolate
from bandbridge.learners.fill_sar import SAR_DATED, SAR_LATER, sar_model
from bandbridge.models.fill_design import FillDesign, all_channels, sar_scale


def raw_channels(cfg: dict) -> int:
    """The stack's channel count: every date's bands, two a SAR file, the flag bands (``bits`` flags a band)."""
    flags = len(cfg["dates"]) + 2 * len(cfg["sar"])
    return cfg["bands"] * len(cfg["dates"]) + 2 * len(cfg["sar"]) + max(1, -(-flags // cfg["bits"]))

def design(base_m: np.ndarray, others_m: list[np.ndarray], sar_now: np.ndarray | None,
           sar_then: np.ndarray | None, holes: list | None = None, between: np.ndarray | None = None,
           sar_later: np.ndarray | None = None, sar_dated: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The fit's input channels ``(Ci, H, W)`` in model values and their names: the base, other dates (NaN: the
    base there), then the SAR channels (:func:`sar_parts`: now, then, their difference, later, ``sar_later``
    in dB, and its change since now, ``sar_dated`` — the SAR of each pixel's base date, :func:`dated` — and
    its change to now); ``holes``: :func:`sar_model`'s for SAR now, then and later; ``between``: the dates before
    and after interpolated (:func:`interpolate`, model values; NaN: the base), after the other dates."""
    parts, names = [base_m], ["earlier bands"]
    for i, o in enumerate(others_m):
        parts.append(np.where(np.isfinite(o), o, base_m))
        names.append(f"date {i + 2}")
    if between is not None:
        parts.append(np.where(np.isfinite(between), between, base_m))
        names.append("the dates interpolated")
    if sar_now is not None:
        p, n = sar_parts(sar_now, sar_then, holes, sar_later, sar_dated)
        parts += p
        names += n
    x = np.concatenate(parts).astype(np.float32, copy=False)
    np.copyto(x, np.float32(HALF), where=np.isnan(x))
    return x, ", ".join(names)


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


def _scene(seed: int = 0, h: int = 24, w: int = 20, c: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.uniform(500, 3000, (c, h, w)).astype(np.float32)
    units = Units(y, np.ones((h, w), bool))
    dates = []
    for i in range(4):  # nearest first: 5 d before, 7 d after, 12 d before, 20 d after
        v = rng.uniform(300, 4000, (c, h, w)).astype(np.float32)
        v[:, rng.random((h, w)) < 0.4] = np.nan  # its clouds
        dates.append(v)
    dates[2][1] = np.nan  # a band the third date lacks
    return rng, y, units, dates, [5, -7, 12, -20]


def _db(rng, h, w):
    v = rng.uniform(-28, 3, (2, h, w)).astype(np.float32)
    v[0, rng.random((h, w)) < 0.1] = np.nan  # holes in VV alone
    return v


def _stored(db: np.ndarray, kind: str) -> np.ndarray:
    if kind == "dn":
        return np.where(np.isfinite(db), np.round(10 ** ((db + 83) / 20)), 0).astype(np.float32)
    if kind == "power":
        return np.where(np.isfinite(db), 10 ** (db / 10), 0).astype(np.float32)
    return db


def _back_db(raw: np.ndarray, kind: str) -> np.ndarray:  # fill_read.to_db's forms
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "dn":
            return (20 * np.log10(np.where(raw > 0, raw, np.nan)) - 83).astype(np.float32)
        if kind == "power":
            return (10 * np.log10(np.where(raw > 0, raw, np.nan))).astype(np.float32)
    return raw


@pytest.mark.parametrize("kind", ["db", "power", "dn"])
def test_the_module_computes_the_numpy_design(kind: str) -> None:
    rng, y, units, dates, days = _scene()
    c, h, w = y.shape
    sar_raw = [_stored(_db(rng, h, w), kind) for _ in range(3)]  # now, then, later
    sar_db = [_back_db(s, kind) for s in sar_raw]
    holes = [np.array([0.4, 0.3], np.float32), np.array([0.45, 0.35], np.float32), np.array([0.5, 0.2], np.float32)]
    # the numpy design (what fill_strips.guides wrote, and the fit in memory reads)
    full = [np.stack([d[b] for b in range(c)]) for d in dates]
    before = [(d, t) for d, t in zip(full, days) if t > 0]
    after = [(d, -t) for d, t in zip(full, days) if t < 0]
    between = interpolate([d for d, _ in before], [t for _, t in before], [d for d, _ in after], [t for _, t in after])
    base, _, index = composite(full)
    # SAR of every date: the first date's is SAR then's file, the second's SAR later's, the others have none
    then_m, later_m = sar_model(sar_db[1], holes[1]), sar_model(sar_db[2], holes[2])
    want, _ = design(units.to_model(base), [units.to_model(d) for d in full[1:]], sar_db[0], sar_db[1], holes,
                     units.to_model(between), sar_db[2], dated(index, [then_m, later_m, None, None], then_m))
    # the raw stack as the VRT gives it: dates in model values (0 where none), SAR scaled, the flags
    present = [[bool(np.isfinite(d[b]).any()) for b in range(c)] for d in dates]
    scale = [sar_scale(kind, SAR_LO, SAR_HI) for _ in range(3)]
    bits = np.zeros((h, w), np.int64)
    for i, d in enumerate(dates):
        ok = np.isfinite(d[[b for b in range(c) if present[i][b]]]).all(0)
        bits |= ok.astype(np.int64) << i
    for j, s in enumerate(sar_db):
        bits |= np.isfinite(s[0]).astype(np.int64) << (4 + 2 * j)
        bits |= np.isfinite(s[1]).astype(np.int64) << (5 + 2 * j)
    raw = [np.nan_to_num(units.to_model(d)) for d in dates]
    raw += [np.nan_to_num(r) * a + o for r, (a, o) in zip(sar_raw, scale)]
    raw.append((bits / 2 ** 16)[None].astype(np.float32))
    x = np.concatenate(raw).astype(np.float32)
    m = np.concatenate([units.to_model(d) for d in dates])
    feed = feed_of(float(np.nanmin(m)), float(np.nanmax(m)))  # the dates' values reach below 0: widened
    assert feed[0] < 0
    cfg = {"bands": c, "dates": [{"days": t, "present": p} for t, p in zip(days, present)], "sides": True,
           "sar": [{"kind": kind, "scale": a, "offset": o, "hole": hl.tolist()} for (a, o), hl in zip(scale, holes)],
           "now": 0, "then": 1, "later": 2, "dated": [1, 2, None, None], "bits": 16, "feed": list(feed), "lo": SAR_LO, "hi": SAR_HI,
           "half": HALF}
    cfg["channels"] = list(range(all_channels(cfg)))
    assert x.shape[0] == raw_channels(cfg) and want.shape[0] == all_channels(cfg)
    fed = (np.clip(x, *feed) - feed[0]) / (feed[1] - feed[0])  # the bundle's minmax over the feed
    got = FillDesign(cfg, fed=False)(torch.from_numpy(fed[None]))[0].numpy()
    # float32 through a widened feed (-1, 4): a value of 1 keeps 2^-24·5 of it, SAR's linear power at -30 dB
    # 0.1 % of itself (2e-5 in model values, 7e-4 dB)
    np.testing.assert_allclose(got, want, atol=5e-5)
    assert (got[: c] != HALF).any() and (want[c * 4:c * 5] != want[:c]).any()  # a real mix of dates, not all filled


def test_the_module_without_dates_is_half() -> None:
    """SAR alone: no date, the base channels at HALF (fill_fit.design of an all-NaN date)."""
    rng = np.random.default_rng(1)
    db = _db(rng, 8, 8)
    want, _ = design(np.full((3, 8, 8), np.nan, np.float32), [], db, None, [np.array([0.4, 0.3], np.float32)])
    a, o = sar_scale("db", SAR_LO, SAR_HI)
    bits = (np.isfinite(db[0]).astype(np.int64) | np.isfinite(db[1]).astype(np.int64) << 1)
    x = np.concatenate([np.nan_to_num(db) * a + o, (bits / 2 ** 8)[None]]).astype(np.float32)
    cfg = {"bands": 3, "dates": [], "sides": False, "sar": [{"kind": "db", "scale": a, "offset": o, "hole": [0.4, 0.3]}],
           "now": 0, "then": None, "later": None, "bits": 8, "feed": [0.0, 4.0], "lo": SAR_LO, "hi": SAR_HI,
           "half": HALF, "channels": list(range(5))}
    got = FillDesign(cfg, fed=False)(torch.from_numpy(np.clip(x, 0, 4)[None] / 4))[0].numpy()
    np.testing.assert_allclose(got, want, atol=2e-5)
