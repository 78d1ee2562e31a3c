"""`bandbridge timeseries`: synthetic-NIR NDVI through time for a dated stack of rasters, next to
the real NDVI where the files hold a real NIR band. Writes a CSV and a PNG."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from bandbridge.bands import find_role, get_scaling, ndvi
from bandbridge.data.formats import open_raster
from bandbridge.data.reader import read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.data.reads import check_output_file
from bandbridge.fileio import atomic_paths, atomic_write_bytes
from bandbridge.inference.runtime.select import make_backend
from bandbridge.bands import same_family
from bandbridge.inference.core.interpret import Overrides, interpret
from bandbridge.inference.core.look import look_at
from bandbridge.inference.core.predictor import PredictOptions, predict_file
from bandbridge.inference.core.route import route_model
from bandbridge.progress import Progress, steps
from bandbridge.spec import read_spec

_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(\d{2})-?(\d{2})(?!\d)")


def file_date(path: Path) -> date:
    """The acquisition date from the file's tags (TIFFTAG_DATETIME, ACQUISITION_DATE) or name."""
    texts = []
    try:
        with open_raster(path) as src:
            tags = src.tags()
            texts += [tags.get(k, "") for k in ("ACQUISITION_DATE", "DATE_ACQUIRED", "TIFFTAG_DATETIME")]
    except BandbridgeError:
        pass
    texts.append(path.stem)
    for t in texts:
        m = _DATE.search(t.replace(":", "-"))
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                continue
    raise BandbridgeError(f"{path}: no date in its tags or name (expected e.g. 20200831 or 2020-08-31)")


@dataclass
class Region:
    """Where to average: a bbox (xmin, ymin, xmax, ymax) and/or a GeoJSON geometry, in the files'
    CRS (or WGS84 lon/lat when ``wgs84``)."""

    bbox: tuple[float, float, float, float] | None = None
    geometry: dict | None = None
    wgs84: bool = False

    def mask(self, crs, transform, shape) -> np.ndarray:
        """Bool ``(H, W)``: True inside the region."""
        inside = np.ones(shape, bool)
        geoms = []
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            geoms.append({"type": "Polygon", "coordinates": [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]})
        if self.geometry is not None:
            geoms.append(self.geometry)
        for g in geoms:
            if self.wgs84 and crs is not None:
                g = transform_geom("EPSG:4326", crs, g)
            inside &= geometry_mask([g], out_shape=shape, transform=transform, invert=True)
        return inside


def ndvi_timeseries(model: str, files: list[Path], out_dir: str | Path, region: Region | None = None,
                    ov: Overrides = Overrides(), overwrite: bool = False,
                    notes: Callable[[str], None] | None = None,
                    progress: Progress | None = None) -> list[dict]:
    """Mean NDVI per date (synthetic, and real where the file has NIR); every file's reading is
    decided (and ``notes`` told) before any prediction; ``progress`` counts the dates done."""
    out = Path(out_dir)
    csv_path, png_path = out / "ndvi_timeseries.csv", out / "ndvi_timeseries.png"
    for p in (csv_path, png_path):
        check_output_file(p, files, overwrite)
    plans = [_plan(f, model, ov, notes) for f in sorted(files, key=file_date)]
    backends: dict = {}
    rows = []
    dated = steps(progress, f"predicting {len(plans)} dates", len(plans))
    for f, spec, reading, red_i, look in plans:
        be = backends.setdefault(spec.folder, make_backend(spec))
        with tempfile.TemporaryDirectory() as d:
            predict_file(be, spec, f, Path(d) / "nir.tif", reading.apply(PredictOptions(dtype="float32")))
            with open_raster(Path(d) / "nir.tif") as src:
                nir = src.read(1)
        scaling = get_scaling(reading.scaling, reading.vmin, reading.vmax)
        x = read_raster(f, scaling, reading.bands)
        m = x.mask & np.isfinite(nir)
        if region is not None:
            if x.transform is None:
                raise BandbridgeError(f"{f}: not georeferenced; a bbox or polygon needs coordinates")
            m &= region.mask(x.crs, x.transform, m.shape)
        if not m.any():
            raise BandbridgeError(f"{f}: no valid pixels inside the region")
        red = x.data[red_i]
        row = {"date": file_date(f).isoformat(), "file": str(f), "pixels": int(m.sum()),
               "ndvi_synthetic": float(ndvi(red, nir)[m].mean()), "ndvi_real": float("nan")}
        if "nir" in look.roles and same_family(reading.scaling, spec.target.scaling):
            real = read_raster(f, scaling, [look.roles.index("nir")])  # the file's own NIR band
            mr = m & real.mask
            row["ndvi_real"] = float(ndvi(red, real.data[0])[mr].mean())
        rows.append(row)
        dated()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(csv_path, buf.getvalue().encode())
    with atomic_paths([png_path]) as (tmp,):
        plot(rows, tmp, ", ".join(sorted({s.name for _, s, *_ in plans})))
    return rows


def _plan(f: Path, model: str, ov: Overrides, notes: Callable[[str], None] | None) -> tuple:
    """``(f, spec, reading, red index, look)``: the model routed for ``f`` and its reading decided
    (``notes`` told them); refused when the model makes no single NIR band or ``f`` has no red."""
    look = look_at(f, ov.band_names)
    folder, route_note = route_model(model, f, ov, look)
    spec = read_spec(folder)
    if len(spec.target_names) != 1 or find_role(spec.target_names, "nir") is None:
        raise BandbridgeError(f"timeseries needs a model that synthesizes one NIR band; "
                              f"{spec.name} makes {', '.join(spec.target_names)}")
    reading = interpret(f, spec, ov, look)
    red_i = find_role(reading.names, "red")
    if red_i is None:
        raise BandbridgeError(f"{f}: no red band among the input bands {reading.names}; name "
                              "them with --band-names")
    if notes:
        notes("; ".join(n for n in (route_note, reading.note) if n))
    return f, spec, reading, red_i, look


def plot(rows: list[dict], path: Path, model: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dates = [date.fromisoformat(r["date"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.plot(dates, [r["ndvi_synthetic"] for r in rows], "o-", label=f"synthetic NIR ({model})")
    real = [r["ndvi_real"] for r in rows]
    if any(np.isfinite(real)):
        ax.plot(dates, real, "s--", label="real NIR")
    ax.set_ylabel("mean NDVI")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
