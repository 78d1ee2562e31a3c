"""The page's handlers, one per button and the preview on upload: each file they are handed goes
through one check first (files.received: only what the page itself received), each runs in a
request folder of its own (removed after the request), and what they say is one line on error
and names no server path (files.no_paths)."""

from __future__ import annotations

import filecmp
import logging
import os
import tempfile
from pathlib import Path

from bandbridge.bands import is_single_nir
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.look import look_at
from bandbridge.spec import read_spec
from bandbridge.demo.calibrate import calibrate
from bandbridge.demo.files import Workdirs, no_paths, received
from bandbridge.demo.translate import Controls, Result, Translator, input_preview, page_words, unknown_model

# What each file box holds, as a refusal names it.
WHAT = {"upload": "image to translate", "pair": "calibration pair",
        "target": "pair's real band", "reference": "reference", "scene": "cloudy scene",
        "earlier": "earlier clear scene", "sar": "Sentinel-1 at the date",
        "sar_earlier": "Sentinel-1 at the earlier date", "mask": "gap mask",
        "fine": "fine raster", "coarse": "coarse reference"}
LABELS = ["your image", "synthetic band", "real band (when your upload has it)", "NDVI",
          "expected error"]


def _message(e: Exception, upload=None) -> str:
    """One line for the page: our errors with the CLI's flags named as the page's controls (the
    uploads' folders, and any other server path, cut to the file's name); anything else named as
    unexpected and logged in full on the server."""
    if isinstance(e, BandbridgeError):
        msg = page_words(str(e))
    else:
        logging.getLogger("bandbridge.demo").exception("demo request failed")
        msg = f"unexpected failure ({type(e).__name__}: {e}); the server log has the details"
    files = [upload] if isinstance(upload, (str, Path)) else upload or []
    return " ".join(no_paths(msg, [Path(str(f)).parent for f in files if f]).split())


def with_before(after: str, before: str) -> str:
    """The calibrated model's score table with the model-as-it-was row of ``before`` beside it."""
    row = next((ln for ln in before.splitlines() if ln.startswith("| model |")), None)
    out = after.replace("| model |", "| calibrated model (after) |", 1)
    return out + ("\n" + row.replace("| model |", "| model as it was (before) |", 1) if row else "")


class Page:
    """The handlers of one server: its models, its request folders, and the one check every
    file goes through."""

    def __init__(self, models: dict[str, Path], workdirs: Workdirs | None = None):
        self.models, self.run, self.dirs = models, Translator(models), workdirs or Workdirs()

    def folders(self) -> list:
        """Where the files the page received are: Gradio's upload folder (every upload and the
        example land there) and this server's request folders."""
        try:
            from gradio.utils import get_upload_folder
            uploads = get_upload_folder()
        except ImportError:  # a Gradio without it: its rule, as later versions state it
            uploads = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
        return [uploads, *self.dirs.folders()]

    def take(self, path, what: str) -> str | list[str] | None:
        """The one check of every file a handler is handed (None stays None; a box of several
        files, each of them)."""
        if isinstance(path, (list, tuple)):
            return [self.take(p, what) for p in path if p] or None
        return str(received(path, self.folders(), WHAT[what])) if path else None

    def public(self, text: str) -> str:
        """``text`` as the page may show it: no server path."""
        return no_paths(text or "", self.folders())

    def shown(self, r: Result | None, calib: str = "", error: str = ""):
        """The page's outputs for a result (or an error line, everything else cleared)."""
        import gradio as gr
        p = [r.shown, r.output, r.real, r.ndvi, r.error] if r else [None] * 5
        # the input and the result always show; the other panels only when they hold something
        imgs = [gr.update(value=x.image if x else None,
                          label=self.public(x.label) if x and x.label else lab,
                          visible=k < 2 or (x is not None and x.image is not None))
                for k, (x, lab) in enumerate(zip(p, LABELS))]
        status = f"**error:** {error}" if error else r.status
        return (*imgs, r.files if r else None, self.public(status),
                self.public(r.scores) if r else "", self.public(calib))

    def in_workdir(self, work, **files):
        """``work(workdir, **files)``'s outputs and its request folder (removed after Gradio has
        copied the results), every file checked first; or one readable line in the status with
        the outputs cleared and nothing left behind."""
        self.dirs.sweep()
        workdir = None
        try:
            taken = {k: self.take(f, k) for k, f in files.items()}
            workdir = self.dirs.make()
            return (*work(workdir, **taken), str(workdir))
        except Exception as e:  # noqa: BLE001 - one readable line in the status, outputs cleared
            self.dirs.remove(workdir)
            named = [p for f in files.values() for p in (f if isinstance(f, (list, tuple)) else [f])]
            return (*self.shown(None, error=_message(e, named)), None)

    def handle(self, upload, name, *controls):
        def work(workdir: Path, upload):
            return self.shown(self.run(upload, name, workdir, Controls(*controls)))
        return self.in_workdir(work, upload=upload)

    def handle_pair(self, upload, name, pair, target, same_scene, *controls):
        def work(workdir: Path, upload, pair, target):
            if not pair:
                raise BandbridgeError("upload a calibration pair first: one file with the input "
                                      "and the real band, or the input and the real band as two")
            if not upload:
                raise BandbridgeError("upload the image to translate first (it may be the "
                                      "pair's input itself)")
            c = Controls(*controls)
            ov = c.overrides()
            folder, _ = self.run.folder(name, Path(upload), ov, look_at(upload, ov.band_names))
            within = same_scene or filecmp.cmp(upload, pair, shallow=False)
            cal = calibrate(folder, read_spec(folder), Path(pair), Path(target) if target else None,
                            workdir, ov, within)
            # what adapt handed back translates, by its own name (calibrate.before_after says so)
            res = self.run(upload, name, workdir, c, model=cal.folder)
            if cal.adapted and res.scores:  # before/after on the user's own image
                res.scores = with_before(res.scores, self.run(upload, name, workdir / "before", c).scores)
            return self.shown(res, f"{cal.table}\n\n(calibrated in {cal.seconds:.0f} s)")
        return self.in_workdir(work, upload=upload, pair=pair, target=target)

    def handle_reference(self, upload, name, reference, *controls):
        from bandbridge.demo.guided import with_reference

        def work(workdir: Path, upload, reference):
            if name not in self.models:  # a model is one of the page's, never a folder named
                raise unknown_model(name)
            c = Controls(*controls)
            nir = False  # an NDVI panel where the model (for a route: the one it picks) makes NIR
            if upload and reference:
                ov = c.overrides()
                folder, _ = self.run.folder(name, Path(upload), ov, look_at(upload, ov.band_names))
                nir = is_single_nir(read_spec(folder).target_names)
            return self.shown(with_reference(upload, name, reference, workdir, c, ndvi=nir))
        return self.in_workdir(work, upload=upload, reference=reference)

    def handle_fill(self, scene, earlier, sar, sar_earlier, mask, clear=False):
        """``bandbridge fill`` on the page's uploads (demo/fill.py), each checked first; ``clear``: *this date is
        clear* (``-e FILE#clear``)."""
        from bandbridge.demo.fill import fill_upload

        def work(workdir: Path, **files):
            return self.shown(fill_upload(workdir=workdir, clear=bool(clear), **files))
        return self.in_workdir(work, scene=scene, earlier=earlier, sar=sar, sar_earlier=sar_earlier, mask=mask)

    def handle_sharpen(self, fine, coarse, bands):
        """``bandbridge sharpen`` on the page's uploads (demo/sharpen.py), each checked first."""
        from bandbridge.demo.sharpen import sharpen_upload

        def work(workdir: Path, fine, coarse):
            return self.shown(sharpen_upload(fine, coarse, bands, workdir))
        return self.in_workdir(work, fine=fine, coarse=coarse)

    def preview(self, upload, name, bands_, names_, scaling, vmin, vmax):
        """The upload as the page shows it and, in a box of its own, the plan of what *Translate*
        will run (or why the upload cannot be read): a preview finishing after a run never
        overwrites the run's status."""
        import gradio as gr
        if not upload:
            return gr.update(value=None, label="your image"), ""
        try:
            ov = Controls(bands_, names_, scaling, vmin, vmax).overrides()
            path = self.take(upload, "upload")
            p = input_preview(path, ov)
        except Exception as e:  # noqa: BLE001 - as above: never Gradio's red boxes
            return gr.update(value=None, label="your image"), f"**error:** {_message(e, upload)}"
        try:
            plan = self.run.plan_text(path, name, ov)
        except Exception as e:  # noqa: BLE001 - the run would refuse it alike: said before it runs
            plan = f"**Plan:** *Translate* would stop here: {_message(e, upload)}"
        return gr.update(value=p.image, label=self.public(p.label)), self.public(plan)
