"""The one output guard (``data/reads.check_output_file``, issue 85): every command that writes refuses, before
any work, an output that is anything it reads, named or implied (a band or product folder, a VRT's sources
however deep, a STAC Item's local assets, the SAFE around a file), or whose suffix names another format than
it writes; and a write stopped by the file-size limit is said as that, naming the output. ``sharpen``
checked only that the output existed: with ``--overwrite`` it replaced its own reference and bands inside
its folders, and wrote GeoTIFFs named ``.vrt`` and ``.nc``. Tiny rasters made here; ``predict`` runs the
bundled model on the repository's sample."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from scipy.ndimage import gaussian_filter

from conftest import SAMPLE

ORIGIN = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
SIDE = 96  # 10 m pixels a side: 48 cells at 20 m, 16 at 60 m
NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
BANDS = ("B02", "B03", "B04", "B08")


def _band(path: Path, values: np.ndarray, transform: Affine, name: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
                       dtype="uint16", crs="EPSG:32631", transform=transform, nodata=0) as d:
        d.write(np.round(values).astype("uint16")[None])
        d.descriptions = (name,)
    return path


def _stack(path: Path, files: list[Path]) -> Path:
    """Band files of one grid as one GeoTIFF, their names its band descriptions."""
    with rasterio.open(files[0]) as s:
        prof = s.profile | {"count": len(files)}
    with rasterio.open(path, "w", **prof) as d:
        for i, f in enumerate(files, 1):
            with rasterio.open(f) as s:
                d.write(s.read(1), i)
        d.descriptions = tuple(f.stem for f in files)
    return path


def vrt_of_vrt(target: Path, folder: Path) -> Path:
    """``folder/outer.vrt`` → ``folder/vrt/inner.vrt`` (relative) → ``target``: the source two VRTs deep (GDAL's own
    file list names the inner VRT only)."""
    (folder / "vrt").mkdir(parents=True, exist_ok=True)
    inner = folder / "vrt" / "inner.vrt"
    rasterio.shutil.copy(target, inner, driver="VRT")
    text = inner.read_text()
    a, b = text.index("<SourceFilename"), text.index("</SourceFilename>") + len("</SourceFilename>")
    outer = folder / "outer.vrt"
    outer.write_text(text.replace(text[a:b], '<SourceFilename relativeToVRT="1">vrt/inner.vrt</SourceFilename>'))
    return outer


def stac_item(path: Path, hrefs: dict[str, str], **more: dict) -> Path:
    """An Earth Search–style Item of the band files ``hrefs`` (``{band: href}``) and the assets ``more``."""
    keys = {"B01": ("coastal", "coastal"), "B05": ("rededge1", "rededge"), "B06": ("rededge2", "rededge")}
    assets = {keys[b][0]: {"href": h, "type": "image/tiff; application=geotiff", "roles": ["data"],
                           "eo:bands": [{"name": keys[b][0], "common_name": keys[b][1]}],
                           "raster:bands": [{"nodata": 0, "data_type": "uint16"}]} for b, h in hrefs.items()}
    path.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "S2B_31TWM_20220601_0_L2A", "links": [],
        "geometry": {"type": "Polygon", "coordinates": [[[3, 36], [3.01, 36], [3.01, 36.01], [3, 36]]]},
        "bbox": [3, 36, 3.01, 36.01], "stac_extensions": [],
        "properties": {"datetime": "2022-06-01T10:05:59Z", "platform": "sentinel-2b", "constellation": "sentinel-2",
                       "proj:epsg": 32631}, "assets": assets | more}))
    return path


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """A Sentinel-2-like band folder ``fine`` (B02, B03, B04, B08 at 10 m) and a reference folder ``ref``
    (B05, B06 at 20 m and B01 at 60 m: two grids, a run per grid); the same 10 m bands as one file
    ``fine.tif`` and the 20 m ones as ``ref20.tif``; ``outer.vrt`` a VRT of a VRT of ``fine.tif``; and
    ``item.json`` an Item whose assets are bands under ``assets/`` (relative, absolute and ``file://``
    hrefs, beside a URL and a GDAL address, which are no local files)."""
    rng = np.random.default_rng(0)
    g = [gaussian_filter(rng.normal(size=(SIDE, SIDE)), s) for s in (1.0, 1.5, 2.0, 1.2)]
    g = [(x - x.min()) / np.ptp(x) * 3000 + 1000 for x in g]
    for n, x in zip(BANDS, g):
        _band(tmp_path / "fine" / f"{n}.tif", x, ORIGIN, n)
    coarse = {"B05": (2, 0.5 * g[2] + 0.5 * g[3]), "B06": (2, g[3]), "B01": (6, g[0])}
    for folder in ("ref", "assets"):
        for n, (k, x) in coarse.items():
            _band(tmp_path / folder / f"{n}.tif", x.reshape(SIDE // k, k, SIDE // k, k).mean((1, 3)),
                  ORIGIN @ Affine.scale(k), n)
    fine = _stack(tmp_path / "fine.tif", [tmp_path / "fine" / f"{n}.tif" for n in BANDS])
    ref20 = _stack(tmp_path / "ref20.tif", [tmp_path / "ref" / f"{n}.tif" for n in ("B05", "B06")])
    a = tmp_path / "assets"
    item = stac_item(tmp_path / "item.json", {"B05": "./assets/B05.tif", "B06": str(a / "B06.tif"),
                                              "B01": (a / "B01.tif").as_uri()})
    return {"fine": tmp_path / "fine", "ref": tmp_path / "ref", "fine.tif": fine, "ref20.tif": ref20,
            "outer.vrt": vrt_of_vrt(fine, tmp_path), "item": item, "assets": a}


def _state(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``root``: its mtime (ns) and bytes."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file()}


def refused(run_cli, root: Path, *args: str) -> str:
    """``bandbridge ARGS`` exits 2 with one line and leaves every file under ``root`` as it was (no input
    touched, nothing new written, no temporary left); the line."""
    before = _state(root)
    code, _, err = run_cli(*args)
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    assert _state(root) == before
    return " ".join(err.split())


# --- sharpen: every input it reads, named or implied, is refused as -o ---------------------------------------

@pytest.mark.parametrize("case", ["the --reference file", "a band inside the FINE folder",
                                  "a band inside the reference folder (the run of a set per grid)",
                                  "a VRT's source two VRTs deep", "an Item's local asset (relative href)",
                                  "an Item's local asset (file:// href)"])
def test_sharpen_never_writes_over_what_it_reads(tmp_path, run_cli, site, case):
    fine, ref, out = {
        "the --reference file": (site["fine.tif"], site["ref20.tif"], site["ref20.tif"]),
        "a band inside the FINE folder": (site["fine"], site["ref"], site["fine"] / "B02.tif"),
        "a band inside the reference folder (the run of a set per grid)": (site["fine"], site["ref"],
                                                                           site["ref"] / "B05.tif"),
        "a VRT's source two VRTs deep": (site["outer.vrt"], site["ref20.tif"], site["fine.tif"]),
        "an Item's local asset (relative href)": (site["fine"], site["item"], site["assets"] / "B05.tif"),
        "an Item's local asset (file:// href)": (site["fine"], site["item"], site["assets"] / "B01.tif"),
    }[case]
    said = refused(run_cli, tmp_path, "sharpen", str(fine), "--reference", str(ref), "-o", str(out), "--overwrite",
                   "--threads", "1")
    assert "--output" in said and ("is the input file" in said or "is inside" in said), said


@pytest.mark.parametrize("name", ["out.vrt", "out.nc", "out.png", "out"])
def test_sharpen_writes_only_what_its_suffix_says(tmp_path, run_cli, site, name):
    """A GeoTIFF named ``.vrt`` or ``.nc`` was written under that name: refused, the name to use said."""
    said = refused(run_cli, tmp_path, "sharpen", str(site["fine.tif"]), "--reference", str(site["ref20.tif"]),
                   "-o", str(tmp_path / name))
    assert said.startswith(f"error: --output {tmp_path / name}: sharpen writes GeoTIFF (.tif, .tiff) files"), said


def test_sharpen_still_writes_a_new_tif(tmp_path, run_cli, site):
    """The guard lets the ordinary run through: a new file beside the inputs (not inside a folder read)."""
    code, _, err = run_cli("sharpen", str(site["fine.tif"]), "--reference", str(site["ref20.tif"]), "-o",
                           str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err


# --- the same guard for predict and fill -----------------------------------------------------------------

def test_predict_never_writes_over_a_vrts_source_two_deep(tmp_path, run_cli):
    """GDAL's file list of a VRT names its sources one level down: the input behind a VRT of a VRT was
    no input to the old check, and ``--overwrite`` replaced it."""
    src = tmp_path / "in.tif"
    shutil.copy(NAIP, src)
    outer = vrt_of_vrt(src, tmp_path)
    said = refused(run_cli, tmp_path, "predict", str(outer), "-m", "rgb2nir-naip", "-o", str(src), "--overwrite")
    assert "--output" in said and "is the input file" in said and "outer.vrt" in said, said


def _fill_scene(folder: Path, day: str, cloud: bool) -> Path:
    """Four reflectance bands with an SCL beside (clouds over the left half when ``cloud``)."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:24, :24]
    data = (0.05 + 0.01 * np.stack([yy + xx, yy, xx, 2 * yy + 10]) / 24).astype("float32")
    prof = {"driver": "GTiff", "height": 24, "width": 24, "crs": "EPSG:32631",
            "transform": Affine(10.0, 0, 500_000.0, 0, -10.0, 5_600_000.0)}
    with rasterio.open(folder / f"S2_{day}.tif", "w", count=4, dtype="float32", **prof) as d:
        d.write(data)
        d.descriptions = BANDS
    scl = np.full((1, 24, 24), 4, np.uint8)
    scl[:, :, :12] = 9 if cloud else 4
    with rasterio.open(folder / f"S2_{day}_SCL.tif", "w", count=1, dtype="uint8", **prof) as d:
        d.write(scl)
    return folder / f"S2_{day}.tif"


def test_fill_never_writes_over_an_earlier_dates_vrt_source(tmp_path, run_cli):
    now = _fill_scene(tmp_path / "now", "20200610", True)
    then = _fill_scene(tmp_path / "then", "20200601", False)
    outer = vrt_of_vrt(then, then.parent)  # beside the date's SCL, which fill takes as its cloud mask
    said = refused(run_cli, tmp_path, "fill", str(now), "-e", str(outer), "-o", str(then), "--overwrite")
    assert "--output" in said and "is the input file" in said, said


# --- the guard itself: links, hard links, the SAFE around a file, what an Item names --------------------------

def test_links_and_hard_links_to_an_input_are_the_input(tmp_path, site):
    from bandbridge.data.reads import check_output_file
    from bandbridge.errors import BandbridgeError
    link, hard = tmp_path / "link.tif", tmp_path / "hard.tif"
    link.symlink_to(site["ref20.tif"])
    os.link(site["ref20.tif"], hard)
    for out in (link, hard):
        with pytest.raises(BandbridgeError, match="is the input file"):
            check_output_file(out, [site["ref20.tif"]], True)
    check_output_file(tmp_path / "new.tif", [site["ref20.tif"]], True)  # anything else passes


def test_what_a_name_implies(tmp_path, site):
    """An Item's local assets (never a URL or a GDAL address), a VRT named ``.tif`` by its content, the
    SAFE around a file named inside it, and a cycle of VRTs ends."""
    from bandbridge.data.reads import paths_read
    a = site["assets"]
    assert set(paths_read(site["item"])) >= {a / "B05.tif", a / "B06.tif", a / "B01.tif"}
    other = stac_item(tmp_path / "other.json", {"B05": "assets/B05.tif"}, remote={"href": "https://x.invalid/B07.tif"},
                      gdal={"href": "/vsicurl/https://x.invalid/B8A.tif"}, opts={"href": "B02.tif?x=1"})
    assert paths_read(other) == [other, a / "B05.tif"]
    named_tif = tmp_path / "looks.tif"
    shutil.copy(site["outer.vrt"], named_tif)
    assert site["fine.tif"] in [p.resolve() for p in paths_read(named_tif)]
    jp2 = tmp_path / "X.SAFE" / "GRANULE" / "G" / "IMG_DATA" / "B02.jp2"
    jp2.parent.mkdir(parents=True)
    jp2.write_bytes(b"")
    assert Path(os.path.abspath(tmp_path / "X.SAFE")) in paths_read(jp2)
    loop = tmp_path / "loop.vrt"
    loop.write_text('<VRTDataset><VRTRasterBand><SimpleSource><SourceFilename relativeToVRT="1">loop.vrt'
                    "</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>")
    assert paths_read(loop) == [loop]


# --- a write stopped by the file-size limit -------------------------------------------------------------------

def _limited(limit: int):
    def start() -> None:  # in the child: the shell's `ulimit -f`, and SIGXFSZ ignored as Python does
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return start


@pytest.mark.parametrize("limit", [20_000, 100_000])  # a work file stopped, or the output
def test_a_file_size_limit_is_said_naming_the_output(tmp_path, site, limit):
    """Under ``ulimit -f`` a run said its temporary file was corrupt (or ended in a traceback): now one line
    naming -o and the limit, exit 2, nothing left beside the output or in the temporary folder. (libtiff
    itself prints "_tiffWriteProc: File too large." from C; that line is not bandbridge's.)"""
    pytest.importorskip("resource")
    work, out = tmp_path / "tmp", tmp_path / "out" / "o.tif"
    work.mkdir()
    out.parent.mkdir()
    cmd = [sys.executable, "-m", "bandbridge.cli", "sharpen", str(site["fine.tif"]), "--reference",
           str(site["ref20.tif"]), "-o", str(out), "--threads", "1"]
    # the timeout is a hang guard, never a time limit: the child's run takes seconds, and on a 2-core
    # machine other jobs keep busy it may take minutes; only a stuck child waits half an hour
    r = subprocess.run(cmd, preexec_fn=_limited(limit), capture_output=True, text=True, timeout=1800,
                       env=os.environ | {"TMPDIR": str(work)})
    ours = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith("_tiff")]
    assert r.returncode == 2 and len(ours) == 1, r.stderr
    assert f"{out}: not written: a file may be at most" in ours[0] and "file-size limit" in ours[0], ours
    assert "corrupt" not in r.stderr
    assert list(out.parent.iterdir()) == [] and list(work.iterdir()) == []
