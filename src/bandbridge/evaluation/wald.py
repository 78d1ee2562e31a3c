"""Reference-guided synthesis scored where the truth is known: Wald's protocol on the development
data (``bandbridge wald``).

Each case is an image whose band of interest is known at full resolution. That band, averaged over
``k × k`` blocks (and, for the rows that say so, taken from another year, shifted, or clouded with
a scene-classification layer), is written as the coarse **reference** a user would hold; the input is
the image's red, green and blue alone. ``predict --reference`` then runs exactly as a user runs it,
and its output is scored against the full-resolution band beside:

- the reference upsampled (bilinear and bicubic, GDAL's);
- the linear map of the bands fitted on the coarse pairs (the input averaged onto the reference's
  grid against the reference) and applied at full scale;
- the zero-shot bundle (``-m``'s route, no reference), where its output is in the band's units;
- the in-scene oracle: the learner-selection core (what ``adapt`` runs) fitted on the image's own
  fine pairs, its out-of-fold MAE over spatial folds — what a user with real pairs would get.

MAE over the input's valid pixels, in the band's stored units; the held-out error the run itself
estimated at the reference's scale (its output's ``bandbridge_heldout_error`` tag, from the
reference alone) beside it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio

from bandbridge.data.grids import Grid, average_onto, upsample_onto
from bandbridge.data.reference import raster_grid

NAIP = "nir_naip_opengeos/m_4709963_se_14_1_{}.tif"
NAIP_DATES = ("20090818", "20100629", "20120731", "20140720", "20150926", "20160816", "20170827",
              "20180716", "20190904", "20200831")  # the ten dates of one place
NAIP_TEST = "20200831"  # the bundled NAIP model's held-out date: the shifted and clouded rows
MAJOR_TOM = "nir_s2_majortom"  # one Sentinel-2 L2A product, every band at its own resolution
S2_20M = ("1-12_20200824", "1-7_20200817", "10TH_20240624", "4-3_PUMA_20210624", "4-8_20200817",
          "5-4_POTTERS__20200817")
VHR = ("GeoEye1", "IKONOS", "WorldView2")  # WorldView-3's 32² scene holds 64 reference pixels at k = 4


@dataclass
class Case:
    """One row of the table: what is read and written, and the scores."""

    name: str
    rgb: str  # the input file written (red, green, blue)
    ref: str  # the reference file written
    k: int
    what: str  # coincident, a year older, shifted, clouds
    scores: dict[str, float] = field(default_factory=dict)  # method → MAE, stored units
    notes: dict[str, str] = field(default_factory=dict)  # the run's own tags


def write_raster(path: Path, data: np.ndarray, grid: Grid, names: list[str], dtype: str = "float32",
           nodata: float | None = None) -> Path:
    prof = {"driver": "GTiff", "height": data.shape[1], "width": data.shape[2], "count": data.shape[0],
            "dtype": dtype, "nodata": nodata}
    if grid.crs is not None:
        prof.update(crs=grid.crs, transform=grid.transform)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", **prof) as d:
            d.write(data.astype(dtype))
            d.descriptions = tuple(names)
    return path


def make_reference(band: np.ndarray, fine: Grid, k: int, path: Path, shift: float = 0.0,
                   clouds: float = 0.0) -> Path:
    """``band (H, W)`` averaged over ``k × k`` blocks (the cells' content taken ``shift`` cells
    down and left of where the file says), and with ``clouds``, a disc of that share of the cells
    bright and called cloud (class 9) by an ``SCL`` band beside it."""
    grid = fine.coarser(k)
    c, _ = average_onto(band[None].astype(np.float32), np.isfinite(band), fine, grid.shifted(shift, -shift))
    c = c[0]
    layers, names = [c], ["nir"]
    if clouds:
        yy, xx = np.mgrid[:grid.height, :grid.width]
        d = np.hypot(yy - grid.height / 2, xx - grid.width / 2)
        cloud = d <= np.sqrt(clouds * grid.height * grid.width / np.pi)
        c[cloud] = np.nanmax(c) * 1.2
        layers.append(np.where(cloud, 9, 4).astype(np.float32))
        names.append("SCL")
    return write_raster(path, np.stack(layers), grid, names, nodata=float("nan"))


def naip_rgb(data: Path, date: str, work: Path) -> tuple[Path, np.ndarray, Grid]:
    """NAIP ``date`` under the data root as a user's RGB file written into ``work``, with its
    stored bands ``(4, H, W)`` float32 (the NIR the truth) and its grid."""
    naip = data / NAIP.format(date)
    with rasterio.open(naip) as s:
        a, fine = s.read().astype(np.float32), raster_grid(naip)
    return write_raster(work / f"naip_rgb_{date}.tif", a[:3], fine, ["red", "green", "blue"], "uint8"), a, fine


def cases(data: Path, work: Path) -> list[tuple[Case, np.ndarray, float]]:
    """Every case's files written under ``work``: ``(case, truth (H, W) stored units, physical
    units per stored unit)``. Cases whose data is missing are left out."""
    out = []
    dates = [d for d in NAIP_DATES if (data / NAIP.format(d)).exists()]
    for i, date in enumerate(dates):
        rgb, a, fine = naip_rgb(data, date, work)
        other = dates[i - 1] if i else dates[1] if len(dates) > 1 else None  # the date before (2009: after)
        rows = [(2, 0.0, 0.0, a[3], date, "coincident"), (6, 0.0, 0.0, a[3], date, "coincident"),
                (16, 0.0, 0.0, a[3], date, "coincident")]
        if other is not None:
            with rasterio.open(data / NAIP.format(other)) as s:
                rows.append((6, 0.0, 0.0, s.read(4).astype(np.float32), other, f"another year ({other})"))
        if date == NAIP_TEST:
            rows += [(6, 0.25, 0.0, a[3], date, "shifted ¼ cell"), (6, 0.5, 0.0, a[3], date, "shifted ½ cell"),
                     (6, 1.0, 0.0, a[3], date, "shifted 1 cell"), (6, 0.0, 0.25, a[3], date, "clouds on 25 % (SCL)")]
        for k, shift, clouds, band, of, what in rows:
            ref = make_reference(band, fine, k, work / f"naip_nir_{of}_for_{date}_k{k}_s{shift}_c{clouds}.tif", shift, clouds)
            out.append((Case(f"NAIP {date}", str(rgb), str(ref), k, what), a[3], 1.0))
    mt = data / MAJOR_TOM
    if (mt / "B8A.tif").exists():  # a real 20 m band of the same product, not a band averaged here
        fine = raster_grid(mt / "B04.tif")
        a = np.stack([rasterio.open(mt / f"{b}.tif").read(1) for b in ("B04", "B03", "B02", "B08")])
        rgb = write_raster(work / "majortom_rgb_20200223.tif", a[:3], fine, ["B04", "B03", "B02"], "uint16")
        out.append((Case("Sentinel-2 L2A 10 m (Major TOM)", str(rgb), str(mt / "B8A.tif"), 2,
                         "B08 from the product's own B8A at 20 m (another band)"), a[3].astype(np.float32), 1e-4))
    for name in S2_20M:
        f = data / "wildfire_s2_20m" / "pre_fire" / f"{name}.tif"
        if not f.exists():
            continue
        with rasterio.open(f) as s:
            a, fine = s.read().astype(np.float32), raster_grid(f)
        if not np.isfinite(a).all(0).any():
            continue
        rgb = write_raster(work / f"s2_{name}_rgb.tif", a[[2, 1, 0]], fine, ["B04", "B03", "B02"], nodata=float("nan"))
        ref = make_reference(a[3], fine, 2, work / f"s2_{name}_B8_40m.tif")
        out.append((Case(f"Sentinel-2 20 m {name}", str(rgb), str(ref), 2, "coincident, B8 at 40 m"), a[3], 1e-4))
    for name in VHR:
        f = data / "nir_vhr_pansharp" / f"{name}_ms.tif"
        if not f.exists():
            continue
        with rasterio.open(f) as s:
            a, dtype = s.read().astype(np.float32), s.dtypes[0]
        fine = Grid(None, rasterio.Affine.identity(), *a.shape[1:])
        rgb = write_raster(work / f"vhr_{name}_rgb.tif", a[[2, 1, 0]], fine, ["red", "green", "blue"], dtype)
        ref = make_reference(a[3], fine, 4, work / f"vhr_{name}_nir_x4.tif")
        out.append((Case(f"VHR {name}", str(rgb), str(ref), 4, "coincident, NIR 4× coarser"), a[3], 1.0))
    return out


def run_wald(data: str | Path, work: str | Path, model: str = "rgb2nir", say: Callable[[str], None] = print,
             only: str | None = None) -> list[Case]:
    """Every case of :func:`cases` (``only``: those whose name or kind holds it), scored."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.core.interpret import Overrides
    from bandbridge.inference.place import tags
    from bandbridge.inference.place.reference import ReferenceOptions, Request, predict_with_reference
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    done = []
    zero: dict[str, float | None] = {}
    for case, truth, unit in cases(Path(data), work):
        if only and only not in case.name and only not in case.what:
            continue
        t0 = time.perf_counter()
        out = work / f"out_{Path(case.ref).stem}.tif"
        try:  # predict --reference as a user runs it
            predict_with_reference(Request([case.rgb], model, str(out), PredictOptions(), Overrides(),
                                           ReferenceOptions(source=case.ref), True))
        except BandbridgeError as e:  # a case the method refuses is a row that says so
            case.notes["refused"] = str(e)
            say(f"{case.name}, k = {case.k}, {case.what}: refused: {e}")
            done.append(case)
            continue
        valid = np.isfinite(truth)
        with rasterio.open(out) as s:  # the band written, in its physical units, and the run's tags
            got = s.read(s.count).astype(np.float32) * s.scales[-1] + s.offsets[-1]
            case.notes = {k[len("bandbridge_"):]: v for k, v in s.tags().items()
                          if k in ("bandbridge_learner", "bandbridge_shift_px", "bandbridge_unseen_filled_from")}
        band = tags.band(out)  # the band's decision: its route, why (the correction's) and held-out error
        case.notes |= {"route": band[tags.ROUTE], "correction": band["bandbridge_why"],
                       "heldout_mae": band["bandbridge_heldout_error"]}
        tag = case.notes.get("shift_px", "")  # the shift the run corrected, if any
        shift = tuple(float(v) for v in tag.split(" ")[0].split(",")) if "corrected" in tag else None
        case.scores["reference-guided"] = mae(got, truth, valid)
        case.scores.update(baselines(case, truth, valid, shift))
        if case.rgb not in zero:
            zero[case.rgb] = zero_shot(case.rgb, model, truth, unit, valid, work)
            zero[case.rgb + "oracle"] = oracle(case.rgb, truth, valid)
        if zero[case.rgb] is not None:
            case.scores["zero-shot bundle"] = zero[case.rgb]
            if case.name.startswith("NAIP") and not case.name.endswith(NAIP_TEST):
                case.notes["zero_shot"] = "in sample: the NAIP bundle was trained or validated on this date"
        case.scores["in-scene oracle (adapt on the fine pairs)"] = zero[case.rgb + "oracle"]
        case.notes["seconds"] = f"{time.perf_counter() - t0:.1f}"
        say(line(case))
        done.append(case)
    return done


def mae(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
    ok = valid & np.isfinite(pred)
    return float(np.abs(pred[ok] - truth[ok]).mean())


def baselines(case: Case, truth: np.ndarray, valid: np.ndarray, shift: tuple[float, float] | None = None,
              ) -> dict[str, float]:
    """The upsampled reference (bilinear, bicubic) and the coarse-fit linear map at full scale;
    where the run found and corrected a ``shift``, the cubic upsampling registered by it too (what
    the registration alone is worth)."""
    from bandbridge.data.reference import open_reference
    from bandbridge.learners.linear import least_squares
    with rasterio.open(case.rgb) as s:
        x, fine = s.read().astype(np.float32), raster_grid(case.rgb)
    ref = open_reference(case.ref, "nir", fine)
    filled = np.where(ref.valid, ref.values[0], np.nanmean(ref.values[0][ref.valid]))[None]
    out = {f"upsampled reference ({m})": mae(upsample_onto(filled, ref.grid, fine, m)[0], truth, valid)
           for m in ("bilinear", "cubic")}
    if shift is not None:
        out["upsampled reference (cubic, registered as the run found)"] = mae(
            upsample_onto(filled, ref.grid.shifted(*shift), fine, "cubic")[0], truth, valid)
    ok = np.isfinite(x).all(0)
    xc, cover = average_onto(x, ok, fine, ref.grid)
    cells = ref.valid & (cover > 0.99) & np.isfinite(xc).all(0)
    coef = least_squares(xc[:, cells].T, ref.values[0][cells, None])[:, 0]
    out["linear map fitted on the coarse pairs"] = mae(np.tensordot(coef[:-1], x, 1) + coef[-1], truth, valid)
    return out


def zero_shot(rgb: str, model: str, truth: np.ndarray, unit: float, valid: np.ndarray, work: Path) -> float | None:
    """The bundle's own output (no reference) in the band's stored units, or None where it cannot
    run on the file."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.jobs.predict import predict
    out = work / f"zero_{Path(rgb).stem}.tif"
    try:
        predict([rgb], model, str(out), PredictOptions(dtype="float32"), overwrite=True)
    except BandbridgeError:
        return None
    with rasterio.open(out) as s:
        got = (s.read(1).astype(np.float32) * s.scales[0] + s.offsets[0]) / unit
    return mae(got, truth, valid)


def oracle(rgb: str, truth: np.ndarray, valid: np.ndarray) -> float:
    """The learner-selection core on the image's own fine pairs: its out-of-fold MAE."""
    import torch

    from bandbridge.learners.folds import gather
    from bandbridge.learners.select import choose
    with rasterio.open(rgb) as s:
        x = s.read().astype(np.float32)
    ok = valid & np.isfinite(x).all(0)
    lo, hi = float(np.nanmin(x[:, ok])), float(np.nanmax(x[:, ok]))
    t_lo, t_hi = float(truth[ok].min()), float(truth[ok].max())
    xs = torch.from_numpy(np.where(ok, (x - lo) / (hi - lo), 0.0).astype(np.float32))
    ys = torch.from_numpy(np.where(ok, (truth - t_lo) / (t_hi - t_lo), 0.0)[None].astype(np.float32))
    px, _ = gather([(xs, ys, torch.from_numpy(ok))], ["scene"])
    sel = choose(px)
    return float(sel.oof[sel.winner] * (t_hi - t_lo))


def best_upsampled(scores: dict[str, float]) -> float:
    """The best upsampled reference (bilinear, cubic, and registered where the run found a shift):
    what the method must beat."""
    return min(v for k, v in scores.items() if k.startswith("upsampled reference"))


def line(case: Case) -> str:
    s = case.scores
    up = best_upsampled(s)
    return (f"{case.name}, k = {case.k}, {case.what}: reference-guided {s['reference-guided']:.4g} "
            f"({100 * (s['reference-guided'] / up - 1):+.0f} % vs the better upsampled reference {up:.4g})")


def table(done: list[Case] | list[dict]) -> str:
    """The Markdown table of every case (MAE in the band's stored units); ``done``: the cases, or
    their records as ``wald.json`` keeps them (the manual renders it from there)."""
    done = [c if isinstance(c, Case) else Case(**c) for c in done]
    cols = ["reference-guided", "reference-guided, the zero-shot output a feature", "upsampled reference (bilinear)", "upsampled reference (cubic)",
            "upsampled reference (cubic, registered as the run found)",
            "linear map fitted on the coarse pairs", "zero-shot bundle", "in-scene oracle (adapt on the fine pairs)"]
    cols = [c for c in cols if any(c in d.scores for d in done)]
    head = "| case | k | reference | " + " | ".join(cols) + " | vs the better upsampled | route; learner; correction |\n"
    head += "|---|---|---|" + "---|" * len(cols) + "---|---|\n"
    rows = []
    for c in done:
        s = c.scores
        if "refused" in c.notes:
            rows.append(f"| {c.name} | {c.k} | {c.what} | refused: {c.notes['refused']} |")
            continue
        vs = 100 * (s["reference-guided"] / best_upsampled(s) - 1)
        rows.append(f"| {c.name} | {c.k} | {c.what} | " + " | ".join(f"{s[k]:.4g}" if k in s else "—" for k in cols)
                    + f" | {vs:+.1f} % | {(c.notes['route'].split(':')[0] + '; ') if 'route' in c.notes else ''}"
                    f"{c.notes.get('learner', '')}; {c.notes.get('correction', '').split(':')[0]} |")
    return head + "\n".join(rows) + "\n"


def summary(done: list[Case] | list[dict]) -> str:
    """One line per kind of NAIP row over the dates it ran on: the method's mean MAE against the
    best upsampled reference's, and its best and worst change against it on one date."""
    done = [c if isinstance(c, Case) else Case(**c) for c in done]
    kinds: dict[tuple[int, str], list[Case]] = {}
    for c in done:
        if c.name.startswith("NAIP") and "refused" not in c.notes:
            kinds.setdefault((c.k, c.what.split(" (")[0]), []).append(c)
    lines = []
    for (k, what), cs in sorted(kinds.items()):
        if len(cs) < 2:
            continue
        ours = [c.scores["reference-guided"] for c in cs]
        up = [best_upsampled(c.scores) for c in cs]
        vs = [100 * (a / b - 1) for a, b in zip(ours, up)]
        lines.append(f"- NAIP, {len(cs)} dates, k = {k}, {what}: reference-guided {np.mean(ours):.2f} DN "
                     f"against the best upsampled reference {np.mean(up):.2f} (mean MAE); per date "
                     f"{min(vs):+.0f} % to {max(vs):+.0f} %")
    return "\n".join(lines) + ("\n" if lines else "")


def save(done: list[Case], folder: str | Path, command: str) -> Path:
    """``wald.json`` (every score and the run's tags) and ``wald.md`` (the table) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wald.json").write_text(json.dumps({"command": command, "cases": [asdict(c) for c in done]},
                                                 indent=1, ensure_ascii=False))
    md = folder / "wald.md"
    md.write_text(f"# Wald's protocol: the band from a coarse reference\n\nMade by `{command}`.\n"
                  "MAE in the band's stored units (NAIP and VHR: DN; Sentinel-2: reflectance × 10000).\n\n"
                  + summary(done) + "\n" + table(done))
    return md
