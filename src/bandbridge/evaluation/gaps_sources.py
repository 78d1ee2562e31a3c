"""``bandbridge gaps`` beyond WorldCereal (the protocols in words: ``gaps_sources_table.py``): ``fill`` scored on
the SEN12MS-CR triplets (``sar_sen12mscr_glfcr``: per patch S1 VV, VH in dB, a cloudy and a cloud-free 13-band
L1C scene, DN/10000; the gap by :func:`cloud_score` and :func:`shadow_mask`; no earlier date, so ``fill --sar``
alone) and on openEO-gfmap's Antwerp site (the WorldCereal protocol of ``gaps.py`` under :data:`DISCS` discs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.ndimage import grey_closing, median_filter, uniform_filter

from bandbridge.data.cube import step_fractions
from bandbridge.evaluation.gaps import (COLUMNS, SEED, columns, disc, field_scores, mean_scores, realism_of,
                                       sar2optical_rgb, save, with_sar)
from bandbridge.evaluation.gaps_dates import read_series
from bandbridge.evaluation.gaps_fill import Case, mask_of, run, write
from bandbridge.inference.place.fill_read import read_layer, sar_on
from bandbridge.inference.place.fill_rows import SNOW_SCL, part
from bandbridge.inference.place.fill_strips import grow
from bandbridge.learners.fill_fit import composite
from bandbridge.policy import CLOUD_THRESHOLD, FILL_DILATE, FILL_FIT_MIN

TRIPLETS = "sar_sen12mscr_glfcr"
GFMAP = "openeo_gfmap/site_s1_s2_2022_2023"
SCALE = 1e-4  # both sources store reflectance × 10000 (L1C DN; gfmap's L2A int16)
S2_BANDS = (1, 2, 3, 7)  # B02, B03, B04, B08 in SEN12MS-CR's 13-band order (B01 … B12, B8A 9th)
MASKS = ("cloud", "cloud+shadow")
TRIPLET_COLUMNS = ("cloudy", "clear-mean", "sar2optical", "fill")
DISCS = 5  # seeded discs over gfmap's one date pair (a judgement: one disc is one noisy number)


def cloud_score_raw(dn: np.ndarray) -> np.ndarray:
    """The per-pixel cloud score of Schmitt et al. 2019 ("Aggregating cloud-free Sentinel-2 images
    with Google Earth Engine", ISPRS Annals IV-2/W7, the rule SEN12MS-CR was built with), on a
    13-band L1C scene ``(13, H, W)`` in DN (reflectance × 10000): the least of how bright B02 is
    (0.1 → 0.5), B01 (0.1 → 0.3), B01 + B10 (0.15 → 0.2) and B04 + B03 + B02 (0.2 → 0.8), and of
    how little it looks like snow (NDSI of B03, B11: 0.8 → 0.6), each ramp rescaled to 0 → 1, capped
    at 1 and not below (as its numpy port in DSen2-CR's and GLF-CR's ``feature_detectors.py``)."""
    r = dn.astype(np.float64) / 10000
    score = np.ones(r.shape[1:])
    ndsi = (r[2] - r[11]) / np.where(r[2] + r[11] == 0, 0.001, r[2] + r[11])
    for v, lo, hi in ((r[1], 0.1, 0.5), (r[0], 0.1, 0.3), (r[0] + r[10], 0.15, 0.2),
                      (r[3] + r[2] + r[1], 0.2, 0.8), (ndsi, 0.8, 0.6)):
        score = np.minimum(score, (v - lo) / (hi - lo))
    return score


def cloud_score(dn: np.ndarray) -> np.ndarray:
    """:func:`cloud_score_raw` smoothed as the port does: a 5×5 grey closing, a 7×7 mean with zeros
    beyond the edge, clipped to [1e-5, 1]."""
    s = grey_closing(cloud_score_raw(dn), size=(5, 5))
    s = uniform_filter(s, size=7, mode="constant", cval=0.0)
    return np.clip(s, 1e-5, 1.0)


def shadow_mask(dn: np.ndarray) -> np.ndarray:
    """Cloud shadow by the port's rule (Meraner et al. 2020, after Zhai et al. 2018): the mean of
    B08 and B11 below its minimum + ¾ of (mean − minimum) and B02 below its minimum + ⅚ of (mean −
    minimum), over the scene; a 5×5 median with zeros beyond the edge."""
    r = dn.astype(np.float64) / 10000
    csi, blue = (r[7] + r[11]) / 2, r[1]
    raw = (csi < csi.min() + 3 / 4 * (csi.mean() - csi.min())) & (blue < blue.min() + 5 / 6 * (blue.mean() - blue.min()))
    return median_filter(raw.astype(np.uint8), size=5, mode="constant", cval=0) > 0


def cloud_masks(dn: np.ndarray) -> dict[str, np.ndarray]:
    """The gap by each rule of :data:`MASKS`, undilated."""
    cloud = cloud_score(dn) >= CLOUD_THRESHOLD
    return {"cloud": cloud, "cloud+shadow": cloud | shadow_mask(dn)}


def _crop(a: np.ndarray, window: tuple[int, int, int] | None) -> np.ndarray:
    if window is None:
        return a
    r, c, n = window
    return a[..., r:r + n, c:c + n]


def _mae(v: np.ndarray, y: np.ndarray, m: np.ndarray) -> float:
    return float(np.mean(np.abs(v[:, m] - y[:v.shape[0], m])))


def score_triplet(root: Path, name: str, work: Path, seed: int = SEED, window: tuple[int, int, int] | None = None,
                  masks: tuple[str, ...] = MASKS) -> tuple[list[dict], list[tuple]]:
    """One SEN12MS-CR patch under each of ``masks`` (of :data:`MASKS`): a row each (empty gap: a row
    that says so), and ``((mask, column), filled image, real, scored)`` for the realism measures."""
    d = root / TRIPLETS
    cloudy = read_layer(str(d / "s2_cloudy" / name), "")
    free = _crop(read_layer(str(d / "s2_cloudfree" / name), "").values, window)
    raw = _crop(cloudy.values, window)
    db = _crop(read_layer(str(d / "s1" / name), "").values[:2], window)  # VV, VH in dB (SOURCE.md)
    y, real = raw[list(S2_BANDS)] * SCALE, free[list(S2_BANDS)] * SCALE
    valid = np.isfinite(y).all(0) & np.isfinite(real).all(0)
    free_clear = ~cloud_masks(free)["cloud"]
    found = cloud_masks(raw)
    grid = cloudy.grid if window is None else part(cloudy.grid, (*window, window[2]))
    at = Path(tempfile.mkdtemp(dir=work))
    scene = write(at / "scene.tif", np.where(valid, y, np.nan), grid, ["B02", "B03", "B04", "B08"])
    vv = write(at / "s1.tif", db, grid, ["VV", "VH"])
    rows, images, sar = [], [], None
    for rule in masks:
        gap = valid & grow(found[rule], FILL_DILATE)  # grown as the command grows a scene's own mask
        clear, score = valid & ~gap, gap & free_clear
        row = {"patch": name.removesuffix(".tif"), "mask": rule, "cloud": float(found["cloud"].mean()),
               "gap": float(gap.mean()), "clear_pixels": int(clear.sum()), "scored": int(score.sum()),
               "dates_apart": _mae(y, real, clear & free_clear) if (clear & free_clear).any() else None,
               "mae": {}, "route": ""}
        rows.append(row)
        if not score.any() or not clear.any():
            row["route"] = "no gap by this rule: nothing to fill" if not gap.any() else "no clear pixel to fit on"
            continue
        out = {"cloudy": y, "clear-mean": np.broadcast_to(y[:, clear].mean(1)[:, None, None], y.shape)}
        if sar is None:
            sar = sar2optical_rgb(db, grid, work, f"{name[:-4]}_{seed}")
        out["sar2optical"] = sar
        # the gap above as --mask (the command takes a --mask as given): the detector's mask grown as SCL's is
        mask = write(at / f"{rule}.tif", gap[None].astype(np.float32), grid, ["gap"])
        out["fill"], done, _ = run(Case(scene, [], mask, vv), y, work, seed)
        row["route"] = done.why if done.route == "sar" else (
            f"nothing filled: under {FILL_FIT_MIN} clear pixels, or SAR alone held out no better than a constant; "
            "the gap left as observed")
        for k in TRIPLET_COLUMNS:
            row["mae"][k] = _mae(out[k], real, score)
            images.append(((rule, k), out[k], real, score))
        # the whole image: the gap's scored pixels and the clear part as observed (the cloudy date's)
        row["scores"] = field_scores(out, real, score, clear & free_clear, kept=y)
    return rows, images


def score_gfmap(root: Path, work: Path, seed: int = SEED, discs: int = DISCS) -> tuple[list[dict], list[tuple]]:
    """Every pair of the site under ``discs`` seeded discs, the columns of ``gaps.COLUMNS`` but
    ``fill-later`` (B04 and B08; ``sar2optical`` B04 only); rows and realism images as
    :func:`score_triplet`."""
    d = root / GFMAP
    s2, s1 = d / "cdse_sentinel2_l2a.nc", d / "cdse_sentinel1_grd.nc"
    rows, images = [], []
    for a, b, sa, sb in with_sar(step_fractions(f"{s2}#scl", [1, 2]), s1):  # gaps.pairs on its own files
        scene, e = read_layer(f"{s2}@{b}#scl", ""), read_layer(f"{s2}@{a}#scl", "--earlier")
        idx = [scene.names.index(n) for n in ("B04", "B08")]
        y = scene.values[idx] * SCALE
        base, has, _ = composite([np.where(e.clear, e.values[idx] * SCALE, np.nan)])
        at = Path(tempfile.mkdtemp(dir=work))  # B04, B08 and an SCL of each date's clear and snow, as fill reads it
        dated = [write(at / f"{d[:10]}.tif", np.concatenate([v.values[idx] * SCALE, np.where(
            v.snow, SNOW_SCL, np.where(v.clear, 4, 9))[None]]), scene.grid, ["B04", "B08", "SCL"], d[:10])
            for d, v in ((b, scene), (a, e))]
        days = int((np.datetime64(b[:10]) - np.datetime64(a[:10])) / np.timedelta64(1, "D"))
        valid = scene.valid & scene.clear
        rgb = sar2optical_rgb(sar_on(scene, f"{s1}@{sb}", "--sar")[0], scene.grid, work, f"gfmap_{sb[:10]}")
        steps = tuple(f"{s2}@{lab}#scl" for lab, _, _ in step_fractions(f"{s2}#scl", [1, 2]))
        series = read_series(steps, tuple(idx), SCALE)
        for i in range(discs):  # as gaps.score_pair does a pair
            hidden = disc(valid.shape, np.random.default_rng([seed, i, 99]))
            score, learn = hidden & valid & has, valid & ~hidden & has
            case = Case(dated[0], dated[1:], mask_of(at / f"disc{i}.tif", hidden, scene), f"{s1}@{sb}", f"{s1}@{sa}")
            out, route, both = columns(case, base, y, learn, series, a, b, work, seed, extra={"sar2optical": rgb[2:3]})
            rows.append({"earlier": a[:10], "later": b[:10], "days": days, "disc": i, "hidden": int(score.sum()),
                         "mae": {k: _mae(out[k], y, score) for k in COLUMNS if k in out}, "route": route,
                         "scores": field_scores(out, y, score, valid & ~hidden),
                         "both": float(both[score].mean()) if score.any() else 0.0})
            images += [(k, out[k], y, score) for k in COLUMNS if k in out]
    return rows, images


def run_sources(data: str | Path, say: Callable[[str], None] = print, seed: int = SEED, discs: int = DISCS,
                triplets: tuple[str, ...] | None = None, window: tuple[int, int, int] | None = None) -> dict:
    """Both sources scored (each skipped, with a line, where its folder is absent); the record.
    ``triplets``: the patch files (default: every one of ``data.csv``); ``window`` ``(row, col,
    size)``: a crop of each patch (tests)."""
    root = Path(data)
    record: dict = {}
    with tempfile.TemporaryDirectory(prefix="bandbridge-gaps-sources-") as tmp:
        if (root / TRIPLETS).is_dir():
            names = triplets or tuple(line.split(",")[-1].strip() for line in
                                      (root / TRIPLETS / "data.csv").read_text().splitlines() if line.strip())
            rows, images = [], []
            for n in names:
                r, im = score_triplet(root, n, Path(tmp), seed, window)
                rows += r
                images += im
                for x in r:
                    apart = "—" if x["dates_apart"] is None else f"{x['dates_apart']:.4f}"
                    say(f"SEN12MS-CR {x['patch']} ({x['mask']}, gap {x['gap']:.0%}, dates apart {apart}): " +
                        ", ".join(f"{k} {v:.4f}" for k, v in x["mae"].items()) + f"; {x['route']}")
            scores = {m: mean_scores([x["scores"] for x in rows if x["mask"] == m and "scores" in x])
                      for m in dict.fromkeys(x["mask"] for x in rows if "scores" in x)}
            record["sen12mscr"] = {"rows": rows, "scores": scores, "realism": realism_of(images) if images else {}}
        else:
            say(f"{root / TRIPLETS}: not found, SEN12MS-CR not scored")
        if (root / GFMAP).is_dir():
            rows, images = score_gfmap(root, Path(tmp), seed, discs)
            for x in rows:
                say(f"gfmap {x['earlier']} → {x['later']} disc {x['disc']}: " +
                    ", ".join(f"{k} {v:.4f}" for k, v in x["mae"].items()) + f"; fill: {x['route']}")
            mean = {k: float(np.mean([x["mae"][k] for x in rows])) for k in COLUMNS if rows and k in rows[0]["mae"]}
            record["gfmap"] = {"rows": rows, "mean": mean, "scores": mean_scores([x["scores"] for x in rows]),
                               "realism": realism_of(images) if images else {}}
        else:
            say(f"{root / GFMAP}: not found, openEO-gfmap's site not scored")
    return record


def save_sources(record: dict, folder: str | Path, command: str, overwrite: bool = True) -> Path:
    """``gaps_sources.json`` and ``gaps_sources.md`` in ``folder`` (``gaps.save``); returns the folder."""
    from bandbridge.evaluation.gaps_sources_table import markdown
    return save(record, folder, command, "gaps_sources", markdown, overwrite)
