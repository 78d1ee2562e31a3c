"""Issue 98's `fill` words that pointed the wrong way, on small hand-made GeoTIFFs: a `#…` after a path that is
there said as "file not found", an Item's or a raster's URL after `-e` taken for a STAC API search, SAR and
scenes whose bands have no names, and a `#scl=` file named from the shell's folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

SIDE = 32


def _tif(path: Path, n: int, names: list[str] | None = None, dtype: str = "float32", value=None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    data = (rng.random((n, SIDE, SIDE)) * 0.3 + 0.05) if value is None else np.full((n, SIDE, SIDE), value)
    with rasterio.open(path, "w", driver="GTiff", height=SIDE, width=SIDE, count=n, dtype=dtype, crs="EPSG:32631",
                       transform=from_origin(500000, 5600000, 10, 10)) as dst:
        dst.write(data.astype(dtype))
        for i, name in enumerate(names or []):
            dst.set_band_description(i + 1, name)
    return str(path)


@pytest.fixture
def scene(tmp_path) -> dict[str, str]:
    """A 4-band scene with its SCL beside it (a cloud in the middle), a clear date without a mask, a one-band mask."""
    bands = ["B02", "B03", "B04", "B08"]
    scl = np.full((1, SIDE, SIDE), 4, np.uint8)
    scl[:, 8:20, 8:20] = 9
    _tif(tmp_path / "now" / "S2_20180603_SCL.tif", 1, ["SCL"], "uint8", scl)
    return {"scene": _tif(tmp_path / "now" / "S2_20180603.tif", 4, bands),
            "earlier": _tif(tmp_path / "then" / "S2_20180526.tif", 4, bands),
            "mask": _tif(tmp_path / "mask.tif", 1, None, "uint8", 1)}


def _refused(run_cli, tmp_path, *args: str) -> str:
    out = tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", *args, "-o", str(out))
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, stdout, err)
    assert not out.exists()
    return " ".join(err.split())


SAID = {"#cleer": "'#cleer' after the path", "#clear#clear": "#clear given twice", "#": "a bare '#' after the path",
        "#clear ": "a space before or after the path", " ": "a space before or after the path",
        "#scl=S2_20m.nc": "#scl=FILE names the SCL cube of a NetCDF or Zarr cube step",
        "scene #clear": "#clear belongs after a date's path", "scene #scl=S2_20m.nc": "or give the gap with --mask",
        "--mask #clear": "#clear belongs after a date's path", "--sar #clear": "#clear belongs after a date's path"}


@pytest.mark.parametrize("how", SAID)
def test_a_suffix_after_a_path_that_is_there_is_named_not_file_not_found(run_cli, tmp_path, scene, how):
    """Each was "file not found; check the path" for files that exist: now the suffix and where it belongs."""
    where, _, suffix = how.rpartition(" ") if how.startswith(("scene", "--")) else ("", "", how)
    args = [scene["scene"] + (suffix if where == "scene" else ""), "-e", scene["earlier"] + (suffix if not where else
                                                                                             "#clear")]
    if where.startswith("--"):
        args += [where, scene["mask"] + suffix]
    said = _refused(run_cli, tmp_path, *args)
    assert "file not found" not in said and SAID[how] in said, said
    if how.strip() and "clear" not in how and where != "scene":
        assert "#clear" in said, said  # where #clear belongs


@pytest.mark.parametrize("url", ["https://example.invalid/items/S2A_T31UFS_20180526.json",
                                 "https://example.invalid/cogs/B04.tif"])
def test_an_items_or_a_rasters_url_after_e_says_what_e_takes(run_cli, tmp_path, scene, url, monkeypatch):
    """It was searched as a STAC API (pystac-client's message); no request is made now."""
    import urllib.request

    def no_network(*a, **k):
        raise AssertionError("a request was made")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    said = _refused(run_cli, tmp_path, scene["scene"], "-e", url)
    assert "a URL here is a STAC API to search" in said and ("band folder" in said or "download it" in said), said
    assert "STAC search failed" not in said


def test_sar_whose_bands_have_no_names_says_how_to_name_them(run_cli, tmp_path, scene):
    sar = _tif(tmp_path / "s1.tif", 2, None, "float32", -12.0)
    said = _refused(run_cli, tmp_path, scene["scene"], "-e", scene["earlier"] + "#clear", "--sar", sar)
    assert "no VV and VH bands (it has BAND1, BAND2" in said, said
    assert f"rio edit-info {sar} --bidx 1 --description VV" in said and "--description VH" in said, said


def test_a_13_band_scene_without_names_is_refused_even_beside_a_date_without_names(run_cli, tmp_path, scene):
    """It was matched to the date by BAND1…BAND13 and filled; the docs say it is refused."""
    raw = _tif(tmp_path / "raw" / "S2_20180603.tif", 13)
    then = _tif(tmp_path / "rawthen" / "S2_20180526.tif", 13)
    said = _refused(run_cli, tmp_path, raw, "-e", then + "#clear", "--mask", scene["mask"])
    assert said.startswith(f"error: {raw}: its bands have no names") and "BAND1…BAND13" in said, said
    assert f"rio edit-info {raw} --bidx 1 --description B01" in said, said


def test_a_cube_options_file_is_taken_from_the_shells_folder_then_the_cubes(tmp_path, monkeypatch):
    """`#scl=FILE` was taken relative to the cube's folder only: a name from the shell's folder was "no such file"."""
    from bandbridge.data.cube_ref import parse_ref
    (tmp_path / "data").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "scl.nc").write_bytes(b"")
    (tmp_path / "data" / "beside.nc").write_bytes(b"")
    monkeypatch.chdir(tmp_path / "work")
    ref = parse_ref("../data/s2.nc@2018-06-03#scl=scl.nc")
    assert ref.file(ref.scl) == Path("scl.nc")  # the shell's folder's, where it is there
    assert ref.file("beside.nc") == Path("../data/beside.nc")  # else the cube's folder's
    assert ref.file("nowhere.nc") == Path("../data/nowhere.nc")  # the refusal names the cube's folder's
