"""Above ``bandbridge fill``'s row reader (``fill_rows.py``): the refusals' words (one line naming the flag,
the file, the cause and the fix), SAR's stored forms in dB, a time series' steps, the snow rule, and a file read
whole through the row reader (:func:`read_layer`, :func:`sar_on`: for scoring and tests).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
from rasterio.transform import array_bounds

from bandbridge.bands import band_role
from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.data.grids import Grid
from bandbridge.data.reader import raster_info
from bandbridge.data.reference import parse_date
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_rows import Layer, check_fits, onto, open_rows
from bandbridge.policy import FILL_SNOW_MIN


def vv_vh(names: list[str], what: str) -> list[int]:
    """The indices of VV and VH among ``names``; refused in one line without both."""
    roles = [band_role(n) for n in names]
    if "vv" not in roles or "vh" not in roles:
        raise BandbridgeError(f"{what}: no VV and VH bands (it has {names}); give a Sentinel-1 GRD file with both "
                              "polarisations")
    return [roles.index("vv"), roles.index("vh")]


def read_layer(item: str, flag: str) -> Layer:
    """``item`` (a raster file, band folder or cube reference ``cube.nc@DATE[#scl[=FILE]]``) read whole on its
    own grid as ``fill`` reads it by rows (``fill_rows.open_rows``), with its cloud mask and snow where found
    (for scoring and tests); refused where this machine cannot hold it (``fill_rows.check_fits``)."""
    r = open_rows(item, flag)
    g = r.layer.grid
    check_fits(r.item, g.width, g.height, len(r.data) + (r.mask_band is not None), flag)
    layer = replace(r.layer, values=r.rows(g, 0, g.height))
    layer.clear, layer.snow = r.mask_rows(g, 0, g.height)
    return layer


def snow_is_ground(scene: Layer, clear_part: np.ndarray) -> bool:
    """Whether an earlier date's snow (SCL class 11) may stand for the ground under the scene's gap: only where
    the scene's own clear part shows snow, on at least :data:`~bandbridge.policy.FILL_SNOW_MIN` of it (or it has no
    SCL to say); else that snow has melted or was a cloud SCL called snow."""
    return scene.snow is None or not clear_part.any() or float(scene.snow[clear_part].mean()) >= FILL_SNOW_MIN


def _bounds(g: Grid) -> str:
    west, south, east, north = array_bounds(g.height, g.width, g.transform)
    return f"x {west:.10g}–{east:.10g}, y {south:.10g}–{north:.10g}"


def not_covering(what: str, src: Grid, scene: Grid, scene_path: str, fix: str) -> BandbridgeError:
    """The refusal of ``what`` (on ``src``) that lies elsewhere than the scene, both places stated."""
    return BandbridgeError(f"{what}: does not overlap {scene_path} (it covers {_bounds(src)} in {src.crs}, the "
                           f"scene {_bounds(scene)} in {scene.crs}); {fix}")


def holds_nothing(what: str, fix: str) -> BandbridgeError:  # the cause, not "does not overlap"
    return BandbridgeError(f"{what}: holds no value (every pixel is nodata or NaN); {fix}")


def no_cloud_mask(what: str, earlier: bool) -> BandbridgeError:
    """The refusal of a scene (``earlier``: a date) without a cloud mask: its clouds would be taken for ground."""
    where = "an SCL or QA_PIXEL band, a file named *SCL*.tif or *QA_PIXEL*.tif beside it, or a cube's #scl=FILE"
    return BandbridgeError(f"{what}: no cloud mask in the file or beside it ({where}); " +
                           (f"its clouds would go into the gap as ground: give it its mask as the scene's is given, or "
                            f"if you know it is clear, say so: {what}#clear" if earlier else "give one with --mask"))


def shared_bands(scene: Layer, other: Layer) -> list[int]:
    """Indices into ``other``'s bands of every band of the scene it holds too (same name; −1 where it lacks one),
    in the scene's order."""
    have = {n.upper(): i for i, n in enumerate(other.names)}
    return [have.get(n.upper(), -1) for n in scene.names]


def _steps(item: str, want: list[str], flag: str, fix: str) -> list[tuple[str, date, float]] | None:
    """``(label, date, usable share)`` of every time step of a cube reference without ``@DATE``,
    judged on its bands whose names or roles are in ``want`` (refused in one line, ``fix`` the
    remedy, where it holds none); None for anything else (a file, a dated step, a cube without
    time)."""
    from bandbridge.data.cube import step_fractions
    if not is_cube(item) or parse_ref(item).date:
        return None
    names = raster_info(item).bands
    keys = {w.upper() for w in want}
    bands = [i for i, n in enumerate(names) if n.upper() in keys or (band_role(n) or "").upper() in keys]
    if not bands:
        raise BandbridgeError(f"{flag} {item}: holds none of the bands {want} (it has {names}); {fix}")
    got = [(lab, parse_date(lab), f) for lab, _, f in step_fractions(item, bands) if lab]
    return [g for g in got if g[1]] or None


def earlier_steps(scene: Layer, item: str, most: int) -> list[str]:
    """``item`` as the earlier dates it names: a time-series cube without ``@DATE`` gives its
    ``most`` steps nearest before the scene that are at least half clear (``#scl`` kept), judged
    on the scene's bands it holds; any other item is itself."""
    steps = _steps(item, scene.names, "--earlier", "give an earlier archive of the scene's sensor")
    if steps is None:
        return [item]
    if scene.when is None:
        raise BandbridgeError(f"--earlier {item}: a time series, but the scene states no date; name the step "
                              "(cube.nc@DATE) or give a scene that states its date")
    ref = parse_ref(item)
    before = sorted((s for s in steps if s[1] < scene.when and s[2] >= 0.5), key=lambda s: s[1], reverse=True)
    if not before:
        raise BandbridgeError(f"--earlier {item}: no step before the scene's {scene.when} is half clear; give "
                              "an earlier clear scene")
    return [str(replace(ref, date=lab)) for lab, _, _ in before[:most]]


def sar_step(when: date | None, item: str) -> str:
    """``item`` at the step nearest ``when`` (the optical date it stands beside) when it is a SAR
    time-series cube without ``@DATE``; any other item is itself."""
    steps = _steps(item, ["vv", "vh"], "--sar", "give a Sentinel-1 GRD cube with both polarisations")
    if steps is None or when is None:
        return item
    lab = min((s for s in steps if s[2] > 0.5), key=lambda s: abs((s[1] - when).days), default=steps[0])[0]
    return str(replace(parse_ref(item), date=lab))


def sar_kind(values: np.ndarray, dtype: str) -> str:
    """How a SAR file stores backscatter (``bands.py``'s forms): ``dn`` (uint16, dB = 20·log10(DN) − 83,
    openEO-gfmap), ``power`` (linear: its values' median positive) or ``db``."""
    return "dn" if dtype == "uint16" else "power" if np.isfinite(values).any() and np.nanmedian(values) > 0 else \
        "db"  # all NaN: no median


def to_db(values: np.ndarray, dtype: str, kind: str | None = None) -> np.ndarray:
    """SAR backscatter in dB from its stored form ``kind`` (:func:`sar_kind`; None: told by these values);
    a value the form has no dB for (DN or power ≤ 0) NaN."""
    kind = kind or sar_kind(values, dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind != "db":
            return ((20 if kind == "dn" else 10) * np.log10(np.where(values > 0, values, np.nan))
                    - (83 if kind == "dn" else 0)).astype(np.float32)
    return values.astype(np.float32)


def sar_on(scene: Layer, item: str, flag: str) -> tuple[np.ndarray, date | None]:
    """VV and VH of ``item`` in dB on the scene's grid ``(2, H, W)`` and its date (a time-series
    cube without ``@DATE``: its step nearest the scene); refused without those bands or without
    overlap."""
    s = read_layer(item, flag)
    v = to_db(s.values[vv_vh(s.names, f"{flag} {item}")], s.dtype)
    if not np.isfinite(v).all(0).any():
        raise BandbridgeError(f"{flag} {item}: holds no value in VV and VH together (every pixel nodata, NaN or "
                              "zero backscatter); give a Sentinel-1 file that holds data")
    out = onto(v, s.grid, scene.grid, what=f"{flag} {item}")
    if scene.valid.any() and not np.isfinite(out).all(0)[scene.valid].any():
        raise not_covering(f"{flag} {item}", s.grid, scene.grid, scene.path, "give the SAR of the same place")
    return out, s.when
