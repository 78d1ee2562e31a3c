"""`bandbridge demo`: a Gradio page around the same predictor the CLI uses.

Upload a PNG, JPEG or GeoTIFF (size-limited), choose a model, and get the synthetic band as an
image, an NDVI colour map for NIR models, and the GeoTIFF to download (georeference kept).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bandbridge.bands import is_single_nir
from bandbridge.data.reader import raster_info
from bandbridge.errors import BandbridgeError
from bandbridge.inference.backends import make_backend
from bandbridge.inference.interpret import interpret
from bandbridge.inference.route import ZOO_ROUTES, route_model
from bandbridge.inference.predictor import PredictOptions, predict_file
from bandbridge.inference.spec import ModelSpec, read_spec, resolve_model_folder, zoo_models

MAX_MB = 40
MAX_MPIX = 16
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "nir_naip_opengeos"


def _preview(band: np.ndarray) -> np.ndarray:
    """A band in [0, 1] (NaN = nodata) → 8-bit gray RGB with a 1–99 % stretch."""
    v = band[np.isfinite(band)]
    lo, hi = (np.percentile(v, (1, 99)) if v.size else (0.0, 1.0))
    g = np.clip((np.nan_to_num(band, nan=lo) - lo) / max(hi - lo, 1e-6), 0, 1)
    return (np.stack([g] * 3, -1) * 255).astype(np.uint8)


def _colour_ndvi(nd: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps
    rgba = colormaps["RdYlGn"]((np.nan_to_num(nd, nan=0.0) + 1) / 2)
    rgba[~np.isfinite(nd)] = (0.8, 0.8, 0.8, 1)
    return (rgba[..., :3] * 255).astype(np.uint8)


class Translator:
    """Backends cached per model, so a second upload does not reload weights."""

    def __init__(self, models: dict[str, Path]):
        self.models, self.cache = models, {}

    def spec_backend(self, name: str, path: Path | None = None):
        """(spec, backend, note) of a model; a routed name (``rgb2nir``) picks its model for the
        uploaded file."""
        if name not in self.models:
            raise BandbridgeError(f"unknown model '{name}'")
        folder, note = self.models[name], None
        if name in ZOO_ROUTES and path is not None:
            folder, note = route_model(name, path)
        if folder not in self.cache:
            spec = read_spec(folder)
            self.cache[folder] = (spec, make_backend(spec))
        return (*self.cache[folder], note)

    def __call__(self, upload: str | None, name: str):
        if not upload:
            raise BandbridgeError("upload a PNG, JPEG or GeoTIFF first")
        path = Path(upload)
        mb = path.stat().st_size / 1e6
        if mb > MAX_MB:
            raise BandbridgeError(f"{path.name} is {mb:.0f} MB; the demo takes files up to {MAX_MB} MB "
                                  "(use `bandbridge predict` for large rasters)")
        info = raster_info(path)  # raises a clear message for files that are not rasters
        if info.height * info.width > MAX_MPIX * 1e6:
            raise BandbridgeError(f"{path.name} has {info.height}×{info.width} pixels; the demo takes "
                                  f"up to {MAX_MPIX} MPix (use `bandbridge predict`)")
        spec, be, route_note = self.spec_backend(name, path)
        out = Path(tempfile.mkdtemp(prefix="bandbridge-demo-")) / f"{path.stem}_{name}.tif"
        reading = interpret(path, spec)
        opts = reading.apply(PredictOptions(dtype="float32"))
        is_nir = is_single_nir(spec.target_names)
        if is_nir:
            opts.indices = ("ndvi",)
        predict_file(be, spec, path, out, opts)
        import rasterio
        with rasterio.open(out) as f:
            pred = f.read()
        img = (np.clip(np.nan_to_num(pred[:3]), 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8) \
            if pred.shape[0] >= 3 else _preview(pred[0])
        ndvi_img = None
        if is_nir:
            with rasterio.open(out.with_name(f"{out.stem}_ndvi.tif")) as f:
                ndvi_img = _colour_ndvi(f.read(1))
        status = (f"**{name}**: {info.height}×{info.width} px → {', '.join(spec.target_names)}"
                  f" ({be.name} {be.precision}). The GeoTIFF keeps the input's georeference."
                  + (f" {route_note}." if route_note else ""))
        return img, ndvi_img, str(out), status


def build_app(models: dict[str, Path] | None = None):
    import os
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    import gradio as gr
    models = models or zoo_models()
    if not models:
        raise BandbridgeError("no models to serve: bundle some (scripts/bundle_models.py) or pass --model")
    run = Translator(models)
    names = list(models)
    default = "rgb2nir-naip" if "rgb2nir-naip" in names else names[0]

    def handle(upload, name):
        try:
            return run(upload, name)
        except BandbridgeError as e:
            raise gr.Error(str(e)) from None

    with gr.Blocks(title="bandbridge") as app:
        gr.Markdown("# bandbridge\nSynthesize a missing band from the bands you have: NIR from RGB, "
                    "optical from SAR, thermal from RGB, ×4 super-resolution. Upload a PNG, JPEG or "
                    f"GeoTIFF (up to {MAX_MB} MB, {MAX_MPIX} MPix).")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="image", file_types=[".png", ".jpg", ".jpeg", ".tif", ".tiff"],
                                 type="filepath", elem_id="upload")
                model = gr.Dropdown(names, value=default, label="model", elem_id="model")
                go = gr.Button("Translate", variant="primary", elem_id="run")
                status = gr.Markdown(elem_id="status")
            with gr.Column():
                band = gr.Image(label="synthetic band", type="numpy", elem_id="result")
                ndvi = gr.Image(label="NDVI (NIR models; red −1 … green +1)", type="numpy", elem_id="ndvi")
                download = gr.File(label="GeoTIFF", elem_id="download")
        samples = sorted(SAMPLE.glob("*.tif"))
        if samples:
            gr.Examples([[str(samples[-1]), default]], inputs=[upload, model])
        go.click(handle, [upload, model], [band, ndvi, download, status])
    return app


def serve(models: list[str] | None, host: str = "127.0.0.1", port: int = 7860) -> None:
    folders = [resolve_model_folder(m) for m in models or []]
    chosen = {(m if not Path(m).exists() else read_spec(f).config.name): f
              for m, f in zip(models or [], folders)} or None
    build_app(chosen).launch(server_name=host, server_port=port, show_error=True)
