"""benchmarks/s2super_baseline.py and s2super_run.py (issue 96: s2super beside the sharpening record, a baseline,
never a dependency): a case's inputs through the .npz and the runner's own functions and back, what a case is
skipped for, a hand-made output scored by the record's scorer (the truth: 0; the better cubic: 1), and the
pooling per source. Without TensorFlow (the suite never installs it): the runner's s2super call is given a
stand-in here; the one test that runs the real s2super needs its environment and says so where it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from bandbridge.data.grids import Grid, block_mean
from bandbridge.evaluation.sharpen_baselines import UPSAMPLING
from bandbridge.evaluation.sharpen_cases import Case
from tests.conftest import REPO, load_file

S2SUPER_PYTHON = Path("/work/s2super_venv/bin/python")
base = load_file(REPO / "benchmarks" / "s2super_baseline.py", "s2super_baseline")
runner = load_file(REPO / "benchmarks" / "s2super_run.py", "s2super_run")


def _case(size: int = 96, ratio: int = 2, guides: tuple = ("B02", "B03", "B04", "B08"), seed: int = 0) -> Case:
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.02, 0.3, (len(guides), size, size)).astype(np.float32)
    truth = np.stack([g[:3].mean(0) * 1.5, g[-1] * 0.8 + 0.01]).astype(np.float32)
    return Case(f"S2 test ×{ratio}", "s2_test/scene", "s2", ratio, g, list(guides), block_mean(truth, ratio)[0], truth,
                ["B11", "B12"], "reflectance", Grid(None, Affine.identity(), size, size), 2)


def _nearest(arr, shape, resample_alg):
    """A stand-in for buteo's resample_array: ``(h, w, 1)`` onto ``shape`` (2 × here) by repetition."""
    assert resample_alg == "bilinear" and arr.ndim == 3 and len(shape) == 2
    return np.repeat(np.repeat(arr, shape[0] // arr.shape[0], 0), shape[1] // arr.shape[1], 1)


def test_a_case_goes_through_the_npz_and_the_runner_and_back(tmp_path):
    """s2super is handed channel-last DN with each band named where it lies, and its uint16 DN comes back ÷ 10000."""
    case, seen = _case(), {}

    def fake_super_sample(data, method, fit_data, indices, preloaded_model, verbose):
        seen.update(shape=data.shape, indices=indices, method=method, fit_data=fit_data)
        return np.rint(data).astype("uint16")  # s2super returns DN as uint16; here its input unchanged
    path = base.write_case(case, tmp_path / "000_case.in.npz")
    runner.run_one(path, None, fake_super_sample, _nearest)
    got = base.read_output(tmp_path / "000_case.out.npz")
    assert seen == {"shape": (96, 96, 6), "method": "fast", "fit_data": False,
                    "indices": {"B02": 0, "B03": 1, "B04": 2, "B08": 3, "B11": 4, "B12": 5}}
    up = np.repeat(np.repeat(case.reference, 2, 1), 2, 2)
    np.testing.assert_allclose(got["bilinear"], up, rtol=1e-6)
    np.testing.assert_allclose(got["output"], np.rint(up * 10000) / 10000, atol=1e-7)
    assert got["info"]["wrapped_pixels"] == 0 and set(got["info"]) >= {"wall_s", "cpu_s"}


def test_an_error_or_a_missing_output_is_recorded_not_scored(tmp_path):
    def broken(*a, **k):
        raise ValueError("too small\nmore")
    path = base.write_case(_case(), tmp_path / "001_case.in.npz")
    with pytest.raises(ValueError):
        runner.run_one(path, None, broken, _nearest)
    assert base.read_output(tmp_path / "nothing.out.npz") == {"error": "s2super wrote no output for this case"}
    row = base.score(_case(), {"error": "ValueError: too small"}, lambda s: None)
    assert row["error"] == "ValueError: too small" and "methods" not in row


def test_what_a_case_is_skipped_for():
    assert base.why_skipped(_case()) is None
    assert "lack B02" in base.why_skipped(_case(guides=("B08", "B03", "B04", "B05")))
    assert "needs 96 px a side" in base.why_skipped(_small())  # S2 sen1floods11 ×6 (84 px): s2super raised
    assert base.why_skipped(_case(size=96)) is None
    assert "reference cells" in base.why_skipped(_case(size=8))


def _small() -> Case:
    c = _case(size=128)
    return Case(c.name, c.source, c.kind, 2, c.guides[:, :, :84], c.guide_names, c.reference[:, :, :42],
                c.truth[:, :, :84], c.target_names, c.units, Grid(None, Affine.identity(), 128, 84))


def _info() -> dict:
    return {"cpu_s": 1.0, "wall_s": 1.0, "wrapped_pixels": 0}


def test_the_truth_scores_zero_and_the_better_cubic_one():
    case = _case()
    ups = {u: UPSAMPLING[u](case.guides, case.reference, 2) for u in ("cubic", "bspline")}
    err = {u: np.sqrt(((a - case.truth) ** 2).mean((1, 2))) for u, a in ups.items()}
    better = np.stack([ups["cubic" if err["cubic"][k] <= err["bspline"][k] else "bspline"][k] for k in range(2)])
    truth = base.score(case, {"output": case.truth, "bilinear": case.truth, "info": _info()}, lambda s: None)
    cubic = base.score(case, {"output": better, "bilinear": ups["cubic"], "info": _info()}, lambda s: None)
    mine = truth["methods"]["s2super"]
    assert mine["rmse"] == [0.0, 0.0] and mine["rmse_vs_best_cubic"] == [0, 0] and mine["mae_vs_best_cubic"] == [0, 0]
    assert cubic["methods"]["s2super"]["rmse_vs_best_cubic"] == [1.0, 1.0]
    assert cubic["fold"] == "s2_test" and "outside_design" not in cubic
    six = _case(size=96, ratio=6)
    assert "×6" in base.score(six, {"output": six.truth, "bilinear": six.truth, "info": _info()},
                              lambda s: None)["outside_design"]


def test_the_summary_pools_a_sources_pixels_per_band_and_over_bands():
    """Two cases of one source, one band each ×2: RMSE 1 and 3 over the better cubic's 2 and 2, on 4 and 12
    pixels: pooled sqrt((4·1 + 12·9) / 16) / 2 = sqrt(7) / 2."""
    def row(rmse, cubic, px, band):
        m = {"s2super": {"rmse": [rmse], "mae": [rmse]}, "cubic": {"rmse": [cubic], "mae": [cubic]},
             "bspline": {"rmse": [cubic + 1], "mae": [cubic + 1]}}
        return {"fold": "src", "ratio": 2, "size": [px, 1], "targets": [band], "methods": m}
    rec = {"cases": [row(1.0, 2.0, 4, "B11"), row(3.0, 2.0, 12, "B11"), row(2.0, 4.0, 4, "B12"), {"case": "c4", "error": "ValueError: x"}]}
    s = base.summary(rec)["src ×2"]
    assert s["cases"] == 3 and s["bands"]["B11"]["rmse_vs_best_cubic"] == round(np.sqrt(7) / 2, 4)
    assert s["bands"]["B11"]["mae_vs_best_cubic"] == round((4 + 36) / 16 / 2, 4)
    assert s["bands"]["B12"]["rmse_vs_best_cubic"] == 0.5
    assert s["pooled"]["rmse_vs_best_cubic"] == round(np.sqrt((4 + 108 + 16) / 20) / np.sqrt((16 + 48 + 64) / 20), 4)
    assert "| src ×2 | 3 | pooled |" in base.table(rec) and "failed: c4 (ValueError: x)." in base.table(rec)


@pytest.mark.skipif(not S2SUPER_PYTHON.exists(), reason=f"s2super's own environment not found at {S2SUPER_PYTHON} "
                    "(made as benchmarks/s2super_baseline.py's docstring says; never a dependency of bandbridge)")
def test_the_real_s2super_sharpens_a_case_through_the_runner(tmp_path):
    case = _case(size=128)
    base.write_case(case, tmp_path / "000_case.in.npz")
    run = base.run_s2super(str(S2SUPER_PYTHON), tmp_path, lambda s: None)
    got = base.read_output(tmp_path / "000_case.out.npz")
    assert run["s2super"] == "1.2.30" and run["tensorflow"].startswith("2.") and run["cpu_s"] > 0
    assert got["output"].shape == case.truth.shape and np.isfinite(got["output"]).all()
    row = base.score(case, got, lambda s: None)
    assert row["methods"]["s2super's input (GDAL bilinear via buteo)"]["rmse_vs_best_cubic"] == pytest.approx(
        [row["methods"]["bilinear"]["rmse"][k] / min(row["methods"][u]["rmse"][k] for u in ("cubic", "bspline"))
         for k in range(2)], rel=0.05)
