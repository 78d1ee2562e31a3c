"""The web page's "Use a reference": the upload's band fitted to a second upload, a coarse or
earlier raster of the band at the same place, exactly as ``bandbridge predict --reference`` does
(``inference/place/reference.py``); the synthetic band on the real one's range where the upload
carries it, with both errors: the synthetic band's and the upsampled reference's, and its NDVI
where the model makes NIR and the upload has red, as ``--index ndvi`` writes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bandbridge.bands import find_role
from bandbridge.data.reader import raster_info, read_decimated
from bandbridge.inference.core.look import look_at
from bandbridge.errors import BandbridgeError
from bandbridge.demo.display import STORED, BandSet, MAX_SIDE, read_index, render, render_index, shared_of, stretch_of
from bandbridge.demo.translate import Controls, Result, input_preview, page_words, Panel


def _band(path: Path, index: int) -> tuple[np.ndarray, str]:
    """Band ``index`` (1-based) of ``path`` in its physical units (scale and offset applied,
    nodata NaN), at most ``MAX_SIDE`` a side as every panel is read, and its description."""
    info = raster_info(path)
    view = read_decimated(path, STORED, [index - 1], max_side=MAX_SIDE)
    data = view.data[0] * info.scales[index - 1] + info.offsets[index - 1]
    data[~view.mask] = np.nan
    return data.astype(np.float32), (info.descriptions[index - 1] or "") if info.descriptions else ""


def with_reference(upload: str | None, name: str, reference: str | None, workdir: Path,
                   controls: Controls = Controls(), ndvi: bool = False) -> Result:
    """``predict upload -m name --reference reference --cog`` into ``workdir``, shown; ``ndvi``
    (the model makes one NIR band): with ``--index ndvi`` too where the upload has red, or the
    reason there is none in the status (an index of the upload's and the reference's units would
    mix them)."""
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.place.reference import ReferenceOptions, Request, predict_with_reference
    if not upload:
        raise BandbridgeError("upload the image to translate first")
    if not reference:
        raise BandbridgeError("upload the reference: a coarse or earlier raster of the band at the "
                              "same place (a Sentinel-2 or Landsat band, an older survey)")
    path = Path(upload)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"{path.stem}_{name}_reference.tif"
    said: list[str] = []
    ov = controls.overrides()
    indices = ("ndvi",) if ndvi and find_role(look_at(path, ov.band_names).roles, "red") is not None else ()
    no_index = ""

    def run(indices: tuple[str, ...]) -> None:
        predict_with_reference(Request([str(path)], name, str(out), PredictOptions(cog=True, indices=indices), ov,
                                       ReferenceOptions(source=str(reference)), True), say=said.append)
    try:
        run(indices)
    except BandbridgeError as e:  # refused when it is planned (before any work): units that would mix
        if not indices or not str(e).startswith("--index"):
            raise
        said.clear()
        run(())
        no_index = f" No NDVI: {page_words(str(e).removeprefix('--index with --reference: ').split('. Drop')[0])}."
    import rasterio
    with rasterio.open(out) as s:
        count, tags = s.count, s.tags()
    syn, _ = _band(out, count)  # its description is the reference's band name: not the panel's title
    pred = BandSet(syn[None], ("nir",), "the reference's units")
    title = "synthetic band fitted to the reference"
    res = Result(input_preview(path, controls.overrides()), Panel())
    roles = look_at(path).roles  # the upload's own NIR band (4-band NAIP-like files), read as the synthetic one was
    real = _band(path, roles.index("nir") + 1)[0] if "nir" in roles else None
    if real is not None and real.shape == syn.shape and comparable(real, syn):
        truth = BandSet(real[None], ("nir",), "the reference's units")
        so = shared_of(pred, truth)
        res.real = Panel(render(truth, so, "real band"), f"real band (in your upload) — {so.describe()}")
        ok = np.isfinite(real) & np.isfinite(syn)
        res.scores = (f"| | MAE (the reference's units) |\n|---|---|\n| reference-guided | "
                      f"{float(np.abs(syn[ok] - real[ok]).mean()):.4g} |")
    else:
        so = stretch_of(pred)
    res.output = Panel(render(pred, so, title), f"{title} ({Path(reference).name}) — {so.describe()}")
    extra = out.with_name(f"{out.stem}_ndvi{out.suffix}")
    if indices and extra.exists():
        res.ndvi = Panel(render_index(read_index(extra)), "NDVI of the reference-guided NIR and your red (−1…+1)")
    res.files = [str(out)] + ([str(extra)] if indices and extra.exists() else [])
    res.status = (f"**{name} with a reference**: " + page_words(" ".join(s.rstrip(".") + "." for s in said if s))
                  + f" The download is a Cloud-Optimized GeoTIFF in the reference's type "
                  f"({tags.get('bandbridge_reference', '')}), tagged with where the band came from." + no_index)
    return res


def comparable(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two bands are in one kind of units (medians within a factor of 3): DN against
    reflectance is no score."""
    ma, mb = (float(np.nanmedian(np.abs(x))) for x in (a, b))
    return min(ma, mb) > 0 and max(ma, mb) / min(ma, mb) < 3
