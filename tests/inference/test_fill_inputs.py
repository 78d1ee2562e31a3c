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
           scl: bool = True, shift: float = 0.0) -> str:
    """Four reflectance bands dated ``day`` (YYYYMMDD in the name), with ``S2_<day>_SCL.tif``
    beside it (a 20 m grid): clouds (SCL 9) over the left 14 columns when ``cloud``, else all
    vegetation; ``shift``, ``scl_shift``: the scene, its SCL moved this many metres east."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    base = 0.05 + 0.01 * np.stack([yy + xx, yy, xx, 2 * yy + 10]) / SIZE
    f = _tif(folder / f"S2_{day}.tif", (base + 0.002 * rng.standard_normal(base.shape)).astype("float32"), BANDS,
             shift=shift)
    if scl:
        classes = np.full((1, SIZE // 2, SIZE // 2), 4, np.uint8)
        if cloud:
            classes[:, :, :7] = 9  # 14 of 24 columns, then dilated: under FILL_FIT_MIN clear
        _tif(folder / f"S2_{day}_SCL.tif", classes, ["SCL"], shift=shift + scl_shift, res=20.0)
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
    from bandbridge.data.reads import check_output_file
    from bandbridge.inference.place.fill_checks import fill_reads
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
    from bandbridge.data.reads import paths_read
    assert paths_read("/d/S10.nc@2020-01-01#scl=S20.nc#grid=/g/G.nc") == [Path("/d/S10.nc"), Path("/d/S20.nc"),
                                                                           Path("/g/G.nc")]
    assert paths_read("/nowhere/x.tif") == [Path("/nowhere/x.tif")]


def test_an_output_inside_a_band_folder_read_is_refused(tmp_path):
    """A band folder is read whole: a file written into it would become one of its bands."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.data.reads import check_output_file
    from bandbridge.data.reads import paths_read
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


# -- 3, 4. each bad input one line naming its real cause, nothing written ----------------------------


def _sparse(path: Path, side: int, count: int, names=None, dtype: str = "float32") -> str:
    """A ``side``² GeoTIFF whose header says so, with no tile written (a few MB on disk)."""
    with rasterio.open(path, "w", driver="GTiff", height=side, width=side, count=count, dtype=dtype,
                       crs="EPSG:32631", transform=Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1]), tiled=True,
                       blockxsize=512, blockysize=512, sparse_ok=True, compress="deflate") as dst:
        if names:
            dst.descriptions = tuple(names)
    return str(path)


def _bad(tmp_path: Path, site, cubes, case: str) -> tuple[list[str], str]:
    """The arguments of each bad run and the words its one line must hold (built for that case only)."""
    scene, before = site
    s10, s20, s1 = cubes
    nan2 = np.full((2, SIZE, SIZE), np.nan, np.float32)
    return {
        # the SCL file beside the scene lies 100 km away: was 100 % gap, every observed pixel replaced
        "scl-elsewhere": lambda: ([_scene(tmp_path / "far", "20200610", 1, scl_shift=1e5), "-e", before],
                                  "found beside it): does not overlap"),
        # was CPLE_NotSupportedError
        "mask-png": lambda: ([scene, "-e", before, "--mask",
                              _tif(tmp_path / "half.png", np.ones((1, SIZE, SIZE), np.uint8), crs=None)],
                             "--mask", "has no georeference"),
        # a PNG bomb as --mask: was MemoryError; refused from its header (no georeference), never decoded
        "mask-png-bomb": lambda: ([scene, "-e", before, "--mask", _png_bomb(tmp_path)], "--mask", "no georeference"),
        # were "does not overlap": not the cause
        "mask-all-nodata": lambda: ([scene, "-e", before, "--mask", _tif(tmp_path / "nan.tif", nan2[:1], nodata=np.nan)],
                                    "--mask", "holds no value"),
        "sar-all-nan": lambda: ([scene, "-e", before, "--sar",
                                 _tif(tmp_path / "s1_20200610.tif", nan2, ["VV", "VH"], nodata=np.nan)],
                                "--sar", "holds no value"),
        # an S1 cube as the earlier archive: was IndexError in cube.step_fractions
        "s1-cube-as-earlier": lambda: ([f"{s10}@2020-06-10#scl=S20.nc", "-e", str(s1)], "--earlier",
                                       "holds none of the"),
        # an earlier date with no cloud mask in or beside it: was taken as all clear without a word
        "earlier-no-mask": lambda: ([scene, "-e", _scene(tmp_path / "bare", "20200601", 2, cloud=False, scl=False)],
                                    "--earlier", "no cloud mask"),
        "later-no-mask": lambda: ([scene, "-e", before, "--later", _scene(tmp_path / "after", "20200620", 3, scl=False)],
                                  "--later", "no cloud mask"),
        "earlier-cube-no-scl": lambda: ([f"{s10}@2020-06-10#scl=S20.nc", "-e", f"{s10}@2020-06-01"], "--earlier",
                                        "no cloud mask"),
        # headers too large for this machine: were MemoryError (37-54 GiB) after reading whole
        "scene-100000": lambda: ([_sparse(tmp_path / "S2_20200610.tif", 100_000, 4, BANDS), "-e", before],
                                 "100000×100000 px", "16 GB available now"),
    }[case]()


def _png_bomb(tmp_path: Path) -> str:
    """A 4000² PNG of zeros (16 MPix decoded, a few kB on disk): the 20000² bomb of issue 77 in small."""
    from PIL import Image
    f = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((4000, 4000), np.uint8)).save(f)
    return str(f)


CASES = ["scl-elsewhere", "mask-png-bomb", "later-no-mask", "mask-png", "mask-all-nodata", "sar-all-nan", "s1-cube-as-earlier", "earlier-no-mask",
         "earlier-cube-no-scl", "scene-100000"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_is_one_line_naming_its_cause(run_cli, site, cubes, tmp_path, case, monkeypatch):
    """Each of issue 77's fill cases (silent wrong answers, tracebacks, the wrong cause named):
    exit 2, one line holding the flag and the cause, no warning (numpy's "All-NaN slice" leaked),
    nothing written. The memory available is held at 16 GB (a machine with 100 GB would plan the
    100000² scene and run it)."""
    from bandbridge.inference.place import fill_checks
    monkeypatch.setattr(fill_checks, "available_bytes", lambda: 16_000_000_000)
    given, *words = _bad(tmp_path, site, cubes, case)
    out = tmp_path / "filled.tif"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code, stdout, err = run_cli("fill", *given, "-o", str(out))
    said = _one_line(err)
    assert code == 2 and all(w in said for w in words), said
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in seen]
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("flag", ["--mask", "--sar", "--earlier"])
def test_a_60000_px_file_beside_a_small_scene_is_read_only_over_it(run_cli, site, tmp_path, flag):
    """A 60000² mask, SAR or earlier date (57 GB as float32) beside the 24² scene: issue 77's
    MemoryError came from reading it whole; it is read by the rows over the scene, so the fill runs
    (the earlier date, all SCL 0 there, is refused in one line for having no clear pixel)."""
    scene, before = site
    big = tmp_path / "big"
    big.mkdir()
    if flag == "--earlier":
        item = _sparse(big / "S2_20200601.tif", 60_000, 4, BANDS)
        _sparse(big / "S2_20200601_SCL.tif", 30_000, 1, dtype="uint8")  # 0: no data, no clear pixel but the scene's
        given = [scene, "-e", before, "-e", item]
    else:
        item = _sparse(big / "s1_20200610.tif", 60_000, 2, ["VV", "VH"]) if flag == "--sar" else \
            _sparse(big / "m.tif", 60_000, 1, dtype="uint8")
        given = [scene, "-e", before, flag, item]
    out = tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", *given, "-o", str(out))
    if flag == "--earlier":
        assert code == 2 and "no clear pixel" in _one_line(err)
    else:
        assert code == 0 and (out.exists() or "nothing to fill" in stdout), stdout + err  # the mask: all 0, no gap


def test_the_size_rule_states_what_this_machine_holds(monkeypatch, site, tmp_path):
    """A 3000² PNG (a small file, 9 MPix decoded: the PNG bomb in small) against 50 MB available:
    refused from its header before it is decoded, the figures of the rule in the line; the scene
    itself (576 px) fits."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.place import fill_read, fill_rows
    big = _tif(tmp_path / "bomb.png", np.zeros((1, 3000, 3000), np.uint8), crs=None)
    monkeypatch.setattr(fill_rows, "available_bytes", lambda: 50_000_000)
    decoded = []
    monkeypatch.setattr(fill_rows, "read_raster", lambda *a, **k: decoded.append(a) or pytest.fail("decoded"))
    with pytest.raises(BandbridgeError) as e:
        fill_read.read_layer(big, "--mask")
    said = str(e.value)
    assert said.startswith("--mask") and "3000×3000 px" in said and "50 GB" not in said, said
    assert "0.05 GB this machine has available now" in said and "1.79 MPix of 1 band(s)" in said, said
    assert not decoded
    fill_rows.check_fits(site[0], SIZE, SIZE, 4, "", free=50_000_000)  # no refusal


@pytest.mark.parametrize("case", ["reversed", "no-earlier", "sar-elsewhere", "earlier-elsewhere", "all-nodata",
                                  "no-mask", "sar-earlier-alone"])
def test_refusals_are_one_line_and_write_nothing(run_cli, site, tmp_path, case):
    """The refusals tests/inference/test_fill.py made on WorldCereal crops (which a clone without
    ../shared/data skipped), on the tiny site."""
    scene, before = site
    s1 = _tif(tmp_path / "s1_20200610.tif", np.full((2, SIZE, SIZE), -12, np.float32), ["VV", "VH"], shift=1e5)
    _tif(tmp_path / "s1_20200610_here.tif", np.full((2, SIZE, SIZE), -12, np.float32), ["VV", "VH"])
    args, want = {
        "reversed": ([before, "-e", _scene(tmp_path / "later", "20200615", 3)], "--earlier"),
        "no-earlier": ([scene], "--earlier"),
        "sar-elsewhere": ([scene, "-e", before, "--sar", s1], "--sar"),
        "earlier-elsewhere": ([scene, "-e", _scene(tmp_path / "far", "20200601", 2, cloud=False, shift=1e5)],
                              "--earlier"),
        "all-nodata": ([_tif(tmp_path / "S2_20200610.tif", np.full((4, SIZE, SIZE), np.nan, np.float32), BANDS,
                             nodata=np.nan), "-e", before, "--mask", _tif(tmp_path / "g.tif", np.ones((1, SIZE, SIZE),
                                                                                                    np.uint8))],
                       "no data"),
        "no-mask": ([_scene(tmp_path / "nomask", "20200610", 1, scl=False), "-e", before], "--mask"),
        "sar-earlier-alone": ([scene, "--sar", s1.replace(".tif", "_here.tif"), "--sar-earlier", s1], "--sar-earlier"),
    }[case]
    out = tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", *args, "-o", str(out))
    said = _one_line(err)
    assert code == 2 and want in said, said
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_no_gap_is_nothing_to_do(run_cli, site, tmp_path):
    scene, before = site
    none = _tif(tmp_path / "none.tif", np.zeros((1, SIZE, SIZE), np.uint8))
    out = tmp_path / "f.tif"
    code, stdout, err = run_cli("fill", scene, "-e", before, "--mask", none, "-o", str(out))
    assert code == 0 and "nothing to fill" in stdout and not out.exists(), stdout + err


def test_a_band_the_cube_lacks_is_one_line(cubes):
    """``step_fractions`` asked for bands a cube does not hold (an S1 cube judged on four optical
    bands) was an IndexError inside data/cube.py."""
    from bandbridge.data.cube import step_fractions
    from bandbridge.errors import BandbridgeError
    _, _, s1 = cubes
    with pytest.raises(BandbridgeError, match=r"has 2 band\(s\) \(VV, VH\), no band 3"):
        step_fractions(str(s1), [0, 1, 2, 3])
