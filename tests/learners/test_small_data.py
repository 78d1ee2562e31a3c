"""Small data: one scene split into regions, the context-feature anchor and its ridge fit, the
never-worse start of a fine-tune."""

import numpy as np
import pytest
import torch

from bandbridge.config import load_config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.data.items import discover
from bandbridge.errors import BandbridgeError
from bandbridge.learners.baselines import ContextRidgeBaseline, LinearBaseline, init_anchor, sample_pixels
from bandbridge.learners.ridge import ridge
from bandbridge.generators import build_generator
from bandbridge.models.anchor import zero_residual
from bandbridge.models.features import ContextFeatures, box_means
from conftest import SAMPLE

REGIONS = {"train": [0, 0.6], "val": [0.6, 0.8], "test": [0.8, 1]}
CTX = {"windows": [5, 15], "products": True}


def _region_cfg(**over):
    sets = [f"data.sources.0.split.regions={REGIONS}".replace("'", "")]
    sets += [f"{k}={v}" for k, v in over.items()]
    return load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE), overrides=sets)


def test_regions_split_every_scene_into_disjoint_bands_of_rows():
    cfg = _region_cfg()
    by = discover(cfg.data)
    assert {len(v) for v in by.values()} == {len(by["train"])} and by["train"]
    dm = PairedDataModule(cfg)
    parts = {s: dm.load_split(s) for s in ("train", "val", "test")}
    full = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE))
    whole = {p.item.id: p for s in ("train", "val", "test")
             for p in PairedDataModule(full).load_split(s)}
    for k, p in enumerate(parts["train"]):
        w = whole[p.item.id]
        h = w.x.shape[1]
        rows = [parts[s][k].x.shape[1] for s in ("train", "val", "test")]
        assert sum(rows) == h and rows[0] == round(0.6 * h)  # every row in exactly one split
        t = parts["test"][k]
        assert torch.equal(t.y, w.y[:, h - rows[2]:])  # the bottom band, untouched
        assert torch.equal(t.stats, w.stats)  # statistics of the whole scene, as at prediction
        assert t.transform.f == pytest.approx(w.transform.f + (h - rows[2]) * w.transform.e)
    assert "[rows 0.8–1]" in parts["test"][0].item.label


def test_overlapping_regions_are_refused_with_the_key():
    for regions, message in (("{train: [0, 0.7], val: [0.6, 1]}", "split.regions overlap"),
                             ("{train: [0.5, 0.2]}", "start < end")):
        cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE),
                          overrides=[f"data.sources.0.split.regions={regions}"])
        with pytest.raises(BandbridgeError, match=message):
            discover(cfg.data)


def test_context_features_are_local_means_stds_and_products():
    x = torch.rand(1, 2, 20, 24, dtype=torch.float64)
    f = ContextFeatures(2, (5,), products=True)
    assert f.out_channels == 2 + 4 + 3
    out = f(x)
    assert out.shape == (1, 9, 20, 24)
    # an interior pixel, by hand
    win = x[0, :, 8:13, 10:15]
    np.testing.assert_allclose(out[0, 2:4, 10, 12], win.mean((1, 2)), rtol=1e-10)
    np.testing.assert_allclose(out[0, 4:6, 10, 12], win.std((1, 2), unbiased=False), rtol=1e-8)
    np.testing.assert_allclose(out[0, 6:, 10, 12], [x[0, 0, 10, 12] ** 2,
                                                   x[0, 0, 10, 12] * x[0, 1, 10, 12],
                                                   x[0, 1, 10, 12] ** 2], rtol=1e-10)
    # the edges replicate: a constant image has its own mean and zero spread everywhere
    c = torch.full((1, 1, 7, 9), 0.3)
    np.testing.assert_allclose(box_means(c, (15,))[0], c, atol=1e-7)
    with pytest.raises(ValueError, match="odd"):
        ContextFeatures(3, (4,))


def test_ridge_recovers_a_known_map_and_shrinks_with_the_penalty():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 3)) * [1, 10, 0.1] + [0, 5, 1]
    Y = X @ np.array([[2.0], [-0.5], [3.0]]) + 1.5
    W = ridge(X, Y, 0.0)
    np.testing.assert_allclose(W[:, 0], [2.0, -0.5, 3.0, 1.5], atol=1e-8)
    assert np.abs(ridge(X, Y, 1.0)[:3]).sum() < np.abs(W[:3]).sum()


def test_leave_one_source_out_scores_each_fit_where_it_was_not_fitted():
    """The selection rule's worst-source variant (learners/select.py), as the context ridge
    chooses its penalty: each candidate fitted on all sources but one, scored on that one, ranked
    by its worst ratio to the better of the linear map and the constant there."""
    from bandbridge.learners.baselines import pixels_by_source
    from bandbridge.learners.select import choose
    rng = np.random.default_rng(0)
    # three sources share one linear law; each adds its own offset that texture cannot predict
    per = {}
    for k, off in enumerate((0.0, 0.05, -0.05)):
        X = rng.uniform(0, 1, size=(4000, 3))
        per[f"s{k}"] = (X, 0.2 + 0.5 * X[:, :1] + off + rng.normal(0, 0.01, (4000, 1)))
    b = ContextRidgeBaseline()
    cands = b.candidates()
    px, folds, _ = pixels_by_source(per, 3)
    names = tuple(m.name for m in cands.values())
    sel = choose(px, list(cands.values()), folds=folds, eligible=names, rule="worst-source",
                 fit_pixels=None)
    worst = sel.scores
    assert sel.rule == "worst-source" and set(names) <= set(worst) and "blend" not in sel.oof
    assert worst["linear"] == pytest.approx(1.0)  # the better baseline on every held-out source
    assert worst["constant"] > 2.0  # the constant ignores the law
    assert sel.chosen == min(names, key=worst.get)
    # by hand, for the constant on s0: the mean of s1 and s2's targets, scored on s0
    X0, Y0 = per["s0"]
    const = np.concatenate([per["s1"][1], per["s2"][1]]).mean()
    lin = np.linalg.lstsq(np.c_[np.concatenate([per["s1"][0], per["s2"][0]]), np.ones(8000)],
                          np.concatenate([per["s1"][1], per["s2"][1]]), rcond=None)[0]
    m_const = np.abs(np.clip(const, 0, 1) - Y0).mean()
    m_lin = np.abs(np.clip(np.c_[X0, np.ones(4000)] @ lin, 0, 1) - Y0).mean()
    assert sel.per_fold["constant"][0] == pytest.approx(m_const)
    assert worst["constant"] >= m_const / min(m_const, m_lin) - 1e-9


def test_context_ridge_validates_no_worse_than_linear_and_the_anchor_is_it():
    cfg = _region_cfg()
    dm = PairedDataModule(cfg)
    train, val = dm.load_split("train"), dm.load_split("val")
    ridge_b = ContextRidgeBaseline((5, 15), True).fit_pairs(train, val)
    assert ridge_b.scores[ridge_b.chosen] <= ridge_b.scores["linear"]
    rec = ridge_b.record(cfg.data.sources[0].target)  # baseline.json's anchor: the one learner record
    assert rec["rule"] == "validation" and rec["unit"] == [255.0, "DN (8-bit)"]
    assert rec["penalty"] == str(ridge_b.chosen)
    assert rec["chosen"] == ridge_b.fitted.name and rec["oof_mae"][rec["chosen"]] == ridge_b.scores[ridge_b.chosen]
    g = build_generator("unet", 3, 1, {"ngf": 8, "depth": 4, "norm": "none", "anchor": CTX})
    fit = init_anchor(g, train, val)
    assert fit.chosen == ridge_b.chosen
    p = val[0]
    ctx = torch.tensor([[float("nan")] * 3 + [-1.0] + p.stats.tolist()])
    with torch.no_grad():
        out = g.eval()(p.x[None], ctx)[0]
    np.testing.assert_allclose(out.numpy(), fit(p.x).numpy(), atol=2e-5)
    lin = LinearBaseline().fit(*sample_pixels(train))
    np.testing.assert_allclose(fit.linear_coef, lin.coef, atol=1e-6)


def test_zero_residual_returns_a_trained_generator_to_its_anchor():
    for name, args in (("unet", {"ngf": 8, "depth": 4, "norm": "none"}),
                       ("resnet", {"ngf": 8, "n_blocks": 1, "norm": "none"})):
        g = build_generator(name, 3, 1, {**args, "anchor": CTX})
        x = torch.rand(1, 3, 32, 32)
        a = g.eval()(x).clone()
        with torch.no_grad():
            for p in g.parameters():
                if p.requires_grad:
                    p.add_(0.05)
        assert not torch.allclose(g(x), a)
        zero_residual(g)
        torch.testing.assert_close(g(x), a)
