"""`bandbridge demo`: a Gradio page around the same predictor the CLI uses.

Upload a PNG, JPEG or GeoTIFF, choose a model, and see your image beside the synthetic band (and
the real band with scores when the upload carries it), an NDVI map for NIR models, and the
Cloud-Optimized GeoTIFF that ``bandbridge predict --cog`` writes. Every panel follows one display
rule (display.py). Band roles and scaling are detected as ``predict`` detects them; the page's
own controls override them. "Calibrate with a pair" adapts the model to one pair of the user's
(calibrate.py) before translating. Uploads are limited before they are received (Gradio's
``max_file_size``) and from their header before anything is decoded (files.py); each request's
files are deleted once Gradio has copied the results; a mistake is one line in the status.
"""

from __future__ import annotations

import filecmp
import logging
from pathlib import Path

from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.look import look_at
from bandbridge.spec import read_spec, resolve_model_folder, zoo_models
from bandbridge.demo.calibrate import MAX_PAIR_MPIX, calibrate
from bandbridge.stretch import PERCENTILES
from bandbridge.demo.files import MAX_MB, MAX_MPIX, Workdirs
from bandbridge.demo.translate import (CONTROLS, SCALING_CHOICES, Controls, Result, Translator,
                                       input_preview, page_words)

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "nir_naip_opengeos"
# Download names in full (Gradio cuts long ones to "m_4709963_se_14_1_20….tif", alike for all three).
CSS = "#download td.filename, #download .stem {white-space: normal; overflow-wrap: anywhere; " \
      "overflow: visible; text-overflow: clip; max-width: none}"

def _message(e: Exception, upload=None) -> str:
    """One line for the page: our errors with the CLI's flags named as the page's controls (the
    upload's temporary path shortened to its name); anything else named as unexpected and logged
    in full on the server."""
    if isinstance(e, BandbridgeError):
        msg = page_words(str(e))
    else:
        logging.getLogger("bandbridge.demo").exception("demo request failed")
        msg = f"unexpected failure ({type(e).__name__}: {e}); the server log has the details"
    for f in [upload] if isinstance(upload, (str, Path)) else upload or []:
        if f:
            msg = msg.replace(str(f), Path(str(f)).name)
    return " ".join(msg.split())


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
    default = next((n for n in ("rgb2nir", "rgb2nir-naip") if n in names), names[0])  # the README's name

    def shown(r: Result | None, calib: str = "", error: str = ""):
        """The page's outputs for a result (or an error line, everything else cleared)."""
        p = [r.shown, r.output, r.real, r.ndvi, r.error] if r else [None] * 5
        labels = ["your image", "synthetic band", "real band (when your upload has it)", "NDVI",
                  "expected error"]
        # the input and the result always show; the other panels only when they hold something
        imgs = [gr.update(value=x.image if x else None, label=(x.label if x and x.label else lab),
                          visible=k < 2 or (x is not None and x.image is not None))
                for k, (x, lab) in enumerate(zip(p, labels))]
        status = f"**error:** {error}" if error else r.status
        return (*imgs, r.files if r else None, status, r.scores if r else "", calib)

    def in_workdir(work, files):
        """``work(workdir)``'s outputs and its request folder (removed after Gradio has copied
        the results), or one readable line in the status with the outputs cleared."""
        dirs.sweep()
        workdir = dirs.make()
        try:
            return (*work(workdir), str(workdir))
        except Exception as e:  # noqa: BLE001 - one readable line in the status, outputs cleared
            dirs.remove(workdir)
            return (*shown(None, error=_message(e, files)), None)

    def handle(upload, name, *controls):
        return in_workdir(lambda w: shown(run(upload, name, w, Controls(*controls))), upload)

    def handle_pair(upload, name, pair, target, same_scene, *controls):
        def work(workdir: Path):
            if not pair:
                raise BandbridgeError("upload a calibration pair first: one file with the input "
                                      "and the real band, or the input and the real band as two")
            if not upload:
                raise BandbridgeError("upload the image to translate first (it may be the "
                                      "pair's input itself)")
            c = Controls(*controls)
            ov = c.overrides()
            folder, _ = run.folder(name, Path(upload), ov, look_at(upload, ov.band_names))
            within = same_scene or filecmp.cmp(upload, pair, shallow=False)
            cal = calibrate(folder, read_spec(folder), Path(pair), Path(target) if target else None,
                            workdir, ov, within)
            res = run(upload, name, workdir, c, model=cal.folder)
            if cal.adapted and res.scores:  # before/after on the user's own image
                res.scores = with_before(res.scores, run(upload, name, workdir / "before", c).scores)
            return shown(res, f"{cal.table}\n\n(calibrated in {cal.seconds:.0f} s)")
        return in_workdir(work, [upload, pair, target])

    def handle_reference(upload, name, reference, *controls):
        from bandbridge.demo.guided import with_reference
        return in_workdir(lambda w: shown(with_reference(upload, name, reference, w, Controls(*controls))),
                          [upload, reference])

    def preview(upload, name, bands_, names_, scaling, vmin, vmax):
        """The upload as the page shows it and, in a box of its own, the plan of what *Translate*
        will run (or why the upload cannot be read): a preview finishing after a run never
        overwrites the run's status."""
        if not upload:
            return gr.update(value=None, label="your image"), ""
        try:
            ov = Controls(bands_, names_, scaling, vmin, vmax).overrides()
            p = input_preview(upload, ov)
        except Exception as e:  # noqa: BLE001 - as above: never Gradio's red boxes
            return gr.update(value=None, label="your image"), f"**error:** {_message(e, upload)}"
        try:
            plan = run.plan_text(upload, name, ov)
        except Exception as e:  # noqa: BLE001 - the run would refuse it alike: said before it runs
            plan = f"**Plan:** *Translate* would stop here: {_message(e, upload)}"
        return gr.update(value=p.image, label=p.label), plan

    lo, hi = PERCENTILES
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
                    scaling = gr.Dropdown(list(SCALING_CHOICES), value="auto", label="scaling",
                                          elem_id="scaling")
                    with gr.Row():
                        vmin = gr.Number(label="min (minmax, sar_db)", elem_id="vmin")
                        vmax = gr.Number(label="max (minmax, sar_db)", elem_id="vmax")
                with gr.Accordion("Calibrate with a pair (optional, about a minute on a quiet 2-core machine)", open=False,
                                  elem_id="calibrate"):
                    gr.Markdown("One image of your sensor with its real target band (one file "
                                "holding both, or the input and the real band as two files, up "
                                f"to {MAX_PAIR_MPIX} MPix): the model is adapted to it "
                                "(`bandbridge adapt`) and then translates your image.")
                    pair = gr.File(label="pair (input, or input + real band)", type="filepath",
                                   file_types=[".png", ".jpg", ".jpeg", ".tif", ".tiff"],
                                   elem_id="pair")
                    pair_target = gr.File(label="real band (when not in the pair's file)",
                                          type="filepath", elem_id="pair_target",
                                          file_types=[".png", ".jpg", ".jpeg", ".tif", ".tiff"])
                    same_scene = gr.Checkbox(label="the image to translate is part of the "
                                             "pair's scene (held-out blocks of the pair may then "
                                             "choose any learner, boosting too; ticked by itself "
                                             "when both are one file)", elem_id="same_scene")
                    go_pair = gr.Button("Calibrate and translate", elem_id="run_pair")
                with gr.Accordion("Use a reference (optional): no pairs, but the band coarser or older",
                                  open=False, elem_id="use_reference"):
                    gr.Markdown("A coarse or earlier raster of the band at the same place — a "
                                "Sentinel-2 or Landsat band for an aerial image, an older survey — "
                                "georeferenced like your image (or two plain images of one extent). "
                                "The band is fitted to it at its scale and applied at yours "
                                "(`bandbridge predict --reference`).")
                    reference = gr.File(label="reference (GeoTIFF, or a grey PNG/JPEG for a photo)", type="filepath",
                                        file_types=[".tif", ".tiff", ".png", ".jpg", ".jpeg"], elem_id="reference")
                    go_ref = gr.Button("Translate with the reference", elem_id="run_reference")
                status = gr.Markdown(elem_id="status")
                plan = gr.Markdown(elem_id="plan")  # what Translate will run, stated on upload
            with gr.Column():
                shown_in = gr.Image(label="your image", type="numpy", elem_id="input", interactive=False, buttons=[])
                band = gr.Image(label="synthetic band", type="numpy", elem_id="result", interactive=False, buttons=[])
            with gr.Column():
                real = gr.Image(label="real band (when your upload has it)", type="numpy",
                                elem_id="real", interactive=False, buttons=[])
                ndvi = gr.Image(label="NDVI", type="numpy", elem_id="ndvi", interactive=False, buttons=[])
                error = gr.Image(label="expected error", type="numpy", elem_id="error",
                                 interactive=False, buttons=[])
                download = gr.File(label="GeoTIFF (COG, as `bandbridge predict --cog` writes it)",
                                   file_count="multiple", elem_id="download")
        scores = gr.Markdown(elem_id="scores")
        calib = gr.Markdown(elem_id="calibration")
        gr.Markdown(f"Display: each panel is stretched linearly over the {lo:g}–{hi:g} % "
                    "percentile range of its valid pixels, one range for all its bands, in its "
                    "physical units; a panel of the same bands and units as another shares that "
                    "one's range (a super-resolution result its input's, the synthetic band the "
                    "real band's) — unless their values mostly disagree, when both take the union "
                    "of the two ranges and the title says so. A super-resolution input is shown at "
                    "the output's size beside a bicubic enlargement. Single bands have a colour "
                    "bar; NDVI spans −1…+1.")
        workdir = gr.State(None)
        ctl = [bands, band_names, scaling, vmin, vmax]
        outs = [shown_in, band, real, ndvi, error, download, status, scores, calib, workdir]
        if example is not None:  # a click loads the example and runs it
            example.load_input_event.then(handle, [upload, model, *ctl], outs) \
                .then(dirs.remove, workdir, None)
        upload.change(preview, [upload, model, *ctl], [shown_in, plan])
        model.change(preview, [upload, model, *ctl], [shown_in, plan])
        go.click(handle, [upload, model, *ctl], outs).then(dirs.remove, workdir, None)
        go_ref.click(handle_reference, [upload, model, reference, *ctl], outs).then(dirs.remove, workdir, None) \
            .then(lambda: REFERENCE_PLAN, None, plan)  # the plain plan no longer says what ran
        go_pair.click(handle_pair, [upload, model, pair, pair_target, same_scene, *ctl], outs) \
            .then(dirs.remove, workdir, None)
    return app


REFERENCE_PLAN = ("**Plan:** *Translate with the reference* ran `bandbridge predict --reference`: the route it "
                  "took (a fit at the reference's scale, the model's own output made consistent with it, or "
                  "the reference upsampled), the shift and the held-out errors are in the status above.")


def with_before(after: str, before: str) -> str:
    """The calibrated model's score table with the model-as-it-was row of ``before`` beside it."""
    row = next((ln for ln in before.splitlines() if ln.startswith("| model |")), None)
    out = after.replace("| model |", "| calibrated model (after) |", 1)
    return out + ("\n" + row.replace("| model |", "| model as it was (before) |", 1) if row else "")


def serve(models: list[str] | None, host: str = "127.0.0.1", port: int = 7860) -> None:
    folders = [resolve_model_folder(m) for m in models or []]
    chosen = {(m if not Path(m).exists() else read_spec(f).name): f
              for m, f in zip(models or [], folders)} or None
    dirs = Workdirs()
    dirs.start()
    try:
        build_app(chosen, dirs).launch(server_name=host, server_port=port, show_error=True,
                                       max_file_size=f"{MAX_MB}mb", css=CSS)
    finally:
        dirs.close()
