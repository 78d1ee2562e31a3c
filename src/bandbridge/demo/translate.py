"""One request of the page: an upload read by the same interpretation as ``bandbridge predict``
(band roles, scaling; the page's own controls override them), predicted into the GeoTIFF that
``bandbridge predict --cog`` writes (its stored units and type), and shown by the display rule
(display.py), with scores when the upload carries the real band (truth.py)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bandbridge.bands import SCALINGS, band_role, find_role, get_scaling, is_single_nir
from bandbridge.data.formats import open_raster
from bandbridge.errors import BandbridgeError
from bandbridge.policy import DEMO_TEXT_CHARS
from bandbridge.fileio import safe_name
from bandbridge.inference.core.confidence import FLAT_NOTE
from bandbridge.inference.core.interpret import Interpretation, Overrides, check_scaling_flags
from bandbridge.inference.core.look import Look, look_at
from bandbridge.inference.core.predictor import PredictOptions, predict_file
from bandbridge.inference.core.route import route_model
from bandbridge.inference.core.writer import decode, physical_note, resolve_dtype
from bandbridge.inference.runtime.select import make_backend
from bandbridge.spec import ZOO_ROUTES, ModelSpec, read_spec
from bandbridge.demo.display import (BandSet, display_bands, read_index, read_output, read_set,
                                     render, render_error, render_index, shared_of, stretch_of)
from bandbridge.demo.files import check_min_side, check_pixels, check_upload, size_text
from bandbridge.demo.truth import find_truth, score_table

CONTROLS = "Band roles and scaling"  # the page's section that holds its band controls
# The CLI's flags, as the shared interpretation names them → the page's control that does the same.
FLAGS = {"--band-names": "**band names**", "--bands": "**input bands**", "--scaling": "**scaling**",
         "--vmin": "**min**", "--vmax": "**max**", "-m": "the **model** menu:"}
SCALING_CHOICES = ("auto", *SCALINGS, "minmax")  # every scaling the CLI's --scaling takes


def page_words(text: str) -> str:
    """``text`` with the CLI's flags named as the page's controls (the page offers no flags)."""
    out, n = re.subn(r"(?<![\w-])(--band-names|--bands|--scaling|--vmin|--vmax|-m)(?![\w-])",
                     lambda m: FLAGS[m.group(1)], text)
    return out + (f" (controls under *{CONTROLS}*)" if n else "")


BANDS_HINT = "give the bands by name or index, e.g. B05,B11 or 2,1,0"


def checked_text(value: str | None, box: str, hint: str = BANDS_HINT) -> str:
    """A text box's ``value``, refused in one line that does not echo it where it is longer than
    :data:`~bandbridge.policy.DEMO_TEXT_CHARS` (a refusal naming it would send it all back)."""
    v = value or ""
    if len(v) > DEMO_TEXT_CHARS:
        raise BandbridgeError(f"the {box} holds {len(v):,} characters, more than the page takes there "
                              f"({DEMO_TEXT_CHARS}); {hint}")
    return v


def unknown_model(name: str) -> BandbridgeError:
    """The refusal of a model name that is not one of the page's (a menu's value, sent by hand), bounded."""
    return BandbridgeError(f"unknown model '{checked_text(name, '**model** menu', 'choose one in the menu')}'")


@dataclass(frozen=True)
class Controls:
    """The page's band-role and scaling controls, as typed (empty: detect)."""

    bands: str = ""  # input bands in the model's order: 0-based indices or names/roles
    band_names: str = ""  # one name per band of the file
    scaling: str = "auto"
    vmin: float | None = None
    vmax: float | None = None

    def __post_init__(self) -> None:
        checked_text(self.bands, FLAGS["--bands"] + " box")
        checked_text(self.band_names, FLAGS["--band-names"] + " box", "give one name per band, e.g. red,green,blue,nir")

    def overrides(self) -> Overrides:
        def split(s: str) -> tuple[str, ...] | None:
            return tuple(t.strip() for t in s.split(",") if t.strip()) or None
        scaling = None if self.scaling in ("", "auto", None) else self.scaling
        # The number boxes always hold a value: they count only for the scalings that take one.
        lo, hi = (self.vmin, self.vmax) if scaling in ("minmax", "sar_db") else (None, None)
        check_scaling_flags(scaling, lo, hi)
        return Overrides(split(self.bands or ""), split(self.band_names or ""), scaling, lo, hi)


@dataclass
class Panel:
    image: np.ndarray | None = None
    label: str = ""


@dataclass
class Result:
    """What the page shows for one request."""

    shown: Panel
    output: Panel
    real: Panel = field(default_factory=Panel)
    ndvi: Panel = field(default_factory=Panel)
    error: Panel = field(default_factory=Panel)  # expected |error|, for models with an error model
    files: list[str] = field(default_factory=list)
    status: str = ""
    scores: str = ""


def _input_set(path: Path, bands: list[int], roles: list[str], scaling, vmin=None,
               vmax=None) -> BandSet:
    """The panel of the upload: red, green, blue among the file's ``bands`` of ``roles`` (else
    the first of them)."""
    show = display_bands(roles)
    return read_set(path, get_scaling(scaling, vmin, vmax), [bands[i] for i in show],
                    [roles[i] for i in show])


def input_preview(path: str | Path, ov: Overrides = Overrides()) -> Panel:
    """What the user uploaded, as the page shows it before any model runs: its red, green, blue
    bands by the detected roles (else its first band), by the display rule. The pixel limit is
    checked first (from the header)."""
    check_upload(path)
    look = look_at(path, ov.band_names)
    data = [i for i, r in enumerate(look.roles) if r != "alpha"]
    s = _input_set(Path(path), data, [look.roles[i] for i in data], ov.scaling or look.scaling,
                   ov.vmin, ov.vmax)
    return _input_panel(s)


def is_thermal(spec: ModelSpec) -> bool:
    """A model whose output is thermal brightness (LWIR images stored as gray 8-bit DN): its
    values are relative, not temperatures."""
    return "thermal" in spec.name or any(band_role(b) == "thermal" for b in spec.target_names)


def bicubic(data: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``data (C, h, w)`` (NaN = nodata) enlarged to ``size`` by bicubic interpolation."""
    import torch
    t = torch.from_numpy(np.nan_to_num(data).astype(np.float32))[None]
    up = torch.nn.functional.interpolate(t, size=size, mode="bicubic", align_corners=False)[0]
    nearest = torch.nn.functional.interpolate(torch.from_numpy(np.isnan(data).any(0, keepdims=True)
                                                               .astype(np.float32))[None], size=size)[0]
    out = up.numpy()
    out[:, nearest[0].numpy() > 0] = np.nan
    return out


def unused_bands(look: Look, reading: Interpretation, truth_bands: list[int]) -> list[str]:
    """The upload's bands the model neither reads nor scores against (alpha aside), named."""
    used = set(reading.bands) | set(truth_bands)
    return [f"{i}={look.names[i]}" + (f" ({r})" if r not in ("other", look.names[i].lower()) else "")
            for i, r in enumerate(look.roles) if i not in used and r != "alpha"]


def _input_panel(s: BandSet) -> Panel:
    st = stretch_of(s)
    what = "your image" + ("" if len(s.roles) >= 3 else f", {s.roles[0].upper()}")
    return Panel(render(s, st, what), f"{what} — {st.describe()}")


def stored_note(spec: ModelSpec, dtype: str) -> str:
    """What the download's values are: the CLI's ``bandbridge_units`` tag, said plainly where the
    stored values are the target's own 8-bit DN."""
    s = get_scaling(spec.target.scaling, spec.target.vmin, spec.target.vmax)
    note = s.units if dtype == s.raw_dtype == "uint8" else physical_note(spec.target, dtype)
    return f"{dtype} values, {note}, nodata {'NaN' if dtype == 'float32' else 0}"


class Translator:
    """Backends cached per bundled model, so a second upload does not reload weights."""

    def __init__(self, models: dict[str, Path]):
        self.models, self.cache = models, {}

    def folder(self, name: str, path: Path, ov: Overrides, look: Look) -> tuple[Path, str | None]:
        """(model folder, routing note) of a model name; a routed name (``rgb2nir``) picks its
        model for the uploaded file."""
        if name not in self.models:
            raise unknown_model(name)
        if name in ZOO_ROUTES:
            return route_model(name, path, ov, look)
        return self.models[name], None

    def spec_backend(self, folder: Path, cache: bool = True, decision=None):
        if folder in self.cache:
            return self.cache[folder]
        spec = read_spec(folder)
        found = (spec, make_backend(spec, decision=decision))
        if cache:
            self.cache[folder] = found
        return found

    def plan(self, path: Path, name: str, ov: Overrides, workdir: Path, model: Path | None = None):
        """The plan of one upload, made as ``predict --plan`` makes it (inference/jobs/plan.py):
        the page shows it before the run, and the run carries it out. ``model``: a calibrated
        bundle instead of ``name``."""
        from bandbridge.inference.jobs.plan import make_plan
        if model is None and name not in self.models:
            raise unknown_model(name)
        target = str(model) if model else name if name in ZOO_ROUTES else str(self.models[name])
        # a calibrated model's download says so (its bundle's name: "rgb2nir-s2-adapted-…"), not
        # the base model's; a bundle's name is data, so it goes through safe_name
        label = safe_name(read_spec(model).name, "calibrated") if model else name
        out = workdir / f"{path.stem}_{label}.tif"
        return make_plan([str(path)], target, str(out), PredictOptions(cog=True), ov, overwrite=True)

    def plan_text(self, upload: str, name: str, ov: Overrides) -> str:
        """The plan as the page states it before anything runs (no output path: nothing is written)."""
        import tempfile
        plan = self.plan(Path(upload), name, ov, Path(tempfile.gettempdir()))
        lines = [ln.strip() for ln in plan.lines()[3:]]  # not the header, where it runs, nor the paths
        return "**Plan** (what *Translate* will run): " + page_words("; ".join(lines)) + "."

    def __call__(self, upload: str | None, name: str, workdir: Path,
                 controls: Controls = Controls(), model: Path | None = None) -> Result:
        """Translate one upload with model ``name`` (or the bundle ``model``, e.g. a calibrated
        one, not cached) into ``workdir``, as its plan says (:meth:`plan`)."""
        if not upload:
            raise BandbridgeError("upload a PNG, JPEG or GeoTIFF first")
        path = Path(upload)
        info = check_upload(path)
        workdir.mkdir(parents=True, exist_ok=True)
        ov = controls.overrides()
        look = look_at(path, ov.band_names)
        # the page's own limits first, from the header and the model's sizes alone
        first = read_spec(model if model else self.folder(name, path, ov, look)[0])
        check_pixels(path.name, info, first.scale)
        check_min_side(path.name, info, first.min_side, first.name)
        plan = self.plan(path, name, ov, workdir, model)
        job = plan.jobs[0]
        spec, be = self.spec_backend(job.spec.folder, model is None, plan.backends.get(job.spec.folder))
        reading, out = job.reading, job.dst
        ndvi = is_single_nir(spec.target_names) and find_role(reading.names, "red") is not None
        dtype = resolve_dtype("auto", spec.target)
        conf = bool(spec.confidence)  # `predict --confidence`, for every model that can
        stats = predict_file(be, spec, path, out, dataclasses.replace(
            job.opts, dtype=dtype, indices=("ndvi",) if ndvi else (), confidence=conf))
        res = self.panels(path, look, reading, spec, out, dtype)
        truth = find_truth(look, reading, spec)
        unused = unused_bands(look, reading, truth.bands if truth else [])
        if ndvi:
            res.ndvi = Panel(render_index(read_index(stats.extra_outputs[0])),
                             "NDVI of the synthetic NIR (−1…+1)")
        if conf and not any(n.startswith(FLAT_NOTE) for n in stats.notes):  # a flat map is a note, not a panel
            err = next(p for p in stats.extra_outputs if p.name.endswith("_error.tif"))
            units = physical_note(spec.target, dtype, difference=True)  # in the output's stored units
            res.error = Panel(render_error(read_index(err), units),
                              "expected |error| per pixel (predict --confidence; calibrated on "
                              "images like the training data)")
        res.files = [str(out), *map(str, stats.extra_outputs)]
        s = spec.scale
        geo = (f"It keeps the input's georeference ({info.crs or 'pixel transform only'})."
               if info.crs is not None or info.transform is not None else
               "The input has no georeference (a plain image), so neither has the GeoTIFF.")
        res.status = (
            f"**{spec.name if model else name}**: {path.name}, {size_text(info.width, info.height)}"
            f" → {', '.join(spec.target_names)}, {size_text(info.width * s, info.height * s)} "
            f"({be.name} {be.precision}). The download is what `bandbridge predict --cog` writes: "
            f"a Cloud-Optimized GeoTIFF of {stored_note(spec, dtype)}. {geo} "
            "Assumed: " + page_words(job.note) + "."
            + "".join(f" **Note:** {n.replace('`bandbridge adapt`', '*Calibrate with a pair*, below')}."
                      for n in stats.notes)
            + (f" **Not used:** band{'s' * (len(unused) > 1)} {', '.join(unused)} of your upload "
               f"({spec.name} reads {', '.join(spec.input_names)})." if unused else "")
            + (" Thermal output is relative brightness (8-bit DN as in the training images), not "
               "a temperature." if is_thermal(spec) else ""))
        return res

    def panels(self, path: Path, look: Look, reading: Interpretation, spec: ModelSpec,
               out: Path, dtype: str) -> Result:
        """The input, output and (when the upload carries it) real-band panels by the display
        rule, and the scores against the real band."""
        roles = [band_role(b) for b in spec.input_names]  # what the bands feed, in model order
        inp = _input_set(path, reading.bands, roles, reading.scaling, reading.vmin, reading.vmax)
        t = spec.target
        tscale = get_scaling(t.scaling, t.vmin, t.vmax)
        pred = read_output(out, dtype, tscale, spec.target_names)
        truth = find_truth(look, reading, spec)
        real = None if truth is None else read_set(path, truth.reader, truth.bands,
                                                    [look.roles[i] for i in truth.bands])
        # One range per band set; a set of the same bands and units shares its reference's.
        ref = real if pred.same_kind(real) else inp if pred.same_kind(inp) else pred
        so = stretch_of(ref) if ref is pred else shared_of(pred, ref)
        what = ", ".join(spec.target_names)
        shared = "" if so.union else \
            {id(real): " (the real band's range)", id(inp): " (your image's range)"}.get(id(ref), "")
        relative = " (relative brightness, not a temperature)" if is_thermal(spec) else ""
        res = Result(_input_panel(inp), Panel(render(pred, so, f"synthetic {what}{relative}"),
                                              f"synthetic {what}{relative} — {so.describe()}{shared}"))
        if spec.scale > 1:  # the input shown at the output's size (each pixel a block), so the two compare
            (h, w), (hi, wi) = pred.data.shape[1:], inp.data.shape[1:]
            rows, cols = np.minimum(np.arange(h) * hi // h, hi - 1), np.minimum(np.arange(w) * wi // w, wi - 1)
            big, st = BandSet(inp.data[:, rows][:, :, cols], inp.roles, inp.units), stretch_of(inp)
            res.shown = Panel(render(big, st, "your image"),
                              f"your image, shown at the ×{spec.scale} output's size (nearest) — {st.describe()}")
            # the same pixels enlarged by bicubic, on the output's range
            up = BandSet(bicubic(inp.data, pred.data.shape[1:]), inp.roles, inp.units)
            res.real = Panel(render(up, so, f"bicubic ×{spec.scale}"),
                             f"bicubic ×{spec.scale} of your image, for comparison — {so.describe()}")
        if real is not None:
            sr = so if ref is real else stretch_of(real)
            res.real = Panel(render(real, sr, f"real {what}"), f"real {what} (in your upload) — "
                             f"{sr.describe()}")
            with open_raster(out) as f:  # the scores see the file at full resolution
                written = decode(f.read(), dtype)
            res.scores = score_table(path, spec, reading, truth, written)
        return res
