"""``bandbridge sharpen``'s inputs it cannot read or hold, each refused in one line naming the flag, the
file and the fix, exit 2, nothing written, no work folder left (issue 85; each was a traceback): a
tile that will not decompress (found only when its rows are read, after the plan), a SAFE with a
truncated JP2, a VRT named ``.tif`` onto /etc/passwd, a sparse guide whose header plans more memory
than there is (refused before any pixel is read), and FINE and ``--reference`` — or a pan and its MS
— given the other way round."""

from __future__ import annotations

import os
import resource
import struct
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from test_sharpen_read import refused, s2_safe, smooth_field, write_raster

ORIGIN = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
TILED = {"tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate"}


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """The work folders a run makes (``tempfile``'s) inside ``tmp_path``: one left behind fails ``refused``."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path


def pair(tmp: Path, side: int = 256, k: int = 2, guide_kw=None, ref_kw=None) -> tuple[Path, Path]:
    """A 3-band 10 m guide and a 2-band reference ``k`` times coarser over it (uint16 DN)."""
    rng = np.random.default_rng(5)
    g = np.stack([1000 + 3000 * smooth_field(rng, (side, side), s) for s in (1.0, 1.5, 2.0)])
    c = g[:2].reshape(2, side // k, k, side // k, k).mean((2, 4)) * 0.8 + 100
    return (write_raster(tmp / "fine.tif", g, ORIGIN, names=["B02", "B03", "B04"], **(guide_kw or {})),
            write_raster(tmp / "coarse.tif", c, ORIGIN @ Affine.scale(k), names=["B05", "B06"], **(ref_kw or {})))


def tiles(path: Path) -> list[tuple[int, int]]:
    """``(offset, bytes)`` of each compressed tile of a little-endian classic TIFF (TileOffsets 324,
    TileByteCounts 325 of its first directory)."""
    b = path.read_bytes()
    ifd, found = struct.unpack("<I", b[4:8])[0], {}
    for i in range(struct.unpack("<H", b[ifd:ifd + 2])[0]):
        tag, typ, count, at = struct.unpack("<HHII", b[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
        if tag in (324, 325):
            fmt, size = {3: ("H", 2), 4: ("I", 4)}[typ]
            raw = b[at:at + size * count] if size * count > 4 else b[ifd + 10 + 12 * i:ifd + 14 + 12 * i]
            found[tag] = struct.unpack(f"<{count}{fmt}", raw[:size * count])
    return list(zip(found[324], found[325]))


def garble(path: Path, tile: int) -> None:
    """Overwrite the middle third of one tile's deflate stream (the header still reads)."""
    at, n = tiles(path)[tile]
    with open(path, "r+b") as f:
        f.seek(at + n // 3)
        f.write((bytes(range(256)) * (n // 768 + 1))[:n // 3])


@pytest.mark.parametrize("flag", ["FINE", "--reference"])
def test_a_tile_that_will_not_decompress_is_one_line_naming_its_file(work, run_cli, flag):
    """A guide's corrupt tile is met by the guides' first pass, after the plan (its rows said); a target's
    when the reference is read; either way one line, no output, no work folder."""
    fine, coarse = pair(work, guide_kw=TILED, ref_kw={**TILED, "blockxsize": 32, "blockysize": 32})
    bad = fine if flag == "FINE" else coarse
    garble(bad, 9)
    line = refused(run_cli, work, str(fine), "--reference", str(coarse), "-o", str(work / "out.tif"))
    assert line.startswith(f"error: {flag} {bad}: its pixels") and "cannot be read" in line, line
    assert "IReadBlock failed" in line and "truncated or corrupt: copy or download it again" in line, line
    if flag == "FINE":
        assert "(the guides' rows 0–255)" in line, line
    assert not (work / "out.tif").exists() and not list((work / "tmp").glob("bandbridge*"))


@pytest.mark.parametrize("band, flag", [("B05_20m", "--reference"), ("B03_10m", "FINE")])
def test_a_safe_with_a_truncated_jp2_is_one_line_naming_the_jp2(work, run_cli, band, flag):
    if "JP2OpenJPEG" not in rasterio.drivers.raster_driver_extensions().values():
        pytest.skip("GDAL here has no OpenJPEG driver: a SAFE's JP2 cannot be written")
    safe, _ = s2_safe(work)
    jp2 = next(safe.rglob(f"*_{band}.jp2"))
    os.truncate(jp2, jp2.stat().st_size // 2)
    line = refused(run_cli, work, str(safe), "--reference", str(safe), "--bands", "B05,B11",
                   "-o", str(work / "out.tif"))
    assert line.startswith(f"error: {flag} {jp2}:") and "truncated or corrupt" in line, line
    assert not (work / "out.tif").exists() and not list((work / "tmp").glob("bandbridge*"))


def in_its_own_process(*args: str) -> tuple[int, str, str]:
    """``bandbridge ARGS`` as a user runs it, in a process of its own: in the suite's process, after a sharpen of a
    remote Item's assets, GDAL read this VRT's non-raster source as nodata rather than fail (seen at stop 99, not
    yet explained), so the refusal came in other words."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "bandbridge.cli", *args], capture_output=True, text=True)  # its end
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("flag", ["FINE", "--reference"])
def test_a_vrt_named_tif_onto_a_file_that_is_no_raster_is_predicts_one_line(work, run_cli, flag):
    """``predict --reference``'s refusal (``data/reference.pixels_read``), for either input of sharpen."""
    fine, coarse = pair(work)
    evil = work / "evil.tif"
    text = work / f"notes_{flag.strip('-')}.txt"  # a text file, not a raster
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    side, px = (256, 10) if flag == "FINE" else (128, 20)
    evil.write_text(f"""<VRTDataset rasterXSize="{side}" rasterYSize="{side}"><SRS>EPSG:32617</SRS>
<GeoTransform>500000, {px}, 0, 4000000, 0, -{px}</GeoTransform><VRTRasterBand dataType="UInt16" band="1">
<Description>B04</Description><SimpleSource><SourceFilename relativeToVRT="0">{text}</SourceFilename>
<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>""")
    args = [str(evil), "--reference", str(coarse)] if flag == "FINE" else [str(fine), "--reference", str(evil)]
    line = refused(in_its_own_process, work, *args, "-o", str(work / "out.tif"))
    assert line.startswith(f"error: {flag} {evil}: its pixels") and "cannot be read" in line, line
    assert str(text) in line and "a VRT must name rasters that exist and GDAL reads" in line, line
    assert not (work / "out.tif").exists()


@contextmanager
def address_space(extra: int):
    """This process may map at most ``extra`` bytes more inside: a plan that reads what it refused ends
    in a MemoryError (a failed test), not in the machine's out-of-memory killer."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    now = next(int(x.split()[1]) * 1024 for x in Path("/proc/self/status").read_text().splitlines()
               if x.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (now + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_a_sparse_guide_past_the_memory_is_refused_from_its_header(work, run_cli, monkeypatch):
    """A 100000² guide of a few KB on disk (sparse tiles) over a 128² reference: the reference's cells over
    its footprint (50002² of them) were allocated, a MemoryError of 9.31 GiB. The plan
    (``SharpenPlan.memory``) is now weighed against the memory available before any pixel is read."""
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc here: the address-space guard cannot be set")
    fine = work / "huge.tif"
    with rasterio.open(fine, "w", driver="GTiff", height=100_000, width=100_000, count=1, dtype="uint16",
                       crs="EPSG:32617", transform=ORIGIN, sparse_ok=True, **{**TILED, "blockxsize": 512,
                                                                               "blockysize": 512}) as d:
        d.write(np.full((1, 512, 512), 1000, np.uint16), window=((0, 512), (0, 512)))
    assert fine.stat().st_size < 4 << 20
    _, coarse = pair(work, side=256)
    monkeypatch.setattr("bandbridge.inference.runtime.memory.available_bytes", lambda: 8 << 30)
    with address_space(6 << 30):
        line = refused(run_cli, work, str(fine), "--reference", str(coarse), "-o", str(work / "out.tif"))
    assert line.startswith(f"error: FINE {fine} is 100000×100000 px (width×height)"), line
    assert f"--reference {coarse}'s grid over it (50002×50002 cells)" in line and "GB peak" in line, line
    assert "8.59 GB available" in line and "--bands" in line and "gdal_translate -srcwin" in line, line


@pytest.mark.parametrize("case", ["one raster", "pan and MS"])
def test_fine_and_reference_given_the_other_way_round_are_said_to_look_swapped(work, run_cli, case):
    if case == "one raster":
        fine, coarse = pair(work)
        k = 2
    else:  # a 2.5 m pan and its 10 m four-band MS
        rng = np.random.default_rng(8)
        pan = 1000 + 3000 * smooth_field(rng, (256, 256), 2.0)
        ms = np.stack([pan.reshape(64, 4, 64, 4).mean((1, 3)) * s for s in (0.5, 0.6, 0.7, 0.9)])
        fine = write_raster(work / "pan.tif", pan, ORIGIN @ Affine.scale(0.25), names=["PAN"])
        coarse = write_raster(work / "ms.tif", ms, ORIGIN, names=["B02", "B03", "B04", "B08"])
        k = 4
    line = refused(run_cli, work, str(coarse), "--reference", str(fine), "-o", str(work / "out.tif"))
    assert line.startswith(f"error: --reference {fine}: its pixels are {k:.2f}× finer than FINE's"), line
    assert "look swapped" in line and "give the fine raster first (FINE) and the coarse one as --reference" in line
    assert not (work / "out.tif").exists()


def test_a_pan_and_ms_read_the_other_way_round_are_said_to_look_swapped():
    from bandbridge.data.grids import Grid
    from bandbridge.data.products import pan_ratio
    from bandbridge.errors import BandbridgeError
    pan, ms = Grid("EPSG:32617", ORIGIN @ Affine.scale(0.25), 256, 256), Grid("EPSG:32617", ORIGIN, 64, 64)
    assert pan_ratio(pan, ms) == 4
    with pytest.raises(BandbridgeError, match="the MS is the finer by 4, so the two look swapped; give the pan first"):
        pan_ratio(ms, pan, "pan")
