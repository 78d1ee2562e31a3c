"""The web page's "Sharpen a coarse raster": every band of a coarse reference upload sharpened onto
the grid of a fine upload (one raster, or one file per band) exactly as ``bandbridge sharpen`` does
(``inference/place/sharpen.sharpen``, the ``sharpen`` kind the command runs: a route per band by
its held-out error at the reference's scale), shown beside the reference upsampled on one stretch,
with the command's own plan and route lines and every band's held-out errors, the best upsampling's
among them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bandbridge.bands import band_role
from bandbridge.data.reader import raster_info, read_decimated
from bandbridge.errors import BandbridgeError
from bandbridge.demo.display import MAX_SIDE, STORED, BandSet, display_bands, read_scaled, render_shown, shared_of, \
    stretch_of
from bandbridge.demo.files import check_upload
from bandbridge.demo.translate import Panel, Result, checked_text

# The page's size cap is the page's own (policy.DEMO_MAX_MPIX, checked on every upload's header): the output
# is the finest upload's grid, inside the page's CPU budget (docs/results/sharpen_speed.json).
# The command's flags → the page's boxes, as a refusal names them.
BOXES = {"FINE": "the **fine raster** box", "--reference": "the **coarse reference** box",
         "--bands": "the **bands to sharpen** box", "--output": "the download"}
UPSAMPLED = "cubic"  # how the reference is shown upsampled: the smoothest of the sharpener's own upsamplings


def box_words(text: str) -> str:
    """``text`` with ``bandbridge sharpen``'s argument and flags named as the page's boxes."""
    return re.sub(r"(?<![\w-])(FINE|--reference|--bands|--output)(?![\w-])", lambda m: BOXES[m.group(1)], text)


def sharpen_upload(fine: list[str] | str | None, coarse: str | None, bands: str | None, workdir: Path) -> Result:
    """``bandbridge sharpen FINE… --reference coarse [--bands …] -o OUT --cog`` into ``workdir``, shown:
    the sharpened bands beside the reference upsampled (one stretch), the guides, the command's lines
    and a table of every band's route and held-out errors."""
    from bandbridge.inference.place import tags
    from bandbridge.inference.place.sharpen import sharpen
    bands = checked_text(bands, "**bands to sharpen** box")
    fine = [f for f in ([fine] if isinstance(fine, (str, Path)) else fine or []) if f]
    if not fine:
        raise BandbridgeError("upload the fine raster first: a GeoTIFF of the guide bands (e.g. Sentinel-2's "
                              "10 m B02, B03, B04, B08), or one file per band")
    if not coarse:
        raise BandbridgeError("upload the coarse reference: a GeoTIFF of the bands to sharpen over the same "
                              "place (e.g. Sentinel-2's 20 m bands)")
    for f in (*fine, coarse):
        check_upload(f, tool="bandbridge sharpen")
    ref = Path(coarse)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"{ref.stem}_sharpened.tif"
    said: list[str] = []
    try:
        done = sharpen(fine, str(ref), str(out), bands=[t.strip() for t in (bands or "").split(",") if t.strip()]
                       or None, overwrite=True, say=said.append, cog=True)  # the bands box: empty, every band
    except BandbridgeError as e:  # the command's refusal, its flags named as the page's boxes
        raise BandbridgeError(box_words(str(e))) from None
    res = _panels(out, ref, fine)
    res.files = [str(out)]
    lines = [box_words(s) for s in said if not s.startswith("written: ")]
    res.status = (f"**Sharpened** {ref.name} onto {', '.join(Path(f).name for f in fine)}:\n\n"
                  + "\n".join(f"- {s}" for s in lines)
                  + "\n\nThe download is what `bandbridge sharpen --cog` writes: the reference's bands on the fine "
                  "grid, in the reference's type, scale and offset, each tagged with its route and errors.")
    best = [t["bandbridge_baseline"] for t in tags.read(out)[1]]  # each band's upsampling, as the download says
    rows = [f"| {b.band} | {b.route} | {b.heldout:.4g} | {b.baseline:.4g} ({u or 'upsampled'}) | "
            + (f"{b.checks['transfer']:.4g} |" if np.isfinite(b.checks.get("transfer", np.nan)) else "not checked |")
            for b, u in zip(done.decisions, best)]
    learners = "; ".join(dict.fromkeys(b.learner for b in done.decisions if b.learner))
    res.scores = ("| band | route | held-out MAE at the reference's scale | the best upsampling's | one Wald step "
                  "down |\n|---|---|---|---|---|\n" + "\n".join(rows)
                  + "\n\nErrors in the reference's stored values, held out on its own cells"
                  + (f"; the fit: {learners}." if learners else "; no band took the fit."))
    return res


def _panels(out: Path, ref: Path, fine: list[str]) -> Result:
    """The sharpened bands (red, green, blue among them, else the first) and the reference's same bands
    upsampled onto the same pixels, on one stretch; the guides beside them."""
    import rasterio
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    from bandbridge.inference.place.sharpen_read import bands_of
    info = raster_info(out)
    names = [d or "" for d in (info.descriptions or [""] * info.count)]
    roles = [band_role(n) for n in names]
    show = display_bands(roles)
    units = "the reference's units"
    sharp = read_scaled(out, show, info)
    # the reference's same bands, scaled, upsampled by UPSAMPLED onto the panel's pixels (the output's grid read
    # at MAX_SIDE a side at most); NaN where it has none
    found = {b.name: b for b in bands_of(str(ref), "--reference")}
    shape = sharp.shape[1:]
    crs, transform = info.crs, info.transform @ Affine.scale(info.width / shape[1], info.height / shape[0])
    up = np.full((len(show), *shape), np.nan, np.float32)
    for k, b in enumerate(found.get(names[i]) for i in show):
        if b is None:  # not a band the reference names so (the panel stays empty, said in its title)
            continue
        with rasterio.open(b.path) as s:
            v = s.read(b.index).astype(np.float32)
            if s.nodata is not None:
                v[v == s.nodata] = np.nan
            reproject(v * s.scales[b.index - 1] + s.offsets[b.index - 1], up[k], src_transform=s.transform,
                      src_crs=s.crs or crs, src_nodata=np.nan, dst_transform=transform, dst_crs=crs,
                      dst_nodata=np.nan, resampling=getattr(Resampling, UPSAMPLED))
    kind = tuple(roles[i] for i in show)
    sharp_set, up_set = BandSet(sharp, kind, units), BandSet(up, kind, units)
    # the sharpened bands on their reference's range (their own where the reference could not be shown)
    so = shared_of(sharp_set, up_set) if np.isfinite(up).any() else stretch_of(sharp_set)
    what = ", ".join(names[i] for i in show)
    res = Result(Panel(render_shown(up_set, so, "upsampled"),
                       f"the reference's {what} upsampled ({UPSAMPLED}) — {so.describe()}"),
                 Panel(render_shown(sharp_set, so, "sharpened"), f"sharpened {what} — {so.describe()}"))
    guides = _guides(fine, sharp.shape[1:])
    if guides is not None:
        gs = stretch_of(guides)
        res.real = Panel(render_shown(guides, gs, "guides"), f"the fine raster (the guides) — {gs.describe()}")
    return res


def _guides(fine: list[str], shape: tuple[int, int]) -> BandSet | None:
    """The guides' red, green, blue (else their first band) as stored, where the panel's pixels have
    them (a file on another grid than the output is not shown: it is warped only inside the run)."""
    from bandbridge.inference.place.sharpen_read import bands_of
    found = [b for f in fine for b in bands_of(f, "FINE")]
    roles = [band_role(b.name) for b in found]
    picked = [found[i] for i in display_bands(roles)]
    views = [read_decimated(b.path, STORED, [b.index - 1], max_side=MAX_SIDE) for b in picked]
    if any(v.data.shape[1:] != shape for v in views):
        return None
    data = np.stack([np.where(v.mask, v.data[0], np.nan) for v in views]).astype(np.float32)
    return BandSet(data, tuple(band_role(b.name) for b in picked), "the guides' stored values")
