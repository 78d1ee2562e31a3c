"""The web demo, driven in a real headless Chromium: upload the sample, see the result."""

import os
import shutil
import socket
import subprocess
import sys
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


def test_upload_sample_and_see_the_result(demo_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    shot = Path(os.environ.get("BANDBRIDGE_SCREENSHOT_DIR", tmp_path)) / "demo.png"
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
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
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        # A wrong file gives a clear message, not a traceback.
        bad = tmp_path / "notes.png"
        bad.write_bytes(b"this is not an image")
        page.locator("#upload button[aria-label='Clear']").first.click() if page.locator(
            "#upload button[aria-label='Clear']").count() else None
        page.locator("#upload input[type=file]").set_input_files(str(bad))
        page.wait_for_timeout(1000)
        page.locator("#run").click()
        page.get_by_text("cannot read this file as a raster").first.wait_for(timeout=30_000)
        browser.close()
    assert shot.stat().st_size > 20_000
