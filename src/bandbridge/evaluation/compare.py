"""`bandbridge compare`: predict a raster whose real target is known — bands of the same file, or
a second file on the same grid (SAR and optical, RGB and thermal come as two files) — and show how
close the synthetic band is: the synthetic GeoTIFF (beside the input's bands when they share the
file), index rasters, a comparison PNG, metrics; realism beside error for image-like targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bandbridge.bands import band_role, find_role, get_scaling, is_single_nir, judged_by_realism, ndvi
from bandbridge.data.formats import open_raster
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.select import make_backend
from bandbridge.inference.core.predictor import PredictOptions, predict_file
from bandbridge.data.reads import check_output_file
from bandbridge.fileio import atomic_paths
from bandbridge.bands import same_family
from bandbridge.inference.core.interpret import Overrides, interpret
from bandbridge.inference.core.look import look_at
from bandbridge.inference.core.route import route_model
from bandbridge.spec import read_spec
from bandbridge.inference.core.writer import check_creation_options, decode, resolve_dtype
from bandbridge.metrics import band_metrics
from bandbridge.realism import image_scores


def compare(model: str, src: str | Path, out_dir: str | Path, ov: Overrides = Overrides(),
            overwrite: bool = False, creation: dict[str, str] | None = None,
            target: str | Path | None = None) -> dict:
    """Predict ``src`` into ``out_dir`` and score it against the real target bands it holds, or
    those of ``target`` (a second file on the same pixel grid); ``creation``: GDAL creation
    options (``-co``) of the GeoTIFFs written."""
    src, out = Path(src), Path(out_dir)
    held = Path(target) if target is not None else src  # the file holding the real target
    look = look_at(src, ov.band_names)
    folder, route_note = route_model(model, src, ov, look)
    spec = read_spec(folder)
    if spec.scale != 1:
        raise BandbridgeError(f"compare works for translation models (same grid in and out); "
                              f"{spec.name} enlarges ×{spec.scale}")
    reading = interpret(src, spec, ov, look)
    is_nir = is_single_nir(spec.target_names)
    stem = src.stem
    rgbn = out / (f"{stem}_with_synthetic.tif" if target is None else f"{stem}_synthetic.tif")
    png = out / f"{stem}_comparison.png"
    files = [rgbn, png] + ([out / f"{stem}_with_synthetic_ndvi.tif"] if is_nir else [])
    for f in files:
        check_output_file(f, [src], overwrite)
    check_creation_options(creation or {}, False, {resolve_dtype("auto", spec.target), "float32"})
    truth, tscale = _read_truth(src, held, target is not None, look, spec, reading)
    be = make_backend(spec)
    opts = reading.apply(PredictOptions(append=target is None, indices=("ndvi",) if is_nir else (), dtype="auto",
                                        creation=creation or {}))
    predict_file(be, spec, src, rgbn, opts)
    with open_raster(rgbn) as f:  # the synthetic bands as written (what a user gets)
        synth = f.read(list(range(f.count - spec.out_channels + 1, f.count + 1)))
        pred = decode(synth, f.dtypes[0])
    x = read_raster(src, get_scaling(reading.scaling, reading.vmin, reading.vmax), reading.bands)
    m = torch.from_numpy(truth.mask & x.mask)
    scale, offset, units = tscale.physical
    p, y = torch.from_numpy(np.nan_to_num(pred)), torch.from_numpy(truth.data)

    image_like = judged_by_realism(spec.input_names, spec.target_names)

    def score(q: torch.Tensor) -> dict[str, float]:
        out = band_metrics(q, y, m, scale, offset, torch.from_numpy(x.data) if is_nir else None,
                           reading.names)
        return out | (image_scores(q, y, m) if image_like else {})  # realism beside error

    metrics = score(p)
    lin = spec.linear_baseline(x.data)  # the linear fit on the model's own training data
    baseline = None if lin is None else score(torch.from_numpy(lin))
    tphys = get_scaling(spec.target.scaling, spec.target.vmin, spec.target.vmax).physical[:2]  # the model's target values
    to_units = lambda a, sc=tphys: a * sc[0] + sc[1]  # noqa: E731 (model values → units)
    with atomic_paths([png]) as (tmp,):
        plot(x.data, truth.data * scale + offset, to_units(np.nan_to_num(pred)), m.numpy(),
             reading.names, is_nir, tmp, None if lin is None else to_units(lin), units,
             ndvi_of=(truth.data, np.nan_to_num(pred), lin))
    return {"metrics": metrics, "baseline_metrics": baseline, "units": units, "data_range": scale,
            "files": [str(f) for f in files], "backend": f"{be.name} {be.precision}",
            "baseline_fitted_on": (spec.baseline or {}).get("fitted_on"),
            "route": "; ".join(n for n in (route_note, reading.note) if n)}


def _read_truth(src: Path, held: Path, second: bool, look, spec, reading):
    """The real target bands of ``held`` (``src`` itself, or a ``second`` file) in the model's
    target scaling (the input's own reading when of the same family), and that scaling: found by
    role; refused in one line when absent or off the input's grid (before any file is written)."""
    t = spec.target
    troles = [band_role(b) for b in spec.target_names]
    tlook = look_at(held) if second else look
    tbands = [tlook.roles.index(r) if r in tlook.roles else None for r in troles]
    if second and None in tbands and len(tlook.roles) == len(troles):
        check_stated_roles(held, tlook, troles, spec.name)
        tbands = list(range(len(troles)))  # a target file of just the model's bands, in its order
    if None in tbands and "other" not in troles:
        where = (f"{src}: compare needs a file that also holds the real target" if not second
                 else f"{held}: the target file must hold the real target")
        raise BandbridgeError(f"{where} band{'s' * (len(troles) > 1)} ({', '.join(troles)}); this file's "
                              f"bands are {', '.join(tlook.roles)}"
                              + (" (name them with --band-names)" if not second else ""))
    r = reading if same_family(t.scaling, spec.input.scaling) else t  # of one kind: the input's reading
    tscale = get_scaling(r.scaling, r.vmin, r.vmax)
    try:
        truth = read_raster(held, tscale, tbands) if None not in tbands else \
            read_raster(held, tscale, t.bands, band_names=t.band_names, sensor=t.sensor)
    except BandbridgeError as e:
        raise BandbridgeError(f"{e} — compare needs a file that also holds the real target bands "
                              f"({', '.join(spec.target_names)})") from None
    info = raster_info(src)
    if truth.data.shape[-2:] != (info.height, info.width):  # before any file is written
        raise BandbridgeError(f"{held}: {truth.data.shape[-1]}×{truth.data.shape[-2]} pixels, the input "
                              f"{src} {info.width}×{info.height}; compare needs the real target on "
                              "the input's grid (resample one onto the other first)")
    return truth, tscale


def check_stated_roles(held: Path, look, roles: list[str], model: str) -> None:
    """Refuse a target file whose bands are described as other bands than the model's output
    (``roles``): a band described as red is no real NIR to score against. Roles guessed from the
    band count or colour interpretation state nothing (an undescribed band is taken as given)."""
    if not look.how.startswith(("band descriptions", "band names")):
        return
    for i, (said, want) in enumerate(zip(look.roles, roles)):
        if "other" not in (said, want) and said != want:
            raise BandbridgeError(f"{held}: its band {i + 1} is described as {said}, but {model} makes "
                                  f"{want}; give the file holding the real {want} band (or correct its "
                                  "band description)")


def plot(x, truth, pred, mask, in_names, is_nir, path: Path, linear=None, units: str = "",
         ndvi_of=None) -> None:
    """Input RGB, then the real, synthetic (and the linear baseline's) target band in ``units``
    on one stretch (stretch.py: the real band's 2–98 % range, or the union with the synthetic's
    when they disagree) with a colour bar, and for NIR models the NDVI of each (from model values,
    ``ndvi_of``) on −1…+1."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bandbridge.stretch import shared_stretch
    rgb = [find_role(in_names, r) for r in ("red", "green", "blue")]
    img = x[rgb].transpose(1, 2, 0) if None not in rgb else x[0]
    lo, hi = np.percentile(img, (1, 99))
    valid = lambda a: np.where(mask, a, np.nan)  # noqa: E731
    shown = np.stack([valid(pred[0])] + ([valid(linear[0])] if linear is not None else []))
    st = shared_stretch(shown, valid(truth[0]), units)
    panels = [(np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1), "input (RGB)", None, None, None),
              (valid(truth[0]), "real", "gray", st.lo, st.hi),
              (valid(pred[0]), "synthetic (model)", "gray", st.lo, st.hi)]
    if linear is not None:
        panels.append((valid(linear[0]), "linear baseline", "gray", st.lo, st.hi))
    n_band = len(panels) - 1
    n_ndvi = 0
    if is_nir and rgb[0] is not None:
        r = x[rgb[0]]
        real, model, lin = ndvi_of
        bands = [(real[0], "NDVI real"), (model[0], "NDVI model")]
        bands += [(lin[0], "NDVI linear baseline")] if lin is not None else []
        panels += [(np.where(mask, ndvi(r, b), np.nan), t, "RdYlGn", -1, 1) for b, t in bands]
        n_ndvi = len(bands)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.8))
    ims = []
    for ax, (a, title, cmap, vmin, vmax) in zip(axes, panels):
        cm = None if cmap is None else plt.get_cmap(cmap).with_extremes(bad=(0.8, 0.8, 0.8))
        ims.append(ax.imshow(a, cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest"))
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.colorbar(ims[1], ax=axes[1:1 + n_band].tolist(), fraction=0.046, location="bottom",
                 label=f"{units} — {st.describe().split(':')[0]}")
    if n_ndvi:
        fig.colorbar(ims[-1], ax=axes[-n_ndvi:].tolist(), fraction=0.046, location="bottom",
                     label="NDVI (unitless, shared scale −1…+1)")
    fig.savefig(path, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
