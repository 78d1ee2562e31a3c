"""The web demo, driven in a real headless Chromium: upload the sample, a plain RGB JPEG and a PNG,
see each beside its result and NDVI map; a wrong file gives one readable message."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or not shutil.which("chromium"),
    reason="Chromium not installed (CI installs Debian's chromium; locally: apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_server(trained_run, tmp_path):
    pytest.importorskip("gradio")
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), GRADIO_ANALYTICS_ENABLED="False")
    log = open(tmp_path / "demo.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "bandbridge.cli", "demo", "--model", str(trained_run),
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(120):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail((tmp_path / "demo.log").read_text()[-3000:])
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(10)


def _plain_rgb(tmp_path):
    """A plain RGB JPEG and PNG (no georeference, no band names) cut from the sample."""
    import rasterio
    from PIL import Image
    with rasterio.open(SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20180716.tif") as f:
        img = Image.fromarray(f.read([1, 2, 3]).transpose(1, 2, 0))
    img.save(tmp_path / "field.jpg", quality=90)
    img.crop((0, 0, 200, 160)).save(tmp_path / "field.png")
    return [tmp_path / "field.jpg", tmp_path / "field.png"]


def _clear(page):
    clear = page.locator("#upload button[aria-label='Clear']")
    if clear.count():
        clear.first.click()


def _run(page, path, expect_text):
    _clear(page)
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#input img").wait_for(state="visible", timeout=30_000)  # shown before running
    page.locator("#run").click()
    page.get_by_text(expect_text).first.wait_for(timeout=60_000)


def test_upload_sample_and_see_the_result(demo_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    shot = Path(os.environ.get("BANDBRIDGE_SCREENSHOT_DIR", tmp_path)) / "demo.png"
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
    before = set(Path(tempfile.gettempdir()).glob("bandbridge-demo-*"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(demo_server)
        page.locator("#upload input[type=file]").set_input_files(
            str(SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"))
        page.wait_for_timeout(1000)
        page.locator("#run").click()
        page.locator("#result img").wait_for(state="visible", timeout=60_000)
        page.locator("#ndvi img").wait_for(state="visible", timeout=60_000)
        page.get_by_text("keeps the input's georeference").wait_for(timeout=30_000)
        assert page.locator("#download a").count() >= 1  # the GeoTIFF to download
        assert page.locator("#input img").is_visible()  # the upload beside its result
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        # Plain RGB images (no band names, no georeference) work and get their NDVI map.
        for f in _plain_rgb(tmp_path):
            _run(page, f, f"{f.name},")
            page.locator("#ndvi img").wait_for(state="visible", timeout=30_000)
            page.get_by_text("0=red, 1=green, 2=blue").first.wait_for(timeout=10_000)
            href = page.locator("#download a").first.get_attribute("href")
            url = href if href.startswith("http") else demo_server.rstrip("/") + "/" + href.lstrip("/")
            with urllib.request.urlopen(url, timeout=30) as r:  # served after our files are deleted
                assert r.read(4) in (b"II*\x00", b"MM\x00*")
        page.screenshot(path=str(shot.with_name("demo_png.png")), full_page=True)
        for _ in range(50):  # each request's folder is removed once Gradio has copied the results
            left = set(Path(tempfile.gettempdir()).glob("bandbridge-demo-*")) - before
            if not left:
                break
            time.sleep(0.2)
        assert not left
        # A wrong file gives a clear message, not a traceback.
        bad = tmp_path / "notes.png"
        bad.write_bytes(b"this is not an image")
        _clear(page)
        page.locator("#upload input[type=file]").set_input_files(str(bad))
        page.wait_for_timeout(1000)
        page.locator("#run").click()
        page.get_by_text("cannot read this file as a raster").first.wait_for(timeout=30_000)
        assert page.get_by_text("Error", exact=True).count() == 0  # one message, no red boxes
        browser.close()
    assert shot.stat().st_size > 20_000
