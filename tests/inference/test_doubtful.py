"""Doubtful inputs are named (issue 47 point 3): saturated bands, one band given to a model made
from colour, constant and nearly constant inputs, and an error map with nothing to say per pixel."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.confidence import FLAT_ERROR, FLAT_NOTE, ErrorRaster
from bandbridge.inference.core.interpret import SATURATED, Overrides, interpret
from bandbridge.spec import read_spec, resolve_model_folder
from conftest import SAMPLE, SHARED

NAIP_MODEL = "rgb2nir-naip"
SAMPLE_NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def _tif(path, data: np.ndarray, dtype="uint8"):
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=c, dtype=dtype,
                       crs="EPSG:32614", transform=Affine(1, 0, 500000, 0, -1, 5200000)) as d:
        d.write(data.astype(dtype))
    return path


def _rgb(seed=0, h=200, w=200) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 200, (3, h, w))


def test_a_saturated_band_is_named_with_its_share_at_the_ceiling(tmp_path):
    x = _rgb()
    x[0, :120] = 255  # 60 % of red clipped, as a true-colour TCI's red over bright ground
    r = interpret(_tif(tmp_path / "tci.tif", x), read_spec(resolve_model_folder(NAIP_MODEL)))
    assert "CHECK: 60% of band 0 (red) at 255, the uint8 ceiling: clipped (saturated) input" in r.note, r.note
    assert "band 1" not in r.note.split("CHECK")[1]  # green and blue are not clipped
    x[0, :] = _rgb(1)[0]
    x[0, :int(200 * SATURATED / 2)] = 255  # 1 %: below the stated share, not a doubt
    assert "CHECK" not in interpret(_tif(tmp_path / "ok.tif", x), read_spec(resolve_model_folder(NAIP_MODEL))).note


def test_constant_input_is_refused_and_a_nearly_constant_band_named(tmp_path):
    spec = read_spec(resolve_model_folder(NAIP_MODEL))
    with pytest.raises(BandbridgeError, match=r"flat.tif: every pixel holds the same value in each "
                                              r"input band \(0, 0, 0\): there is nothing for a model"):
        interpret(_tif(tmp_path / "flat.tif", np.zeros((3, 64, 64))), spec)
    x = _rgb()
    x[2] = 90  # blue one value everywhere, red and green vary
    r = interpret(_tif(tmp_path / "blue.tif", x), spec)
    assert "CHECK: band 2 (blue) nearly constant" in r.note, r.note


def test_one_band_to_a_colour_model_is_refused_unless_bands_say_so(tmp_path):
    gray = _tif(tmp_path / "b04.tif", _rgb()[:1])
    spec = read_spec(resolve_model_folder(NAIP_MODEL))
    with pytest.raises(BandbridgeError, match=r"b04.tif: one band, but rgb2nir-naip takes 3 .*--bands 0,0,0"):
        interpret(gray, spec)
    assert interpret(gray, spec, Overrides(bands=(0, 0, 0))).bands == [0, 0, 0]


def test_predict_cli_refuses_one_band_with_exit_2_and_writes_nothing(run_cli, tmp_path):
    gray = _tif(tmp_path / "b04.tif", _rgb()[:1])
    code, _, err = run_cli("predict", str(gray), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o.tif"))
    assert code == 2 and "one band" in err and "--bands 0,0,0" in err and "Traceback" not in err
    assert not (tmp_path / "o.tif").exists()
    # the advice works (issue 58: it was refused as "names a band twice"), for every model a grey
    # image is pointed at
    for model in ("rgb2nir-naip", "rgb2nir"):
        code, _, err = run_cli("predict", str(gray), "-m", model, "--bands", "0,0,0", "-o", str(tmp_path / f"{model}.tif"))
        assert code == 0 and (tmp_path / f"{model}.tif").exists(), err


def test_a_flat_error_map_is_reported_not_passed_off_as_per_pixel_information():
    er = ErrorRaster(None, 255.0, "", "")
    valid = np.ones((1, 10, 10), bool)
    er.count(np.full((1, 10, 10), 41.35) + np.random.default_rng(0).normal(0, 0.13, (1, 10, 10)), valid)
    note = er.flat_note("DN (8-bit)")
    assert note.startswith(f"{FLAT_NOTE} (41.3") and "± 0.1" in note and f"{FLAT_ERROR:.0%}" in note, note
    er = ErrorRaster(None, 255.0, "", "")
    er.count(np.linspace(5, 60, 100).reshape(1, 10, 10), valid)  # a map that ranks pixels
    assert er.flat_note("DN (8-bit)") is None


@pytest.mark.skipif(not (SHARED / "nir_epfl_rgbnir_photos").is_dir(), reason="needs ../shared/data (EPFL photos)")
def test_confidence_on_a_photo_says_its_map_is_flat(run_cli, tmp_path):
    # the case: rgb2nir-photo's error map on a photo, 41.35 ± 0.13 DN
    photo = next((SHARED / "nir_epfl_rgbnir_photos" / "rgb").glob("*.jpg"))
    code, out, err = run_cli("predict", str(photo), "-m", "rgb2nir-photo", "--confidence", "-o", str(tmp_path / "p.tif"))
    assert code == 0, err
    flat = [line for line in out.splitlines() if FLAT_NOTE in line]
    spread = ErrorRaster(None, 1.0, "", "")
    with rasterio.open(tmp_path / "p_error.tif") as src:
        e = src.read(1)
    spread.count(e[None], np.isfinite(e)[None])
    assert bool(flat) == (spread.flat_note("") is not None), out  # said exactly when it is flat


def test_sentinel2_baseline_4_offset_is_read_from_the_files_scale_and_offset(tmp_path):
    # processing baseline >= 04.00: DN = (reflectance + 0.1) × 10000, tagged scale 0.0001, offset -0.1
    from bandbridge.bands import SCALINGS
    from bandbridge.data.reader import read_raster
    refl = np.random.default_rng(0).uniform(0.02, 0.4, (3, 64, 64))
    dn = np.round((refl + 0.1) * 10000).astype("uint16")
    path = _tif(tmp_path / "l2a_b4.tif", dn, "uint16")
    with rasterio.open(path, "r+") as d:
        d.scales, d.offsets = [1e-4] * 3, [-0.1] * 3
    r = interpret(path, read_spec(resolve_model_folder("rgb2nir-s2")))
    assert r.scaling == "reflectance_10000_offset" and "offset -0.1" in r.note, r.note
    got = read_raster(path, SCALINGS[r.scaling], [0, 1, 2]).data
    np.testing.assert_allclose(got, refl, atol=1e-4)  # not 0.1 too bright


# ---------------------------------------------------------------- unlike the model's own pairs (point 1)
def test_a_file_unlike_the_models_pairs_is_named_with_both_ranges_and_the_flag_that_settles_it(tmp_path):
    """rgb2nir-naip records the values its training inputs held (model.yaml: inputs_seen): a file
    four times darker, or 8-bit values stored ×257 as uint16, is named; the flag named settles it."""
    spec = read_spec(resolve_model_folder(NAIP_MODEL))
    assert spec.seen["dtypes"] == ["uint8"] and len(spec.seen["p1"]) == 3
    src = SAMPLE_NAIP
    with rasterio.open(src) as f:
        x = f.read(window=((0, 256), (0, 256)))[:3].astype(np.int64)
    ok = interpret(_tif(tmp_path / "ok.tif", x), spec).note
    assert "CHECK" not in ok, ok
    dark = interpret(_tif(tmp_path / "dark.tif", x // 4), spec).note
    assert "CHECK: read as uint8 its values span" in dark and "where rgb2nir-naip saw" in dark, dark
    assert "(uint8 read as uint8) — another scale?" in dark, dark
    flags = dark.split("; --scaling minmax")[1].split(" stretches")[0]
    vmin, vmax = float(flags.split("--vmin ")[1].split()[0]), float(flags.split("--vmax ")[1])
    settled = interpret(tmp_path / "dark.tif", spec, Overrides(scaling="minmax", vmin=vmin, vmax=vmax))
    assert "CHECK" not in settled.note  # the user's --scaling settles it
    # the settled reading is no longer unlike the pairs (its flags put it onto their range)
    from bandbridge.data.seen import unlike
    from bandbridge.bands import minmax_scaling
    assert unlike((x // 4).reshape(3, -1), minmax_scaling(vmin, vmax), spec.seen, "m", "uint8") is None
    wide = interpret(_tif(tmp_path / "x257.tif", x * 257, "uint16"), spec).note
    assert "CHECK: stored as uint16 where rgb2nir-naip's pairs were uint8; read as uint16 by a guess" in wide, wide


def test_reflectance_read_at_the_wrong_scale_is_named_and_the_right_scale_suggested():
    from bandbridge.bands import SCALINGS
    from bandbridge.data.seen import record, unlike, well_formed
    rng = np.random.default_rng(0)
    refl = rng.uniform(0.02, 0.4, (3, 64, 64)).astype(np.float32)
    seen = record([(refl, None)], ["uint16"], ["reflectance_10000"])
    assert np.allclose(seen["p1"], 0.02, atol=0.01) and np.allclose(seen["p99"], 0.4, atol=0.01)
    x1000 = (refl * 1000).reshape(3, -1)  # ARCSI's × 1000, read as ESA's × 10000
    clause = unlike(x1000, SCALINGS["reflectance_10000"], seen, "m", "uint16")
    assert clause and "another scale? --scaling reflectance_1000 if the file holds that" in clause, clause
    assert unlike(x1000, SCALINGS["reflectance_1000"], seen, "m", "uint16") is None
    # a stated range (minmax) is weighed against the scalings the model saw, not looked up by name
    from bandbridge.bands import minmax_scaling
    assert "another scale? --scaling reflectance_10000" in unlike(x1000, minmax_scaling(0, 40), seen, "m", "uint16")
    hazy = rng.uniform(1500, 2500, (3, 4096))  # narrower, but inside what it saw: a hazy scene
    assert unlike(hazy, SCALINGS["reflectance_10000"], seen, "m", "uint16") is None
    # a damaged record is ignored, never trusted
    for bad in (None, [], {"p1": [0.1], "p99": [0.2]}, {"p1": [0.3] * 3, "p99": [0.2] * 3},
                {"p1": ["a"] * 3, "p99": [1] * 3}, {"p1": [float("nan")] * 3, "p99": [1] * 3}):
        assert not well_formed(bad, 3)
        assert unlike(x1000, SCALINGS["reflectance_10000"], bad, "m", "uint16") is None


def test_a_declared_scaling_the_file_contradicts_is_a_check(tmp_path):
    """Training and evaluation print predict's CHECK for a recipe's scaling the values or the
    file's own scale/offset contradict (issue 47 point 2)."""
    from bandbridge.config import BandSel
    from bandbridge.inference.core.interpret import check_declared
    x = _rgb()
    f = _tif(tmp_path / "u8.tif", x)
    line = check_declared(f, BandSel(bands=[0, 1, 2], scaling="uint16"), "mine")
    assert "CHECK: declared uint16 but the values look like uint8" in line, line
    assert "CHECK" not in check_declared(f, BandSel(bands=[0, 1, 2], scaling="uint8"), "mine")
    g = _tif(tmp_path / "x1000.tif", x * 2, "uint16")
    with rasterio.open(g, "r+") as d:
        d.scales, d.offsets = (0.001,) * 3, (0.0,) * 3
    line = check_declared(g, BandSel(bands=[0, 1, 2], scaling="reflectance_10000"), "mine")
    assert "CHECK: declared reflectance_10000 but the file's own scale/offset says reflectance_1000" in line, line
    # a constant image of a source is named, not a refusal of the whole training
    c = _tif(tmp_path / "c.tif", np.full((3, 32, 32), 7))
    assert "CHECK: every pixel holds the same value" in check_declared(c, BandSel(bands=[0, 1, 2], scaling="uint8"), "mine")
