"""Baselines, the evaluate command and reports, on the bundled real sample."""

import csv
import json

import pytest
import torch

from bandbridge.evaluation.baselines import LinearBaseline, MLPBaseline, Upsample
from conftest import SAMPLE, SHARED, TINY, needs_shared


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
    code, stdout, err = run_cli("evaluate", "--model", str(trained_run), "--out", str(out))
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == {"model", "linear", "ridge-context", "gbm-context", "mlp", "mean"}
    proto = summary["protocol"]
    assert proto["split"] == "test" and proto["images"] == 1 and proto["target_units"] == "DN (8-bit)"
    assert proto["data_range"] == 255.0 and "naip_opengeos" in proto["baselines_fitted_on"]
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert [r["method"] for r in rows] == ["model", "linear", "ridge-context", "gbm-context", "mlp", "mean"]
    assert "2020" in rows[0]["id"]
    model = summary["methods"]["model"]
    assert {"mae", "rmse", "psnr", "ssim", "r2", "ndvi_mae", "ndwi_mae", "evi_mae", "ndvi_r"} <= set(model)
    assert float(rows[0]["mae"]) == pytest.approx(model["mae"])  # one image: mean = the row
    table = (out / "metrics.md").read_text()
    assert "gain vs linear" in table and f"{model['mae']:.4g}" in table
    assert "| mae |" in stdout


def test_report_files_hold_the_numbers(run_cli, trained_run):
    code, _, err = run_cli("report", str(trained_run))
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
                           "--recipe", "naip_stactools", "--out", str(tmp_path))
    assert code == 0, err
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["protocol"]["sources"] == ["naip_stactools"] and s["protocol"]["images"] == 6
