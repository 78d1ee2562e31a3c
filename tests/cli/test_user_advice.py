"""Tried as a new user would (issue 69): a scale a power of ten off stops the run, outputs are
what their name says, and the advice names what works — each end to end through the CLI on
tiny inputs made from the bundled NAIP sample."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLE, SHARED

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
WALES = SHARED / "nir_s2_rsgislib_wales_tanzania" / "wales_aberystwyth_20210527_10m.tif"
ARCSI_BANDS = ("B02 blue", "B03 green", "B04 red", "B08 NIR")  # as the ARCSI product describes them


def _one_line(err: str) -> str:
    """The refusal: one line, no traceback."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return " ".join(err.split())


def _reflectance(tmp_path, name: str, factor: float, offset: int = 10):
    """NAIP's R,G,B,NIR as uint16 reflectance × ``1 / factor`` stored values, described as ARCSI
    describes its bands (blue, green, red, NIR) and georeferenced as NAIP."""
    import rasterio
    with rasterio.open(NAIP) as s:
        a, prof = s.read().astype(np.float64), s.profile
    prof.update(dtype="uint16", count=4, nodata=0)
    out = tmp_path / name
    with rasterio.open(out, "w", **prof) as o:
        o.write((a[[2, 1, 0, 3]] * factor + offset).astype(np.uint16))
        o.descriptions = ARCSI_BANDS
    return out


def _x1000(tmp_path, which: str):
    """Reflectance × 1000 (ARCSI's): NAIP's DN × 2 (at most 520: read as × 10000, a black scene),
    or the top rows of the ARCSI Wales mosaic where the shared data is there."""
    if which == "synthetic":
        return _reflectance(tmp_path, "arcsi.tif", 2.0)
    if not WALES.exists():
        pytest.skip(f"shared data absent: {WALES}")
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(WALES) as s:
        w = Window(0, 0, 256, 160)
        prof = s.profile | {"width": 256, "height": 160}  # the top-left corner: the same transform
        with rasterio.open(tmp_path / "wales_top.tif", "w", **prof) as o:
            o.write(s.read(window=w))
            o.descriptions = s.descriptions
    return tmp_path / "wales_top.tif"


def _run(command: str, f, out, scaling: str | None = None) -> list[str]:
    """``predict`` or ``adapt`` of ``f`` with rgb2nir-s2 into ``out`` (``--scaling`` if given)."""
    flags = ["--scaling", scaling] if scaling else []
    if command == "predict":
        return ["predict", str(f), "-m", "rgb2nir-s2", *flags, "-o", str(out / f"nir{scaling or ''}.tif")]
    return ["adapt", "-m", "rgb2nir-s2", str(f), *flags, "-o", str(out / f"mine{scaling or ''}"), "--minutes", "0.1"]


@pytest.mark.parametrize("which", ["synthetic", "wales"])
@pytest.mark.parametrize("command", ["predict", "adapt"])
def test_a_scale_a_power_of_ten_off_stops_the_run(run_cli, tmp_path, command, which):
    """ARCSI's × 1000 read as × 10000 printed a garbled CHECK and carried on to a black output: it
    stops, in one line naming --scaling reflectance_1000, and an explicit --scaling always wins."""
    f = _x1000(tmp_path, which)
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = run_cli(*_run(command, f, out))
    said = _one_line(err)
    assert code == 2 and "--scaling reflectance_1000" in said and "reaches 0.1 (the brightest" in said, said
    assert "reflectance so (" not in stdout + err
    assert not any(out.iterdir())  # nothing half-written
    for scaling in ("reflectance_1000", "reflectance_10000"):  # the user's word is obeyed, either way
        code, stdout, err = run_cli(*_run(command, f, out, scaling))
        assert code == 0, err


def test_routed_and_8_bit_models_name_the_fix_for_x1000(run_cli, tmp_path):
    """``-m rgb2nir`` routes ×1000 to the reflectance model and stops the same way; a file of
    another sensor into ``rgb2nir-naip`` is answered in the name the user gave (not its internal
    floor's), with the model and the scaling that read it."""
    f = _x1000(tmp_path, "synthetic")
    code, _, err = run_cli("predict", str(f), "-m", "rgb2nir", "-o", str(tmp_path / "a.tif"))
    assert code == 2 and "--scaling reflectance_1000" in _one_line(err)
    code, _, err = run_cli("predict", str(f), "-m", "rgb2nir-naip", "-o", str(tmp_path / "b.tif"))
    said = _one_line(err)
    assert code == 2 and "rgb2nir-naip reads 8-bit imagery" in said and "-floor" not in said, said
    assert "-m rgb2nir-s2 --scaling reflectance_1000" in said, said
    code, _, err = run_cli("predict", str(f), "-m", "rgb2nir-s2", "--scaling", "reflectance_1000",
                           "-o", str(tmp_path / "c.tif"))
    assert code == 0 and (tmp_path / "c.tif").exists(), err


def test_an_output_named_with_an_unknown_extension_is_refused(run_cli, tmp_path):
    """``-o out.jpeg2`` silently became a folder: a name with an extension predict does not write
    is refused, listing those it does; a folder is a name without one, or one that exists."""
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir", "-o", str(tmp_path / "out.jpeg2"))
    said = _one_line(err)
    assert code == 2 and "--output" in said and all(s in said for s in (".tif", ".png", ".jpg")), said
    assert not any(tmp_path.iterdir())
    (tmp_path / "results.v2").mkdir()  # an existing folder takes the outputs, whatever its name
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir", "-o", str(tmp_path / "results.v2"))
    assert code == 0 and len(list((tmp_path / "results.v2").glob("*.tif"))) == 1, err


def test_a_picture_of_a_georeferenced_input_says_it_drops_the_georeference(run_cli, tmp_path):
    code, stdout, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "n.png"))
    flat = " ".join(stdout.split())
    assert code == 0 and "does not keep the input's georeference (EPSG:26914): a PNG has none" in flat, err
    assert "n.tif keeps the georeference" in flat


def _spread(path) -> tuple[float, float]:
    from PIL import Image
    a = np.asarray(Image.open(path)).astype(float)
    return float(np.percentile(a, 98) - np.percentile(a, 2)), float(a.mean())


def test_a_picture_of_reflectance_is_display_stretched(run_cli, tmp_path):
    """A reflectance model's PNG was refused without naming --dtype uint8, which gives a
    near-black picture: it is display-stretched by default, said in its line; --dtype uint8 keeps
    the values × 255; another --dtype is refused naming what works."""
    f = _reflectance(tmp_path, "s2.tif", 15.0, 100)  # × 10000: up to ~3900
    code, stdout, err = run_cli("predict", str(f), "-m", "rgb2nir-s2", "-o", str(tmp_path / "nir.png"))
    flat = " ".join(stdout.split())
    assert code == 0 and "display-stretched" in flat and "2–98 %" in flat, err
    code, _, err = run_cli("predict", str(f), "-m", "rgb2nir-s2", "--dtype", "uint8", "-o", str(tmp_path / "raw.png"))
    assert code == 0, err
    (stretched, _), (raw, _) = _spread(tmp_path / "nir.png"), _spread(tmp_path / "raw.png")
    assert stretched > 200 > raw, (stretched, raw)  # the 2–98 % of the output spans the picture's range
    code, _, err = run_cli("predict", str(f), "-m", "rgb2nir-s2", "--dtype", "float32", "-o", str(tmp_path / "x.png"))
    said = _one_line(err)
    assert code == 2 and "drop --dtype" in said and "--dtype uint8" in said and not (tmp_path / "x.png").exists()


def test_sar2optical_as_a_png_is_a_picture_to_see(run_cli, tmp_path):
    """The issue's case: ``predict s1.tif -m sar2optical -o sar.png`` was refused; --dtype uint8
    gave a near-black picture. Now a stretched picture, and its line says so."""
    sar = SHARED / "sar_sen1floods11" / "S1"
    if not sar.is_dir():
        pytest.skip("needs ../shared/data (a Sen1Floods11 SAR scene)")
    code, stdout, err = run_cli("predict", str(next(sar.glob("*.tif"))), "-m", "sar2optical", "-o", str(tmp_path / "sar.png"))
    assert code == 0 and "display-stretched" in " ".join(stdout.split()), err
    assert _spread(tmp_path / "sar.png")[1] > 60  # not near-black


def test_band_files_given_one_by_one_are_told_to_give_their_folder(run_cli, tmp_path):
    """``B04.tif B03.tif B02.tif`` got "pass --bands 0,0,0" (a grey NIR): the advice is their
    folder, which reads them as one image."""
    import rasterio
    bands = tmp_path / "scene"
    bands.mkdir()
    with rasterio.open(NAIP) as s:
        prof = s.profile | {"count": 1}
        for i, name in ((1, "B04"), (2, "B03"), (3, "B02")):
            with rasterio.open(bands / f"{name}.tif", "w", **prof) as o:
                o.write(s.read(i), 1)
    files = [str(bands / f"{b}.tif") for b in ("B04", "B03", "B02")]
    code, _, err = run_cli("predict", *files, "-m", "rgb2nir", "-o", str(tmp_path / "out"))
    said = _one_line(err)
    assert code == 2 and f"give the folder that holds the band files, {bands}" in said, said
    assert "--bands 0,0,0" not in said and not (tmp_path / "out").exists()
    code, _, err = run_cli("predict", str(bands), "-m", "rgb2nir", "-o", str(tmp_path / "nir.tif"))
    assert code == 0 and (tmp_path / "nir.tif").exists(), err


def test_a_mistyped_model_is_answered_with_the_nearest_name_first(run_cli, tmp_path):
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nri", "-o", str(tmp_path / "a.tif"))
    said = _one_line(err)
    assert code == 2 and said.index("did you mean rgb2nir?") < said.index("rgb2nir-naip"), said


def test_rgb2thermal_on_an_aerial_scene_says_it_knows_road_scenes(run_cli, tmp_path):
    """A model made from pictures taken on the ground says so on a georeferenced scene; a
    plain photo (no georeference) hears nothing of it."""
    import rasterio
    code, stdout, err = run_cli("predict", str(NAIP), "-m", "rgb2thermal", "-o", str(tmp_path / "t.tif"))
    flat = " ".join(stdout.split())
    assert code == 0 and "rgb2thermal was trained on road scenes (RoadScene" in flat, err
    assert "never on an aerial or satellite scene" in flat
    photo = tmp_path / "photo.png"
    with rasterio.open(NAIP) as s:
        a = s.read([1, 2, 3])
    from PIL import Image
    Image.fromarray(np.moveaxis(a, 0, -1)).save(photo)
    code, stdout, err = run_cli("predict", str(photo), "-m", "rgb2thermal", "-o", str(tmp_path / "p.tif"))
    assert code == 0 and "RoadScene" not in stdout, err
