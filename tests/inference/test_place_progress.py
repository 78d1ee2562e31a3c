"""Issue 98 points 4, 5 and 9 on the fit at the place (``place/runner.py``): the work folder's space checked from
the plan before any work and a full disk during the run said in one line with the folder removed; every long
stage of ``fill`` and ``sharpen`` counted on the command's progress display; the fill's search scaled to the
scene in work; a quicklook PNG on request (``--preview``)."""

from __future__ import annotations

import errno
import tempfile
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import needs_shared
from test_fill import CLEAR, CLOUDY, _one_line, quick_fit, step  # noqa: F401 (a fixture)
from test_sharpen import scene

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def tmpdir_here(tmp_path, monkeypatch) -> Path:
    """TMPDIR pointed at a folder of the test's own, so what a run leaves there can be seen."""
    t = tmp_path / "tmp"
    t.mkdir()
    monkeypatch.setenv("TMPDIR", str(t))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return t


@pytest.fixture
def lines_at_once(monkeypatch):
    """Progress lines from the first moment (cli/progress.DELAY 0): every count says its name."""
    from bandbridge.cli import progress
    monkeypatch.setattr(progress, "DELAY", 0.0)


@needs_shared
def test_a_full_work_folder_is_refused_before_any_work(run_cli, tmp_path, tmpdir_here, monkeypatch):
    """The plan's work files against the disk's free space: one line naming the folder, both figures and the
    fix, exit 2, nothing written and no work folder made."""
    from bandbridge.inference.place import engine
    monkeypatch.setattr(engine.shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "filled.tif"
    code, _, err = run_cli("fill", step(CLOUDY), "--earlier", step(CLEAR), "-o", str(out))
    line = _one_line(err)
    assert code == 2 and f"the work folder's disk {tmpdir_here}" in line and "TMPDIR" in line, line
    assert "GB is free" in line and "the fit's output" in line
    assert not out.exists() and not list(tmpdir_here.iterdir()) and not list(tmp_path.glob("*.tif"))


@needs_shared
def test_a_full_disk_during_the_run_is_one_line_and_the_work_folder_goes(run_cli, tmp_path, tmpdir_here,
                                                                          monkeypatch, quick_fit):  # noqa: F811
    """ENOSPC in a work file's write (the tiles' mask, after the fit): one line naming the work folder, exit 2,
    nothing written, the work folder removed."""
    from bandbridge.inference.place import fill_stack

    def full(todo, reach, grid, path, win=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(fill_stack, "only_mask", full)
    out = tmp_path / "filled.tif"
    code, _, err = run_cli("fill", step(CLOUDY), "--earlier", step(CLEAR), "-o", str(out))
    line = _one_line(err)
    assert code == 2 and f"the work folder {tmpdir_here}" in line and "No space left" in line, line
    assert not out.exists() and not list(tmpdir_here.iterdir())


def test_a_raster_error_on_a_nearly_full_work_disk_is_one_line(tmp_path, monkeypatch):
    """What the trial saw (a RasterioIOError reading a work file back, TMPDIR full): one line, not a traceback;
    the same error with room on the disk passes as it is."""
    from rasterio.errors import RasterioIOError

    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place import engine
    work = tmp_path / "bandbridge-sharpen-x"
    work.mkdir()
    monkeypatch.setattr(engine.shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(BandbridgeError, match="the work folder .*could not be written or read back.*TMPDIR"):
        with engine.work_failures(work, Engine()):
            raise RasterioIOError(f"{work}/first.tif: not recognized as a supported file format")
    monkeypatch.setattr(engine.shutil, "disk_usage", lambda p: Usage(10**12, 0, 10**12))
    with pytest.raises(RasterioIOError):
        with engine.work_failures(work, Engine()):
            raise RasterioIOError("another cause")


@needs_shared
def test_fill_shows_every_stage_and_writes_its_preview(run_cli, tmp_path, lines_at_once, quick_fit):  # noqa: F811
    """The scan, the flags' pass, the sample, the selection core's folds, the bundle's tiles and the finish each
    a count on stderr; ``--preview``: the filled scene's quicklook, RGB from B04, B03, B02, its own size."""
    out, png = tmp_path / "filled.tif", tmp_path / "look.png"
    code, _, err = run_cli("fill", step(CLOUDY), "--earlier", step(CLEAR), "-o", str(out), "--preview", str(png))
    assert code == 0, err
    for stage in ("the scan:", "the flags' pass:", "the fit's sample:", "candidates on 4 folds", ", tiles:",
                  "the finish:", "fill: the fit, the bundle served, the finish: 3/3 done"):
        assert stage in err, (stage, err)
    from PIL import Image
    with Image.open(png) as im:
        assert im.size == (64, 64) and im.mode == "RGB"


def test_sharpen_shows_its_fit_and_stages(run_cli, tmp_path, lines_at_once):
    """``sharpen``'s fit counted though its learners take no display (``progress.shown``): the core's folds, the
    engine's tiles, the runner's stages; ``--preview`` of its grey output."""
    p = scene(tmp_path)
    out, png = tmp_path / "o.tif", tmp_path / "o.png"
    code, _, err = run_cli("sharpen", str(p["guides"]), "--reference", str(p["ref"]), "-o", str(out),
                           "--preview", str(png))
    assert code == 0, err
    for stage in ("candidates on", ", tiles:", "sharpen: the fit, the bundle served, the finish: 3/3 done"):
        assert stage in err, (stage, err)
    from PIL import Image
    with Image.open(png) as im:
        assert im.size == (160, 160) and im.mode == "L"


def test_a_preview_that_is_an_input_or_not_png_is_refused(run_cli, tmp_path):
    """The one output guard on ``--preview``: an input, the output or another format, one line and exit 2,
    nothing written."""
    p = scene(tmp_path)
    out = tmp_path / "o.tif"
    for preview, said in ((p["guides"], "is the input file"), (out, "is the output"), (tmp_path / "x.jpg", ".png")):
        code, _, err = run_cli("sharpen", str(p["guides"]), "--reference", str(p["ref"]), "-o", str(out),
                               "--preview", str(preview))
        line = _one_line(err)
        assert code == 2 and "--preview" in line and said in line, line
        assert not out.exists()


def test_a_large_output_is_previewed_downsampled_by_strips(tmp_path, monkeypatch):
    """A 3000 × 1500 raster → 1024 × 512 PNG, red/green/blue by name, read in strips of the preview's rows (no
    read of the whole raster)."""
    from bandbridge.inference.core import preview
    f = tmp_path / "big.tif"
    a = (np.arange(3 * 1500 * 3000, dtype=np.float32).reshape(3, 1500, 3000) % 977)
    with rasterio.open(f, "w", driver="GTiff", height=1500, width=3000, count=3, dtype="float32",
                       crs="EPSG:32631", transform=rasterio.Affine(10, 0, 0, 0, -10, 0), tiled=True) as d:
        d.write(a)
        d.descriptions = ("B02", "B03", "B04")
    assert preview.shown_bands(("B02", "B03", "B04")) == [3, 2, 1]
    monkeypatch.setattr(preview, "STRIP_ROWS", 100)
    rows, cols = preview.write_preview(f, tmp_path / "big.png")
    from PIL import Image
    with Image.open(tmp_path / "big.png") as im:
        assert (rows, cols) == (512, 1024) and im.size == (1024, 512) and im.mode == "RGB"


def test_the_fill_search_scales_with_the_bands():
    """policy.FILL_FOLD_WORK and FILL_BUDGET_S: four bands keep every candidate at 40 000 pixels a fold (the
    record's cases), thirteen see fewer pixels a fold and a budget that leaves gbm-context out."""
    from bandbridge.learners.fill_fit import candidates
    from bandbridge.learners.select import FIT_PIXELS, work_s
    four, many = candidates(0, 4), candidates(0, 13)
    assert four["fit_pixels"] == FIT_PIXELS and many["fit_pixels"] < FIT_PIXELS // 3
    before = sum(work_s(n, [FIT_PIXELS] * 4, 256 * 230) for n in ("constant", "linear", "gbm-bands"))
    assert before <= four["budget_s"]  # gbm-context still tried on a 256² four-band scene 90 % clear
    before = sum(work_s(n, [many["fit_pixels"]] * 4, 256 * 230) for n in ("constant", "linear", "gbm-bands"))
    assert before > many["budget_s"]  # left out on a thirteen-band one
