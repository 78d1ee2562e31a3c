"""``bandbridge fill``'s inputs and output made safe (issue 77): every path a run reads refused as
``-o`` (inputs, a cube reference's ``#scl=`` file, the cloud mask found beside the scene, masks),
one output check by suffix before any work, and each bad input — a mask elsewhere or without a
georeference, an archive of another sensor, a header too large for this machine, an all-NaN SAR
file — one line naming its real cause. Everything here is built in ``tmp_path`` (tiny georeferenced
rasters, SCL files and cubes): no shared data, so a user's clone runs these."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

SIZE = 24  # pixels a side: the fill's smallest routes (no fit under policy.FILL_LINEAR_MIN clear pixels)
ORIGIN = (500_000.0, 5_600_000.0)  # UTM 31N metres
BANDS = ("B02", "B03", "B04", "B08")


def _tif(path: Path, data: np.ndarray, names=None, shift: float = 0.0, crs: str | None = "EPSG:32631",
         res: float = 10.0, nodata=None, dtype: str | None = None) -> str:
    """``data (C, H, W)`` as a GeoTIFF at ``ORIGIN`` moved ``shift`` metres east (``crs`` None: no
    georeference at all)."""
    c, h, w = data.shape
    kw = {"crs": crs, "transform": Affine(res, 0, ORIGIN[0] + shift, 0, -res, ORIGIN[1])} if crs else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=dtype or data.dtype,
                           nodata=nodata, **kw) as dst:
            dst.write(data.astype(dtype or data.dtype))
            if names:
                dst.descriptions = tuple(names)
    return str(path)


def _scene(folder: Path, day: str, seed: int, cloud: bool = True, scl_shift: float = 0.0,
           scl: bool = True) -> str:
    """Four reflectance bands dated ``day`` (YYYYMMDD in the name), with ``S2_<day>_SCL.tif``
    beside it (a 20 m grid): clouds (SCL 9) over the left third when ``cloud``, else all vegetation."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    base = 0.05 + 0.01 * np.stack([yy + xx, yy, xx, 2 * yy + 10]) / SIZE
    f = _tif(folder / f"S2_{day}.tif", (base + 0.002 * rng.standard_normal(base.shape)).astype("float32"), BANDS)
    if scl:
        classes = np.full((1, SIZE // 2, SIZE // 2), 4, np.uint8)
        if cloud:
            classes[:, :, :7] = 9  # 14 of 24 columns, then dilated: under FILL_FIT_MIN clear
        _tif(folder / f"S2_{day}_SCL.tif", classes, ["SCL"], shift=scl_shift, res=20.0)
    return f


@pytest.fixture
def site(tmp_path):
    """A cloudy scene and an earlier clear date, each with its SCL beside it."""
    return _scene(tmp_path / "now", "20200610", 1), _scene(tmp_path / "then", "20200601", 2, cloud=False)


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return " ".join(err.split())


def _cube(path: Path, names, days, res: float = 10.0, n: int = SIZE, value=None, dtype: str = "float32") -> str:
    """A NetCDF time series: ``names`` variables on ``(t, y, x)`` at ``ORIGIN`` (``value``: constant,
    else random reflectance), EPSG:32631."""
    import pandas as pd
    import xarray as xr
    import rioxarray  # noqa: F401 - the .rio accessor
    rng = np.random.default_rng(0)
    x, y = ORIGIN[0] + res * (np.arange(n) + 0.5), ORIGIN[1] - res * (np.arange(n) + 0.5)
    shape = (len(days), n, n)
    ds = xr.Dataset({k: (("t", "y", "x"), (rng.uniform(0.02, 0.3, shape) if value is None else
                                           np.full(shape, value)).astype(dtype)) for k in names},
                    coords={"t": pd.to_datetime(days), "y": y, "x": x}).rio.write_crs("EPSG:32631")
    ds.to_netcdf(path)
    return str(path)


DAYS = ["2020-05-20", "2020-06-01", "2020-06-10"]


@pytest.fixture
def cubes(tmp_path):
    """WorldCereal's layout in small: a 10 m cube of four bands, its 20 m SCL cube (clouds over the
    last date's left half), a 20 m Sentinel-1 cube."""
    s10 = _cube(tmp_path / "S10.nc", BANDS, DAYS)
    scl = _cube(tmp_path / "S20.nc", ["SCL"], DAYS, res=20.0, n=SIZE // 2, value=4, dtype="uint8")
    import xarray as xr
    with xr.open_dataset(scl) as d:
        d = d.load()
    d["SCL"][2, :, :7] = 9
    d.to_netcdf(scl)
    s1 = _cube(tmp_path / "S1.nc", ["VV", "VH"], DAYS, res=20.0, n=SIZE // 2)
    return Path(s10), Path(scl), Path(s1)


def _unchanged(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before, f"{path} was rewritten"


def test_tiny_site_fills(run_cli, site, cubes, tmp_path):
    """The tiny site and cubes are good runs (so each refusal below is the bad part's doing)."""
    scene, before = site
    out = tmp_path / "filled.tif"
    code, stdout, err = run_cli("fill", scene, "-e", before, "-o", str(out))
    assert code == 0, err
    with rasterio.open(out) as src:
        assert (src.read(5) == 2).sum() > 0
    s10, _, _ = cubes
    code, stdout, err = run_cli("fill", f"{s10}@2020-06-10#scl=S20.nc", "-e", f"{s10}#scl=S20.nc", "-o",
                                str(tmp_path / "cube.tif"))
    assert code == 0 and "2020-06-01 (9 d before), 2020-05-20 (21 d before)" in stdout, stdout + err


# -- 1. every file a run reads is refused as -o, with or without --overwrite -------------------------


def _vrt(tmp_path: Path, source: str) -> str:
    """A VRT of ``source`` (its bands), dated as the source is, in another folder."""
    from rasterio.shutil import copy
    folder = tmp_path / "vrt"
    folder.mkdir()
    f = folder / Path(source).with_suffix(".vrt").name
    copy(source, f, driver="VRT")
    return str(f)


@pytest.mark.parametrize("overwrite", [True, False])
@pytest.mark.parametrize("case", ["scene-scl-beside", "earlier-scl-beside", "mask", "vrt-source"])
def test_every_file_the_run_reads_is_refused_as_output(run_cli, site, tmp_path, case, overwrite):
    """The scene's own cloud mask found beside it, the earlier date's, the user's mask, a VRT's
    source file: each is read by the run, so each is refused as ``-o`` (issue 77: the mask beside
    the scene was replaced, exit 0)."""
    scene, before = site
    mask = _tif(tmp_path / "gap.tif", np.ones((1, SIZE, SIZE), np.uint8))
    args = {"scene-scl-beside": ([scene, "-e", before], Path(scene).with_name("S2_20200610_SCL.tif")),
            "earlier-scl-beside": ([scene, "-e", before], Path(before).with_name("S2_20200601_SCL.tif")),
            "mask": ([scene, "-e", before, "--mask", mask], Path(mask)),
            "vrt-source": ([_vrt(tmp_path, scene), "-e", before, "--mask", mask], Path(scene))}
    given, target = args[case]
    kept = target.read_bytes()
    code, stdout, err = run_cli("fill", *given, "-o", str(target), *(["--overwrite"] if overwrite else []))
    said = _one_line(err)
    assert code == 2 and "--output" in said and ("is the input file" in said or "already exists" in said), said
    if overwrite:
        assert "is the input file" in said, said
    _unchanged(target, kept)


@pytest.mark.parametrize("target", ["S10.nc", "S20.nc", "S1.nc"])
def test_a_cube_and_its_scl_cube_are_never_the_output(run_cli, cubes, tmp_path, target):
    """``-e "S10.nc#scl=S20.nc" -o S10.nc --overwrite`` replaced the 118-date cube named as an
    input and ``-o S20.nc`` the SCL cube named after ``#scl=`` (issue 77): refused, unchanged; the
    one list of what a name reads (``cube_ref.paths_read`` through ``fill_read.fill_reads``) names
    both, so the one output check refuses them whatever the suffix rule says."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.fileio import check_output_file
    from bandbridge.inference.jobs.fill_read import fill_reads
    s10, s20, s1 = cubes
    dest = s10.parent / target
    kept = dest.read_bytes()
    code, _, err = run_cli("fill", f"{s10}@2020-06-10#scl=S20.nc", "-e", f"{s10}#scl=S20.nc", "--sar", str(s1),
                           "-o", str(dest), "--overwrite")
    assert code == 2 and "--output" in _one_line(err)
    _unchanged(dest, kept)
    reads = fill_reads([f"{s10}@2020-06-10#scl=S20.nc", f"{s10}#scl=S20.nc", str(s1)], None)
    with pytest.raises(BandbridgeError, match="is the input file"):
        check_output_file(dest, reads, True)


def test_paths_read_names_every_part():
    """``#scl=`` and ``#grid=`` files (relative to the cube's folder), the cube itself, and a plain
    name as itself."""
    from bandbridge.data.cube_ref import paths_read
    assert paths_read("/d/S10.nc@2020-01-01#scl=S20.nc#grid=/g/G.nc") == [Path("/d/S10.nc"), Path("/d/S20.nc"),
                                                                           Path("/g/G.nc")]
    assert paths_read("/nowhere/x.tif") == [Path("/nowhere/x.tif")]


def test_an_output_inside_a_band_folder_read_is_refused(tmp_path):
    """A band folder is read whole: a file written into it would become one of its bands."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.fileio import check_output_file
    from bandbridge.data.cube_ref import paths_read
    folder = tmp_path / "bands"
    folder.mkdir()
    for b in BANDS:
        _tif(folder / f"{b}.tif", np.ones((1, 4, 4), np.float32))
    with pytest.raises(BandbridgeError, match="band folder"):
        check_output_file(folder / "new.tif", paths_read(str(folder)), True)
    with pytest.raises(BandbridgeError, match="is the input file"):
        check_output_file(folder / "B02.tif", paths_read(str(folder)), True)


# -- 2. one output check: the suffix names the format, refused before any work -----------------------


@pytest.mark.parametrize("name", ["out.vrt", "out.nc", "out.png", "out.jpg", "out"])
def test_an_output_fill_does_not_write_is_refused_before_any_work(run_cli, tmp_path, name):
    """``-o out.vrt``/``out.nc`` wrote a GeoTIFF under that name (exit 0); ``out.png`` ran the whole
    fill and then failed in PIL (issue 77). Refused first: the scene named does not even exist."""
    out = tmp_path / name
    code, _, err = run_cli("fill", str(tmp_path / "nowhere.tif"), "-e", str(tmp_path / "nor.tif"), "-o", str(out))
    said = _one_line(err)
    assert code == 2 and "fill writes GeoTIFF (.tif, .tiff)" in said and "out.tif" in said, said
    assert not out.exists()
