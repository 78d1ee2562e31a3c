"""The page's "Fill a cloud gap" (issue 70) on tiny real crops of ``../shared/data/worldcereal``
(64 × 64 at 10 m, as tests/inference/test_fill.py takes them), uploaded as GeoTIFFs the page
received: the real cloudy date filled by what ``bandbridge fill`` writes (the same call), shown
before and after with every route's held-out error; each refusal one line that names a box of
the page and no server path; nothing read that the page did not receive."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from bandbridge.inference.place.tags import band as band_tags

from conftest import SHARED, big_upload, box_refused, needs_shared

pytest.importorskip("gradio")
pytestmark = needs_shared
SITE = SHARED / "worldcereal" / "sample_00002806639B424A"
S10 = SITE / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S20 = SITE / "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S1 = SITE / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
CLOUDY, CLEAR = "2018-06-03", "2018-05-26"  # 78 %, 96 % clear by SCL
SAR_NOW, SAR_THEN = "2018-06-03", "2018-05-27"


def _write(path, values, grid, names, dtype="float32") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=grid.height, width=grid.width, count=len(names),
                       dtype=dtype, crs=grid.crs, transform=grid.transform) as dst:
        dst.write(values.astype(dtype))
        dst.descriptions = tuple(names)
    return str(path)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    """Each input as an upload lands, in a folder of its own under Gradio's upload folder: the two
    dates' four bands with their SCL as a fifth band (nearest onto 10 m), Sentinel-1 VV, VH (dB)
    at both dates, all named for their dates; a file outside the upload folder."""
    from bandbridge.inference.place.fill_read import read_layer
    from bandbridge.inference.place.fill_rows import onto, scl_cube
    root = tmp_path_factory.mktemp("fillpage")
    up = root / "gradio"
    files = {}
    for key, date in (("scene", CLOUDY), ("earlier", CLEAR)):
        lay = read_layer(f"{S10}@{date}", "")
        scl, g20 = scl_cube(S20, date, "")
        scl10 = np.nan_to_num(onto(scl[None], g20, lay.grid, nearest=True))
        files[key] = _write(up / key / f"S2_{date.replace('-', '')}.tif", np.concatenate([lay.values, scl10]),
                            lay.grid, [*lay.names, "SCL"])
    for key, date in (("sar", SAR_NOW), ("sar_earlier", SAR_THEN)):
        lay = read_layer(f"{S1}@{date}", "")
        files[key] = _write(up / key / f"S1_{date.replace('-', '')}.tif", lay.values, lay.grid, lay.names)
    no_scl = read_layer(f"{S10}@{CLOUDY}", "")
    files["no_scl"] = _write(up / "noscl" / "S2_20180603.tif", no_scl.values, no_scl.grid, no_scl.names)
    m = np.ones((1, no_scl.grid.height, no_scl.grid.width))
    m[:, :5] = 0  # all gap but five rows: too few clear pixels for a fit
    files["mask"] = _write(up / "mask" / "gap.tif", m, no_scl.grid, ["gap"], "uint8")
    files["none"] = _write(up / "none" / "nogap.tif", 0 * m, no_scl.grid, ["gap"], "uint8")
    files["outside"] = _write(root / "server" / "S2_20180526.tif", no_scl.values, no_scl.grid, no_scl.names)
    return root, files


def _panel_ok(img: np.ndarray) -> None:
    g = img.astype(float).mean(-1)
    assert 20 < g.mean() < 235 and g.std() > 10, (g.mean(), g.std())


def test_the_real_cloudy_date_is_filled_as_the_command_fills_it(page, uploads):
    """Scene, earlier date and Sentinel-1 at both: the download is what ``run_fill`` wrote (its tags
    say the route and the errors the page's table shows, the linear baseline among them), the
    scene's clear part as observed; before, after, the earlier date and where it was filled are
    shown; the status has the fill's own lines and no server path."""
    root, f = uploads
    out = page.handle_fill(f["scene"], f["earlier"], f["sar"], f["sar_earlier"], None)
    status, scores, files = out[6], out[7], out[5]
    assert status.startswith("**Filled** S2_20180603.tif:"), status
    assert "route: " in status and "the lowest held-out MAE" in status and "the gap:" in status, status
    assert str(root) not in status + scores and "bandbridge-demo-" not in status
    with rasterio.open(files[0]) as src:
        tags, a = src.tags(), src.read()
        assert src.descriptions[-1] == "FILLED" and src.crs.to_epsg() == 32631
    # the route is whichever held out best (on this date the fit and the per-band map are within
    # 0.0001 of each other: 0.01675 against 0.01671 here, 2026-11-27), and the page says which
    labels = {"fit": "fit on the clear part", "linear": "linear map per band (the baseline)",
              "as_is": "earlier date as it is"}
    mae = {k: float(tags["bandbridge_fill_mae_" + k]) for k in labels}
    assert band_tags(files[0], 0)["bandbridge_route"].replace("-", "_") == min(mae, key=mae.get), tags
    assert tags["bandbridge_fill_sar"] == "now and then"
    for key, label in labels.items():
        row = next(ln for ln in scores.splitlines() if label in ln)
        assert f"| {mae[key]:.4g} |" in row, (row, tags)
    assert "chosen**" in next(ln for ln in scores.splitlines() if labels[min(mae, key=mae.get)] in ln)
    assert f"The fit chose {tags['bandbridge_fill_learner']}." in scores, scores  # the learner, as tagged
    with rasterio.open(f["scene"]) as src:
        scene = src.read()
    observed = a[4] == 1
    np.testing.assert_array_equal(a[:4][:, observed], scene[:4][:, observed])
    assert (a[4] == 2).sum() > 1000
    for panel in out[:4]:
        _panel_ok(panel["value"])
    assert "before" in out[0]["label"] and "after" in out[1]["label"] and "FILLED" in out[3]["label"]
    from bandbridge.demo.fill import CLASSES  # where it was filled: the classes' colours (a legend, not a bar)
    filled = (np.array(CLASSES[0][2]) * 255).round()
    assert (np.abs(out[3]["value"].astype(int) - filled).max(-1) <= 2).mean() > 0.05
    page.dirs.remove(out[-1])


def test_a_mask_upload_and_no_gap(page, uploads):
    """The gap as a mask upload (the scene without an SCL band): a clear part of five rows takes the
    earlier date mapped or as it is; a mask with no gap says so and writes nothing."""
    _, f = uploads
    out = page.handle_fill(f["no_scl"], f["earlier"], None, None, f["mask"])
    assert out[6].startswith("**Filled**") and "gap.tif" in out[6], out[6]
    assert band_tags(out[5][0], 0)["bandbridge_route"] in ("linear", "as-is")
    assert "held-out MAE" in out[7] or "No route held out" in out[7], out[7]
    page.dirs.remove(out[-1])
    out = page.handle_fill(f["no_scl"], f["earlier"], None, None, f["none"])
    assert "nothing to fill" in out[6] and out[5] in (None, []) and out[0]["value"] is not None, out[6]
    page.dirs.remove(out[-1])


@pytest.mark.parametrize("case", ["no-earlier", "no-scene", "swapped", "sar-earlier-alone", "no-mask", "outside"])
def test_refusals_are_one_line_naming_the_page_box(page, uploads, case):
    root, f = uploads
    args, want = {
        "no-earlier": ((f["scene"], None, None, None, None), "upload an earlier clear scene"),
        "no-scene": ((None, f["earlier"], None, None, None), "upload the cloudy scene first"),
        "swapped": ((f["earlier"], f["scene"], None, None, None), "the **earlier clear scene** box"),
        "sar-earlier-alone": ((f["scene"], f["earlier"], None, f["sar_earlier"], None),
                              "given without the **Sentinel-1 at the date** box"),
        "no-mask": ((f["no_scl"], f["earlier"], None, None, None), "the **gap mask** box"),
        "outside": ((f["scene"], f["outside"], None, None, None),
                    "S2_20180526.tif: not a file uploaded to this page; upload the earlier clear scene")}[case]
    out = page.handle_fill(*args)
    box_refused(out, want, root)


def test_a_scene_over_the_page_limit_is_refused_before_anything_runs(page, uploads, monkeypatch):
    """From the header alone: no fill runs (``bandbridge fill`` is named for larger scenes). The cap is
    policy's, measured through this page (``benchmarks/fill_page.py``, ``docs/results/fill_page.json``)."""
    from bandbridge.policy import DEMO_FILL_MAX_MPIX as MAX_FILL_MPIX
    from bandbridge.inference.place import fill
    monkeypatch.setattr(fill, "run_fill", lambda *a, **k: pytest.fail("the fill ran"))
    root, f = uploads
    big = big_upload(root, MAX_FILL_MPIX, "S2_20180603.tif")
    out = page.handle_fill(str(big), f["earlier"], None, None, None)
    assert f"the demo takes up to {MAX_FILL_MPIX:g} MPix: use `bandbridge fill`" in out[6], out[6]
    assert out[5] is None and "\n" not in out[6]

