"""The values a model saw: one record of its training inputs (model values per band, the stored
types, the scaling), kept in the bundle (``model.yaml: inputs_seen``), and the test that names a
file unlike it.

A scaling read wrong shows as a range of model values several times wider or narrower than any
the model saw *and* centred outside it (reflectance × 1000 read as × 10000 is ten times narrower
and darker; 16-bit values read as 8-bit saturate); a dark or hazy scene of the right scaling is
narrower but centred inside it, and passes. Numpy only: training, adapt, evaluation and
prediction share it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from bandbridge.bands import FAMILY, SCALINGS, Scaling
from bandbridge.data.reader import raster_info
from bandbridge.errors import BandbridgeError
from bandbridge.policy import SCALE_RATIO  # a width this many times wider or narrower: another scale

PERCENTILES = (1.0, 99.0)
PIXELS = 20_000  # pixels kept per image for the record (strided)


def _sample(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``x (C, H, W)`` → ``(C, n)`` finite valid values, at most :data:`PIXELS` per image."""
    c = x.shape[0]
    flat = x.reshape(c, -1)
    keep = np.isfinite(flat).all(0)
    if mask is not None and mask.shape[-2:] == x.shape[-2:]:
        keep &= mask.reshape(-1).astype(bool)
    v = flat[:, keep]
    step = max(1, v.shape[1] // PIXELS)
    return v[:, ::step]


def record(images: list[tuple[np.ndarray, np.ndarray | None]], dtypes: list[str],
           scalings: list[str]) -> dict | None:
    """The ``inputs_seen`` block of a bundle from its training inputs: ``images`` of ``(x (C, H, W)
    model values, valid mask (H, W) or None)``, the stored types and scalings they were read
    from. ``p1``/``p99``: per band, the pooled 1st and 99th percentiles (model values)."""
    parts = [_sample(np.asarray(x, np.float32), None if m is None else np.asarray(m))
             for x, m in images]
    parts = [p for p in parts if p.size]
    if not parts:
        return None
    v = np.concatenate(parts, axis=1)
    lo, hi = np.percentile(v, PERCENTILES, axis=1)
    return {"p1": [round(float(a), 6) for a in lo], "p99": [round(float(b), 6) for b in hi],
            "dtypes": sorted(set(dtypes)), "scalings": sorted(set(scalings)), "images": len(parts),
            "rule": f"model values of the training inputs, {PERCENTILES[0]:g}th-{PERCENTILES[1]:g}th "
                    f"percentile per band over up to {PIXELS} valid pixels per image"}


def well_formed(seen: object, bands: int) -> bool:
    """Whether ``seen`` is a record of ``bands`` bands (a damaged one is ignored, never trusted)."""
    if not isinstance(seen, dict):
        return False
    lo, hi = seen.get("p1"), seen.get("p99")
    return (isinstance(lo, list) and isinstance(hi, list) and len(lo) == len(hi) == bands
            and all(isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isfinite(a)
                    and math.isfinite(b) and b >= a for a, b in zip(lo, hi)))


def encode(raw: np.ndarray, s: Scaling) -> np.ndarray:
    """Stored → model values without the scaling's clip: what the file *would* give."""
    return replace(s, clip=None).encode(np.asarray(raw, np.float64))


def _off(lo: np.ndarray, hi: np.ndarray, a: float, b: float) -> str | None:
    """Why one band spanning ``lo``–``hi`` (1st–99th percentile) is unlike the seen ``a``–``b``."""
    w, ws = hi - lo, max(b - a, 1e-9)
    mid = 0.5 * (lo + hi)
    ratio = w / ws
    outside = mid < a or mid > b
    if outside and (ratio > SCALE_RATIO or ratio < 1 / SCALE_RATIO):
        return "scale"
    if mid < a - ws or mid > b + ws:
        return "range"
    return None


def unlike(values: np.ndarray, s: Scaling, seen: dict | None, model: str, dtype: str) -> str | None:
    """One clause when ``values`` (``(C, n)`` stored values of a file's input bands) read with
    ``s`` are unlike what ``model`` saw (``seen``: its ``inputs_seen``) in at least half the
    bands, naming both ranges, both stored types and the ``--scaling`` that settles it; else None."""
    if values.size == 0 or not well_formed(seen, values.shape[0]):
        return None
    m = encode(values, s)
    lo, hi = np.percentile(m, PERCENTILES, axis=1)
    why = [_off(x, y, a, b) for x, y, a, b in zip(lo, hi, seen["p1"], seen["p99"])]
    if sum(w is not None for w in why) * 2 < len(why):
        return None
    kind = "scale" if "scale" in why else "range"
    here = f"{float(lo.min()):.4g}–{float(hi.max()):.4g}"
    there = f"{min(seen['p1']):.4g}–{max(seen['p99']):.4g}"
    types = "/".join(seen.get("dtypes") or []) or "?"
    fix = better_scaling(values, s, seen)
    hint = (f"--scaling {fix} if the file holds that" if fix else
            "--scaling names what the file holds; {} stretches it onto that range".format(stretch(values, seen)))
    return (f"read as {s.name} its values span {here} ({dtype}), where {model} saw {there} "
            f"({types} read as {'/'.join(seen.get('scalings') or []) or '?'}) — another {kind}? {hint}")


def stretch(values: np.ndarray, seen: dict) -> str:
    """The ``--scaling minmax`` flags that put the file's 1st–99th percentiles (stored values,
    mean over bands) onto the seen ones: ``(r - vmin) / (vmax - vmin)`` maps r1 → p1, r99 → p99."""
    r1, r99 = (float(np.mean(q)) for q in np.percentile(np.asarray(values, np.float64), PERCENTILES, axis=1))
    a, b = float(np.mean(seen["p1"])), float(np.mean(seen["p99"]))
    span = (r99 - r1) / max(b - a, 1e-9)
    vmin = r1 - a * span
    return f"--scaling minmax --vmin {vmin:.4g} --vmax {vmin + span:.4g}"


def better_scaling(values: np.ndarray, s: Scaling, seen: dict) -> str | None:
    """The scaling of ``s``'s family (or one the model was trained on) under which the file's
    values come closest to the seen range (in log width and centre), if not ``s`` itself."""
    fam = FAMILY.get(s.name)
    names = {n for n in SCALINGS if fam and FAMILY.get(n) == fam} | set(seen.get("scalings") or [])
    lo_s, hi_s = np.asarray(seen["p1"]), np.asarray(seen["p99"])

    def cost(scaling: Scaling) -> float:
        lo, hi = np.percentile(encode(values, scaling), PERCENTILES, axis=1)
        w = np.maximum(hi - lo, 1e-9)
        ws = np.maximum(hi_s - lo_s, 1e-9)
        return float(np.mean(np.abs(np.log(w / ws)) + np.abs(0.5 * (lo + hi) - 0.5 * (lo_s + hi_s)) / ws))

    costs = {n: cost(SCALINGS[n]) for n in names if n in SCALINGS and n != s.name}
    best = min(costs, key=costs.get, default=None)
    return best if best is not None and costs[best] < cost(s) else None


def from_pairs(pairs) -> dict | None:
    """:func:`record` of loaded training pairs (``data/datasets.LoadedPair``: model values
    ``x``, the valid ``mask``, the source's input scaling; stored types from the files' headers)."""
    dtypes = []
    for path in dict.fromkeys(str(p.item.input_path) for p in pairs):
        try:
            dtypes.append(raster_info(path).dtype)
        except (BandbridgeError, OSError):  # a band folder or cube: its type is its bands'
            pass
    images = [(p.x.numpy() if hasattr(p.x, "numpy") else p.x,
               None if p.mask is None else np.asarray(p.mask)[0]) for p in pairs]
    return record(images, dtypes, [p.source.input.scaling for p in pairs])


def depth(dtype: str) -> str:
    """A stored type's radiometric depth: ``float``, or ``N-bit integer`` (signedness aside:
    Sentinel-2 ships as int16 and uint16 alike)."""
    t = np.dtype(dtype)
    return "float" if t.kind == "f" else f"{8 * t.itemsize}-bit integer"


def another_sensor(seen: dict | None, dtype: str, model: str) -> str | None:
    """Why a file stored as ``dtype`` comes from another sensor than every one ``model``'s pairs
    came from (``seen``: its ``inputs_seen``): a radiometric depth none of them had (11-bit
    satellite DN in uint16 against NAIP's uint8). None when the depth is one of theirs, or the
    bundle records no types."""
    types = (seen or {}).get("dtypes") if isinstance(seen, dict) else None
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        return None
    try:
        if depth(dtype) in {depth(t) for t in types}:
            return None
    except TypeError:  # a type numpy does not know: nothing to say
        return None
    return f"stored as {dtype} where {model}'s pairs were {'/'.join(types)}: another sensor"
