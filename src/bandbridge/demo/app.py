"""`bandbridge demo`: a Gradio page around the same predictor the CLI uses (translate.py), with
boxes that calibrate with a pair (calibrate.py), fill a cloud gap (fill.py) and sharpen (sharpen.py).

Uploads are limited before they are received (Gradio's ``max_file_size``) and from their header
before anything is decoded (files.py); a handler takes only files the page itself received
(page.py); each request's files are deleted once Gradio has copied the results, Gradio's copies
when the server stops (files.Workdirs); nothing the page says names a server path.
"""

from __future__ import annotations

from pathlib import Path

from bandbridge.errors import BandbridgeError
from bandbridge.spec import read_spec, resolve_model_folder, zoo_models
from bandbridge.demo.calibrate import MAX_PAIR_MPIX
from bandbridge.stretch import PERCENTILES
from bandbridge.demo.files import MAX_MB, MAX_MPIX, Workdirs
from bandbridge.demo.fill import CLEAR_LABEL, MAX_FILL_MPIX
from bandbridge.demo.page import Page
from bandbridge.demo.translate import CONTROLS, SCALING_CHOICES

IMAGES = [".png", ".jpg", ".jpeg", ".tif", ".tiff"]
TIFFS = [".tif", ".tiff"]
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "nir_naip_opengeos"
# Download names in full (Gradio cuts long ones to "m_4709963_se_14_1_20….tif", alike for all three).
CSS = "#download td.filename, #download .stem {white-space: normal; overflow-wrap: anywhere; " \
      "overflow: visible; text-overflow: clip; max-width: none}"


def build_app(models: dict[str, Path] | None = None, workdirs: Workdirs | None = None):
    import os
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    import gradio as gr
    models = models or zoo_models()
    if not models:
        raise BandbridgeError("no models to serve: bundle some (scripts/bundle_models.py) or pass --model")
    page = Page(models, workdirs)
    dirs = page.dirs
    names = list(models)
    default = next((n for n in ("rgb2nir", "rgb2nir-naip") if n in names), names[0])  # the README's name
    # Gradio's own copies (uploads, results) are deleted after an hour.
    with gr.Blocks(title="bandbridge", delete_cache=(600, 3600)) as app:
        gr.Markdown("# bandbridge\nSynthesize a missing band from the bands you have: NIR from RGB, "
                    "optical from SAR, thermal from RGB, ×4 super-resolution. Upload a PNG, JPEG or "
                    f"GeoTIFF (up to {MAX_MB} MB and {MAX_MPIX} MPix of output). Any RGB image works "
                    "with the RGB models (`rgb2nir` picks 8-bit or reflectance itself); "
                    "`rgb2nir-s2` wants reflectance GeoTIFFs, `sar2optical` Sentinel-1 VV/VH in dB.")
        with gr.Row():
            with gr.Column():
                upload, model, go, example, ctl = _translate_box(gr, names, default)
                sharpen, go_sharpen = _sharpen_box(gr)
                pair, go_pair = _pair_box(gr)
                reference, go_ref = _reference_box(gr)
                fill_boxes, go_fill = _fill_box(gr)
                status = gr.Markdown(elem_id="status")
                plan = gr.Markdown(elem_id="plan")  # what Translate will run, stated on upload
            shown_in, *shown = _result_panels(gr)
        scores, calib = _notes(gr)
        workdir = gr.State(None)
        outs = [shown_in, *shown, status, scores, calib, workdir]
        if example is not None:  # a click loads the example and runs it
            example.load_input_event.then(page.handle, [upload, model, *ctl], outs) \
                .then(dirs.remove, workdir, None)
        upload.change(page.preview, [upload, model, *ctl], [shown_in, plan])
        model.change(page.preview, [upload, model, *ctl], [shown_in, plan])
        go.click(page.handle, [upload, model, *ctl], outs).then(dirs.remove, workdir, None)
        for button, handler, inputs, said in (
                (go_ref, page.handle_reference, [upload, model, reference, *ctl], REFERENCE_PLAN),
                (go_sharpen, page.handle_sharpen, sharpen, SHARPEN_PLAN),
                (go_fill, page.handle_fill, fill_boxes, FILL_PLAN),
                (go_pair, page.handle_pair, [upload, model, *pair, *ctl], PAIR_PLAN)):
            # the plain plan no longer says what ran: each button's chain ends saying it
            button.click(handler, inputs, outs).then(dirs.remove, workdir, None) \
                .then(lambda said=said: said, None, plan)
    return app


def _translate_box(gr, names: list[str], default: str):
    """The upload, the model, *Translate*, the example and the reading controls (in ``predict``'s
    order: bands, band names, scaling, min, max)."""
    upload = _file(gr, "image", "upload")
    model = gr.Dropdown(names, value=default, label="model", elem_id="model")
    go = gr.Button("Translate", variant="primary", elem_id="run")
    samples = sorted(SAMPLE.glob("*.tif"))  # the last date: one the models never saw
    example = gr.Examples([[str(samples[-1]), default]], inputs=[upload, model],
                          label="Example (runs on click): NAIP R,G,B + real NIR",
                          elem_id="example") if samples else None
    with gr.Accordion(CONTROLS, open=False, elem_id="controls"):
        gr.Markdown("Only when detection needs help (the status says what it assumed).")
        bands = gr.Textbox(label="input bands (the model's order: 0-based indices or "
                           "names, e.g. 2,1,0)", elem_id="bands")
        band_names = gr.Textbox(label="band names (one per band of the file, e.g. "
                                "red,green,blue,nir)", elem_id="band_names")
        scaling = gr.Dropdown(list(SCALING_CHOICES), value="auto", label="scaling", elem_id="scaling")
        with gr.Row():
            vmin = gr.Number(label="min (minmax, sar_db)", elem_id="vmin")
            vmax = gr.Number(label="max (minmax, sar_db)", elem_id="vmax")
    return upload, model, go, example, [bands, band_names, scaling, vmin, vmax]


def _sharpen_box(gr):
    """*Sharpen*'s box: its inputs (fine, coarse, bands) and its button."""
    with gr.Accordion("Sharpen a coarse raster: its bands onto the grid of a fine one", open=False,
                      elem_id="sharpen"):
        gr.Markdown("A fine raster (one GeoTIFF, or one file per band: Sentinel-2's 10 m B02, B03, "
                    "B04, B08) and a coarse reference of the same place holding the bands to sharpen "
                    f"(its 20 m bands), GeoTIFFs of up to {MAX_MPIX} MPix. Each band takes the route "
                    "that holds out best at the reference's scale: the fit on the fine bands or the "
                    "reference upsampled (`bandbridge sharpen`).")
        fine = _file(gr, "fine raster (or one file per band)", "sharpen_fine", TIFFS, file_count="multiple")
        coarse = _file(gr, "coarse reference", "sharpen_reference", TIFFS)
        to_sharpen = gr.Textbox(label="bands to sharpen (optional, e.g. B05,B11; empty: every band)",
                                elem_id="sharpen_bands")
        return [fine, coarse, to_sharpen], gr.Button("Sharpen", elem_id="run_sharpen")


def _pair_box(gr):
    """*Calibrate and translate*'s box: its inputs (pair, real band, same scene) and its button."""
    with gr.Accordion("Calibrate with a pair (optional, about a minute on a quiet 2-core machine)", open=False,
                      elem_id="calibrate"):
        gr.Markdown("One image of your sensor with its real target band (one file "
                    "holding both, or the input and the real band as two files, up "
                    f"to {MAX_PAIR_MPIX} MPix): the model is adapted to it "
                    "(`bandbridge adapt`) and then translates your image.")
        pair = _file(gr, "pair (input, or input + real band)", "pair")
        pair_target = _file(gr, "real band (when not in the pair's file)", "pair_target")
        same_scene = gr.Checkbox(label="the image to translate is part of the "
                                 "pair's scene (held-out blocks of the pair may then "
                                 "choose any learner, boosting too; ticked by itself "
                                 "when both are one file)", elem_id="same_scene")
        return [pair, pair_target, same_scene], gr.Button("Calibrate and translate", elem_id="run_pair")


def _reference_box(gr):
    """*Translate with the reference*'s box: the reference and its button."""
    with gr.Accordion("Use a reference (optional): no pairs, but the band coarser or older",
                      open=False, elem_id="use_reference"):
        gr.Markdown("A coarse or earlier raster of the band at the same place — a "
                    "Sentinel-2 or Landsat band for an aerial image, an older survey — "
                    "georeferenced like your image (or two plain images of one extent). "
                    "The band is fitted to it at its scale and applied at yours "
                    "(`bandbridge predict --reference`).")
        reference = _file(gr, "reference (GeoTIFF, or a grey PNG/JPEG for a photo)", "reference",
                          [*TIFFS, ".png", ".jpg", ".jpeg"])
        return reference, gr.Button("Translate with the reference", elem_id="run_reference")


def _fill_box(gr):
    """*Fill the gap*'s box: its five files and its button."""
    with gr.Accordion("Fill a cloud gap (Sentinel-2): a cloudy scene, an earlier clear one",
                      open=False, elem_id="fill"):
        gr.Markdown("A cloudy scene with its SCL band (or the gap as a mask), an earlier clear "
                    "scene of the place with the same bands (with its SCL band, or tick *this date is clear* "
                    "when it has none and you know it is clear), and Sentinel-1 VV/VH at the dates "
                    f"where you have it, GeoTIFFs of up to {MAX_FILL_MPIX:g} MPix (`bandbridge fill` "
                    "takes whole Sentinel-2 tiles); dates are read "
                    "from the files' tags or names (S2_20180603.tif). The gap is filled by the "
                    "route that holds out best on the scene's own clear pixels (`bandbridge fill`).")
        boxes = [_file(gr, lab, f"fill_{k}", TIFFS)
                 for k, lab in (("scene", "cloudy scene (with its SCL band)"),
                                ("earlier", "earlier clear scene (with its SCL band)"),
                                ("sar", "Sentinel-1 at the date (optional)"),
                                ("sar_earlier", "Sentinel-1 at the earlier date (optional)"),
                                ("mask", "gap mask, nonzero to fill (optional)"))]
        clear = gr.Checkbox(label=CLEAR_LABEL, elem_id="fill_clear")  # `-e FILE#clear`: no mask asked of it
        return [*boxes, clear], gr.Button("Fill the gap", elem_id="run_fill")


def _file(gr, label: str, elem_id: str, types: list[str] = IMAGES, **kw):
    return gr.File(label=label, type="filepath", file_types=types, elem_id=elem_id, **kw)


def _result_panels(gr) -> list:
    """The two columns of results: your image, the band, the real band, NDVI, the expected error
    and the download."""
    def image(label: str, elem_id: str):
        return gr.Image(label=label, type="numpy", elem_id=elem_id, interactive=False, buttons=[])
    with gr.Column():
        shown_in, band = image("your image", "input"), image("synthetic band", "result")
    with gr.Column():
        real = image("real band (when your upload has it)", "real")
        ndvi, error = image("NDVI", "ndvi"), image("expected error", "error")
        download = gr.File(label="GeoTIFF (COG, as `bandbridge predict --cog` writes it)",
                           file_count="multiple", elem_id="download")
    return [shown_in, band, real, ndvi, error, download]


def _notes(gr) -> list:
    """The scores and calibration tables under the panels, then the display rule."""
    scores = gr.Markdown(elem_id="scores")
    calib = gr.Markdown(elem_id="calibration")
    lo, hi = PERCENTILES
    gr.Markdown(f"Display: each panel is stretched linearly over the {lo:g}–{hi:g} % "
                "percentile range of its valid pixels, one range for all its bands, in its "
                "physical units; a panel of the same bands and units as another shares that "
                "one's range (a super-resolution result its input's, the synthetic band the "
                "real band's) — unless their values mostly disagree, when both take the union "
                "of the two ranges and the title says so. A super-resolution input is shown at "
                "the output's size beside a bicubic enlargement. Single bands have a colour "
                "bar; NDVI spans −1…+1.")
    return [scores, calib]


REFERENCE_PLAN = ("**Plan:** *Translate with the reference* ran `bandbridge predict --reference`: the route it "
                  "took (a fit at the reference's scale, the model's own output made consistent with it, or "
                  "the reference upsampled), the shift and the held-out errors are in the status above.")


PAIR_PLAN = ("**Plan:** *Calibrate and translate* ran `bandbridge adapt` on your pair, then translated your "
             "image with the model it handed back: which model that is and why are in the calibration table "
             "below, the reading and the backend in the status above.")


FILL_PLAN = ("**Plan:** *Fill the gap* ran `bandbridge fill`: the route it took and every route's held-out "
             "error on the scene's clear pixels are in the status and the table below.")


SHARPEN_PLAN = ("**Plan:** *Sharpen* ran `bandbridge sharpen`: its plan, each band's route and why, and every "
                "band's held-out errors against the best upsampling are in the status and the table below.")


def serve(models: list[str] | None, host: str = "127.0.0.1", port: int = 7860) -> None:
    folders = [resolve_model_folder(m) for m in models or []]
    chosen = {(m if not Path(m).exists() else read_spec(f).name): f
              for m, f in zip(models or [], folders)} or None
    dirs = Workdirs()
    dirs.gradio_folder()  # before Gradio is imported (build_app): its uploads and results are ours
    dirs.start()
    try:  # SIGTERM unwinds as Ctrl-C does (cli.app's handler): the folders go either way
        build_app(chosen, dirs).launch(server_name=host, server_port=port, show_error=True,
                                       max_file_size=f"{MAX_MB}mb", css=CSS)
    finally:
        dirs.close()
