"""The sharpening record's Wald cases and scoring: the cut to whole valid cells, the degradation,
a failing method recorded as such, and no bandbridge column where its entry point is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from affine import Affine

from bandbridge.data.grids import Grid, block_mean
from bandbridge.data.products import ProductBands
from bandbridge.evaluation.sharpen_baselines import BASELINES
from bandbridge.evaluation.sharpen_cases import Case, largest_valid_window, thermal_case, wald
from bandbridge.evaluation.sharpen_record import bandbridge_sharpener, run_case, table
from conftest import SHARED, needs_shared


def _bands(data, valid=None):
    data = np.asarray(data, np.float32)
    return ProductBands(data, np.ones(data.shape[1:], bool) if valid is None else valid,
                        [f"B{k}" for k in range(len(data))], ["DN"] * len(data), Grid(None, Affine.identity(), *data.shape[1:]))


def test_largest_valid_window_by_hand():
    ok = np.array([[1, 1, 0, 1],
                   [1, 1, 1, 1],
                   [0, 1, 1, 1]], bool)
    assert largest_valid_window(ok) == (1, 1, 2, 3)  # rows 1–2, columns 1–3: 6 cells


def test_wald_degrades_guides_by_f_and_targets_by_the_ratio_on_whole_valid_cells():
    rng = np.random.default_rng(0)
    guides = rng.random((2, 16, 16)).astype(np.float32)
    targets = rng.random((1, 8, 8)).astype(np.float32)
    valid = np.ones((8, 8), bool)
    valid[0, 0] = False  # one pixel spoils its 2×2 cell: the window starts below or right of it
    case = wald("t", "s", "s2", _bands(guides), _bands(targets, valid), f=2, ratio=2, units="DN")
    assert case.truth.shape == (1, 8, 6) and case.guides.shape == (2, 8, 6) and case.reference.shape == (1, 4, 3)
    np.testing.assert_allclose(case.reference, block_mean(case.truth, 2)[0])
    np.testing.assert_allclose(case.guides, block_mean(guides, 2)[0][:, :, 2:])
    moved = wald("t", "s", "s2", _bands(guides), _bands(targets), f=2, ratio=2, units="DN", offset=1)
    np.testing.assert_allclose(moved.guides, block_mean(guides[:, 1:15, 1:15], 2)[0][:, :6, :6])


def _case():
    rng = np.random.default_rng(1)
    truth = (rng.random((2, 12, 12)) + 1).astype(np.float32)
    return Case("tiny", "here", "s2", 3, truth[:1] * 2, ["G"], block_mean(truth, 3)[0], truth, ["T1", "T2"], "DN",
                Grid(None, Affine.identity(), 12, 12))


def test_a_failing_method_is_recorded_with_its_error_and_the_others_scored():
    def broken(g, r, k):
        raise ValueError("no\nsecond line")
    row = run_case(_case(), {"cubic": BASELINES["cubic"], "tsharp": BASELINES["tsharp"], "broken": broken}, lambda s: None)
    assert row["methods"]["broken"] == {"error": "ValueError: no"}
    assert row["methods"]["cubic"]["rmse_vs_cubic"] == [1.0, 1.0] and len(row["methods"]["tsharp"]["rmse"]) == 2
    assert "| T2 |" in table({"cases": [row]}) and "broken" not in table({"cases": [row]})


def test_each_method_is_divided_by_gdals_cubic_the_better_cubic_and_the_best_upsampling():
    """Offsets of 2, 1 and 0.5 for cubic convolution, the B-spline and nearest: a method off by 1 is 0.5× the
    cubic, 1× the better cubic and 2× the best upsampling, in RMSE and in MAE, per band."""
    off = lambda d: lambda g, r, k: _case().truth + d  # noqa: E731
    row = run_case(_case(), {"cubic": off(2), "bspline": off(1), "nearest": off(0.5), "mine": off(1)}, lambda s: None)
    mine = row["methods"]["mine"]
    for e in ("rmse", "mae"):
        assert mine[f"{e}_vs_cubic"] == [0.5, 0.5] and mine[f"{e}_vs_best_cubic"] == [1.0, 1.0]
        assert mine[f"{e}_vs_best_upsampling"] == [2.0, 2.0]


def test_the_upsampling_baselines_are_the_five_candidates():
    from bandbridge.evaluation.sharpen_baselines import UPSAMPLING
    assert list(UPSAMPLING) == ["nearest", "bilinear", "cubic", "bspline", "lanczos"]
    assert set(UPSAMPLING) < set(BASELINES)


def test_the_sharpeners_routes_go_beside_its_figures():
    case = _case()
    row = run_case(case, {"cubic": BASELINES["cubic"], "bandbridge": lambda c: (c.truth, {"routes": ["fit", "cubic"]})},
                   lambda s: None)
    assert row["methods"]["bandbridge"]["routes"] == ["fit", "cubic"] and row["methods"]["bandbridge"]["rmse"] == [0, 0]


def test_no_bandbridge_column_without_its_entry_point(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "bandbridge.inference.place.sharpen", None)  # import fails
    run, why = bandbridge_sharpener(tmp_path)
    assert run is None and "not importable" in why


@needs_shared
def test_the_thermal_case_is_kelvin_under_reflectance_on_whole_valid_cells():
    case = thermal_case(SHARED)
    assert case.target_names == ["B10", "B11"] and case.units == "K" and case.ratio == 3
    assert case.truth.shape[1] % 3 == 0 and case.cells >= 1000 and 250 < case.truth.mean() < 320
    assert (case.guides > 0).all()  # no fill inside the window


@needs_shared
def test_every_development_sentinel2_source_gives_cases():
    """Issue 84: each Sentinel-2 source holding a coarse band is a case source (Sen1Floods11's chip, its
    native sets found on its one grid; the wildfire composites' B12 on their one 20 m grid, ``f = 1``); with
    ``mtf`` the guides are the MTF-matched average, on the same cells."""
    from bandbridge.evaluation.sharpen_cases import WILDFIRE, s2_cases
    cases = list(s2_cases(SHARED, as_stated=False))
    sources = {c.source.split("/")[0].split(" ")[0] for c in cases}
    assert sources == {"nir_s2_majortom", "sar_sen12mscr_glfcr", "nir_s2_eolearn", "sar_sen1floods11",
                       "wildfire_s2_20m", "ukis_csmask_s2"}
    fire = [c for c in cases if "wildfire" in c.name]
    assert len(fire) == WILDFIRE and all(c.step == 1 and c.target_names == ["B12"] for c in fire)
    floods = {c.ratio: c for c in cases if "sen1floods11" in c.name}
    assert floods[2].target_names == ["B05", "B06", "B07", "B8A", "B11", "B12"] and floods[6].target_names == ["B01", "B09"]
    soft = next(c for c in s2_cases(SHARED, mtf=0.3, as_stated=False) if "sen1floods11" in c.name)
    assert soft.guides.shape == floods[2].guides.shape and np.array_equal(soft.truth, floods[2].truth)
    assert 0 < np.abs(soft.guides - floods[2].guides).mean() < 0.01  # softer, not another place
