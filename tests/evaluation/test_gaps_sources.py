"""``fill`` scored beyond WorldCereal (issue 70, ``evaluation/gaps_sources.py``): the cloud rule of
Schmitt et al. 2019 against values worked by hand, then each source on a tiny real crop, scored in
every column."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import REPO as ROOT, SHARED, needs_shared
from bandbridge.evaluation.gaps import COLUMNS
from bandbridge.policy import CLOUD_THRESHOLD
from bandbridge.evaluation.gaps_sources import (TRIPLET_COLUMNS, cloud_masks, cloud_score,
                                                cloud_score_raw, run_sources, save_sources,
                                                score_gfmap, score_triplet, shadow_mask)
from bandbridge.evaluation.gaps_sources_table import tables

FALL = "ROIs1970_fall_139_p839.tif"


def _pixel(**bands: float) -> np.ndarray:
    """A 13-band L1C pixel in DN (B01 … B12 with B8A 9th); unnamed bands 0."""
    order = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    return np.array([bands.get(b, 0.0) for b in order], np.float64)


def test_cloud_score_of_single_pixels_by_hand():
    # bright cloud: B02 (0.3−0.1)/0.4 = 0.5, B01 (0.2−0.1)/0.2 = 0.5, B01+B10 (0.21−0.15)/0.05 = 1.2,
    # B04+B03+B02 (0.8−0.2)/0.6 = 1.0, NDSI (0.25−0.1)/0.35 = 0.4286 → (0.4286−0.8)/(−0.2) = 1.857: 0.5
    cloud = _pixel(B01=2000, B02=3000, B03=2500, B04=2500, B10=100, B11=1000)
    # snow: every brightness ramp above 1, NDSI (0.5−0.05)/0.55 = 0.8182 → −0.0909 (clouds are not snow)
    snow = _pixel(B01=4000, B02=5000, B03=5000, B04=5000, B10=200, B11=500)
    # dark field: B01+B10 = 0.122 → (0.122−0.15)/0.05 = −0.56, the least ramp
    field = _pixel(B01=1200, B02=900, B03=800, B04=600, B10=20, B11=1500)
    # B03 + B11 = 0: the NDSI's 0.001 guard gives 0 → 4, not NaN; B02 (0.5−0.1)/0.4 = 1.0 the least
    guard = _pixel(B01=5000, B02=5000, B04=11000, B10=1000)
    img = np.stack([cloud, snow, field, guard], 1)[:, None, :]  # (13, 1, 4)
    got = cloud_score_raw(img)[0]
    np.testing.assert_allclose(got, [0.5, (0.45 / 0.55 - 0.8) / -0.2, -0.56, 1.0], atol=1e-9)


def test_cloud_score_smoothing_and_edges_by_hand():
    # a 16×16 scene of the 0.5 cloud: the closing keeps a constant; the 7×7 mean counts zeros
    # beyond the edge, so the corner holds 16/49 of it (0.163, under 0.2: not cloud) and an edge's
    # middle 28/49 (0.286: cloud)
    img = np.repeat(np.repeat(_pixel(B01=2000, B02=3000, B03=2500, B04=2500, B10=100, B11=1000)[:, None, None],
                              16, 1), 16, 2)
    s = cloud_score(img)
    assert s[8, 8] == pytest.approx(0.5) and s[0, 0] == pytest.approx(0.5 * 16 / 49)
    assert s[0, 8] == pytest.approx(0.5 * 28 / 49) and s[3, 3] == pytest.approx(0.5)
    m = cloud_masks(img)["cloud"]
    assert CLOUD_THRESHOLD == 0.2 and not m[0, 0] and m[0, 8] and m[8, 8]


def test_shadow_rule_by_hand():
    # 12×12, a 6×6 dark block at rows/cols 3–8: B08 = B11 = 0.05 (CSI 0.05), B02 0.02; elsewhere
    # CSI 0.3, B02 0.1. CSI mean (36·0.05 + 108·0.3)/144 = 0.2375 → T3 = 0.05 + ¾·0.1875 = 0.1906;
    # B02 mean 0.08 → T4 = 0.02 + ⅚·0.06 = 0.07: the block, raw. The 5×5 median (zeros beyond)
    # keeps a pixel whose window holds at least 13 of it: (3, 5) holds 3×5 = 15, (3, 3) 3×3 = 9
    img = np.zeros((13, 12, 12))
    img[7], img[11], img[1] = 3000, 3000, 1000
    img[7, 3:9, 3:9] = img[11, 3:9, 3:9] = 500
    img[1, 3:9, 3:9] = 200
    m = shadow_mask(img)
    assert m[5, 5] and m[3, 5] and m[5, 3] and not m[3, 3] and not m[0, 0] and not m[10, 5]
    assert m.sum() == 36 - 4 * 3  # each corner of the block loses (3,3), (3,4), (4,3)


@needs_shared
def test_a_sen12mscr_crop_is_scored_in_every_column(tmp_path):
    import rasterio
    with rasterio.open(SHARED / "sar_sen12mscr_glfcr" / "s2_cloudfree" / FALL) as r:
        free = r.read()
    with rasterio.open(SHARED / "sar_sen12mscr_glfcr" / "s2_cloudy" / FALL) as r:
        cloudy = r.read()
    assert cloud_masks(free)["cloud"].mean() < 0.001  # the cloud-free date is, by the rule
    assert 0.4 < cloud_masks(cloudy)["cloud"].mean() < 0.7  # this cloudy one is half cloud
    rows, images = score_triplet(SHARED, FALL, tmp_path, window=(160, 64, 64), masks=("cloud",))
    (r,) = rows
    assert r["mask"] == "cloud" and 0.05 < r["gap"] < 0.9 and r["clear_pixels"] >= 256 and r["scored"] > 200
    assert set(r["mae"]) == set(TRIPLET_COLUMNS) and all(np.isfinite(v) and 0 < v < 0.5 for v in r["mae"].values())
    assert 0 < r["dates_apart"] < 0.2  # the two dates differ where both are clear
    assert r["mae"]["cloudy"] > r["mae"]["clear-mean"]  # leaving the cloud is worse than a flat fill
    if r["route"].startswith("nothing filled"):  # SAR alone held out no better than a constant here
        assert r["mae"]["fill"] == r["mae"]["cloudy"]
    else:
        assert "from SAR alone" in r["route"] and r["mae"]["fill"] < r["mae"]["cloudy"]
    assert {k for k, *_ in images} == {("cloud", c) for c in TRIPLET_COLUMNS}
    assert set(r["scores"]) == set(TRIPLET_COLUMNS)  # the field's four figures, both areas
    for sc in r["scores"].values():
        assert all(set(sc[a]) == {"mae", "psnr", "ssim", "sam_deg"} and 10 < sc[a]["psnr"] < 60 for a in ("cloud", "image"))
    # the whole image keeps the cloudy date's clear part, which differs from the cloud-free date's
    assert r["scores"]["cloudy"]["image"]["mae"] > 0 and r["scores"]["fill"]["image"]["mae"] > 0


@needs_shared
def test_the_gfmap_site_is_scored_in_every_column(tmp_path, monkeypatch):
    """Every fill column is ``bandbridge fill``'s own output (issue 83: no in-memory twin): the
    command runs on the dates' GeoTIFFs with the disc as ``--mask`` (the fits forced, with and
    without SAR, and its own route), and the ``fill`` column is its file, pixel for pixel."""
    import rasterio

    from bandbridge.inference.place import fill
    runs, scenes = [], []

    def spy(scene, out, earlier, sar=None, sar_earlier=None, mask=None, **kw):
        done = fill_command(scene, out, earlier, sar, sar_earlier, mask, **kw)
        scenes.append(scene)
        with rasterio.open(out) as src:
            runs.append((kw.get("route"), sar is not None, mask, src.read()))
        return done
    fill_command = fill.run_fill
    monkeypatch.setattr(fill, "run_fill", spy)
    rows, images = score_gfmap(SHARED, tmp_path, discs=1)
    assert [(r["earlier"], r["later"]) for r in rows] == [("2023-04-05", "2023-04-15")]  # the site's one pair
    assert {("fit", False), (None, True)} <= {(r, s) for r, s, *_ in runs}  # and ("fit", True) unless fill chose it
    own = next(a for r, s, _, a in runs if r is None)
    got = next(v for k, v, *_ in images if k == "fill")
    done = own[-1] == 2
    assert done.sum() > 500 and np.allclose(got[:, done], own[:-1][:, done])
    assert all(m.endswith(".tif") for *_, m, _ in runs)
    # --mask replaces the scene's own SCL: it holds the disc and the scene's own clouds (24 pixels at this date),
    # so that the fit learns from the pixels the old twin learned from, never a cloud as ground (issue 83)
    with rasterio.open(runs[0][2]) as m, rasterio.open(scenes[0]) as sc:
        gap, cloudy = m.read(1) != 0, sc.read(3) == 9
    assert cloudy.sum() == 24 and gap[cloudy].all()
    (r,) = rows
    assert r["days"] == 10 and r["hidden"] > 500 and set(r["mae"]) == set(COLUMNS) - {"fill-later"}
    assert all(np.isfinite(v) and 0 < v < 0.2 for v in r["mae"].values())
    assert r["route"] in ("fit", "linear", "as-is") and len(images) == len(COLUMNS) - 1
    assert set(r["scores"]) == set(COLUMNS) - {"fill-later"} and "sam_deg" not in r["scores"]["sar2optical"]["cloud"]  # B04 alone
    assert 0 <= r["both"] <= 1


def test_record_of_absent_sources_says_so_and_saves(tmp_path):
    said = []
    record = run_sources(tmp_path / "nowhere", say=said.append)
    assert record == {} and len(said) == 2 and all("not found" in s for s in said)
    figures = {"mae": 0.03, "psnr": 28.5, "ssim": 0.81, "sam_deg": 6.25}
    rec = {"sen12mscr": {"rows": [{"patch": "p", "mask": "cloud", "cloud": 0.0, "gap": 0.0, "clear_pixels": 9,
                                   "scored": 0, "dates_apart": 0.05, "mae": {}, "route": "no gap by this rule"}],
                         "scores": {"cloud": {"fill": {"cloud": figures, "image": figures}}}, "realism": {}}}
    folder = save_sources(rec, tmp_path / "out", "bandbridge gaps --data D -o O")
    md = (folder / "gaps_sources.md").read_text()
    assert "`bandbridge gaps --data D -o O`" in md and "another date" in md and "| p | cloud |" in md
    assert "| `fill`, no earlier date (SAR alone) | 28.50 | 0.810 | 6.25 | 0.0300 | 28.50 |" in md
    assert "Meraner et al. 2020" in md and "not a like-for-like comparison" in md
    assert "### SEN12MS-CR" in tables({"command": "C", **rec}) and "*Measured by `C`" in tables({"command": "C", **rec})
    assert json.loads((folder / "gaps_sources.json").read_text())["command"] == "bandbridge gaps --data D -o O"


@pytest.mark.parametrize("flag", [None, "--no-sources"])
def test_the_gaps_command_writes_both_records_and_no_sources_leaves_the_second_out(run_cli, tmp_path, monkeypatch,
                                                                                  flag):
    """The command's wiring (the scoring itself is tested above): `bandbridge gaps` writes gaps.* and
    gaps_sources.* from the same command line; --no-sources writes only the first."""
    from bandbridge.evaluation import gaps, gaps_sources
    (tmp_path / "data" / "worldcereal").mkdir(parents=True)
    record = json.loads((ROOT / "docs" / "results" / "gaps.json").read_text())
    record.pop("command")
    sources = json.loads((ROOT / "docs" / "results" / "gaps_sources.json").read_text())
    sources.pop("command")
    monkeypatch.setattr(gaps, "run_gaps", lambda data, say, limit=None: record)
    monkeypatch.setattr(gaps_sources, "run_sources", lambda data, say: sources)
    out = tmp_path / "results"
    code, stdout, stderr = run_cli("gaps", "--data", str(tmp_path / "data"), "-o", str(out), *([flag] if flag else []))
    assert code == 0, stderr
    assert (out / "gaps.md").is_file() and (out / "gaps_sources.md").is_file() == (flag is None)
    if flag is None:
        written = json.loads((out / "gaps_sources.json").read_text())
        assert written["command"].startswith("bandbridge gaps --data") and "SEN12MS-CR" in (out / "gaps_sources.md").read_text()
    code, _, stderr = run_cli("gaps", "--data", str(tmp_path), "-o", str(out))
    assert code == 2 and "no worldcereal/ folder there" in stderr
