"""The page's "Sharpen a coarse raster" (issue 85) on a small real pair cut from
``../shared/data/sar_sen12mscr_glfcr`` (as benchmarks/sharpen_speed.py cuts it): Sentinel-2's 10 m
B02, B03, B04, B08 (256²) as the fine upload, its B05 and B11 averaged ×2 to 20 m as the coarse
reference, uploaded as GeoTIFFs the page received: the download is what ``bandbridge sharpen``'s
own function writes, shown beside the reference upsampled on one stretch with the command's lines
and every band's held-out errors; each refusal one line naming a box of the page and no server path."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from conftest import SHARED, big_upload, box_refused, needs_shared

pytest.importorskip("gradio")
pytestmark = needs_shared
S2 = SHARED / "sar_sen12mscr_glfcr" / "s2_cloudfree" / "ROIs1970_fall_139_p839.tif"  # 13-band L1C, 256² at 10 m
FINE = {"B02": 1, "B03": 2, "B04": 3, "B08": 7}  # 0-based bands of S2
COARSE = {"B05": 4, "B11": 10}


def _write(path, values, prof, names, **extra) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **dict(prof, count=len(names), **extra)) as dst:
        dst.write(values.astype(prof["dtype"]))
        dst.descriptions = tuple(names)
        dst.scales = (1e-4,) * len(names)  # L1C's DN / 10 000
    return str(path)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    """Each input as an upload lands, in a folder of its own under Gradio's upload folder: the four
    fine bands as one file each and as one file, the 20 m reference; a file outside the upload folder;
    a ``.tif`` that is no raster."""
    if not S2.exists():
        pytest.skip(f"{S2} is absent: the shared dev data is not here")
    root = tmp_path_factory.mktemp("sharpenpage")
    up = root / "gradio"
    with rasterio.open(S2) as s:
        a, prof = s.read(), s.profile
    files = {name: _write(up / f"f{name}" / f"{name}.tif", a[i:i + 1], prof, [name]) for name, i in FINE.items()}
    files["fine"] = _write(up / "fine" / "S2_10m.tif", a[list(FINE.values())], prof, list(FINE))
    h, w = a.shape[1] // 2, a.shape[2] // 2
    ref = a[list(COARSE.values())].astype(float).reshape(len(COARSE), h, 2, w, 2).mean((2, 4)).round()
    files["coarse"] = _write(up / "coarse" / "S2_20m.tif", ref, prof, list(COARSE), height=h, width=w,
                             transform=prof["transform"] @ Affine.scale(2))
    files["outside"] = _write(root / "server" / "S2_20m.tif", ref, prof, list(COARSE), height=h, width=w,
                              transform=prof["transform"] @ Affine.scale(2))
    (up / "text").mkdir()
    (up / "text" / "notes.tif").write_text("this is not a raster")
    files["text"] = str(up / "text" / "notes.tif")
    return root, files


def _panel_ok(img: np.ndarray) -> None:
    g = img.astype(float).mean(-1)
    assert 20 < g.mean() < 235 and g.std() > 10, (g.mean(), g.std())


def test_a_real_pair_is_sharpened_as_the_command_sharpens_it(page, uploads, tmp_path):
    """Four band files and the 20 m reference: the download holds what ``sharpen`` (the function
    ``bandbridge sharpen`` calls) writes from the same files, value for value; the status has the
    command's plan and a route line per band, the table each band's route and held-out errors as the
    download's tags hold them; the sharpened bands and the reference upsampled share one stretch."""
    from bandbridge.inference.place.sharpen import sharpen
    root, f = uploads
    fine = [f[n] for n in FINE]
    out = page.handle_sharpen(fine, f["coarse"], "")
    status, scores, files = out[6], out[7], out[5]
    assert status.startswith("**Sharpened** S2_20m.tif onto B02.tif, B03.tif, B04.tif, B08.tif:"), status
    assert "- guides: B02, B03, B04, B08 on a 256×256 grid" in status and "k = 2.00" in status, status
    assert str(root) not in status + scores and "bandbridge-demo-" not in status + scores
    said = []
    mine = sharpen(fine, f["coarse"], str(tmp_path / "cli.tif"), say=said.append)
    with rasterio.open(files[0]) as s, rasterio.open(tmp_path / "cli.tif") as c:
        assert s.descriptions == ("B05", "B11") and (s.height, s.width) == (256, 256) and s.dtypes[0] == "uint16"
        assert s.scales == (1e-4, 1e-4)
        np.testing.assert_array_equal(s.read(), c.read())
        tags = [s.tags(i + 1) for i in range(s.count)]
    for b, t in zip(mine.decisions, tags):
        assert f"- {b.band}: {b.route} (" in status  # the command's route line, as it says it
        assert any(line.startswith(f"{b.band}: {b.route} (") for line in said)
        row = next(ln for ln in scores.splitlines() if ln.startswith(f"| {b.band} |"))
        assert row.startswith(f"| {b.band} | {b.route} | {float(t['bandbridge_heldout_error']):.4g} | "), (row, t)
        assert f"| {float(t['bandbridge_baseline_error']):.4g} ({t['bandbridge_baseline']}) |" in row, (row, t)
        if b.route.startswith("fit"):  # the fit is taken only where it holds out better than upsampling
            assert b.heldout < b.baseline
    for panel in out[:3]:
        _panel_ok(panel["value"])
    assert "upsampled" in out[0]["label"] and out[1]["label"].startswith("sharpened B05")
    assert out[0]["label"].split(" — ")[1] == out[1]["label"].split(" — ")[1]  # one stretch for both
    assert "guides" in out[2]["label"]
    page.dirs.remove(out[-1])


def test_one_fine_file_and_a_band_chosen(page, uploads):
    """The four fine bands as one file, one band of the reference chosen: the download holds it alone."""
    _, f = uploads
    out = page.handle_sharpen([f["fine"]], f["coarse"], " B11 ")
    assert out[6].startswith("**Sharpened** S2_20m.tif onto S2_10m.tif:"), out[6]
    with rasterio.open(out[5][0]) as s:
        assert s.descriptions == ("B11",)
    assert [ln.split(" |")[0] for ln in out[7].splitlines() if ln.startswith("| B")] == ["| B11"]
    page.dirs.remove(out[-1])


@pytest.mark.parametrize("case", ["no-fine", "no-reference", "swapped", "no-such-band", "not-a-raster", "outside"])
def test_refusals_are_one_line_naming_the_page_box(page, uploads, case):
    root, f = uploads
    args, want = {
        "no-fine": ((None, f["coarse"], ""), "upload the fine raster first"),
        "no-reference": (([f["fine"]], None, ""), "upload the coarse reference"),
        "swapped": (([f["coarse"]], f["fine"], ""), "the **coarse reference** box S2_10m.tif: "),
        "no-such-band": (([f["fine"]], f["coarse"], "B99"), "the **bands to sharpen** box B99: no such band"),
        "not-a-raster": (([f["text"]], f["coarse"], ""), "notes.tif: cannot read this file as a raster"),
        "outside": (([f["fine"]], f["outside"], ""),
                    "S2_20m.tif: not a file uploaded to this page; upload the coarse reference in its box")}[case]
    out = page.handle_sharpen(*args)
    box_refused(out, want, root)


def test_a_raster_over_the_page_limit_is_refused_before_anything_runs(page, uploads, monkeypatch):
    """From the header alone: the sharpener never runs (``bandbridge sharpen`` is named for larger rasters)."""
    from bandbridge.inference.place import sharpen
    from bandbridge.policy import DEMO_MAX_MPIX
    monkeypatch.setattr(sharpen, "sharpen", lambda *a, **k: pytest.fail("the sharpener ran"))
    root, f = uploads
    big = big_upload(root, DEMO_MAX_MPIX, "big.tif")
    out = page.handle_sharpen([str(big)], f["coarse"], "")
    assert f"the demo takes up to {DEMO_MAX_MPIX:g} MPix: use `bandbridge sharpen`" in out[6], out[6]
    assert out[5] is None and "\n" not in out[6]
