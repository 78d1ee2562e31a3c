"""`bandbridge demo`: a Gradio page around the same predictor the CLI uses.

Upload a PNG, JPEG or GeoTIFF, choose a model, and see your image beside the synthetic band, an
NDVI colour map for NIR models, and the GeoTIFF to download (georeference kept). Every upload is
read by the same interpretation as ``bandbridge predict`` (band roles, scaling), so any RGB image
works with every model that takes RGB; what was assumed is shown under the result. Uploads are
limited before they are received (Gradio's ``max_file_size``), the pixel limit counts the output's
pixels (×scale² for super-resolution) and is checked from the header before anything is decoded
(the preview too), each request's files are deleted once Gradio has copied the results (and by a
timer and at shutdown, for API calls that never trigger that), and a mistake is one readable
message in the status line.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bandbridge.bands import find_role, get_scaling, is_single_nir
from bandbridge.data.reader import open_raster, raster_info, read_decimated
from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.select import make_backend
from bandbridge.inference.core.interpret import interpret, look_at
from bandbridge.inference.core.predictor import PredictOptions, predict_file
from bandbridge.inference.core.route import ZOO_ROUTES, route_model
from bandbridge.spec import read_spec, resolve_model_folder, zoo_models

MAX_MB = 40
MAX_MPIX = 16  # output pixels per request
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "nir_naip_opengeos"
TMP_PREFIX = "bandbridge-demo-"
SWEEP_EVERY_S = 300.0  # request folders older than this are removed by the timer


def check_upload(path: str | Path, scale: int = 1):
    """The upload's header, or one line refusing it: too many MB, or more than ``MAX_MPIX`` of
    output (×``scale``² for super-resolution). Nothing is decoded."""
    path = Path(path)
    mb = path.stat().st_size / 1e6
    if mb > MAX_MB:
        raise BandbridgeError(f"{path.name} is {mb:.0f} MB; the demo takes files up to {MAX_MB} MB "
                              "(use `bandbridge predict` for large rasters)")
    info = raster_info(path)  # a clear message for files that are not rasters
    check_pixels(path.name, info, scale)
    return info


def check_pixels(name: str, info, scale: int = 1) -> None:
    """Refuse more than ``MAX_MPIX`` of output (×``scale``² for super-resolution) from a header."""
    out_px = info.height * info.width * scale ** 2
    if out_px > MAX_MPIX * 1e6:
        raise BandbridgeError(
            f"{name} has {info.height}×{info.width} pixels" +
            (f", {out_px / 1e6:.0f} MPix at ×{scale}" if scale > 1 else "") +
            f"; the demo makes up to {MAX_MPIX} MPix (use `bandbridge predict`)")


def _stretch(a: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` values (NaN = nodata) → 8-bit ``(H, W, 3)`` with a 1–99 % stretch."""
    v = a[np.isfinite(a)]
    lo, hi = (np.percentile(v, (1, 99)) if v.size else (0.0, 1.0))
    g = np.clip((np.nan_to_num(a, nan=lo) - lo) / max(hi - lo, 1e-6), 0, 1)
    g = np.repeat(g, 3, 0) if g.shape[0] == 1 else g[:3]
    return (g.transpose(1, 2, 0) * 255).astype(np.uint8)


def _colour_ndvi(nd: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps
    rgba = colormaps["RdYlGn"]((np.nan_to_num(nd, nan=0.0) + 1) / 2)
    rgba[~np.isfinite(nd)] = (0.8, 0.8, 0.8, 1)
    return (rgba[..., :3] * 255).astype(np.uint8)


def input_preview(path: str | Path) -> np.ndarray:
    """What the user uploaded, as the page shows it: its red, green, blue bands (by the detected
    roles; gray otherwise), stretched, at most 1024 px a side. The pixel limit is checked first."""
    check_upload(path)
    look = look_at(path)
    rgb = [find_role(look.roles, r) for r in ("red", "green", "blue")]
    bands = rgb if None not in rgb else [next(i for i, r in enumerate(look.roles) if r != "alpha")]
    view = read_decimated(path, get_scaling(look.scaling), bands, max_side=1024)
    data = view.data.copy()
    data[:, ~view.mask] = np.nan
    return _stretch(data)


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

    def __call__(self, upload: str | None, name: str, workdir: Path | None = None):
        """``(input preview, result image, NDVI image or None, GeoTIFF path, status)`` for one
        upload; the files go to ``workdir`` (a fresh temporary folder by default)."""
        if not upload:
            raise BandbridgeError("upload a PNG, JPEG or GeoTIFF first")
        path = Path(upload)
        info = check_upload(path)
        spec, be, route_note = self.spec_backend(name, path)
        check_pixels(path.name, info, spec.scale)  # the header read above, now with the model's scale
        spec.check_size(path.name, info.height, info.width)
        reading = interpret(path, spec)
        is_nir = is_single_nir(spec.target_names)
        ndvi = is_nir and find_role(reading.names, "red") is not None
        opts = reading.apply(PredictOptions(dtype="float32", indices=("ndvi",) if ndvi else ()))
        out = Path(workdir or tempfile.mkdtemp(prefix=TMP_PREFIX)) / f"{path.stem}_{name}.tif"
        predict_file(be, spec, path, out, opts)
        with open_raster(out) as f:
            pred = f.read()
        img = (np.clip(np.nan_to_num(pred[:3]), 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8) \
            if pred.shape[0] >= 3 else _stretch(pred[:1])
        ndvi_img = None
        if ndvi:
            with open_raster(out.with_name(f"{out.stem}_ndvi.tif")) as f:
                ndvi_img = _colour_ndvi(f.read(1))
        status = (f"**{name}**: {path.name}, {info.height}×{info.width} px → "
                  f"{', '.join(spec.target_names)} ({be.name} {be.precision}). The GeoTIFF keeps the "
                  f"input's georeference. Assumed: " +
                  "; ".join(n for n in (route_note, reading.note) if n) + ".")
        return input_preview(path), img, ndvi_img, str(out), status


class Workdirs:
    """The request folders of one server: made per request, removed after the request, by a
    timer (folders older than ``max_age_s``: API calls never run the per-request clean-up) and
    all at :meth:`close` (shutdown)."""

    def __init__(self, max_age_s: float = SWEEP_EVERY_S):
        self.max_age_s, self.made = max_age_s, set()
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._timer: threading.Thread | None = None

    def make(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        with self._lock:
            self.made.add(d)
        return d

    def remove(self, workdir: str | Path | None) -> None:
        """Delete one request's folder (after Gradio has copied its results into its cache)."""
        if workdir and Path(workdir).name.startswith(TMP_PREFIX):
            shutil.rmtree(workdir, ignore_errors=True)
            with self._lock:
                self.made.discard(Path(workdir))

    def sweep(self) -> None:
        """Delete this server's folders older than ``max_age_s``, and any server's older than
        an hour (a server killed before its shutdown)."""
        now = time.time()
        for d in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
            try:
                age = now - d.stat().st_mtime
                if d.is_dir() and (age > 3600 or (d in self.made and age > self.max_age_s)):
                    self.remove(d)
            except OSError:  # another server's folder, vanished meanwhile
                pass

    def start(self, every_s: float = SWEEP_EVERY_S) -> None:
        """Sweep every ``every_s`` seconds in a daemon thread until :meth:`close`."""
        def loop() -> None:
            while not self._stop.wait(every_s):
                self.sweep()
        self._timer = threading.Thread(target=loop, name="bandbridge-demo-sweep", daemon=True)
        self._timer.start()

    def close(self) -> None:
        """Stop the timer and delete every folder this server made."""
        self._stop.set()
        for d in list(self.made):
            self.remove(d)


def _message(e: Exception, upload) -> str:
    """One line for the page: our errors as they are (the upload's temp path shortened to its
    name), anything else named as unexpected and logged in full on the server."""
    if isinstance(e, BandbridgeError):
        msg = str(e)
    else:
        logging.getLogger("bandbridge.demo").exception("demo request failed")
        msg = f"unexpected failure ({type(e).__name__}: {e}); the server log has the details"
    return msg.replace(str(upload), Path(str(upload)).name) if upload else msg


def build_app(models: dict[str, Path] | None = None, workdirs: Workdirs | None = None):
    import os
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    import gradio as gr
    models = models or zoo_models()
    if not models:
        raise BandbridgeError("no models to serve: bundle some (scripts/bundle_models.py) or pass --model")
    run = Translator(models)
    dirs = workdirs or Workdirs()
    names = list(models)
    default = "rgb2nir-naip" if "rgb2nir-naip" in names else names[0]

    def handle(upload, name):
        dirs.sweep()
        workdir = dirs.make()
        try:
            return (*run(upload, name, workdir), str(workdir))
        except Exception as e:  # noqa: BLE001 - one readable line in the status, outputs cleared
            dirs.remove(workdir)
            return None, None, None, None, f"**error:** {_message(e, upload)}", None

    def preview(upload):
        try:
            return (input_preview(upload) if upload else None), ""
        except Exception as e:  # noqa: BLE001 - as above: never Gradio's red boxes
            return None, f"**error:** {_message(e, upload)}"

    # Gradio's own copies (uploads, results) are deleted after an hour.
    with gr.Blocks(title="bandbridge", delete_cache=(600, 3600)) as app:
        gr.Markdown("# bandbridge\nSynthesize a missing band from the bands you have: NIR from RGB, "
                    "optical from SAR, thermal from RGB, ×4 super-resolution. Upload a PNG, JPEG or "
                    f"GeoTIFF (up to {MAX_MB} MB and {MAX_MPIX} MPix of output). Any RGB image works "
                    "with the RGB models (`rgb2nir` picks 8-bit or reflectance itself); "
                    "`rgb2nir-s2` wants reflectance GeoTIFFs, `sar2optical` Sentinel-1 VV/VH in dB.")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="image", file_types=[".png", ".jpg", ".jpeg", ".tif", ".tiff"],
                                 type="filepath", elem_id="upload")
                model = gr.Dropdown(names, value=default, label="model", elem_id="model")
                go = gr.Button("Translate", variant="primary", elem_id="run")
                status = gr.Markdown(elem_id="status")
            with gr.Column():
                shown = gr.Image(label="your image", type="numpy", elem_id="input", interactive=False)
                band = gr.Image(label="synthetic band", type="numpy", elem_id="result", interactive=False)
            with gr.Column():
                ndvi = gr.Image(label="NDVI (NIR models; red −1 … green +1)", type="numpy",
                                elem_id="ndvi", interactive=False)
                download = gr.File(label="GeoTIFF", elem_id="download")
        workdir = gr.State(None)
        samples = sorted(SAMPLE.glob("*.tif"))
        if samples:
            gr.Examples([[str(samples[-1]), default]], inputs=[upload, model])
        upload.change(preview, upload, [shown, status])
        go.click(handle, [upload, model], [shown, band, ndvi, download, status, workdir]) \
            .then(dirs.remove, workdir, None)
    return app


def serve(models: list[str] | None, host: str = "127.0.0.1", port: int = 7860) -> None:
    folders = [resolve_model_folder(m) for m in models or []]
    chosen = {(m if not Path(m).exists() else read_spec(f).name): f
              for m, f in zip(models or [], folders)} or None
    dirs = Workdirs()
    dirs.start()
    try:
        build_app(chosen, dirs).launch(server_name=host, server_port=port, show_error=True,
                                       max_file_size=f"{MAX_MB}mb")
    finally:
        dirs.close()
