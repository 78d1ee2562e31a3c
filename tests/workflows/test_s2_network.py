"""Sentinel-2's residual network's pairs, augmentation, bundle and record (issue 96): the pairs of a
hand-made case (upsampled as ``sharpen`` upsamples its reference, one octave coarser, a one-grid case's
coarser pair only), the augmentation's brightness and dropped bands, a two-step training saved and read
back without unpickling, the record's pooled ratio by hand, and the shipped bundle on a real case."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from affine import Affine

from bandbridge.data.band_crops import BandCrops
from bandbridge.data.grids import Grid, block_mean
from bandbridge.errors import BandbridgeError
from bandbridge.evaluation.sharpen_cases import Case
from bandbridge.learners.sharpen_routes import up_all
from bandbridge.models.s2_residual import S2_COARSE
from bandbridge.policy import REFERENCE_UPSAMPLING
from bandbridge.workflows.s2_network import (Augmented, NetworkConfig, case_pairs, load_network, save_network,
                                             train_network, upsampled)
from tests.conftest import SHARED, needs_shared


def _case(size: int = 24, ratio: int = 2, step: int = 2, names=("B05", "B11"), seed: int = 0) -> Case:
    rng = np.random.default_rng(seed)
    truth = (0.05 + 0.3 * rng.random((len(names), size, size))).astype(np.float32)
    grid = Grid(None, Affine(10.0, 0, 500.0, 0, -10.0, 900.0), size, size)
    return Case("hand ×2", "hand/a", "s2", ratio, (0.3 * rng.random((4, size, size))).astype(np.float32),
                ["B02", "B03", "B04", "B08"], block_mean(truth, ratio)[0], truth, list(names), "reflectance", grid, step)


def test_the_pairs_upsampling_is_sharpens_and_the_coarser_pair_keeps_the_ratio():
    """The case's own pair: its guides, its reference upsampled exactly as sharpen's work file holds it
    (``sharpen_routes.up_all`` = ``upsampling.padded_up``, cubic), the truth as targets (NaN where absent);
    the coarser pair: 12², both sides averaged by 2, the reference that truth averaged by the same ratio."""
    case = _case()
    up = upsampled(case.reference, case.grid, case.ratio)
    assert np.array_equal(up, up_all(case.reference, case.grid.coarser(2), case.grid, REFERENCE_UPSAMPLING))
    (x, y), (xc, yc) = case_pairs(case, None)
    i05, i11 = S2_COARSE.index("B05"), S2_COARSE.index("B11")
    assert x.shape == (20, 24, 24) and y.shape == (8, 24, 24) and xc.shape == (20, 12, 12) and yc.shape == (8, 12, 12)
    assert np.array_equal(x[:4], case.guides) and np.array_equal(x[4 + i05], up[0]) and np.array_equal(x[4 + i11], up[1])
    assert np.array_equal(x[12:, 0, 0], [1.0 if i in (i05, i11) else 0.0 for i in range(8)])
    assert np.array_equal(y[i11], case.truth[1]) and np.isnan(y[S2_COARSE.index("B12")]).all()
    t2 = block_mean(case.truth, 2)[0]
    assert np.allclose(yc[i05], t2[0]) and np.allclose(xc[:4], block_mean(case.guides, 2)[0])
    coarse = Grid(None, case.grid.transform @ Affine.scale(2), 12, 12)
    assert np.allclose(xc[4 + i05], up_all(block_mean(t2, 2)[0], coarse.coarser(2), coarse, "cubic")[0], atol=1e-6)


def test_a_one_grid_case_gives_only_its_coarser_pair_and_a_small_one_none():
    """``step == 1`` (guides and targets on one grid): the coarser pair alone; ×6 on 36²: 18² (three cells
    a side); ×6 on 18²: no whole coarser cells at all, so no pair."""
    assert [p[0].shape for p in case_pairs(_case(step=1), None)] == [(20, 12, 12)]
    assert [p[0].shape for p in case_pairs(_case(36, 6, 6, ("B01", "B09")), 0.3)] == [(20, 36, 36), (20, 18, 18)]
    assert [p[0].shape for p in case_pairs(_case(18, 6, 6, ("B01", "B09")), None)] == [(20, 18, 18)]


def test_the_six_case_s_20m_bands_go_beside_at_half_the_output_grid_and_are_sharpened_too():
    """A ×6 case with companions (its 20 m bands on the output grid): the pair gives them upsampled from cells
    of 2 × 2 output pixels (``BETWEEN``, as the 60 m run holds them against its 10 m grid), present, with their
    truth as targets beside the 60 m bands'; the coarser pair averages them by 2 first, the same ratio kept."""
    case = _case(36, 6, 6, ("B01", "B09"))
    rng = np.random.default_rng(3)
    case.companions, case.companion_names = (0.2 * rng.random((2, 36, 36))).astype(np.float32), ["B05", "B11"]
    (x, y), (xc, yc) = case_pairs(case, None)
    i05, i01 = S2_COARSE.index("B05"), S2_COARSE.index("B01")
    assert np.array_equal(x[4 + i05], upsampled(block_mean(case.companions, 2)[0], case.grid, 2)[0])
    assert x[12 + i05, 0, 0] == 1.0 and x[12 + S2_COARSE.index("B11"), 0, 0] == 1.0 and x[12 + i01, 0, 0] == 1.0
    assert np.array_equal(y[i05], case.companions[0]) and np.array_equal(y[i01], case.truth[0])
    assert np.isnan(y[S2_COARSE.index("B06")]).all()
    c2 = block_mean(case.companions, 2)[0]
    coarse = Grid(None, case.grid.transform @ Affine.scale(2), 18, 18)
    assert np.allclose(xc[4 + i05], upsampled(block_mean(c2, 2)[0], coarse, 2)[0], atol=1e-6)
    assert np.allclose(yc[i05], c2[0])


def test_the_augmentation_scales_both_sides_alike_and_drops_present_bands():
    """Every crop: one factor in [0.7, 1.4] on the guides, the upsampled bands and the targets alike, the
    presence planes 0/1; a dropped band's upsampled plane, presence and target gone; one band kept at least;
    over many crops some dropped, some whole."""
    pairs = case_pairs(_case(32, names=("B05", "B06", "B11")), None)
    crops = BandCrops(pairs, 16, 64, seed=3)
    aug = Augmented(crops, (0.7, 1.4), 0.5, seed=3)
    kept = []
    for i in range(64):
        a, b = crops[i], aug[i]
        present = b["input"][12:].flatten(1).amax(1) > 0
        assert set(b["input"][12:].unique().tolist()) <= {0.0, 1.0} and 1 <= int(present.sum()) <= 3
        f = (b["input"][:4] / a["input"][:4]).flatten()
        assert 0.7 - 1e-6 <= float(f[0]) <= 1.4 + 1e-6 and torch.allclose(f, f[0].expand_as(f), rtol=1e-5)
        for k in range(8):
            if present[k]:
                assert torch.allclose(b["input"][4 + k], a["input"][4 + k] * f[0], rtol=1e-5)
                assert torch.allclose(b["target"][k], a["target"][k] * f[0], rtol=1e-5, equal_nan=True)
            else:
                assert (b["input"][4 + k] == 0).all() and b["target"][k].isnan().all()
        kept.append(int(present.sum()))
    assert min(kept) < 3 and max(kept) == 3


def test_a_short_training_saved_as_a_bundle_reads_back(tmp_path):
    """Two steps: the bundle (safetensors and model.yaml) reads back as the same network, with its sources,
    config and command; a bundle of another network is refused in one line naming the folder."""
    from bandbridge.spec import read_meta, read_spec
    from bandbridge.workflows.s2_prior import PriorConfig, save_prior, train_prior
    cfg = NetworkConfig(steps=2, batch=2, crop=16)
    pairs = case_pairs(_case(32), None)
    net = train_network(pairs, cfg)
    assert net.tail.weight.abs().sum() > 0  # trained: the correction is not zero any more
    spec = save_network(net, tmp_path / "net", cfg, ["b", "a"], "python make.py")
    assert spec.target_names == S2_COARSE and len(spec.input_names) == 20
    info = read_meta(tmp_path / "net" / "model.yaml")["s2_residual"]
    assert info["sources"] == ["a", "b"] and info["command"] == "python make.py" and info["config"]["steps"] == 2
    back = load_network(tmp_path / "net")
    x = torch.from_numpy(pairs[0][0])[None]
    with torch.no_grad():
        assert torch.allclose(back(x), net(x), atol=1e-6)
    prior = train_prior([(pairs[0][0][:4], pairs[0][1])], PriorConfig(nf=4, n_blocks=1, steps=1, batch=1, crop=16))
    save_prior(prior, tmp_path / "prior", PriorConfig(nf=4, n_blocks=1), ["a"])
    with pytest.raises(BandbridgeError, match="prior.*not an s2-residual bundle"):
        load_network(tmp_path / "prior")


def test_the_records_pooled_ratio_by_hand():
    """Two cases of one source, one band: RMSE 1 and 3 over 4 and 12 pixels against the better cubic's 2 and 2
    (cubic's or the B-spline's, whichever is lower): √((4·1 + 12·9)/16) / 2 = √7 / 2 = 1.3229."""
    from bandbridge.workflows.s2_network_record import ALONE, summary

    def row(n, rmse, cubic, bspline):
        return {"fold": "s", "ratio": 2, "size": [n, 1], "targets": ["B05"],
                "methods": {ALONE: {"rmse": [rmse]}, "cubic": {"rmse": [cubic]}, "bspline": {"rmse": [bspline]}}}
    out = summary({"cases": [row(4, 1.0, 2.0, 5.0), row(12, 3.0, 4.0, 2.0)]})
    assert [(r["band"], r["cases"], r["vs_better_cubic"], r["met"]) for r in out] == [
        ("B05", 2, 1.3229, False), ("pooled", 2, 1.3229, False)]


@needs_shared
def test_the_shipped_network_improves_on_its_upsampled_input_on_a_real_case():
    """The bundle in bandbridge/networks/s2-residual loads by load_network and, on Sen1Floods11's ×2 case,
    comes nearer the truth than the upsampled bands it is given (RMSE over the six 20 m bands)."""
    from bandbridge.evaluation.sharpen_cases import s2_cases
    from bandbridge.spec import zoo_dir
    from bandbridge.workflows.s2_network import refine
    net = load_network(zoo_dir().parent / "networks" / "s2-residual")
    case = next(c for c in s2_cases(SHARED, as_stated=False) if "sen1floods11" in c.source and c.ratio == 2)
    up = upsampled(case.reference, case.grid, case.ratio)
    out = refine(net, case.guides, up, case.target_names)
    rmse = lambda a: float(np.sqrt(np.mean((a - case.truth) ** 2)))  # noqa: E731
    assert rmse(out) < rmse(up)
