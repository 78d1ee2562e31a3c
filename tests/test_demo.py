"""The web demo's translator without a browser: plain RGB uploads for every bundled model, the
upload shown beside the result, NDVI from the detected roles, limits and per-request files."""

import numpy as np
import pytest
import rasterio
from PIL import Image

from bandbridge.demo.app import MAX_MPIX, Translator
from bandbridge.errors import BandbridgeError
from bandbridge.spec import zoo_models
from conftest import SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")
    with rasterio.open(NAIP) as f:
        a, prof = f.read([1, 2, 3]), f.profile
    img = Image.fromarray(a[:, :96, :128].transpose(1, 2, 0))
    img.save(d / "photo.jpg", quality=90)
    img.save(d / "photo.png")
    prof.update(count=3, dtype="uint16", nodata=None)
    with rasterio.open(d / "refl.tif", "w", **prof) as f:
        f.write(a.astype(np.uint16) * 12 + 100)
    return d


@pytest.mark.parametrize("model", ["rgb2nir", "rgb2nir-naip", "rgb2thermal", "sr-x2", "sr-x3", "sr-x4"])
@pytest.mark.parametrize("name", ["photo.jpg", "photo.png"])
def test_plain_rgb_uploads_work_for_every_rgb_model(uploads, tmp_path, model, name):
    shown, img, ndvi, path, status = Translator(zoo_models())(str(uploads / name), model, tmp_path)
    s = int(model[-1]) if model.startswith("sr-x") else 1
    assert shown.shape == (96, 128, 3) and img.shape == (96 * s, 128 * s, 3)
    assert (ndvi is not None) == model.startswith("rgb2nir")  # NDVI from the detected red band
    assert "0=red, 1=green, 2=blue" in status and path.endswith(".tif")


def test_reflectance_geotiff_and_what_no_rgb_image_can_feed(uploads, tmp_path):
    t = Translator(zoo_models())
    for model in ("rgb2nir", "rgb2nir-s2"):
        _, _, ndvi, _, status = t(str(uploads / "refl.tif"), model, tmp_path)
        assert ndvi is not None and "reflectance_10000" in status
    with pytest.raises(BandbridgeError, match=r"VV, VH"):
        t(str(uploads / "photo.png"), "sar2optical", tmp_path)
    with pytest.raises(BandbridgeError, match="rgb2nir-naip"):  # 8-bit into the reflectance model
        t(str(uploads / "photo.png"), "rgb2nir-s2", tmp_path)


def test_pixel_limit_counts_the_super_resolution_output(tmp_path):
    side = int((MAX_MPIX * 1e6) ** 0.5 / 4) + 8  # fine as an input, too large ×4
    Image.fromarray(np.zeros((side, side, 3), np.uint8) + 90).save(tmp_path / "big.png")
    with pytest.raises(BandbridgeError, match="MPix at ×4"):
        Translator(zoo_models())(str(tmp_path / "big.png"), "sr-x4", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_any_failure_is_one_readable_line(tmp_path):
    from bandbridge.demo.app import _message
    up = str(tmp_path / "gradio-cache" / "x1" / "photo.png")
    assert _message(BandbridgeError(f"{up}: not a raster"), up) == "photo.png: not a raster"
    line = _message(ValueError("boom"), up)
    assert line.startswith("unexpected failure (ValueError: boom)") and "\n" not in line


def test_request_folders_are_swept_by_age_and_all_removed_at_shutdown(tmp_path, monkeypatch):
    import os
    import time

    from bandbridge.demo.app import TMP_PREFIX, Workdirs
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dirs = Workdirs(max_age_s=60)
    mine_old, mine_new = dirs.make(), dirs.make()
    stale, fresh = tmp_path / f"{TMP_PREFIX}stale", tmp_path / f"{TMP_PREFIX}fresh"  # another server's
    for d in (mine_old, mine_new, stale, fresh):
        d.mkdir(exist_ok=True)
        (d / "x.tif").write_bytes(b"x")
    os.utime(mine_old, (time.time() - 120, time.time() - 120))
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "other").mkdir()
    dirs.sweep()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine_new.name, fresh.name, "other"])
    dirs.start(every_s=0.05)  # the timer sweeps without any request
    os.utime(mine_new, (time.time() - 120, time.time() - 120))
    for _ in range(100):
        if not mine_new.exists():
            break
        time.sleep(0.05)
    assert not mine_new.exists()
    last = dirs.make()
    dirs.close()  # shutdown: every folder of this server goes, others' young ones stay
    assert not last.exists() and fresh.exists()


def test_preview_and_request_refuse_huge_images_before_decoding(tmp_path, monkeypatch):
    import zlib

    from bandbridge.demo import app
    side = 30000  # a 900-MPix PNG of a few hundred KB: only its header may be read
    raw = zlib.compress(b"".join(b"\x00" + bytes(side) for _ in range(64)), 9)
    png = _png_header(side, side) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    decoded = []
    monkeypatch.setattr(app, "read_decimated", lambda *a, **k: decoded.append(a))
    with pytest.raises(BandbridgeError, match="the demo makes up to"):
        app.input_preview(str(tmp_path / "bomb.png"))
    with pytest.raises(BandbridgeError, match="the demo makes up to"):
        Translator(zoo_models())(str(tmp_path / "bomb.png"), "rgb2nir", tmp_path)
    assert not decoded


def test_super_resolution_of_a_tiny_image_is_one_line(tmp_path):
    Image.fromarray(np.zeros((4, 400, 3), np.uint8) + 90).save(tmp_path / "thin.png")
    with pytest.raises(BandbridgeError, match=r"4×400 pixels; sr-x4 needs at least 15×15"):
        Translator(zoo_models())(str(tmp_path / "thin.png"), "sr-x4", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thin.png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(w: int, h: int) -> bytes:
    import struct
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
