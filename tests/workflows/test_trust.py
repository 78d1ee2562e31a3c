"""Where to trust a model: the never-worse guard at prediction and ``predict --confidence``."""

import numpy as np
import pytest
import rasterio
import yaml

from bandbridge.evaluation.confidence import calibration, fit_error_model, rank
from conftest import SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def test_calibration_figures_by_hand():
    real = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 30.0])
    good = calibration(real * 2, real)
    assert good["spearman"] == pytest.approx(1.0)
    assert good["top10_share"] == pytest.approx(30 / 66)  # the one flagged pixel holds 30 of 66
    bad = calibration(-real, real)
    assert bad["spearman"] == pytest.approx(-1.0) and bad["top10_share"] == 0.0
    assert list(rank(np.array([3.0, 1.0, 3.0, 2.0]))) == [2.5, 0.0, 2.5, 1.0]  # ties: mean rank


def test_local_std_in_numpy_equals_the_anchors_torch_box_filter():
    import torch
    from bandbridge.inference.core.confidence import box_mean, local_std
    from bandbridge.models.features import box_means
    a = np.random.default_rng(0).random((37, 23)).astype(np.float32)
    t = torch.from_numpy(a)[None, None]
    np.testing.assert_allclose(box_mean(a, 5), box_means(t, (5,))[0][0, 0].numpy(), atol=1e-6)
    mu, mu2 = box_means(torch.cat([t, t * t], 1), (5,))[0].chunk(2, 1)
    ref = (mu2 - mu * mu).clamp_min(0).sqrt()[0, 0].numpy()
    np.testing.assert_allclose(local_std(a), ref, atol=1e-4)
    assert box_mean(np.ones((3, 4)), 5).shape == (3, 4)  # windows wider than the image: edges


def test_error_model_is_monotone_and_in_the_errors_units():
    rng = np.random.default_rng(0)
    F = np.c_[np.ones(5000), rng.random((5000, 2))]
    E = 0.1 * F[:, 1] + 0.01 * rng.random(5000)  # error grows with the first feature
    conf = fit_error_model(F, E)
    assert np.all(np.diff(conf["values"]) > 0) and np.all(np.diff(conf["knots"]) >= 0)
    expected = np.interp(F @ np.array(conf["coef"]), conf["knots"], conf["values"])
    cal = calibration(expected, E)
    assert cal["spearman"] > 0.9 and abs(cal["mean_expected"] - cal["mean_real"]) < 0.005


def test_a_run_bundles_its_guard_and_error_model(trained_run):
    meta = yaml.safe_load((trained_run / "model" / "best" / "model.yaml").read_text())
    # the fallback's ranges live in the floor (issue 59: `guard` only fades a residual toward
    # its learner, and the floor's ranges take its place): one range per training source (here
    # one), of the train + val dates as read
    assert meta["config"]["model"]["generator"]["guard"] is None
    guard = meta["config"]["model"]["generator"]["floor"]["ranges"]
    assert np.array(guard["low"]).shape == np.array(guard["high"]).shape == (1, 6)
    assert guard["sources"] == ["naip_opengeos"] and guard["images"] == 3
    # the zero-shot floor images outside that range fall back to: chosen on the training split
    floor = meta["config"]["model"]["generator"]["floor"]
    assert floor["sources"] == ["naip_opengeos"] and floor["kind"] == "balanced"  # one source
    assert np.array(floor["linear"]).shape == (4, 1) and "one source" in floor["rule"]
    conf = meta["confidence"]
    assert "validation split" in conf["fitted_on"] and len(conf["coef"]) == len(conf["features"])


def test_predict_confidence_writes_the_expected_error_and_the_guard_says_when_it_fades(
        run_cli, trained_run, tmp_path):
    out = tmp_path / "nir.tif"
    code, stdout, err = run_cli("predict", str(NAIP), "-m", str(trained_run), "-o", str(out),
                                "--confidence")
    assert code == 0, err
    err_tif = tmp_path / "nir_error.tif"
    with rasterio.open(err_tif) as e, rasterio.open(out) as o:
        assert e.descriptions[0].startswith("expected absolute error of synthetic_")
        assert "DN (8-bit)" in e.descriptions[0] and e.dtypes[0] == "float32"
        v = e.read(1)
        assert np.isfinite(v).all() and v.min() >= 0 and 1 < float(v.mean()) < 255  # DN, as the output
        assert "validation split" in e.tags()["bandbridge_confidence"]
        assert "bandbridge_fallback" in o.tags() and "bandbridge_guard" not in o.tags()
    # the same scene at a twentieth of the light: well outside every training date's range
    dark = tmp_path / "dark.tif"
    with rasterio.open(NAIP) as src:
        prof, data = src.profile, src.read()
    with rasterio.open(dark, "w", **prof) as dst:
        dst.write((data // 20).astype(data.dtype))
    code, stdout, err = run_cli("predict", str(dark), "-m", str(trained_run), "-o",
                                str(tmp_path / "dark_nir.tif"))
    assert code == 0, err
    assert "note: dark.tif: this image is unlike the model's training images" in stdout
    assert "the output is the zero-shot floor, the balanced linear map" in stdout, stdout[-600:]
    with rasterio.open(tmp_path / "dark_nir.tif") as o:
        assert "unlike the model's training images" in o.tags()["bandbridge_fallback"]
        # the floor's map of the dark scene, as the model reads it (8-bit / 255), in DN; 0 is
        # written as 1 (0 is the output's nodata)
        W = np.array(meta_floor(trained_run)["linear"])
        want = np.clip((data // 20)[:3].transpose(1, 2, 0) / 255 @ W[:3, 0] + W[3, 0], 0, 1) * 255
        assert np.abs(o.read(1).astype(float) - np.maximum(want, 1)).max() <= 1.0
    # on workers (Dask, in strips), the note comes back once per file and lands in the summary
    code, stdout, err = run_cli("predict", str(dark), "-m", str(trained_run), "-o",
                                str(tmp_path / "workers"), "--workers", "2", "--strips", "2")
    assert code == 0, err
    assert stdout.count("note: dark.tif: this image is unlike the model's training images") == 1
    import csv
    with open(tmp_path / "workers" / "bandbridge-summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"].endswith("dark.tif") for r in rows] == [True]
    assert "unlike the model's training" in rows[0]["note"]


def meta_floor(run) -> dict:
    return yaml.safe_load((run / "model" / "best" / "model.yaml").read_text())["config"]["model"]["generator"]["floor"]


def test_confidence_on_a_model_without_an_error_model_is_refused_in_one_line(run_cli, tmp_path):
    code, _, err = run_cli("predict", str(NAIP), "-m", "sr-x2", "-o", str(tmp_path / "x.tif"),
                           "--confidence")
    assert code == 2 and "--confidence: sr-x2 carries no expected-error model" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_the_web_page_says_when_the_guard_fades(tmp_path):
    pytest.importorskip("gradio")
    from PIL import Image
    from bandbridge.demo.translate import Translator
    from bandbridge.spec import zoo_models
    with rasterio.open(NAIP) as src:
        d = src.read()
    # near-white: beyond the 1st percentiles of every training image (the retrained bundle's
    # guard, fitted with its exposure augmentation, spans dark scenes down to black)
    Image.fromarray((253 + d[:3] % 3).astype(np.uint8).transpose(1, 2, 0)).save(tmp_path / "bright.png")
    res = Translator(zoo_models())(str(tmp_path / "bright.png"), "rgb2nir", tmp_path / "w")
    assert "rgb2nir → rgb2nir-photo" in res.status  # a PNG: no georeference, a photo
    assert "**Note:** this image is unlike the model's training images" in res.status
    assert "*Calibrate with a pair*, below" in res.status and "bandbridge adapt" not in res.status
