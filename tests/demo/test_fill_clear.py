"""The page's "this date is clear" (issue 98 point 7): an earlier scene without an SCL band was refused with the
fix `-e FILE#clear`, which cannot be typed on the page. The checkbox does what `#clear` does; unticked, the
refusal names the checkbox, not the suffix. Small hand-made GeoTIFFs, uploaded as the page receives them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

pytest.importorskip("gradio")
SIDE = 64
BANDS = ["B02", "B03", "B04", "B08"]


def write_dates(root: Path) -> dict[str, str]:
    """A cloudy scene (four bands and its SCL band: a cloud in the middle) and an earlier date of the same place
    without an SCL band, each in an upload folder of its own under ``root``."""
    rng = np.random.default_rng(98)
    ground = rng.random((4, SIDE, SIDE)) * 0.2 + 0.05
    scl = np.full((1, SIDE, SIDE), 4.0)
    scl[:, 20:44, 20:44] = 9
    out = {}
    for key, name, values, names in (
            ("scene", "S2_20180603_cloudy.tif", np.concatenate([ground * 1.1 + 0.01, scl]), [*BANDS, "SCL"]),
            ("earlier", "S2_20180526.tif", ground + rng.normal(0, 0.002, ground.shape), BANDS)):
        path = root / key / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", height=SIDE, width=SIDE, count=len(names), dtype="float32",
                           crs="EPSG:32631", transform=from_origin(500000, 5600000, 10, 10)) as dst:
            dst.write(values.astype("float32"))
            dst.descriptions = tuple(names)
        out[key] = str(path)
    return out


@pytest.fixture
def page_and_files(tmp_path, monkeypatch):
    from bandbridge.demo.page import Page
    from bandbridge.spec import zoo_models
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    return Page(zoo_models()), write_dates(tmp_path / "gradio")


def test_unticked_the_refusal_names_the_checkbox_not_the_suffix(page_and_files):
    page, f = page_and_files
    status = page.handle_fill(f["scene"], f["earlier"], None, None, None)[6]
    assert status.startswith("**error:**") and "no cloud mask" in status, status
    assert "tick **this date is clear**" in status and "#clear" not in status, status


def test_ticked_the_earlier_date_is_taken_whole_as_fill_e_file_clear_takes_it(page_and_files):
    page, f = page_and_files
    out = page.handle_fill(f["scene"], f["earlier"], None, None, None, True)
    assert out[6].startswith("**Filled** S2_20180603_cloudy.tif:"), out[6]
    with rasterio.open(out[5][0]) as src:
        tags, filled = src.tags(), src.read(src.count)
    assert tags["bandbridge_fill_earlier_days"] == "8" and (filled == 2).sum() > 0
    page.dirs.remove(out[-1])
