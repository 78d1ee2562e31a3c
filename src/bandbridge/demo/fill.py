"""The web page's "Fill a cloud gap": a cloudy Sentinel-2 upload filled from an earlier clear upload (and
Sentinel-1 at both dates, and a mask, where given) exactly as ``bandbridge fill`` fills it, shown before and
after on one stretch, with every route's held-out error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bandbridge.bands import band_role
from bandbridge.data.reader import raster_info, read_decimated
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_rows import KNOWN_CLEAR
from bandbridge.policy import DEMO_FILL_MAX_MPIX
from bandbridge.demo.display import MAX_SIDE, STORED, BandSet, display_bands, read_scaled, render_classes, render_shown
from bandbridge.demo.files import check_upload
from bandbridge.demo.translate import Panel, Result
from bandbridge.stretch import stretch

MAX_FILL_MPIX = DEMO_FILL_MAX_MPIX  # the page's size cap (policy's rule); `bandbridge fill` has none
# The command's flags → the page's boxes, as a refusal names them.
BOXES = {"--sar-earlier": "the **Sentinel-1 at the earlier date** box",
         "--earlier": "the **earlier clear scene** box", "--sar": "the **Sentinel-1 at the date** box",
         "--mask": "the **gap mask** box", "--output": "the download"}
ROUTE_NAMES = {"fit": "fit on the clear part (learner-selection core)",
               "linear": "earlier date, linear map per band (the baseline)",
               "as-is": "earlier date as it is"}
CODES = "FILLED band: 2 filled, 1 observed, 0 no data"
# The FILLED band's classes as the panel's legend draws them (code, name, colour)
CLASSES = ((2, "filled", (0.90, 0.45, 0.05)), (1, "observed", (0.55, 0.55, 0.55)), (0, "no data", (0.0, 0.0, 0.0)))


CLEAR_LABEL = ("this date is clear: the earlier scene has no SCL band and you know it is clear (every pixel "
               "with data taken as clear, as `bandbridge fill -e FILE#clear`)")


def box_words(text: str) -> str:
    """``text`` with ``bandbridge fill``'s flags named as the page's boxes (``-e FILE#clear``: its checkbox)."""
    text = re.sub(r"say so: --earlier .+?#clear", "tick **this date is clear** under the box", text)
    return re.sub(r"(?<![\w-])(--sar-earlier|--earlier|--sar|--mask|--output)(?![\w-])",
                  lambda m: BOXES[m.group(1)], text)


def fill_upload(scene: str | None, earlier: str | None, sar: str | None, sar_earlier: str | None,
                mask: str | None, workdir: Path, clear: bool = False) -> Result:
    """``bandbridge fill scene -e earlier[#clear] [--sar] [--sar-earlier] [--mask] -o OUT`` into
    ``workdir`` (``clear``: the page's *this date is clear*), shown: the scene before and after, the earlier
    date, where it was filled."""
    done, out, said = _run_fill(scene, earlier, sar, sar_earlier, mask, workdir, clear)
    path = Path(scene)
    info = raster_info(path)
    names = [d or "" for d in (info.descriptions or [""] * info.count)]
    data = [i for i, n in enumerate(names) if n.upper() not in ("SCL", "QA_PIXEL", "QA")]
    show = [data[i] for i in display_bands([band_role(names[i]) for i in data])]
    units = "the scene's units"
    before = read_scaled(path, show, info)
    lines = [box_words(s).rstrip(".") + "." for s in said if not s.startswith("written to ")]

    def panel(v: np.ndarray, title: str, words: str) -> Panel:
        return Panel(render_shown(BandSet(v, ("",) * len(show), units), so, title), f"{words} — {so.describe()}")
    if done is None:  # no gap: nothing written
        so = stretch(before, units)
        return Result(panel(before, "scene", "cloudy scene"), Panel(), status=f"**Fill**: {' '.join(lines)}")
    # the output holds the scene's data bands in its order, then FILLED
    after = read_scaled(out, [data.index(b) for b in show], info, show)
    so = stretch(after, units)  # one range for before, after and the earlier date
    res = Result(panel(before, "before", "before: the cloudy scene"), panel(after, "after", "after: the scene filled"))
    einfo = raster_info(earlier)
    enames = [d or "" for d in (einfo.descriptions or [""] * einfo.count)]
    at = [enames.index(names[b]) if names[b] in enames else None for b in show]
    if None not in at:
        res.real = panel(read_scaled(Path(earlier), at, einfo), "earlier",
                         "the earlier clear scene (the base, on its own grid)")
    code = read_decimated(out, STORED, [len(data)], max_side=MAX_SIDE).data[0].astype(np.float32)
    res.ndvi = Panel(render_classes(code, CLASSES, "FILLED"), f"where it was filled ({CODES})")
    res.files = [str(out)]
    res.status = (f"**Filled** {path.name}: " + " ".join(lines) +
                  f" The download is the scene as a Cloud-Optimized GeoTIFF, as `bandbridge fill` writes it: "
                  f"its bands in its own type and units, then the {CODES}; its tags hold the route and every "
                  "route's error.")
    d, learner = done.decisions[0], _tag(out, "bandbridge_fill_learner")  # one route for the scene: its first band's
    rows = [f"| {'**' if k == d.route else ''}{ROUTE_NAMES.get(k, k)}{' — chosen**' if k == d.route else ''} "
            f"| {v:.4g} |" for k, v in d.checks.items()]  # every route's held-out error, the chosen one in bold
    res.scores = ("| route | held-out MAE on the scene's clear pixels (its units) |\n|---|---|\n" + "\n".join(rows)
                  + (f"\n\nThe fit chose {learner}." if learner else "")
                  if rows else "No route held out: too few clear pixels to hold any out (the status says how many).")
    return res


def _tag(path: Path, name: str) -> str:
    """The output's file-level tag ``name`` ("" where it has none)."""
    import rasterio
    with rasterio.open(path) as src:
        return src.tags().get(name, "")


def _run_fill(scene: str | None, earlier: str | None, sar: str | None, sar_earlier: str | None,
              mask: str | None, workdir: Path, clear: bool = False):
    """The uploads checked, then ``bandbridge fill`` into ``workdir``: its result (None: no gap),
    its output and the lines it said; its refusal names the page's boxes."""
    from bandbridge.inference.place.fill import run_fill
    if not scene:
        raise BandbridgeError("upload the cloudy scene first: a Sentinel-2 GeoTIFF with its SCL band "
                              "(or the gap as a mask in its box)")
    if not earlier:
        raise BandbridgeError("upload an earlier clear scene of the place (the same bands) in the **earlier "
                              "clear scene** box: the Sentinel-1 alone is not enough")
    for f in (scene, earlier, sar, sar_earlier, mask):
        if f:
            check_upload(f, max_mpix=MAX_FILL_MPIX, tool="bandbridge fill")
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"{Path(scene).stem}_filled.tif"
    said: list[str] = []
    try:
        return run_fill(str(Path(scene)), str(out), [earlier + (KNOWN_CLEAR if clear else "")], sar, sar_earlier,
                        mask, overwrite=True, cog=True, say=said.append), out, said
    except BandbridgeError as e:  # the command's refusal, its flags named as the page's boxes
        raise BandbridgeError(box_words(str(e))) from None
