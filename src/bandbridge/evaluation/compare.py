"""`bandbridge compare`: predict a raster that also holds the real target bands, and show how
close the synthetic band is: RGB+synthetic GeoTIFF, index rasters, a comparison PNG, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bandbridge.bands import find_role, get_scaling, is_single_nir, ndvi
from bandbridge.data.reader import read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.inference.backends import make_backend
from bandbridge.inference.predictor import PredictOptions, predict_file
from bandbridge.inference.spec import read_spec, resolve_model_folder
from bandbridge.inference.writer import decode
from bandbridge.metrics import image_metrics, index_metrics


def compare(model: str, src: str | Path, out_dir: str | Path) -> dict:
    spec = read_spec(resolve_model_folder(model))
    src, out = Path(src), Path(out_dir)
    t = spec.target
    is_nir = is_single_nir(spec.target_names)
    if spec.scale != 1:
        raise BandbridgeError("compare works for translation models (same grid in and out)")
    try:
        truth = read_raster(src, get_scaling(t.scaling, t.vmin, t.vmax), t.bands,
                            band_names=t.band_names, sensor=t.sensor)
    except BandbridgeError as e:
        raise BandbridgeError(f"{e} — compare needs a file that also holds the real target bands") from None
    be = make_backend(spec)
    stem = src.stem
    rgbn = out / f"{stem}_with_synthetic.tif"
    predict_file(be, spec, src, rgbn, PredictOptions(append=True, indices=("ndvi",) if is_nir else (),
                                                     dtype="auto"))
    import rasterio
    with rasterio.open(rgbn) as f:  # the synthetic bands as written (what a user gets)
        synth = f.read(list(range(f.count - spec.out_channels + 1, f.count + 1)))
        pred = decode(synth, f.dtypes[0])
    i = spec.input
    x = read_raster(src, get_scaling(i.scaling, i.vmin, i.vmax), i.bands, band_names=i.band_names,
                    sensor=i.sensor)
    m = torch.from_numpy(truth.mask & x.mask)
    scale, offset, units = get_scaling(t.scaling, t.vmin, t.vmax).physical
    p, y = torch.from_numpy(np.nan_to_num(pred)), torch.from_numpy(truth.data)
    metrics = image_metrics(p * scale + offset, y * scale + offset, m, scale)
    if is_nir:
        metrics.update(index_metrics(torch.from_numpy(x.data), spec.input_names, y[0], p[0], m))
    png = out / f"{stem}_comparison.png"
    plot(x.data, truth.data, np.nan_to_num(pred), m.numpy(), spec.input_names, is_nir, png)
    files = [rgbn, png] + ([out / f"{stem}_with_synthetic_ndvi.tif"] if is_nir else [])
    return {"metrics": metrics, "units": units, "data_range": scale, "files": [str(f) for f in files],
            "backend": f"{be.name} {be.precision}"}


def plot(x, truth, pred, mask, in_names, is_nir, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rgb = [find_role(in_names, r) for r in ("red", "green", "blue")]
    img = x[rgb].transpose(1, 2, 0) if None not in rgb else x[0]
    lo, hi = np.percentile(img, (1, 99))
    panels = [(np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1), "input (RGB)", None, None, None),
              (truth[0], "real", "gray", 0, 1), (pred[0], "synthetic", "gray", 0, 1)]
    if is_nir and rgb[0] is not None:
        r = x[rgb[0]]
        panels += [(np.where(mask, ndvi(r, truth[0]), np.nan), "NDVI real", "RdYlGn", -1, 1),
                   (np.where(mask, ndvi(r, pred[0]), np.nan), "NDVI synthetic", "RdYlGn", -1, 1)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.6))
    for ax, (a, title, cmap, vmin, vmax) in zip(axes, panels):
        im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    if is_nir:
        fig.colorbar(im, ax=axes[-2:].tolist(), fraction=0.046, label="NDVI (shared scale)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
