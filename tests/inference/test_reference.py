"""`predict --reference`: the band from a coarse reference of the same place (issue 57), on the
bundled NAIP sample: the fit beats the upsampled reference, the shift is found, every bad reference
is refused in one line with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from bandbridge.bands import clear
from bandbridge.data.grids import Grid, average_onto, estimate_shift
from bandbridge.data.reference import file_date, open_reference
from bandbridge.errors import BandbridgeError
from bandbridge.evaluation.wald import make_reference
from tests.conftest import SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos"
TEST = NAIP / "m_4709963_se_14_1_20200831.tif"
OLDER = NAIP / "m_4709963_se_14_1_20180716.tif"


def _grid(path) -> Grid:
    with rasterio.open(path) as s:
        return Grid(s.crs, s.transform, s.height, s.width)


def aerial(d, tile=TEST):
    """``(d, the tile's RGB as a user's file in d, its NIR (the truth), the RGB's profile)``; the sample's 2020
    crop unless told."""
    with rasterio.open(tile) as s:
        a, prof = s.read(), s.profile
    prof.update(count=3)
    rgb = d / ("aerial_20200831.tif" if tile == TEST else f"aerial_{Path(tile).stem}.tif")
    with rasterio.open(rgb, "w", **prof) as o:
        o.write(a[:3])
    return d, rgb, a[3].astype(np.float32), prof


@pytest.fixture(autouse=True)
def _test_sized_student(monkeypatch):
    """A tree winner's student in 800 steps (test_student.py's test size), not 3000: the student's
    distillation was over half of each reference fit here (issue 69); it is kept only within
    policy.STUDENT_WITHIN of its teacher, so what each test checks holds either way."""
    from bandbridge.learners import student
    monkeypatch.setattr(student, "STEPS", 800)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The 2020 crop as a user's RGB file, its NIR (the truth) and references made of it."""
    d, rgb, truth, _ = aerial(tmp_path_factory.mktemp("ref"))
    fine = _grid(TEST)
    refs = {k: make_reference(truth, fine, k, d / f"s2_nir_20200831_k{k}.tif") for k in (2, 4)}
    refs["shifted"] = make_reference(truth, fine, 4, d / "s2_nir_20200831_shifted.tif", shift=0.5)
    return d, rgb, truth, refs


def _out(path, band=-1):
    """The band, the file's tags with the band's decision (``place/tags.py``), the profile, the dataset."""
    with rasterio.open(path) as s:
        return s.read(s.count if band == -1 else band).astype(np.float32), s.tags() | s.tags(s.count), s.profile, s


def test_reference_beats_the_upsampled_reference_and_says_how(scene, run_cli):
    from bandbridge.data.grids import upsample_onto
    d, rgb, truth, refs = scene
    out = d / "guided.tif"
    code, stdout, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(refs[2]), "-o", str(out))
    assert code == 0, stderr
    got, tags, prof, _ = _out(out)
    ref = open_reference(refs[2], "nir", _grid(TEST))
    up = upsample_onto(np.nan_to_num(ref.values), ref.grid, _grid(TEST), "cubic")[0]
    mine, theirs = np.abs(got - truth).mean(), np.abs(up - truth).mean()
    assert mine < 0.85 * theirs, (mine, theirs)  # k = 2 on the 2020 crop: measured 1.74 vs 3.72 DN (2026-11-27)
    assert prof["dtype"] == "float32" and prof["crs"] is not None  # the reference's type, the input's grid
    assert tags["bandbridge_k"] == "2.000" and tags["bandbridge_date_gap_days"] == "0"
    assert tags["bandbridge_reference"] == refs[2].name and "applied" in tags["bandbridge_why"]
    assert float(tags["bandbridge_heldout_error"]) > 0
    for said in ("k = 2.00", "the same day", "shift between input and reference", "held out at the reference's scale"):
        assert said in stdout


def test_shift_of_half_a_cell_is_found_and_corrected(scene, run_cli):
    d, rgb, truth, refs = scene
    res = {}
    for name in (4, "shifted"):
        out = d / f"k4_{name}.tif"
        assert run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(refs[name]), "-o", str(out))[0] == 0
        got, tags, _, _ = _out(out)
        res[name] = (np.abs(got - truth).mean(), tags["bandbridge_shift_px"])
    dy, dx = (float(v) for v in res["shifted"][1].split(" ")[0].split(","))
    assert 0.25 <= dy <= 0.75 and -0.75 <= dx <= -0.25 and "corrected" in res["shifted"][1]
    assert "below" in res[4][1]  # in place: nothing to correct
    # registered to a tenth of a cell, not exactly: within 20 % of the aligned result (measured 3.94
    # against 3.38 DN, 2026-11-27; nearest 6.40) and still below the aligned reference upsampled, which a user could not have
    from bandbridge.data.grids import upsample_onto
    aligned = open_reference(refs[4], "nir", _grid(TEST))
    nearest = np.abs(upsample_onto(np.nan_to_num(aligned.values), aligned.grid, _grid(TEST), "nearest")[0] - truth).mean()
    assert res["shifted"][0] <= 1.2 * res[4][0] and res["shifted"][0] < nearest, (res, nearest)


def test_estimate_shift_reads_a_known_shift():
    """Two windows of one real band, the second taken 2 rows down and 3 columns left: it shows at
    (i, j) what the first shows at (i + 2, j − 3)."""
    with rasterio.open(TEST) as s:
        band = s.read(4).astype(np.float32)
    base, moved = band[20:148, 20:148], band[22:150, 17:145]
    dy, dx, _ = estimate_shift(base, moved, np.ones(base.shape, bool))
    assert (round(dy), round(dx)) == (2, -3), (dy, dx)


def test_units_append_index_and_cog(scene, run_cli, tmp_path):
    """A uint16 reference with a scale tag: the output keeps its type and scale; --append writes the
    input bands first, --index ndvi beside it (DN with DN), --cog a COG."""
    d, rgb, truth, refs = scene
    with rasterio.open(refs[4]) as s:
        v, prof = s.read(1), s.profile
    prof.update(dtype="uint16", nodata=0, count=1)
    ref16 = tmp_path / "nir_x100.tif"
    with rasterio.open(ref16, "w", **prof) as o:
        o.write(np.clip(np.rint(np.nan_to_num(v) * 100), 1, 65535).astype("uint16"), 1)
        o.scales, o.descriptions = [0.01], ("nir",)
    out = tmp_path / "rgbn.tif"
    code, _, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(ref16), "-o", str(out),
                              "--append", "--index", "ndvi", "--cog")
    assert code == 0, stderr
    with rasterio.open(out) as s:
        assert s.count == 4 and s.dtypes[0] == "uint16" and s.scales[-1] == 0.01
        assert s.descriptions[-1] == "synthetic_NIR" and s.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        nir = s.read(4) * 0.01
        assert np.abs(s.read(1).astype(float) - rasterio.open(rgb).read(1)).max() == 0
        # the one tag schema (place/tags.py) on the band the fit wrote, the last: not on the input's
        assert s.tags()["bandbridge_kind"] == "reference" and "bandbridge_route" not in s.tags(1)
        band = s.tags(4)
        assert band["bandbridge_route"] == "fit" and float(band["bandbridge_heldout_error"]) > 0
        assert float(band["bandbridge_baseline_error"]) > float(band["bandbridge_heldout_error"])
    assert np.abs(nir - truth).mean() < 4.5  # measured 3.43 DN (k = 4: a fit on 4 096 cells; 6.02 before issue 68)
    with rasterio.open(tmp_path / "rgbn_ndvi.tif") as s:
        ndvi = s.read(1)
    assert np.nanmin(ndvi) >= -1 and np.nanmax(ndvi) <= 1


def test_clouds_are_masked_by_scl(scene, tmp_path):
    """A reference whose SCL calls a disc cloud: those cells are not fitted on or imposed."""
    d, rgb, truth, refs = scene
    ref = make_reference(truth, _grid(TEST), 4, tmp_path / "clouded.tif", clouds=0.25)
    r = open_reference(ref, "nir", _grid(TEST))
    assert r.masked_by == "SCL" and 0.6 < r.valid.mean() < 0.8
    assert list(clear(np.array([4, 5, 6, 11, 8, 9, 3, 0]), "SCL")) == [True] * 4 + [False] * 4
    qa = np.array([0b0, 0b1000, 0b10000, 0b1, 0b1000000])  # clear, cloud, shadow, fill, clear (water bit)
    assert list(clear(qa, "QA_PIXEL")) == [True, False, False, False, True]


def test_dates_from_tags_names_or_the_flag(scene, run_cli, tmp_path):
    from datetime import date
    assert file_date("m_4709963_se_14_1_20200831.tif") == date(2020, 8, 31)
    assert file_date("x.tif", {"DATE_ACQUIRED": "2017-08-13"}) == date(2017, 8, 13)
    assert file_date("x.tif") is None
    d, rgb, truth, refs = scene
    nodate = tmp_path / "coarse.tif"
    nodate.write_bytes(refs[4].read_bytes())
    out = tmp_path / "o.tif"
    code, stdout, _ = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(nodate), "-o", str(out))
    assert code == 0 and "date gap unknown" in stdout
    code, stdout, _ = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(nodate), "-o", str(out),
                              "--overwrite", "--reference-date", "2019-09-04")
    assert code == 0 and "362 days before the input" in stdout and "warning" not in stdout
    assert "not applied: the reference is 362 days" in _out(out)[1]["bandbridge_why"]


def _coarse(tmp_path, name, data, transform, crs="EPSG:26914", descriptions=("nir",), dtype="float32", nodata=None):
    p = tmp_path / name
    with rasterio.open(p, "w", driver="GTiff", height=data.shape[-2], width=data.shape[-1], count=data.shape[0],
                       dtype=dtype, crs=crs, transform=transform, nodata=nodata) as o:
        o.write(data.astype(dtype))
        o.descriptions = descriptions
    return p


def test_another_crs_is_reprojected(scene, run_cli, tmp_path):
    """A reference in another CRS (UTM 15N against the input's 14N) is read over the footprint:
    the truth averaged over its 20 m cells gives nearly the output the truth averaged over 20 m
    cells of the input's own CRS gives (``refs[4]``)."""
    from rasterio.warp import calculate_default_transform
    d, rgb, truth, refs = scene
    with rasterio.open(refs[4]) as s:
        tr, w, h = calculate_default_transform(s.crs, "EPSG:32615", s.width, s.height, *s.bounds)
    utm15 = Grid("EPSG:32615", tr, h, w)
    cells, _ = average_onto(truth[None], np.isfinite(truth), _grid(TEST), utm15)
    p = _coarse(tmp_path, "utm15.tif", cells, tr, "EPSG:32615", nodata=float("nan"))
    mae = {}
    for name, ref in (("native", refs[4]), ("utm15", p)):
        out = tmp_path / f"out_{name}.tif"
        code, stdout, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(ref), "-o", str(out))
        assert code == 0, stderr
        mae[name] = float(np.abs(_out(out)[0] - truth).mean())
    # measured 3.37 against 3.38 DN (2026-11-27): the cells in another CRS cost under 10 %
    assert mae["utm15"] <= 1.1 * mae["native"], mae


BAD = {
    "no overlap": "does not overlap the input",
    "no nir": "no nir band among",
    "all clouds": "clear reference pixels over the input",
    "finer": "finer than the input",
    "k below 2": "less than twice as coarse",
    "k above 1000": "more than 1000",
    "all NaN": "every value over the input is NaN",
    "plain beside georeferenced": "the input has a coordinate system and the reference has none",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_references_refused_in_one_line(scene, run_cli, tmp_path, case):
    d, rgb, truth, refs = scene
    with rasterio.open(TEST) as s:
        t, b = s.transform, s.bounds
    ones = np.ones((1, 64, 64), np.float32) * 100
    made = {
        "no overlap": lambda: _coarse(tmp_path, "far.tif", ones, Affine(10, 0, b.right + 5000, 0, -10, b.top)),
        "no nir": lambda: _coarse(tmp_path, "red.tif", ones, t @ Affine.scale(4), descriptions=("red",)),
        "all clouds": lambda: _coarse(tmp_path, "cloud.tif", np.stack([ones[0], ones[0] * 9]), t @ Affine.scale(4),
                                      descriptions=("nir", "SCL")),
        "finer": lambda: _coarse(tmp_path, "fine.tif", np.ones((1, 600, 600), np.float32), t @ Affine.scale(0.5)),
        "k below 2": lambda: _coarse(tmp_path, "k15.tif", np.full((1, 200, 200), 100, np.float32), t @ Affine.scale(1.5)),
        "k above 1000": lambda: _coarse(tmp_path, "k1200.tif", ones, t @ Affine.translation(-600, -600) * Affine.scale(1200)),
        "all NaN": lambda: _coarse(tmp_path, "nan.tif", ones * np.nan, t @ Affine.scale(4)),
        "plain beside georeferenced": lambda: _plain(tmp_path),
    }
    ref = made[case]()
    out = tmp_path / "never.tif"
    code, stdout, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(ref), "-o", str(out))
    assert code == 2, (stdout, stderr)
    assert BAD[case] in stderr and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def _plain(tmp_path):
    import warnings
    p = tmp_path / "nir.png"  # a one-band file is named by its stem: the NIR role is found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(p, "w", driver="PNG", height=64, width=64, count=1, dtype="uint8") as o:
            o.write(np.full((1, 64, 64), 100, np.uint8))
    return p


@pytest.mark.parametrize("flags,said", [
    (["--dtype", "uint8"], "--dtype uint8 with --reference"),
    (["--confidence"], "--confidence with --reference"),
])
def test_flags_that_cannot_go_with_a_reference(scene, run_cli, tmp_path, flags, said):
    d, rgb, truth, refs = scene
    code, _, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(refs[4]), "-o",
                              str(tmp_path / "o.tif"), *flags)
    assert code == 2 and said in stderr


def test_reference_flags_need_a_reference(scene, run_cli, tmp_path):
    d, rgb, _, _ = scene
    code, _, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "-o", str(tmp_path / "o.tif"),
                              "--reference-date", "2020-01-01")
    assert code == 2 and "go with --reference" in stderr


def test_a_missing_reference_names_the_flag(scene, run_cli, tmp_path):
    d, rgb, _, _ = scene
    code, _, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(tmp_path / "nope.tif"),
                              "-o", str(tmp_path / "o.tif"))
    assert code == 2 and "--reference" in stderr and "no such file" in stderr


def test_make_reference_is_the_block_mean(tmp_path):
    """evaluation/wald.make_reference writes the band's 3 × 3 block means on the 3× coarser grid;
    the blocks' means by hand: 0..35 row by row, the top-left block 0, 1, 2, 6, 7, 8, 12, 13, 14."""
    band = np.arange(36, dtype=np.float32).reshape(6, 6)
    g = Grid("EPSG:26914", Affine(1, 0, 0, 0, -1, 6), 6, 6)
    by_hand = band.reshape(2, 3, 2, 3).mean(axis=(1, 3))
    assert by_hand.tolist() == [[7, 10], [25, 28]]
    path = make_reference(band, g, 3, tmp_path / "ref.tif")
    with rasterio.open(path) as r:
        assert np.allclose(r.read(1), by_hand) and r.descriptions == ("nir",)
        assert r.transform == g.coarser(3).transform and (r.height, r.width) == (2, 2)
    with pytest.raises(BandbridgeError, match="no such file"):
        open_reference("/nonexistent.tif", "nir", g)


def _catalog(tmp_path, truth, items):
    """A static STAC catalog whose Items hold a coarse NIR asset (and an SCL asset at half its
    resolution) of the sample: ``items`` are ``(id, datetime, cloud cover)``; hrefs are file://."""
    import pystac
    from datetime import datetime, timezone
    from rasterio.warp import transform_bounds
    fine = _grid(TEST)
    with rasterio.open(TEST) as s:
        bbox = list(transform_bounds(s.crs, "EPSG:4326", *s.bounds))
    cat = pystac.Catalog("refs", "coarse NIR of the sample")
    for name, when, cloud in items:
        nir = make_reference(truth, fine, 4, tmp_path / f"{name}_nir.tif")
        scl_grid = fine.coarser(8)
        scl = tmp_path / f"{name}_scl.tif"
        with rasterio.open(scl, "w", driver="GTiff", height=scl_grid.height, width=scl_grid.width, count=1,
                           dtype="uint8", crs=scl_grid.crs, transform=scl_grid.transform) as o:
            o.write(np.full((1, scl_grid.height, scl_grid.width), 4, np.uint8))
        it = pystac.Item(name, None, bbox, datetime.fromisoformat(when).replace(tzinfo=timezone.utc),
                         {"eo:cloud_cover": cloud})
        it.add_asset("nir", pystac.Asset(nir.as_uri(), extra_fields={"eo:bands": [{"name": "B08", "common_name": "nir"}]}))
        it.add_asset("scl", pystac.Asset(scl.as_uri()))
        cat.add_item(it)
    cat.normalize_and_save(str(tmp_path / "stac"), pystac.CatalogType.SELF_CONTAINED)
    return tmp_path / "stac" / "catalog.json"


def test_reference_found_in_a_static_stac_catalog(scene, run_cli, tmp_path):
    """--reference CATALOG: the least cloudy Item within 30 days of the input's date is read, with
    its SCL asset (coarser than the band) as the mask; the output says which."""
    d, rgb, truth, refs = scene
    cat = _catalog(tmp_path, truth, [("cloudy", "2020-08-29", 40.0), ("clear", "2020-09-02", 3.0),
                                     ("old", "2018-07-16", 0.0)])
    out = tmp_path / "o.tif"
    code, stdout, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(cat), "-o", str(out))
    assert code == 0, stderr
    assert "Item clear of 2020-09-02 (3 % cloud), the least cloudy of 2 within 30 days of 2020-08-31" in stdout
    tags = _out(out)[1]
    assert tags["bandbridge_reference"] == "clear_nir.tif" and tags["bandbridge_date_gap_days"] == "2"
    assert tags["bandbridge_reference_masked_by"] == "SCL"
    code, _, stderr = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(cat), "-o",
                              str(tmp_path / "never.tif"), "--reference-date", "2015-01-01")
    assert code == 2 and "no Item of sentinel-2-l2a with a nir band" in stderr
    assert not (tmp_path / "never.tif").exists()


def test_adapt_keeps_a_model_fitted_to_a_reference(run_cli, tmp_path):
    """adapt --reference: pairs for free, the image averaged onto the reference's grid against it;
    the card says how the pairs were made, and the kept bundle predicts."""
    with rasterio.open(OLDER) as s:
        nir, fine = s.read(4).astype(np.float32), Grid(s.crs, s.transform, s.height, s.width)
    ref = make_reference(nir, fine, 2, tmp_path / "nir_40m.tif")
    out = tmp_path / "mine"
    code, stdout, stderr = run_cli("adapt", "-m", "rgb2nir-naip", str(OLDER), "--reference", str(ref), "-o", str(out))
    assert code == 0, stderr
    assert "pairs from --reference" in stdout and "averaged onto its grid" in stdout
    card = (out / "MODEL_CARD.md").read_text()
    assert f"--reference {ref}" in card and "_coarse.tif" not in card
    assert run_cli("predict", str(TEST), "-m", str(out), "-o", str(tmp_path / "o.tif"))[0] == 0
    code, _, stderr = run_cli("adapt", "-m", "rgb2nir-naip", f"{OLDER}:{OLDER}", "--reference", str(ref), "-o",
                              str(tmp_path / "never"))
    assert code == 2 and "give the images themselves" in stderr and not (tmp_path / "never").exists()


def test_wald_scores_a_case_beside_its_baselines(run_cli, tmp_path):
    """bandbridge wald on a data root holding the sample's 2020 crop (and its 2018 crop standing
    for the year-old date): one case, every baseline, the record and the table written."""
    import json
    import shutil
    root = tmp_path / "data" / "nir_naip_opengeos"
    root.mkdir(parents=True)
    shutil.copy(TEST, root / TEST.name)
    shutil.copy(OLDER, root / "m_4709963_se_14_1_20190904.tif")
    code, stdout, stderr = run_cli("wald", "--data", str(tmp_path / "data"), "--only", "shifted ½",
                                   "-o", str(tmp_path / "out"))
    assert code == 0, stderr
    rec = json.loads((tmp_path / "out" / "wald.json").read_text())
    (case,) = rec["cases"]
    assert case["k"] == 6 and case["what"] == "shifted ½ cell"
    s = case["scores"]
    for k in ("reference-guided", "upsampled reference (bilinear)", "upsampled reference (cubic)",
              "linear map fitted on the coarse pairs", "zero-shot bundle", "in-scene oracle (adapt on the fine pairs)"):
        assert np.isfinite(s[k]) and s[k] > 0, k
    assert s["reference-guided"] < s["upsampled reference (bilinear)"]  # the shift found: bilinear is misplaced
    # the shift the run corrected also registers a baseline: what registration alone is worth
    assert s["upsampled reference (cubic, registered as the run found)"] < s["upsampled reference (cubic)"]
    assert "| NAIP 20200831 | 6 | shifted ½ cell |" in (tmp_path / "out" / "wald.md").read_text()
    code, _, stderr = run_cli("wald", "--data", str(tmp_path / "nothing"), "-o", str(tmp_path / "o2"))
    assert code == 2 and "no such folder" in stderr


def test_wald_refuses_before_work_and_fails_when_every_case_is_refused(run_cli, tmp_path, monkeypatch):
    """An unwritable -o is refused before any case runs; a run whose every case the method refuses
    writes no record and exits 2 (issue 69)."""
    import shutil

    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.place import reference as reference_kind
    root = tmp_path / "data" / "nir_naip_opengeos"
    root.mkdir(parents=True)
    shutil.copy(TEST, root / TEST.name)
    blocked = tmp_path / "file"
    blocked.write_text("")
    code, _, err = run_cli("wald", "--data", str(tmp_path / "data"), "--only", "shifted ½", "-o", str(blocked / "out"))
    assert code == 2 and "--output" in err

    def refuse(*a, **k):
        raise BandbridgeError("refused here")
    monkeypatch.setattr(reference_kind, "predict_with_reference", refuse)
    code, _, err = run_cli("wald", "--data", str(tmp_path / "data"), "--only", "shifted ½", "-o", str(tmp_path / "o"))
    assert code == 2 and "every case was refused" in err and "refused here" in err
    assert not (tmp_path / "o").exists()


def test_adapt_with_a_reference_saves_the_learner_it_fitted(tmp_path):
    """adapt --reference (issue 68): the bundle of the best learner on the pairs made from the
    reference states the context windows it was fitted with, and its served module computes what
    the fitted learner computes (the learner is kept even where the zero-shot model would be, as
    ``loso --shots`` keeps it, so that there is always one to check)."""
    import torch

    from bandbridge.bundle import load_model
    from bandbridge.models.features import ContextFeatures
    from bandbridge.spec import resolve_model_folder
    from bandbridge.workflows.adapt import ALL_ROWS, adapt_bundle, pair_sources, parse_region, region_split
    from bandbridge.workflows.pairs import reference_pairs
    with rasterio.open(OLDER) as s:
        nir, fine = s.read(4).astype(np.float32), Grid(s.crs, s.transform, s.height, s.width)
        rgb = s.read([1, 2, 3]).astype(np.float32) / 255.0
    ref = make_reference(nir, fine, 2, tmp_path / "nir_40m.tif")
    (tmp_path / "pairs").mkdir()
    made = reference_pairs([str(OLDER)], str(ref), "nir", tmp_path / "pairs")
    folder = resolve_model_folder(Path("rgb2nir-naip"))
    bundle = load_model(folder)
    sources = pair_sources(made, bundle.config, None)
    for src in sources:
        src["split"] = region_split(parse_region(None), ALL_ROWS)
    _, sel = adapt_bundle(folder, bundle, sources, "mine", tmp_path / "mine", True, 60.0, copy_zero_shot=False)
    learner, b = sel.fitted, load_model(tmp_path / "mine")
    args = b.config.model.generator.args
    assert list(args["windows"]) == (list(learner.windows) if learner.context else [])
    x = rgb[:, :64, :64]
    f = ContextFeatures(3, tuple(learner.windows) if learner.context else (), learner.products,
                        exact=True)(torch.from_numpy(x[None]))[0].numpy()
    mine = learner.predict(f.reshape(f.shape[0], -1).T, 3)[:, 0].reshape(64, 64)
    with torch.inference_mode():
        served = b.generator.eval()(torch.from_numpy(x[None]))[0, 0].numpy()
    assert np.allclose(np.clip(mine, 0, 1), served, atol=1e-3)


def test_a_shift_moves_the_output_only_where_a_guide_is_used(scene, run_cli, monkeypatch):
    """The half-cell shift is measured and corrected for the fit; where the route then takes no guide (the fit
    forced off here), the output is the reference upsampled as its file states it — the baseline a user runs —
    not on the moved grid (a false shift on a small Sentinel-2 scene had moved it 0.2 cells: 1.24× Lanczos's RMSE)."""
    from bandbridge.data.grids import upsample_onto
    from bandbridge.learners import guided
    monkeypatch.setattr(guided, "held_out", lambda *a, **k: (None, "", *[float("nan")] * 3, "", 1.0))
    d, rgb, truth, refs = scene
    out = d / "k4_shifted_upsampled.tif"
    assert run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(refs["shifted"]), "-o", str(out))[0] == 0
    got, tags, _, _ = _out(out)
    assert tags["bandbridge_route"] == "upsampled" and "corrected" in tags["bandbridge_shift_px"]
    assert "on its own grid" in tags["bandbridge_shift_px"]
    ref = open_reference(refs["shifted"], "nir", _grid(TEST))
    up = upsample_onto(np.nan_to_num(ref.values), ref.grid, _grid(TEST), tags["bandbridge_upsampling"])[0]
    moved = upsample_onto(np.nan_to_num(ref.values), ref.grid.shifted(0.5, -0.5), _grid(TEST),
                          tags["bandbridge_upsampling"])[0]
    inner = np.s_[8:-8, 8:-8]  # off the edge cells, where both grids fill alike
    assert np.abs(got - up)[inner].mean() < 0.05 * np.abs(got - moved)[inner].mean()
