"""Baselines, the evaluate command and reports, on the bundled real sample."""

import csv
import json

import pytest
import torch

from bandbridge.learners.baselines import LinearBaseline, MLPBaseline, Upsample
from conftest import HANG_S, SAMPLE, SHARED, TINY, needs_shared


def test_linear_baseline_recovers_a_linear_map():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(5000, 3, generator=g)
    W, b = torch.tensor([[0.2], [-0.3], [0.5]]), 0.1
    Y = X @ W + b
    lin = LinearBaseline().fit(X, Y)
    assert lin.coef[:, 0] == pytest.approx([0.2, -0.3, 0.5, 0.1], abs=1e-6)
    x = torch.rand(3, 4, 5, generator=g)
    expect = (x.permute(1, 2, 0) @ W + b).permute(2, 0, 1)
    assert torch.allclose(lin(x), expect.clamp(0, 1), atol=1e-6)


def test_mlp_baseline_fits_a_nonlinear_map_better_than_linear():
    g = torch.Generator().manual_seed(1)
    X = torch.rand(20000, 3, generator=g)
    Y = (torch.sin(6 * X[:, :1]) * 0.4 + 0.5)
    x = X[:4096].T.reshape(3, 64, 64)
    y = Y[:4096].T.reshape(1, 64, 64)
    err_lin = (LinearBaseline().fit(X, Y)(x) - y).abs().mean()
    err_mlp = (MLPBaseline(steps=400).fit(X, Y)(x) - y).abs().mean()
    assert err_mlp < 0.5 * err_lin


def test_upsample_baselines():
    x = torch.rand(3, 8, 8)
    assert Upsample("nearest", 4)(x).shape == (3, 32, 32)
    assert torch.equal(Upsample("nearest", 2)(x)[:, ::2, ::2], x)


def test_evaluate_writes_table_csv_and_json(run_cli, trained_run, tmp_path):
    out = tmp_path / "eval"
    code, stdout, err = run_cli("evaluate", "--model", str(trained_run), "-o", str(out))
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == {"model", "linear", "floor", "ridge-context", "gbm-context", "learner", "mlp", "mean"}
    proto = summary["protocol"]
    assert proto["split"] == "test" and proto["images"] == 1 and proto["target_units"] == "DN (8-bit)"
    assert proto["data_range"] == 255.0 and "naip_opengeos" in proto["baselines_fitted_on"]
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert [r["method"] for r in rows] == ["model", "linear", "floor", "ridge-context", "gbm-context", "learner", "mlp", "mean"]
    assert "2020" in rows[0]["id"]
    model = summary["methods"]["model"]
    assert {"mae", "rmse", "psnr", "ssim", "r2", "ndvi_mae", "ndwi_mae", "evi_mae", "ndvi_r"} <= set(model)
    assert float(rows[0]["mae"]) == pytest.approx(model["mae"])  # one image: mean = the row
    table = (out / "metrics.md").read_text()
    assert "gain vs linear" in table and f"{model['mae']:.4g}" in table
    assert "| mae |" in stdout


def test_report_files_hold_the_numbers(run_cli, trained_run):
    code, _, err = run_cli("report", "-m", str(trained_run))
    assert code == 0, err
    rep = trained_run / "report"
    md, page = (rep / "report.md").read_text(), (rep / "report.html").read_text()
    mae = json.loads((rep / "eval" / "summary.json").read_text())["methods"]["model"]["mae"]
    assert f"{mae:.4g}" in md and f"{mae:.4g}" in page
    assert (rep / "curves.png").stat().st_size > 5000 and (rep / "sample_0.png").stat().st_size > 5000
    assert "curves.png" in page and "sample_0.png" in md


@needs_shared
def test_cross_sensor_evaluation(run_cli, trained_run, tmp_path):
    # The NAIP-date model on other NAIP places and resolutions, read with their own recipe.
    code, _, err = run_cli("evaluate", "-m", str(trained_run), "--data", str(SHARED),
                           "--recipe", "naip_stactools", "-o", str(tmp_path))
    assert code == 0, err
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["protocol"]["sources"] == ["naip_stactools"] and s["protocol"]["images"] == 6


def test_report_takes_a_bundle_outside_any_run(run_cli, trained_run, tmp_path, monkeypatch):
    import shutil
    shutil.copytree(trained_run / "model" / "best", tmp_path / "my-model")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("report", "-m", "my-model", "--data", str(SAMPLE))
    assert code == 0, err
    rep = tmp_path / "reports" / "my-model"
    md, page = (rep / "report.md").read_text(), (rep / "report.html").read_text()
    assert "report.md" in out and (rep / "sample_0.png").stat().st_size > 5000
    assert not (rep / "curves.png").exists()  # a bundle carries no training events
    assert "nan" not in page.lower() and "nan" not in md.lower()  # n/a, never +nan
    assert "MAE and RMSE in DN (8-bit) (data range 255)" in page


def test_report_of_a_bundled_model_says_which_data_it_needs(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("report", "-m", "rgb2nir-naip", "--data", str(SAMPLE))  # the sample lacks naip_stactools
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "naip_stactools" in err and "--data" in err, err
    code, _, err = run_cli("report", "-m", "no-such-model")
    assert code == 2 and "bundled model's name" in err and "Traceback" not in err


@needs_shared
def test_report_takes_a_bundled_models_name(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("report", "-m", "rgb2nir-naip", "--data", str(SHARED))
    assert code == 0, err
    page = (tmp_path / "reports" / "rgb2nir-naip" / "report.html").read_text()
    assert "rgb2nir-naip" in page and "nan" not in page.lower()


def test_error_colour_scale_is_shared_by_every_row(tmp_path, monkeypatch):
    from bandbridge.evaluation import report
    seen = []
    real = report._plt()
    monkeypatch.setattr(real.Figure, "colorbar", lambda self, im, **kw: seen.append((im.get_clim(), kw["label"])) or None,
                        raising=False)
    from types import SimpleNamespace
    y = torch.rand(1, 32, 32)
    src = SimpleNamespace(input=SimpleNamespace(bands=["red", "green", "blue"]), target=SimpleNamespace(bands=["nir"]))
    pair = SimpleNamespace(source=src, x=torch.rand(3, 32, 32), y=y, mask=torch.ones(1, 32, 32, dtype=torch.bool),
                           item=SimpleNamespace(id="t"))
    preds = {"model": y + 0.01, "linear": (y + 0.3).clamp(0, 1)}
    ims = []
    orig = real.Axes.imshow
    monkeypatch.setattr(real.Axes, "imshow", lambda self, a, **kw: ims.append(kw) or orig(self, a, **kw))
    report.plot_sample({"pair": pair, "preds": preds}, tmp_path / "s.png", "DN", 255.0)
    err_clims = {(k["vmin"], k["vmax"]) for k in ims if k.get("cmap") == "magma"}
    assert len(err_clims) == 1 and next(iter(err_clims))[1] > 50  # one scale, in DN (× 255)
    assert any("DN, all rows" in lab for _, lab in seen)


def test_recipe_results_land_in_a_folder_named_by_the_recipe(run_cli, trained_run):
    code, out, err = run_cli("evaluate", "-m", str(trained_run), "--data", str(SAMPLE), "--recipe", "naip_opengeos")
    assert code == 0, err
    got = trained_run / "eval" / "recipes" / "naip_opengeos" / "test" / "summary.json"
    assert got.exists() and f"written to {got.parent}" in " ".join(out.split())
    assert json.loads(got.read_text())["protocol"]["sources"] == ["naip_opengeos"]


def test_an_index_with_a_vanishing_denominator_does_not_swamp_the_error():
    """EVI's denominator N + 6R − 7.5B + 1 can reach zero on a real 8-bit scene: one such pixel
    made EVI MAE 1364. The rule: score where the real index lies in [−1, 1], clip the
    predicted one, say how many pixels were kept."""
    import numpy as np
    import rasterio
    from bandbridge.bands import evi
    from bandbridge.metrics import index_metrics
    with rasterio.open(SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20090818.tif") as f:
        a = torch.from_numpy(f.read().astype(np.float32) / 255)
    x, nir = a[:3].clone(), a[3]
    # one vegetated pixel whose blue puts the denominator on zero (as on the scene)
    i = int((nir - x[0]).argmax())
    n, r = nir.view(-1)[i].double(), x[0].view(-1)[i].double()
    x[2].view(-1)[i] = float((n + 6 * r + 1) / 7.5)
    pred = (nir + 0.02).clamp(0, 1)
    naive = (evi(x[2], x[0], pred) - evi(x[2], x[0], nir)).abs().mean()
    m = index_metrics(x, ["red", "green", "blue"], nir, pred, torch.ones(256, 256, dtype=torch.bool))
    assert naive > 5 and m["evi_mae"] < 0.1 and m["evi_rmse"] < 0.2, (naive, m)
    assert 0.3 < m["evi_kept"] < 1 and m["ndvi_mae"] < 0.05


@pytest.mark.load
def test_evaluation_prints_no_third_party_future_warnings(tmp_path):
    """Run as a user would, with every FutureWarning shown: none reaches the terminal."""
    import os
    import subprocess
    import sys
    from conftest import REPO
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-W", "always::FutureWarning", "-m", "bandbridge.cli", "compare",
                        str(SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"), "-m", "rgb2nir-naip",
                        "-o", str(tmp_path)], env=env, capture_output=True, text=True, timeout=HANG_S)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Warning" not in p.stderr, p.stderr[-2000:]
