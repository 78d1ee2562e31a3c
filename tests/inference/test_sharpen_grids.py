"""``bandbridge sharpen`` across grids (issue 85): a reference in another coordinate system (EPSG:4326, the
next UTM zone) over the same ground, a reference half a pixel off its guides as its file states it (a
corner/centre convention error: corrected and said; ``--reference-shift`` turns it off or forces a shift),
the stored unit on every number of a line, and the written values kept inside the band's range."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject
from scipy.ndimage import shift as moved_by

from tests.conftest import SHARED, needs_shared
from tests.inference.test_sharpen import K, ORIGIN, SIZE, _cubic, _field, _read, _rmse, _write, scene


def _sharpen(p: dict, ref: Path, out: Path, **kw):
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    lines: list[str] = []
    res = sharpen([str(p["guides"])], str(ref), str(out), engine=Engine(threads=1), say=lines.append, **kw)
    return res, lines


def _reprojected(src: Path, dst: Path, crs: str) -> Path:
    """``src`` warped onto ``crs`` at about its own resolution (average), nodata 0 outside."""
    with rasterio.open(src) as s:
        tr, w, h = calculate_default_transform(s.crs, crs, s.width, s.height, *s.bounds)
        with rasterio.open(dst, "w", **(s.profile | {"crs": crs, "transform": tr, "width": w, "height": h})) as d:
            for i in range(1, s.count + 1):
                reproject(rasterio.band(s, i), rasterio.band(d, i), resampling=Resampling.average, src_nodata=0,
                          dst_nodata=0)
            d.descriptions, d.scales, d.offsets = s.descriptions, s.scales, s.offsets
    return dst


def _route(res, name: str):
    return {b.band: b for b in res.decisions}[name]


# --- another coordinate system ------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32632"])
def test_a_reference_in_another_crs_is_read_on_its_own_grid_and_sharpened(tmp_path, crs):
    """The reference warped into EPSG:4326, or into the next UTM zone (32632 beside the guides' 32631), over
    the same ground: read on its own grid over the guides' footprint (no second warp), the output on the
    guides' grid in the reference's units, the band the guides make no worse than cubic upsampling of the
    stated reference (the warp blurred it; the truth is the guides' own)."""
    p = scene(tmp_path)
    res, lines = _sharpen(p, _reprojected(p["ref"], tmp_path / "ref_other.tif", crs), tmp_path / "o.tif")
    out, _ = _read(res.output)
    with rasterio.open(res.output) as d:
        assert d.crs.to_epsg() == 32631 and d.transform == ORIGIN and d.dtypes[0] == "uint16"
    assert (out[:, 12:-12, 12:-12] > 0).all()  # the warped reference's edge cells hold part nodata
    m = np.s_[8:-8, 8:-8]
    assert _rmse(out[0][m], p["truth"][0][m]) <= 1.05 * _rmse(_cubic(p["ref"])[0][m], p["truth"][0][m])
    assert _route(res, "FIT").route.startswith("fit") and any(x.startswith("written: ") for x in lines)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32632"])
def test_a_misregistered_reference_in_another_crs_is_measured_not_a_traceback(tmp_path, crs):
    """Issue 85's trace: the shift test read the guides' rows under the reference's window in the
    reference's CRS (none in EPSG:4326's degrees) and ``average_in_strips`` met no strip. Its content a
    guide pixel off, kept as stated (``none``): the shift is measured on the guides' own rows, the band
    keeps its upsampling, and its line names the move and the flag."""
    p = scene(tmp_path, moved=1)
    res, _ = _sharpen(p, _reprojected(p["ref"], tmp_path / "ref_other.tif", crs), tmp_path / "o.tif",
                      reference_shift="none")
    fit = _route(res, "FIT")
    assert not fit.route.startswith("fit") and "look shifted by X -0." in fit.why
    assert re.search(r"run again with --reference-shift -0\.\d+,-0\.\d+ ", fit.why)


# --- half a pixel: a convention error --------------------------------------------------------------------


def test_half_a_pixel_off_is_corrected_and_said(tmp_path):
    """The reference's content one guide pixel (half a cell) down and right of where its file states it:
    the grid is moved by X −0.5, Y −0.5 of its pixels (10 m) before the fit, in a line that names the
    amount and the convention error, and in the output's tags; the fit then takes the bands it makes and
    the output is as close to the truth as the same reference stated right gives."""
    p = scene(tmp_path, moved=1)
    res, lines = _sharpen(p, p["ref"], tmp_path / "o.tif")
    said = [x for x in lines if x.startswith("the reference's grid moved by")]
    assert len(said) == 1 and "X -0.50, Y -0.50 reference pixels (-10.0 m, +10.0 m in x, y)" in said[0]
    assert "corner/centre convention error, corrected (--reference-shift none keeps" in said[0]
    assert _route(res, "FIT").route.startswith("fit") and _route(res, "MIX").route.startswith("fit")
    with rasterio.open(res.output) as d:
        assert d.tags()["bandbridge_shift"] == said[0] and d.tags(1)["bandbridge_shift"] == said[0]
    out, _ = _read(res.output)
    (tmp_path / "right").mkdir()
    right = scene(tmp_path / "right")
    stated, _ = _sharpen(right, right["ref"], tmp_path / "right.tif")
    good, _ = _read(stated.output)
    m = np.s_[8:-8, 8:-8]  # past the rolled content's wrapped edge
    for i in (0, 2):  # moved back, the reference's cells hold the truth under them: the guides' own
        assert _rmse(out[i][m], p["truth"][i][m]) <= 1.1 * _rmse(good[i][m], p["truth"][i][m])


def test_reference_shift_none_keeps_the_grid_and_names_the_flag(tmp_path):
    """``--reference-shift none``: the grid as stated (the plan and the run say so), the bands the shift
    would carry into keep their upsampling, and each such line gives the move in pixels and metres and the
    flag's value that makes it."""
    p = scene(tmp_path, moved=1)
    res, lines = _sharpen(p, p["ref"], tmp_path / "o.tif", reference_shift="none")
    assert sum("as its files state it (--reference-shift none)" in x for x in lines) == 2  # the plan, the run
    fit = _route(res, "FIT")
    assert not fit.route.startswith("fit") and not any(b.learner for b in res.decisions)
    assert "look shifted by X -0.50, Y -0.50 reference pixels (-10.0 m, +10.0 m in x, y)" in fit.why
    assert "run again with --reference-shift -0.5,-0.5 (or correct" in fit.why


def test_reference_shift_x_y_moves_the_grid_as_asked(tmp_path, run_cli):
    """``--reference-shift X,Y`` moves the grid by X columns and Y rows whatever is measured (a grid stated
    right, moved: said and tagged); a value that is no shift is refused in one line, nothing written."""
    p = scene(tmp_path, moved=1)
    code, out, err = run_cli("sharpen", str(p["guides"]), "--reference", str(p["ref"]), "-o",
                             str(tmp_path / "o.tif"), "--reference-shift", "-0.5,-0.5", "--threads", "1")
    assert code == 0, err
    assert "the reference's grid moved by X -0.50, Y -0.50 reference pixels (-10.0 m, +10.0 m in x, y), as " \
           "--reference-shift asks" in out
    with rasterio.open(tmp_path / "o.tif") as d:
        assert "as --reference-shift asks" in d.tags(1)["bandbridge_shift"]
        assert d.tags(1)["bandbridge_route"].startswith("fit")
    for bad in ("half", "0.5", "2,0", "nan,0"):
        code, out, err = run_cli("sharpen", str(p["guides"]), "--reference", str(p["ref"]), "-o",
                                 str(tmp_path / "bad.tif"), "--reference-shift", bad)
        lines = [x for x in (out + err).strip().splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1 and f"--reference-shift {bad}: " in lines[0], (out, err)
        assert not (tmp_path / "bad.tif").exists()


def test_a_quarter_pixel_is_no_convention_error(tmp_path):
    """The content a quarter cell off (half a guide pixel): not half a pixel, so not corrected, and said;
    the band the guides make keeps its upsampling where the shift is strong, its line naming the flag."""
    p = scene(tmp_path)
    truth = p["truth"]
    with rasterio.open(p["ref"], "r+") as d:
        v = np.stack([moved_by(t, (0.5, 0.5), order=3, mode="nearest") for t in truth])
        d.write(np.round(v.reshape(3, SIZE // K, K, SIZE // K, K).mean((2, 4))).astype("uint16"))
    res, lines = _sharpen(p, p["ref"], tmp_path / "o.tif")
    said = [x for x in lines if re.match(r"no shift corrected: measured X [+-]0\.[23]\d, Y [+-]0\.[23]", x)]
    assert len(said) == 1 and "not half a pixel (within 0.15)" in said[0]
    fit = _route(res, "FIT")
    assert fit.route.startswith("fit") or re.search(r"run again with --reference-shift -?0\.[23]", fit.why)


# --- one unit a line -----------------------------------------------------------------------------------

NUMBER = re.compile(r"(?:held out|erred|against|fits the band|→) \(?(-?\d[\d.]*(?:e[+-]?\d+)?)( [A-Za-z]+)?")


def test_every_error_on_a_line_carries_the_stored_unit(tmp_path):
    """The route lines' errors were model values (an unnamed normalised unit) beside the shift lines' DN:
    every error on every line, and the held-out tags' scale, now name the stored unit (DN here)."""
    p = scene(tmp_path, moved=1)
    res, lines = _sharpen(p, p["ref"], tmp_path / "o.tif", reference_shift="none")
    found = [m for x in lines for m in NUMBER.findall(x)]
    assert len(found) >= 8 and all(unit == " DN" for _, unit in found), [x for x in lines if NUMBER.search(x)]
    with rasterio.open(res.output) as d:
        assert d.tags(1)["bandbridge_heldout_scale"].endswith("(its stored unit: DN)")


def test_a_float_reference_names_its_units_tag():
    """A float reference's unit is its units tag (``K``, ``reflectance``), else "stored units"."""
    from types import SimpleNamespace

    from bandbridge.inference.place.sharpen_finish import stored_units
    t = SimpleNamespace(dtype="float32", names=["B10", "B11", "X"], units=["K", "reflectance", ""])
    assert stored_units(t) == ["K", "reflectance", "stored units"]
    assert stored_units(SimpleNamespace(dtype="uint16", names=["B05"], units=["reflectance"])) == ["DN"]


# --- the band's range ----------------------------------------------------------------------------------


def _ranged(tmp_path: Path, nbits: int | None = None) -> tuple[Path, Path]:
    """Four guides and one uint16 band the guides make at full gain, 11-bit (saturated at 2047 where the truth
    is brighter), with a block of its darkest cells at 20 DN where the guides still show detail."""
    rng = np.random.default_rng(11)
    g = np.stack([_field(rng, s) for s in (1.0, 1.5, 2.5, 1.2)])
    truth = 200 + 2400 * g[0] + 300 * (g[3] - 0.5)
    h = SIZE // K
    ref = truth.reshape(h, K, h, K).mean((1, 3))
    ref[10:30, 10:30] = 20.0  # a dark water body under detailed guides: the reference's minimum
    ref = np.minimum(np.round(ref), 2047)
    guides = _write(tmp_path / "g.tif", np.round(g * 8000 + 500), ["B02", "B03", "B04", "B08"], ORIGIN, "uint16")
    prof = {"driver": "GTiff", "height": h, "width": h, "count": 1, "dtype": "uint16", "crs": "EPSG:32631",
            "transform": ORIGIN @ Affine.scale(K), "nodata": 0} | ({"nbits": nbits} if nbits else {})
    with rasterio.open(tmp_path / "r.tif", "w", **prof) as d:
        d.write(ref[None].astype("uint16"))
        d.descriptions = ("NIR",)
    return guides, tmp_path / "r.tif"


@pytest.mark.parametrize("nbits", [None, 11])
def test_a_sharpened_band_stays_inside_its_range(tmp_path, nbits):
    """Above: the 11-bit depth, stated by the file (NBITS) or by its saturation at 2047 (WorldView-2's, which
    states none) — the output wrote up to 2300 DN. Below: no lower than the reference's minimum (20) less
    twice the drop of its low end one Wald step finer — the output wrote 1 DN (the floor above nodata 0)."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    guides, ref = _ranged(tmp_path, nbits)
    res = sharpen([str(guides)], str(ref), str(tmp_path / "o.tif"), engine=Engine(threads=1))
    out, _ = _read(res.output)
    with rasterio.open(res.output) as d:
        lo, _, hi, unit = d.tags(1)["bandbridge_range"].split()
    assert hi == "2047" and unit == "DN" and 0 < float(lo) <= 20
    ok = out[0] > 0
    assert out[0][ok].max() <= 2047 and out[0][ok].min() >= float(lo)
    assert (out[0][ok] == 2047).sum() > 10  # the saturated cells are written at the depth's top


def test_the_bounds_of_a_band(tmp_path):
    """``band_bounds``, both finishes' one rule: the depth from NBITS, else a saturation at 2ⁿ − 1, else the
    type; the floor the minimum less twice its low end's drop, a physical 0 for an unsigned band."""
    from bandbridge.data.formats import stated_bits
    from bandbridge.inference.place.reference_finish import band_bounds
    v = np.full((1, 8, 8), 100.0, np.float32)
    v[0, :2, :2] = 2047.0
    ok = np.ones((8, 8), bool)
    assert band_bounds(v, ok, 2, "uint16", [1.0], [0.0], [False])[1][0] == 2047
    assert band_bounds(v, ok, 2, "uint16", [1.0], [0.0], [False], bits=12)[1][0] == 4095
    assert band_bounds(v - 1, ok, 2, "uint16", [1.0], [0.0], [False])[1][0] == 65535
    assert band_bounds(v, ok, 2, "float32", [1.0], [0.0], [False])[1][0] == np.inf
    ramp = np.tile(np.arange(20, dtype=np.float32) * 10 + 50, (20, 1))[None]  # cells 50..240, blocks of 2: 55..
    every = np.ones((20, 20), bool)  # 100 whole cells one step down (policy.FLOOR_CELLS)
    lo = band_bounds(ramp, every, 2, "uint16", [1.0], [0.0], [False])[0][0]
    assert lo == pytest.approx(50 - 2 * 5, abs=0.2)
    assert band_bounds(ramp, every, 2, "uint16", [1e-4], [-0.1], [False])[0][0] == 1000  # physical 0 at DN 1000
    assert band_bounds(ramp - 100, every, 2, "int16", [1.0], [0.0], [True])[0][0] == pytest.approx(-60, abs=0.2)
    small = ramp[:, :8, :8]  # 16 cells one step down: too few to tell the low end's drop, no floor of its own
    assert band_bounds(small, ok, 2, "uint16", [1.0], [0.0], [False])[0][0] == 0
    assert band_bounds(small - 100, ok, 2, "int16", [1.0], [0.0], [True])[0][0] == -np.inf
    _, ref = _ranged(tmp_path, 11)
    with rasterio.open(ref) as s:
        assert stated_bits(s) == 11
    (tmp_path / "x").mkdir()
    with rasterio.open(_ranged(tmp_path / "x")[1]) as s:
        assert stated_bits(s) is None


# --- Major-TOM's band folder (the real dev data) ---------------------------------------------------------

MAJORTOM = SHARED / "nir_s2_majortom"
CROP = 360  # 10 m pixels a side


@needs_shared
def test_majortoms_20m_bands_are_moved_half_a_pixel_and_take_the_guides(tmp_path):
    """Major-TOM's 20 m bands lie half a 20 m pixel off its 10 m bands as its files state them: the run
    measures +0.5, +0.5, moves the grid (10 m in x and y), and the bands take the guides instead of cubic."""
    if not (MAJORTOM / "B05.tif").exists():
        pytest.skip(f"{MAJORTOM} holds no B05.tif")
    folder = tmp_path / "majortom"
    folder.mkdir()
    for name in ("B02", "B03", "B04", "B08", "B05", "B11"):
        with rasterio.open(MAJORTOM / f"{name}.tif") as s:
            n = CROP // round(s.transform.a / 10)
            v, prof = s.read(window=((0, n), (0, n))), s.profile
        with rasterio.open(folder / f"{name}.tif", "w", **(prof | {"height": n, "width": n})) as d:
            d.write(v)
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    lines: list[str] = []
    res = sharpen([str(folder)], str(folder), str(tmp_path / "o.tif"), engine=Engine(threads=1),
                       say=lines.append)
    said = [x for x in lines if x.startswith("the reference's grid moved by")]
    assert len(said) == 1 and "X +0.50, Y +0.50 reference pixels (+10.0 m, -10.0 m in x, y)" in said[0]
    for b in res.decisions:
        assert b.route.split("+")[0] in ("fit", "regression"), (b.band, b.route, b.why)
        assert b.heldout < 0.8 * b.baseline, b.band


def test_predict_reference_keeps_the_same_range(tmp_path, run_cli, monkeypatch):
    """``predict --reference``'s finish bounds its band by the same rule (``band_bounds``): an 11-bit NIR
    reference (NAIP's NIR scaled, its brightest tenth saturated at 2047 in uint16, NBITS=11) is never exceeded
    (the fit wrote up to 2117 on the whole crop)."""
    from bandbridge.learners import guided
    from tests.inference.test_reference import TEST
    monkeypatch.setattr(guided, "CANDIDATES", ("constant", "linear", "gbm-bands"))  # no MLP: seconds, not 80 s
    n = 128  # the crop's top-left 128² (a 64² reference: seconds, not minutes)
    with rasterio.open(TEST) as s:
        a, prof = s.read(window=((0, n), (0, n))), s.profile
    with rasterio.open(tmp_path / "aerial.tif", "w", **(prof | {"count": 3, "height": n, "width": n})) as o:
        o.write(a[:3])
    base = a[3].astype(np.float64).reshape(n // 2, 2, n // 2, 2).mean((1, 3))
    ref = np.minimum(np.round(base * 2047 / np.quantile(base, 0.9)), 2047)  # its brightest tenth saturated
    with rasterio.open(tmp_path / "nir_11bit.tif", "w", driver="GTiff", height=n // 2, width=n // 2, count=1,
                       dtype="uint16", crs=prof["crs"], transform=prof["transform"] @ Affine.scale(2), nodata=0,
                       nbits=11) as o:
        o.write(ref[None].astype("uint16"))
        o.descriptions = ("nir",)
    code, _, err = run_cli("predict", str(tmp_path / "aerial.tif"), "-m", "rgb2nir", "--reference",
                           str(tmp_path / "nir_11bit.tif"), "-o", str(tmp_path / "out.tif"), "--threads", "1")
    assert code == 0, err
    with rasterio.open(tmp_path / "out.tif") as s:
        v = s.read(1)
    assert v.max() <= 2047 and (v == 2047).sum() > 50
