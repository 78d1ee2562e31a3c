"""Issue 85's `fill` cases on tiny real crops of ``../shared/data/worldcereal`` (64 × 64 at 10 m, built as
``test_fill.py`` builds them): no pixel coded FILLED without a value (the "as it is" route with no clear
pixel to fit on, an earlier date in another CRS or half over the scene, ``-o`` a symlink), the scene's type,
scale and offset kept, ``-e FILE#clear``, one unit a line, and the refusals that named the wrong thing."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from conftest import needs_shared
from test_fill import CLEAR, CLOUDY, S1, _geotiff, _mask, _one_line, quick_fit, step  # noqa: F401 (a fixture)

pytestmark = needs_shared


def _filled(out) -> tuple[np.ndarray, np.ndarray, dict]:
    with rasterio.open(out) as src:
        a, tags = src.read(), src.tags()
    return a[:-1], a[-1] == 2, tags


@pytest.mark.parametrize("case", ["same grid", "EPSG:4326", "half over", "-o a symlink", "clear rows dilated away"])
def test_no_clear_pixel_fills_the_earlier_date_as_it_is_with_values(run_cli, tmp_path, case):
    """A --mask over the whole scene, float inputs with NaN nodata: no clear pixel to fit on, so the earlier
    date goes in as it is. Every pixel coded FILLED 2 holds the earlier date's values (they were NaN: the model
    units came from an empty sample), and the pixels tag counts them."""
    from bandbridge.inference.place.fill_rows import open_rows
    scene = _geotiff(tmp_path, CLOUDY, "now")
    before = _geotiff(tmp_path, CLEAR, "then", **{"EPSG:4326": {"crs": "EPSG:4326"},
                                                  "half over": {"shift": 320.0}}.get(case, {}))
    out = tmp_path / "f.tif"
    target = out
    if case == "-o a symlink":
        target = tmp_path / "real.tif"
        target.write_bytes(b"")
        out.symlink_to(target)
    mask = _mask(tmp_path, 2 if case == "clear rows dilated away" else 0)  # 2 rows: none clear once dilated by 4
    code, stdout, err = run_cli("fill", scene, "-e", before, "--mask", mask, "-o", str(out),
                                *(["--overwrite"] if case == "-o a symlink" else []),
                                *(["--dilate", "4"] if case == "clear rows dilated away" else []))
    assert code == 0, err
    assert "as it is" in stdout, stdout
    values, filled, tags = _filled(out)
    assert filled.sum() > (900 if case == "half over" else 3000), filled.sum()
    assert np.isfinite(values[:, filled]).all()
    assert int(tags["bandbridge_fill_pixels"]) == filled.sum()
    grid = open_rows(scene, "").layer.grid
    expect = open_rows(before, "--earlier").rows(grid, 0, grid.height)  # the earlier date on the scene's grid
    np.testing.assert_allclose(values[:, filled], expect[:, filled], rtol=1e-5, atol=1e-6)


def test_the_finish_codes_filled_only_where_it_wrote_a_value(run_cli, tmp_path, monkeypatch):
    """Whatever a route gives, a gap pixel it gave no finite value stays as observed, coded 0 (not filled), and
    the pixels tag and the line count only what was filled."""
    from bandbridge.inference.place import fill_finish
    real = fill_finish.route_rows

    def holed(sc, gd, p, a, b):
        v = real(sc, gd, p, a, b)
        v[:, :, :32] = np.nan  # the left half of every strip: no value
        return v
    monkeypatch.setattr(fill_finish, "route_rows", holed)
    scene, out = _geotiff(tmp_path, CLOUDY, "now"), tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", scene, "-e", _geotiff(tmp_path, CLEAR, "then"), "--mask", _mask(tmp_path, 0),
                                "-o", str(out))
    assert code == 0, err
    values, filled, tags = _filled(out)
    assert filled[:, 32:].sum() > 1500 and not filled[:, :32].any()
    assert np.isfinite(values[:, filled]).all()
    assert int(tags["bandbridge_fill_pixels"]) == filled.sum()
    assert "got no value from the route: left as observed, FILLED 0 there" in stdout, stdout
    with rasterio.open(scene) as s:
        observed = s.read()
    np.testing.assert_array_equal(values[:, :, :32], observed[:, :, :32])


def _raster(path, count: int, crs=None, transform=None, dtype="uint8", value=1) -> str:
    with rasterio.open(path, "w", driver="GTiff", height=64, width=64, count=count, dtype=dtype, crs=crs,
                       transform=transform) as d:
        d.write(np.full((count, 64, 64), value, dtype))
    return str(path)


def _refused(run_cli, tmp_path, *args) -> str:
    out = tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", *args, "-o", str(out))
    said = _one_line(err)
    assert code == 2 and not out.exists(), (code, stdout, err)
    return said


def test_a_folder_as_the_mask_is_refused(run_cli, tmp_path):
    """It was read as a band folder and ended "nothing to fill, nothing written", exit 0."""
    folder = tmp_path / "masks"
    folder.mkdir()
    m = _mask(tmp_path, 0)
    (folder / "mask.tif").write_bytes(open(m, "rb").read())
    said = _refused(run_cli, tmp_path, step(CLOUDY), "-e", step(CLEAR), "--mask", str(folder))
    assert f"--mask {folder}: a folder, not a mask" in said, said


def test_a_three_band_mask_is_refused_naming_the_flag(run_cli, tmp_path):
    """Band 1 alone was used without a word (here all 0: "nothing to fill")."""
    g = rasterio.open(_mask(tmp_path, 0))
    m = tmp_path / "m3.tif"
    with rasterio.open(m, "w", driver="GTiff", height=64, width=64, count=3, dtype="uint8", crs=g.crs,
                       transform=g.transform) as d:
        d.write(np.stack([np.zeros((64, 64), np.uint8), np.ones((64, 64), np.uint8), np.ones((64, 64), np.uint8)]))
    said = _refused(run_cli, tmp_path, step(CLOUDY), "-e", step(CLEAR), "--mask", str(m))
    assert f"--mask {m}: 3 bands" in said and "a mask has one band" in said, said


def test_a_mask_with_a_crs_but_no_geotransform_is_said_to_have_no_georeference(run_cli, tmp_path):
    """It was called "does not overlap" (its pixels read as metres at the CRS's origin)."""
    m = _raster(tmp_path / "m.tif", 1, crs="EPSG:32631")
    said = _refused(run_cli, tmp_path, step(CLOUDY), "-e", step(CLEAR), "--mask", m)
    assert "has no georeference (a CRS but no geotransform)" in said and "gdal_translate -a_srs" in said, said
    assert "does not overlap" not in said


def test_a_scene_without_band_names_is_the_one_named(run_cli, tmp_path):
    """The earlier date was blamed ("holds none of the scene's bands") where the scene had no descriptions."""
    scene = _geotiff(tmp_path, CLOUDY, "now")
    bare = tmp_path / "bare"
    bare.mkdir()
    with rasterio.open(scene) as s:
        prof, a = s.profile, s.read()
    with rasterio.open(bare / "S2_20180603.tif", "w", **prof) as d:
        d.write(a)
    (bare / "S2_20180603_SCL.tif").write_bytes((tmp_path / "now" / "S2_20180603_SCL.tif").read_bytes())
    said = _refused(run_cli, tmp_path, str(bare / "S2_20180603.tif"), "-e", _geotiff(tmp_path, CLEAR, "then"))
    assert said.startswith(f"error: {bare / 'S2_20180603.tif'}: its bands have no names"), said
    assert "rio edit-info" in said, said


def test_an_empty_path_is_refused_as_empty(run_cli, tmp_path):
    """``--earlier ''`` was read as the current folder and named ``.``."""
    said = _refused(run_cli, tmp_path, step(CLOUDY), "-e", "")
    assert "--earlier '': an empty path" in said, said


def test_a_folder_as_the_scene_is_said_to_be_a_folder(run_cli, tmp_path):
    """A folder holding the scene's GeoTIFF and its SCL was read as a band folder and called maskless."""
    scene = _geotiff(tmp_path, CLOUDY, "now")
    said = _refused(run_cli, tmp_path, str(tmp_path / "now"), "-e", step(CLEAR))
    assert f"{tmp_path / 'now'}: a folder" in said and scene in said, said


def test_sar_and_sar_earlier_swapped_are_refused(run_cli, tmp_path):
    """--sar at the earlier date and --sar-earlier at the scene's, by the cube steps' dates: accepted before."""
    said = _refused(run_cli, tmp_path, step(CLOUDY), "-e", step(CLEAR), "--sar", f"{S1}@2018-05-27",
                    "--sar-earlier", f"{S1}@2018-06-03")
    assert "--sar " in said and "are the two swapped?" in said, said


def _uint16(tmp_path, date: str, name: str) -> str:
    """``_geotiff``'s date as uint16 DN with GDAL scale 0.0001 (nodata 0), its SCL beside."""
    f = _geotiff(tmp_path, date, name)
    with rasterio.open(f) as s:
        prof, a, names = s.profile, s.read(), s.descriptions
    prof.update(dtype="uint16", nodata=0)
    with rasterio.open(f, "w", **prof) as d:
        d.write(np.nan_to_num(np.rint(a * 10000)).astype("uint16"))
        d.descriptions = names
        d.scales, d.offsets = [1e-4] * 4, [0.0] * 4
    return f


def test_a_scaled_uint16_scene_keeps_its_scale_and_its_route_line_says_dn(run_cli, tmp_path):
    """It was written with scale 1.0, offset 0: a reader applying the scale read 481 for 0.0481. The route
    line's figures are DN, and it says so."""
    scene, out = _uint16(tmp_path, CLOUDY, "now"), tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", scene, "-e", _uint16(tmp_path, CLEAR, "then"), "-o", str(out))
    assert code == 0, err
    with rasterio.open(out) as o, rasterio.open(scene) as s:
        assert o.dtypes[0] == "uint16" and o.nodata == 0
        assert o.scales == (1e-4,) * 4 + (1.0,) and o.offsets == (0.0,) * 5
        observed = o.read(5) == 1
        np.testing.assert_array_equal(o.read()[:4][:, observed], s.read()[:, observed])
        assert o.tags()["bandbridge_fill_mae_units"] == "DN"
    route = next(ln for ln in stdout.splitlines() if ln.startswith("the route:"))  # the run's decision
    assert "held-out MAE on the clear part, in DN: as-is " in route, route


def test_a_cube_scene_is_written_as_the_cube_stores_it(run_cli, tmp_path, quick_fit):
    """The cube's bands are uint16 × 1e-4 (scale_factor, _FillValue 0): the output was float32 reflectance."""
    out = tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", step(CLOUDY), "-e", step(CLEAR), "-o", str(out))
    assert code == 0, err
    from bandbridge.inference.place.fill_read import read_layer
    scene = read_layer(step(CLOUDY), "")
    with rasterio.open(out) as o:
        a = o.read()
        assert o.dtypes[0] == "uint16" and o.nodata == 0 and o.scales[:4] == (1e-4,) * 4
    observed = a[4] == 1
    np.testing.assert_allclose(a[:4][:, observed] * 1e-4, scene.values[:, observed], atol=1e-7)
    assert "DN × 0.0001" in next(ln for ln in stdout.splitlines() if ln.startswith("the route:"))


def test_an_earlier_date_known_clear_needs_no_mask(run_cli, tmp_path):
    """``-e FILE#clear``: a date without a cloud mask, said to be clear, is taken whole (a hand-made SCL of
    class 4 beside it did that before); without the mark the refusal names it."""
    before = _geotiff(tmp_path, CLEAR, "then")
    (tmp_path / "then" / "S2_20180526_SCL.tif").unlink()
    said = _refused(run_cli, tmp_path, _geotiff(tmp_path, CLOUDY, "now"), "-e", before)
    assert f"--earlier {before}#clear" in said, said
    out = tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", str(tmp_path / "now" / "S2_20180603.tif"), "-e", f"{before}#clear",
                                "-o", str(out))
    assert code == 0, err
    values, filled, tags = _filled(out)
    assert filled.sum() > 1000 and tags["bandbridge_fill_earlier_days"] == "8"


def test_the_backend_line_gives_its_own_rule_not_a_test_file():
    """It gave "…failed the export check's 1e-4 on tests/inference/test_fill_engine.py's scene", fit or ridge."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.engine import decide
    why = decide(10_000, Engine()).note
    assert "tests/" not in why and ".py" not in why and "no graph is exported or checked" in why, why
