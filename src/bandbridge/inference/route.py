"""One name, several models: a bundled name like ``rgb2nir`` picks the model that fits the
kind of RGB a user holds — 8-bit imagery (NAIP, PNG/JPEG, true-colour products) or reflectance
(Sentinel-2 L1C/L2A, Landsat) — from the file's data type and a decimated look at its values."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bandbridge.bands import Scaling
from bandbridge.data.reader import raster_info, read_decimated
from bandbridge.errors import BandbridgeError
from bandbridge.inference.spec import resolve_model_folder

# name → {kind of input: bundled model}
ZOO_ROUTES: dict[str, dict[str, str]] = {"rgb2nir": {"8bit": "rgb2nir-naip", "reflectance": "rgb2nir-s2"}}
_RAW = Scaling("raw", 0.0, 1.0, units="stored values")


def input_kind(path: str | Path, bands=None) -> tuple[str, str | None, str]:
    """``(kind, scaling, reason)``: kind '8bit' or 'reflectance'; the input scaling that reads
    the file's values as the chosen model expects (None: the model's own)."""
    info = raster_info(path, bands=bands)
    if info.dtype == "uint8":
        return "8bit", None, "uint8 values"
    view = read_decimated(path, _RAW, bands, max_side=512)
    v = view.data[:, view.mask]
    if v.size == 0:
        raise BandbridgeError(f"{path}: no valid pixels to decide what the values are")
    p99 = float(np.percentile(v, 99))
    if info.dtype.startswith(("uint16", "int16", "int32", "uint32")):
        if p99 <= 15000:
            return "reflectance", "reflectance_10000", f"{info.dtype}, 99th percentile {p99:.0f}: reflectance × 10000"
        raise BandbridgeError(f"{path}: {info.dtype} values up to {p99:.0f} (99th percentile) are not "
                              "reflectance × 10000; pass --scaling (e.g. uint16) and a model by name")
    if p99 <= 1.5:
        return "reflectance", "reflectance", f"{info.dtype}, 99th percentile {p99:.3f}: reflectance"
    if p99 <= 255.5:
        return "8bit", None, f"{info.dtype}, 99th percentile {p99:.1f}: 8-bit values"
    raise BandbridgeError(f"{path}: {info.dtype} values up to {p99:g} are neither reflectance nor "
                          "8-bit; pass --scaling and a model by name")


def route_model(model: str, src: str | Path, bands=None) -> tuple[Path, str | None, str | None]:
    """``(model folder, input scaling or None, note)``: a routed name picks its model for ``src``;
    any other model resolves as usual (no note)."""
    if model not in ZOO_ROUTES or Path(model).exists():
        return resolve_model_folder(model), None, None
    kind, scaling, why = input_kind(src, bands)
    name = ZOO_ROUTES[model][kind]
    return resolve_model_folder(name), scaling, f"{model} → {name} ({Path(str(src)).name}: {why})"
