"""Can a reference's values tell a temperature in kelvin from a reflective band (issue 77: "a
reference whose values cannot be the band — another physical quantity — must be refused")?

Measured on real references in ``../shared/data``, each read in its physical units where the product
states them and as stored otherwise (the check sees ``stored × scale + offset``, GDAL's tags):

- NIR, reflective: Sentinel-2 L2A/L1C ×10000 (Major-TOM, rio-tiler-pds 100 m, wildfire 20 m as float),
  ARCSI surface reflectance ×1000 (rsgislib Tanzania, dense vegetation: NIR 250–400 stored, the
  numbers of a temperature), NAIP and GeoEye-1 8-bit DN, IKONOS/WorldView-2 11-bit DN, CBERS 8-bit DN,
  MODIS NBAR ×10000, Landsat-8 L1 B5 DN (offset: reflectance = DN·2e-5 − 0.1) and its TOA reflectance
  by the MTL; every one of them also at reflectance ×1000 and 0–1 where it is reflectance;
- thermal: Landsat-8 B10 and B11 converted to brightness temperature in K by the MTL
  (``multisensor_riotilerpds/landsat8_l1tp_016037_20170813``), clouds kept (a user's file holds them);
  the thermal sets here are 8-bit display images, not temperatures (their SOURCE.md says so).

For each, the whole scene and windows of n × n reference cells (n = 4, 8, 16, 32; every window of
the scene's grid on a stride of n, fill and nodata left out, windows at least 90 % clear): the 2nd,
50th and 98th percentiles and the relative spread ``(p98 − p2) / p50``. The rule the check applies
(``reference.looks_like_kelvin``: ``policy.KELVIN_RANGE``, ``policy.KELVIN_SPREAD``): a window's p2 and
p98 inside the range of Earth's surface temperatures in K, p98 above 8 bits (255) and a relative
spread below the bound; applied to values a file holds as physical ones (a float type or stated
scales, ``reference.check_quantity``), not to integer codes. The record gives, per source and
window size, how many windows the rule calls a temperature (``called_kelvin``: were the values
written as float) and, per kind, how many are refused as the product stores them.

``python benchmarks/reference_quantity.py [--data ../shared/data] [--out docs/results/reference_quantity.json]``
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import numpy as np
import rasterio

L8 = "multisensor_riotilerpds/landsat8_l1tp_016037_20170813/LC08_L1TP_016037_20170813_20170814_01_RT"
SIDES = (4, 8, 16, 32)


def mtl(data: Path) -> dict[str, float]:
    out = {}
    for line in (data / f"{L8}_MTL.txt").read_text().splitlines():
        if "=" in line:
            k, v = (x.strip() for x in line.split("=", 1))
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def band(path: Path, index: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Band ``index`` of ``path`` as float64 and its valid cells (not nodata, not 0 in an integer
    product, finite)."""
    with rasterio.open(path) as s:
        v = s.read(index).astype(np.float64)
        ok = np.isfinite(v)
        if s.nodata is not None:
            ok &= v != s.nodata
        if np.dtype(s.dtypes[index - 1]).kind in "ui":
            ok &= v != 0
    return v, ok


def sources(data: Path) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(name, kind, physical values, valid)`` of every reference measured."""
    m = mtl(data)
    out = []

    def add(name, kind, path, index=1, scale=1.0, offset=0.0):
        if not Path(path).exists():
            print(f"skipped (absent): {path}", file=sys.stderr)
            return
        v, ok = band(Path(path), index)
        out.append((name, kind, v * scale + offset, ok))
    for b in (10, 11):  # brightness temperature in K (USGS: L = ML·Q + AL; T = K2 / ln(K1 / L + 1))
        v, ok = band(data / f"{L8}_B{b}.TIF")
        rad = v * m[f"RADIANCE_MULT_BAND_{b}"] + m[f"RADIANCE_ADD_BAND_{b}"]
        k = m[f"K2_CONSTANT_BAND_{b}"] / np.log(m[f"K1_CONSTANT_BAND_{b}"] / np.maximum(rad, 1e-6) + 1)
        out.append((f"landsat8 B{b} brightness temperature (K)", "thermal", k, ok))
    refl = []  # (name, path, index, scale to reflectance)
    refl.append(("sentinel-2 L2A majortom B08", data / "nir_s2_majortom/B08.tif", 1, 1e-4))
    refl.append(("sentinel-2 L2A riotilerpds 100 m B08",
                 data / "nir_s2_riotilerpds/S2A_29RKH_20200219_L2A_100m/B08.tif", 1, 1e-4))
    for f in sorted(glob.glob(str(data / "nir_s2_rsgislib_wales_tanzania/tanzania_T37MEM_20m/*.tif")))[::5]:
        refl.append((f"ARCSI SR x1000 tanzania {Path(f).stem[5:13]}", f, 4, 1e-3))
    for f in sorted(glob.glob(str(data / "nir_s2_rsgislib_wales_tanzania/wales*.tif"))):
        refl.append(("ARCSI SR x1000 wales", f, 4, 1e-3))
    for f in sorted(glob.glob(str(data / "wildfire_s2_20m/pre_fire/*.tif")))[:4]:
        refl.append((f"sentinel-2 20 m float {Path(f).stem}", f, 4, 1e-4))
    refl.append(("modis MCD43A4 B02 x10000", next(iter(glob.glob(str(data / "multisensor_riotilerpds/modis*/*_B02.TIF"))), ""), 1, 1e-4))
    refl.append(("landsat8 L1 B5 TOA (MTL)", data / f"{L8}_B5.TIF", 1, None))
    for name, path, idx, sc in refl:
        if not path or not Path(path).exists():
            continue
        v, ok = band(Path(path), idx)
        if sc is None:  # Landsat L1: reflectance = DN·M + A (the MTL's)
            r = v * m["REFLECTANCE_MULT_BAND_5"] + m["REFLECTANCE_ADD_BAND_5"]
            out.append(("landsat8 L1 B5 DN (offset 5000)", "nir DN", v, ok))
        else:
            r = v * sc
            out.append((f"{name} (as stored)", "nir DN", v, ok))
        out.append((f"{name} as reflectance 0-1", "nir reflectance", r, ok))
        out.append((f"{name} as reflectance x1000", "nir x1000", r * 1000, ok))
    for f in sorted(glob.glob(str(data / "nir_naip_opengeos/*.tif")))[::3] + sorted(glob.glob(str(data / "naip_stactools/*.tif"))):
        add(f"NAIP 8-bit {Path(f).stem[:40]}", "nir DN", f, 4)
    for f in ("GeoEye1_ms", "IKONOS_ms", "WorldView2_ms"):
        add(f"{f} DN", "nir DN", data / "nir_vhr_pansharp" / f"{f}.tif", 4)
    for f in sorted(glob.glob(str(data / "multisensor_riotilerpds/CBERS_4*_MUX_*/*BAND8.tif"))):
        add(f"CBERS MUX 8-bit {Path(f).stem[:25]}", "nir DN", f, 1)
    return out


def physical(name: str, kind: str) -> bool:
    """Whether the check judges this source as it would be stored: a float type (temperatures, 0–1
    reflectance, the wildfire set's float DN) or stated scales; a ×1000 reflectance and the DN
    products are integer codes (``reference.check_quantity``: not judged)."""
    return kind in ("thermal", "nir reflectance") or "20 m float" in name and "(as stored)" in name


def windows(v: np.ndarray, ok: np.ndarray, n: int) -> np.ndarray:
    """``(windows, n·n)``: every n × n window on a stride of n that is at least 90 % clear, its
    cells not clear as NaN."""
    h, w = (v.shape[0] // n) * n, (v.shape[1] // n) * n
    cut = lambda a: a[:h, :w].reshape(h // n, n, w // n, n).swapaxes(1, 2).reshape(-1, n * n)  # noqa: E731
    vals, keep = cut(np.where(ok, v, np.nan)), cut(ok)
    return vals[keep.mean(1) >= 0.9]


def stats(x: np.ndarray) -> np.ndarray:
    """``(…, 4)``: p2, p50, p98 and the relative spread ``(p98 − p2) / p50`` along the last axis (NaN left out)."""
    p2, p50, p98 = np.nanpercentile(x, [2, 50, 98], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([p2, p50, p98, np.where(p50 > 0, (p98 - p2) / p50, np.inf)], -1)


def main() -> None:
    from bandbridge.data.reference import looks_like_kelvin
    from bandbridge.policy import KELVIN_RANGE, KELVIN_SPREAD
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rows = []
    lo, hi = KELVIN_RANGE
    for name, kind, v, ok in sources(Path(a.data)):
        row = {"source": name, "kind": kind, "physical": physical(name, kind), "whole": dict(zip(("p2", "p50", "p98", "spread"),
                                                               (round(float(x), 4) for x in stats(v[ok]))))}
        row["whole"]["kelvin"] = looks_like_kelvin(v[ok])
        for n in SIDES:
            ws = windows(v, ok, n)
            if not len(ws):
                continue
            st = stats(ws)
            inside = (st[:, 0] >= lo) & (st[:, 2] <= hi)
            flagged = inside & (st[:, 2] > 255) & (st[:, 2] - st[:, 0] < KELVIN_SPREAD * st[:, 1])  # looks_like_kelvin
            row[f"{n}x{n}"] = {"windows": len(ws), "in_kelvin_range": int(inside.sum()),
                               "spread_min_in_range": round(float(st[inside, 3].min()), 4) if inside.any() else None,
                               "spread_p50": round(float(np.median(st[:, 3])), 4),
                               "spread_max": round(float(st[:, 3].max()), 4), "called_kelvin": int(flagged.sum())}
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = [f"{n}x{n}" for n in SIDES]
    summary = {}
    for kind in sorted({r["kind"] for r in rows}):
        of = [r for r in rows if r["kind"] == kind]
        summary[kind] = {"sources": len(of), "whole_called_kelvin": sum(bool(r["whole"]["kelvin"]) for r in of)}
        for k in keys:
            summary[kind][k] = {"windows": sum(r[k]["windows"] for r in of if k in r),
                                "called_kelvin_if_float": sum(r[k]["called_kelvin"] for r in of if k in r),
                                "refused_as_stored": sum(r[k]["called_kelvin"] for r in of if k in r and r["physical"])}
    record = {"rule": {"KELVIN_RANGE": KELVIN_RANGE, "KELVIN_SPREAD": KELVIN_SPREAD},
              "summary": summary, "sources": rows,
              "command": "python benchmarks/reference_quantity.py " + " ".join(sys.argv[1:])}
    print(json.dumps(summary, indent=2))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
