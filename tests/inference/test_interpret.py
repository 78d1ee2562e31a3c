"""Any RGB image just works: one interpretation of a user's file (band roles, scaling, refusals),
printed in one line, used by predict, compare, timeseries and the demo."""

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.enums import ColorInterp as CI

from bandbridge.bands import SCALINGS
from bandbridge.data.reader import read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.doubts import swap_advice
from bandbridge.inference.core.interpret import Overrides, interpret
from bandbridge.inference.core.look import look_at
from bandbridge.spec import read_spec, zoo_models
from conftest import SAMPLE, SHARED

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
ZOO = zoo_models()


@pytest.fixture(scope="module")
def rgb():
    with rasterio.open(NAIP) as f:
        return f.read([1, 2, 3]), f.profile


def _plain(path, arr, **kw):
    prof = {"driver": "GTiff", "height": arr.shape[1], "width": arr.shape[2], "count": arr.shape[0],
            "dtype": arr.dtype, **kw}
    with rasterio.open(path, "w", **prof) as d:
        d.write(arr)
    return path


def _inputs(tmp, rgb):
    a, prof = rgb
    geo = {k: prof[k] for k in ("crs", "transform")}
    files = {"rgb8.tif": _plain(tmp / "rgb8.tif", a, **geo),
             "refl16.tif": _plain(tmp / "refl16.tif", (a.astype(np.uint16) * 12 + 100), **geo)}
    Image.fromarray(a.transpose(1, 2, 0)).save(tmp / "rgb.png")
    Image.fromarray(a.transpose(1, 2, 0)).save(tmp / "rgb.jpg", quality=92)
    files.update({"rgb.png": tmp / "rgb.png", "rgb.jpg": tmp / "rgb.jpg"})
    return files


@pytest.mark.parametrize("name,model,scaling,how", [
    ("rgb8.tif", "rgb2nir-naip", "uint8", "colour interpretation"),
    ("refl16.tif", "rgb2nir-s2", "reflectance_10000", "by count: 3 bands"),
    ("rgb.png", "rgb2nir-photo", "uint8", "colour interpretation"),  # 8-bit, no georeference
    ("rgb.jpg", "rgb2nir-photo", "uint8", "colour interpretation")])
def test_predict_rgb2nir_without_flags_says_what_it_assumed(run_cli, tmp_path, rgb, name, model,
                                                            scaling, how):
    src = _inputs(tmp_path, rgb)[name]
    out = tmp_path / "nir.tif"
    code, stdout, err = run_cli("predict", str(src), "-m", "rgb2nir", "-o", str(out), "--index", "ndvi")
    assert code == 0, err
    note = next(ln for ln in stdout.splitlines() if ln.startswith("rgb2nir →"))
    assert f"rgb2nir → {model}" in note and f"scaling {scaling}" in note and how in note
    assert "0=red, 1=green, 2=blue" in note
    with rasterio.open(out) as f, rasterio.open(tmp_path / "nir_ndvi.tif") as g:
        nir, nd = f.read(1), g.read(1)
        assert f.descriptions[0] in ("synthetic_nir", "synthetic_B08")
        assert (f.crs is not None) == name.endswith(".tif")
    assert nir.std() > 0 and np.isfinite(nd).all() and -1 <= nd.min() < nd.max() <= 1


def test_every_bundled_model_takes_a_plain_rgb_image(tmp_path, rgb):
    """3-band images find their roles for every model with red/green/blue inputs; the SAR model
    refuses them with the bands it needs."""
    png = _inputs(tmp_path, rgb)["rgb.png"]
    for name in ("rgb2nir-naip", "rgb2thermal", "sr-x4"):
        r = interpret(png, read_spec(ZOO[name]))
        assert r.bands == [0, 1, 2] and r.names == ["red", "green", "blue"] and r.scaling == "uint8"
    with pytest.raises(BandbridgeError, match=r"takes 2 bands \(VV, VH\)"):
        interpret(png, read_spec(ZOO["sar2optical"]))


def test_palette_gray_alpha_cmyk_and_16_bit_images(tmp_path, rgb):
    a = rgb[0].transpose(1, 2, 0)
    img = Image.fromarray(a)
    pal = img.convert("P", palette=Image.ADAPTIVE, colors=64)
    pal.save(tmp_path / "pal.png")
    pal.save(tmp_path / "pal.gif")
    expect = np.asarray(pal.convert("RGB")).transpose(2, 0, 1) / 255.0
    for f in ("pal.png", "pal.gif"):  # the palette is expanded to R, G, B
        look = look_at(tmp_path / f)
        assert look.roles == ["red", "green", "blue"] and look.scaling == "uint8"
        r = read_raster(tmp_path / f, SCALINGS["uint8"], [0, 1, 2])
        np.testing.assert_allclose(r.data, expect, atol=1e-6)
    la = Image.fromarray(a[..., 0]).convert("LA")
    alpha = np.zeros(a.shape[:2], np.uint8)
    alpha[:, 128:] = 255
    la.putalpha(Image.fromarray(alpha))
    la.save(tmp_path / "la.png")
    look = look_at(tmp_path / "la.png")
    assert look.roles == ["gray", "alpha"]
    # a gray image for a model made from colour: refused in one line naming the flag (issue 47)
    with pytest.raises(BandbridgeError, match=r"la.png: one band, but rgb2nir-naip takes 3 \(red, green, "
                                              r"blue\) and was made from colour images.*--bands 0,0,0"):
        interpret(tmp_path / "la.png", read_spec(ZOO["rgb2nir-naip"]))
    r = interpret(tmp_path / "la.png", read_spec(ZOO["rgb2nir-naip"]), Overrides(bands=[0, 0, 0]))
    assert r.bands == [0, 0, 0]  # the user said so
    r = interpret(tmp_path / "la.png", read_spec(ZOO["rgb2thermal"]))  # trained on gray TNO pairs too
    assert r.bands == [0, 0, 0] and "the gray band as red, green, blue" in r.note
    g = read_raster(tmp_path / "la.png", SCALINGS["uint8"], [0])
    assert not g.mask[:, :128].any() and g.mask[:, 128:].all()  # transparent = no data
    img.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    img.save(tmp_path / "rgb.jpg", quality=95)
    c = read_raster(tmp_path / "cmyk.jpg", SCALINGS["uint8"], [0, 1, 2]).data
    j = read_raster(tmp_path / "rgb.jpg", SCALINGS["uint8"], [0, 1, 2]).data
    assert look_at(tmp_path / "cmyk.jpg").roles == ["red", "green", "blue"]
    assert np.abs(c - j).mean() < 0.03  # GDAL converts CMYK to RGB
    Image.fromarray(a[..., 1].astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert look_at(tmp_path / "g16.png").scaling == "uint16"  # 16-bit imagery, not reflectance
    rgba = np.dstack([a, np.full(a.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert look_at(tmp_path / "rgba.png").roles == ["red", "green", "blue", "alpha"]


def test_naip_order_alpha_tags_and_descriptions(tmp_path, rgb):
    with rasterio.open(NAIP) as f:  # NAIP as shipped: descriptions red..nir, 4th band tagged Alpha
        assert f.colorinterp[3].name == "alpha"
    assert look_at(NAIP).roles == ["red", "green", "blue", "nir"]
    four = np.concatenate([rgb[0], rgb[0][:1] // 2 + 30])
    tagged = _plain(tmp_path / "four.tif", four)  # GDAL tags 4 bytes RGB + Alpha; values say NIR
    assert look_at(tagged).roles == ["red", "green", "blue", "nir"]
    plain = _plain(tmp_path / "four16.tif", four.astype(np.uint16) * 12)  # no tags at all
    assert look_at(plain).roles == ["red", "green", "blue", "nir"]
    assert "by count: 4 bands" in look_at(plain).how


def test_overrides_band_names_bands_and_scaling(tmp_path, rgb):
    bgr = _plain(tmp_path / "bgr.tif", rgb[0][::-1].copy())
    spec = read_spec(ZOO["rgb2nir-naip"])
    r = interpret(bgr, spec, Overrides(band_names=("blue", "green", "red")))
    assert r.bands == [2, 1, 0] and "--band-names" in r.note
    r = interpret(bgr, spec, Overrides(bands=("2", "1", "0")))
    assert r.bands == [2, 1, 0] and "--bands" in r.note
    r = interpret(bgr, spec, Overrides(scaling="minmax", vmin=0, vmax=200))
    assert r.scaling == "minmax" and (r.vmin, r.vmax) == (0, 200)
    refl = _plain(tmp_path / "refl.tif", rgb[0].astype(np.uint16) * 12 + 100)
    with pytest.raises(BandbridgeError, match="use -m rgb2nir-s2"):
        interpret(refl, spec)
    with pytest.raises(BandbridgeError, match="would saturate"):
        interpret(refl, spec, Overrides(scaling="uint8"))
    ok = interpret(refl, spec, Overrides(scaling="minmax", vmin=0, vmax=3200))
    assert ok.scaling == "minmax"


def test_sar_without_band_names_uses_the_models_own_selection(tmp_path):
    db = np.random.default_rng(0).normal(-14, 4, (2, 64, 64)).astype(np.float32)
    f = _plain(tmp_path / "s1.tif", db)  # like SEN12MS-CR: VV, VH, no descriptions
    look = look_at(f)
    assert look.scaling == "sar_db"
    r = interpret(f, read_spec(ZOO["sar2optical"]))
    assert r.bands == [0, 1] and "own band selection" in r.note and r.scaling == "sar_db"


def test_evaluation_data_is_looked_at_and_a_saturating_declared_scaling_refused(tmp_path):
    from bandbridge.config import BandSel
    from bandbridge.inference.core.interpret import check_declared
    prof = {"driver": "GTiff", "height": 32, "width": 32, "count": 3, "dtype": "uint16"}
    f = tmp_path / "refl.tif"
    with rasterio.open(f, "w", **prof) as dst:
        dst.write(np.random.default_rng(0).integers(200, 4000, (3, 32, 32), dtype=np.uint16))
    ok = check_declared(f, BandSel(bands=[0, 1, 2], scaling="reflectance_10000"), "mine")
    assert ok.startswith("mine: refl.tif:") and "reflectance × 10000" in ok
    with pytest.raises(BandbridgeError, match=r"data source 'mine''s scaling uint8.*declare scaling: reflectance_10000"):
        check_declared(f, BandSel(bands=[0, 1, 2], scaling="uint8"), "mine")


# ---------------------------------------------------------------- band names as products write them
WALES = SHARED / "nir_s2_rsgislib_wales_tanzania" / "wales_aberystwyth_20210527_10m.tif"


@pytest.mark.parametrize("name, role", [
    ("B02 blue", "blue"), ("B08 NIR", "nir"), ("Band 4 (Red)", "red"), ("Red Edge 1", "rededge"),
    ("red_edge_2", "rededge"), ("near infrared", "nir"), ("NIR_narrow", "nir"), ("SWIR 2", "swir"),
    ("Coastal aerosol", "coastal"), ("S2_B8A", "nir"), ("b2", "blue"), ("B5", "rededge"),
    ("Thermal IR", "thermal"), ("vh_db", "vh"), ("RED", "red"), ("n", "nir"),
    # Landsat Collection 2's SR_B4 is NIR on Landsat 4–7 and red on 8–9: no guess
    ("SR_B4", "other"), ("Band 1", "other"), ("redness", "other"), ("foo", "other")])
def test_band_roles_from_names_and_descriptions_as_products_write_them(name, role):
    from bandbridge.bands import band_role
    assert band_role(name) == role


def test_descriptions_not_understood_are_named_not_called_missing(tmp_path, rgb):
    a, prof = rgb
    f = _plain(tmp_path / "odd.tif", a, crs=prof["crs"], transform=prof["transform"])
    with rasterio.open(f, "r+") as d:
        d.descriptions = ("alpha one", "beta", "gamma")
    look = look_at(f)
    assert "'alpha one', 'beta', 'gamma'" in look.how and "name no band" in look.how
    assert "without descriptions" not in look.how
    with rasterio.open(f, "r+") as d:
        d.descriptions = ("red", "mystery", "blue")
    look = look_at(f)
    assert look.roles == ["red", "other", "blue"] and "not understood: 'mystery'" in look.how


def test_a_models_band_names_are_found_by_role_in_another_products_names(tmp_path, rgb):
    """rgb2nir-s2 was trained on 'B04, B03, B02'; a file described 'blue, green, red' is read by
    role (reader and interpretation alike), not refused for the string."""
    a, prof = rgb
    f = _plain(tmp_path / "bgr.tif", (a[::-1].astype(np.uint16) * 20 + 50), crs=prof["crs"],
               transform=prof["transform"])
    with rasterio.open(f, "r+") as d:
        d.descriptions = ("Blue", "Green", "Red")
    spec = read_spec(ZOO["rgb2nir-s2"])
    assert interpret(f, spec).bands == [2, 1, 0]
    r = read_raster(f, SCALINGS["reflectance_10000"], bands=list(spec.input.bands or ["B04", "B03", "B02"]))
    assert np.allclose(r.data[0], (a[0].astype(np.float32) * 20 + 50) / 10000)  # red first
    with pytest.raises(BandbridgeError, match="no band named 'B08' \\(role nir\\)"):
        read_raster(f, SCALINGS["reflectance_10000"], bands=["B08"])


def test_gdal_scale_and_offset_state_the_scaling(tmp_path, rgb):
    a, prof = rgb
    f = _plain(tmp_path / "x1000.tif", (a.astype(np.uint16) * 2 + 10), crs=prof["crs"],
               transform=prof["transform"])
    with rasterio.open(f, "r+") as d:
        d.scales, d.offsets = (0.001,) * 3, (0.0,) * 3
    look = look_at(f)
    assert (look.scaling, look.tagged) == ("reflectance_1000", True) and "scale 0.001" in look.why
    assert interpret(f, read_spec(ZOO["rgb2nir-s2"])).scaling == "reflectance_1000"
    with rasterio.open(f, "r+") as d:
        d.scales = (0.5,) * 3  # a scale we do not know: detected from the values as before
    assert look_at(f).tagged is False


@pytest.mark.skipif(not WALES.exists(), reason=f"shared data absent: {WALES}")
def test_arcsi_sentinel2_is_read_in_band_order_and_its_scale_questioned():
    """The ARCSI file describes its bands 'B02 blue, B03 green, B04 red, B08 NIR' and stores
    reflectance × 1000 (its SOURCE.md): red comes from band 2, and × 10000 is refused (issue 69)
    unless --scaling says so."""
    spec = read_spec(ZOO["rgb2nir-s2"])
    with pytest.raises(BandbridgeError, match="pass --scaling reflectance_1000"):
        interpret(WALES, spec)
    it = interpret(WALES, spec, Overrides(scaling="reflectance_10000"))
    assert it.bands == [2, 1, 0] and "band descriptions" in it.note
    it = interpret(WALES, spec, Overrides(scaling="reflectance_1000"))
    assert it.scaling == "reflectance_1000" and "CHECK" not in it.note
    nir = read_raster(WALES, SCALINGS["reflectance_1000"], bands=["B08"]).data[0]
    assert 0.4 < np.percentile(nir, 99) < 0.9  # vegetation NIR, plausible only at × 1000


def test_a_model_reads_integer_reflectance_as_its_pairs_were_read(tmp_path, rgb):
    """×1000 or ×10000 the values cannot tell (issue 47): a model adapted on pairs read as
    reflectance × 1000 (ARCSI) reads files of the same kind so, without --scaling, and says what
    the values alone looked like; a model made on × 10000 refuses them unless --scaling says
    (issue 69)."""
    import dataclasses
    a, prof = rgb
    f = _plain(tmp_path / "arcsi.tif", (a.astype(np.uint16) * 2 + 10), crs=prof["crs"],
               transform=prof["transform"])  # values up to ~520: × 10000 would be a black scene
    zoo = read_spec(ZOO["rgb2nir-s2"])
    with pytest.raises(BandbridgeError, match="pass --scaling reflectance_1000"):
        interpret(f, zoo)
    src = zoo.config.data.sources[0]
    cfg = zoo.config.model_copy(update={"data": zoo.config.data.model_copy(update={"sources": [
        src.model_copy(update={"input": src.input.model_copy(update={"scaling": "reflectance_1000"})})]})})
    adapted = dataclasses.replace(zoo, config=cfg)
    r = interpret(f, adapted)
    assert r.scaling == "reflectance_1000" and "was made with" in r.note
    assert "--scaling reflectance_10000 if that is what the file holds" in r.note
    assert interpret(f, adapted, Overrides(scaling="reflectance_10000")).scaling == "reflectance_10000"


def test_scale_tags_unknown_or_overridden_are_said(run_cli, tmp_path):
    """GDAL scale/offset tags that are not a known pair were dropped silently, and a --scaling that
    contradicts the file's own tags was obeyed without a word (issue 58): both are CHECK lines."""
    import rasterio
    rng = np.random.default_rng(0)
    for name, scale, offset in (("odd.tif", 0.5, 0.0), ("l2a.tif", 0.0001, 0.0)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", height=64, width=64, count=3, dtype="uint16") as o:
            o.write(rng.integers(300, 3000, (3, 64, 64)).astype(np.uint16))
            o.scales, o.offsets = [scale] * 3, [offset] * 3
    code, out, err = run_cli("predict", str(tmp_path / "odd.tif"), "-m", "rgb2nir-s2", "-o", str(tmp_path / "a.tif"))
    assert code == 0 and "CHECK: the file's scale/offset tags (0.5, 0) are not a pair bandbridge knows" in out + err, err
    code, out, err = run_cli("predict", str(tmp_path / "l2a.tif"), "-m", "rgb2nir-s2", "--scaling", "uint16",
                             "-o", str(tmp_path / "b.tif"))
    assert code == 0 and "CHECK: the file's own scale/offset say reflectance_10000" in out + err, err
    assert "--scaling uint16 overrides them" in out + err


def test_a_bgr_file_is_read_by_its_colour_interpretation(tmp_path, rgb):
    """A file whose colour interpretation says blue, green, red (no band descriptions) ran as RGB,
    "by count" (issue 77): its own order is read, and the line says where it came from."""
    a, prof = rgb
    f = _plain(tmp_path / "bgr.tif", a[::-1].copy(), crs=prof["crs"], transform=prof["transform"])
    with rasterio.open(f, "r+") as d:
        d.colorinterp = (CI.blue, CI.green, CI.red)
    r = interpret(f, read_spec(ZOO["rgb2nir-naip"]))
    assert r.bands == [2, 1, 0] and "colour interpretation: blue, green, red" in r.note, r.note
    plain = _plain(tmp_path / "plain.tif", a, crs=prof["crs"], transform=prof["transform"])
    assert interpret(plain, read_spec(ZOO["rgb2nir-naip"])).bands == [0, 1, 2]  # RGB stays RGB


def test_8bit_values_divided_by_255_are_named_not_read_as_reflectance_silently(tmp_path, rgb):
    """An 8-bit image divided by 255 looks like reflectance (0–1 floats): the line says so, with
    the command that stores it as 8-bit and the model for it (issue 77); real reflectance is not."""
    a, prof = rgb
    geo = {"crs": prof["crs"], "transform": prof["transform"]}
    spec = read_spec(ZOO["rgb2nir-s2"])
    f = _plain(tmp_path / "rgb01.tif", (a / 255).astype(np.float32), **geo)
    r = interpret(f, spec)
    assert r.scaling == "reflectance" and "whole multiple of 1/255" in r.note, r.note
    assert "gdal_translate -ot Byte -scale 0 1 0 255 rgb01.tif rgb01_8bit.tif" in r.note
    assert "rgb2nir-naip" in r.note
    refl = _plain(tmp_path / "refl.tif", (a.astype(np.float32) * 12 + 100) / 10000, **geo)
    assert "1/255" not in interpret(refl, spec).note
    assert "1/255" not in interpret(f, spec, Overrides(scaling="reflectance")).note  # the user said


def test_an_input_and_reference_swapped_get_advice_that_fits(tmp_path, rgb):
    """One band in, three wanted, and the reference holds three: the two were swapped (issue 77:
    the advice was ``--bands 0,0,0``)."""
    a, prof = rgb
    geo = {"crs": prof["crs"], "transform": prof["transform"]}
    one = _plain(tmp_path / "nir.tif", a[:1].copy(), **geo)
    three = _plain(tmp_path / "rgb.tif", a, **geo)
    spec = read_spec(ZOO["rgb2nir-naip"])
    line = swap_advice(one, three, spec)
    assert line and "did you swap the input and the reference" in line and "takes 3 (red, green, blue)" in line
    assert swap_advice(three, one, spec) is None  # the right way round
    assert swap_advice(one, tmp_path / "missing.tif", spec) is None
