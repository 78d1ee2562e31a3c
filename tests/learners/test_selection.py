"""The learner-selection core (learners/): folds that never leak, the choice by out-of-fold error,
the refit on every pixel, a tree learner through bundle, predict and both exports, and the runs
that anchor on the core's choice or keep it. The contract every kind keeps: test_contract.py."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import SAMPLE

from bandbridge.learners.blend import Blend
from bandbridge.learners.constant import Constant
from bandbridge.learners.folds import Fold, Pixels, gather, spatial_folds
from bandbridge.learners.gbm import GBM, float32_thresholds
from bandbridge.learners.linear import Linear
from bandbridge.learners.mlp import MLP
from bandbridge.learners.ridge import Ridge, ridge
from bandbridge.learners.select import NOISE_FOLDS, cheaper_within_noise, choose, within_noise
from bandbridge.policy import WITHIN


def min_gap(px: Pixels, fold: Fold) -> int:
    """The smallest distance (px, along the fold axis, within one image) between a training
    and a held-out pixel of ``fold``; a large number when they share no image."""
    gap = 1 << 30
    for i in np.intersect1d(px.image[fold.train], px.image[fold.test]):
        a = np.sort(px.pos[fold.train][px.image[fold.train] == i])
        b = px.pos[fold.test][px.image[fold.test] == i]
        j = np.clip(np.searchsorted(a, b), 1, len(a) - 1) if len(a) > 1 else np.zeros(len(b), int)
        d = np.minimum(np.abs(a[j] - b), np.abs(a[np.maximum(j - 1, 0)] - b))
        gap = min(gap, int(d.min()))
    return gap


def max_graph_gap(path: Path, net, in_channels: int, side: int = 96, seed: int = 0,
                  width: int | None = None) -> float:
    """The largest |ONNX − torch| of the graph at ``path`` on a random image (model values)."""
    import onnxruntime as ort
    x = torch.from_numpy(np.random.default_rng(seed).random((1, in_channels, side, width or side + 8),
                                                            dtype=np.float32))
    with torch.inference_mode():
        ref = net(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(np.abs(sess.run(["output"], {"input": x.numpy()})[0] - ref).max())


NAIP = SAMPLE / "nir_naip_opengeos"
DATES = sorted(NAIP.glob("*.tif"))


def naip(path, rows=None):
    with rasterio.open(path) as src:
        a = torch.from_numpy(src.read().astype(np.float32) / 255)
    if rows is not None:
        a = a[:, rows]
    return a[:3], a[3:], torch.ones(a.shape[1:], dtype=torch.bool)


def test_block_folds_keep_the_buffer_and_test_every_pixel_once():
    px, _ = gather([naip(DATES[-1])], ["one"], max_pixels=20_000)
    folds = spatial_folds(px, k=4, buffer=45)
    assert len(folds) == 4
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(px)))  # each pixel held out exactly once
    for f in folds:
        assert not set(f.train) & set(f.test)
        assert min_gap(px, f) > 45  # no training pixel within the buffer of a held-out one
    # a leaky fold is what min_gap catches: without the buffer neighbours straddle the edge
    assert min(min_gap(px, f) for f in spatial_folds(px, k=4, buffer=0)) <= 2


def test_group_folds_hold_whole_groups_out():
    imgs = [naip(p) for p in DATES]
    groups = ["a", "a", "b", "c"]
    px, _ = gather(imgs, groups, max_pixels=20_000)
    folds = spatial_folds(px, k=4)
    assert len(folds) == 3  # three groups, each held out whole
    for f in folds:
        assert not set(px.group[f.train]) & set(px.group[f.test])
    assert len(np.unique(px.image[folds[0].test])) == 2  # group "a": both of its images


def test_ridge_penalty_means_the_same_for_any_pixel_count():
    rng = np.random.default_rng(0)
    X = rng.random((500, 6))
    Y = X @ rng.random((6, 2)) + 0.1 * rng.random((500, 2))
    once, twice = ridge(X, Y, 0.01), ridge(np.r_[X, X], np.r_[Y, Y], 0.01)
    assert np.allclose(once, twice)
    assert np.allclose(ridge(X, Y, 0.0)[:-1], np.linalg.lstsq(
        np.c_[X, np.ones(500)], Y, rcond=None)[0][:-1])  # λ = 0: least squares


def test_choice_is_the_lowest_out_of_fold_error_and_refits_on_every_pixel():
    px, _ = gather([naip(DATES[-1], slice(0, 128))], ["one"])
    assert len(px) == px.total == 128 * 256
    cands = [Constant(), Linear(), Ridge(1e-3), GBM(context=False)]
    names = {c.name for c in cands}
    assert names == {"constant", "linear", "ridge-context λ=0.001", "gbm-bands"}
    # served=False: a tree winner's student (tests/learners/test_student.py) is no part of the choice
    sel = choose(px, candidates=cands, fixed={"zero-shot": np.full_like(px.Y, 0.5)}, served=False)
    assert set(sel.oof) == names | {"zero-shot", "blend"}
    best = min(names | {"blend"}, key=sel.oof.get)
    if sel.traded:  # a cheaper candidate within the folds' noise (the cost rule, tested below)
        assert sel.traded["best"] == best and sel.chosen == sel.traded["kept"] != best
        assert within_noise(sel.per_fold[sel.chosen], sel.per_fold[best])[0]
    else:
        assert sel.chosen == best
    assert sel.pixels == px.total  # the refit saw every pixel
    lin = choose(px, candidates=[Linear()])
    assert np.allclose(lin.fitted.coef_, Linear().fit(px.X, px.Y, 3).coef_)
    assert not hasattr(cands[1], "coef_")  # the candidates given stay unfitted: clones are fitted
    # the blend: the mean of the best candidates of three families, out of fold as they were
    assert len(sel.blend_of) == 3 and len({k.split(" ")[0] for k in sel.blend_of}) == 3
    assert "constant" not in sel.blend_of and "blend" in sel.oof
    assert sel.oof["blend"] <= max(sel.oof[k] for k in sel.blend_of)
    # only the eligible may be chosen; the others are measured for the record
    simple = choose(px, candidates=cands, eligible=("constant", "linear"))
    assert simple.chosen in ("constant", "linear") and "gbm-bands" in simple.oof
    assert "blend" not in simple.oof


def test_the_search_budget_is_work_not_the_clock(monkeypatch):
    """A busy machine took the learner search's time budget and measured fewer candidates than a
    quiet one, so `make demo-train` printed other figures under load (issue 58): the budget is
    spent in reference seconds (select.WORK), so the same pixels choose the same candidates."""
    from bandbridge.learners import select
    px, _ = gather([naip(DATES[-1], slice(0, 128))], ["one"])
    cands = [Constant(), Linear(), Ridge(1e-3), GBM(context=False)]
    sizes = [select.FIT_PIXELS] * 4
    # ridge's estimate fits inside a budget the trees' does not
    budget = select.work_s("ridge-context λ=0.001", sizes, len(px)) + 0.5 * select.work_s("gbm-bands", sizes, len(px))
    # served=False: no student distilled for a tree winner (test_student.py): the budget is the candidates.
    quiet = choose(px, candidates=cands, budget_s=budget, served=False)
    clock = iter(range(0, 10**6, 1000))  # every reading 1000 s later: a machine 1000× slower
    monkeypatch.setattr(select.time, "perf_counter", lambda: float(next(clock)))
    busy = choose(px, candidates=cands, budget_s=budget, served=False)
    assert quiet.skipped == busy.skipped and set(quiet.oof) == set(busy.oof)
    assert quiet.chosen == busy.chosen
    # the constant and linear map always run; with no budget at all, every candidate does
    tight = choose(px, candidates=cands, budget_s=0.0, served=False)
    assert {"constant", "linear"} <= set(tight.oof) and "gbm-bands" in tight.skipped
    assert choose(px, candidates=cands, served=False).skipped == []


def test_float32_thresholds_change_no_prediction_on_float32_features():
    import lightgbm as lgb
    rng = np.random.default_rng(1)
    X = rng.random((3000, 4)).astype(np.float32)
    y = np.sin(6 * X[:, 0]) + X[:, 1] * X[:, 2]
    text = lgb.LGBMRegressor(n_estimators=30, verbose=-1).fit(X, y).booster_.model_to_string()
    floored = float32_thresholds(text)
    assert floored != text and "tree_sizes=" not in floored
    Xt = rng.random((20000, 4)).astype(np.float32).astype(np.float64)
    a, b = lgb.Booster(model_str=text).predict(Xt), lgb.Booster(model_str=floored).predict(Xt)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("kind", ["gbm-context", "blend", "anchored"])
def test_a_tree_learner_survives_bundle_predict_and_onnx_export(run_cli, tmp_path, capsys, kind):
    """gbm-context (or a blend of it, the MLP and the ridge, or a U-Net residual on top of it:
    ``anchor: learner``) fitted on the top half of a NAIP date → bundle → predict with torch and
    with onnxruntime → `export --qgis`: the same NIR; OpenVINO refused in one line."""
    from conftest import learner_bundle
    from bandbridge.bundle import load_bundle
    from bandbridge.spec import read_spec
    x, y, m = naip(DATES[-1], slice(0, 128))
    px, _ = gather([(x, y, m)], ["one"], max_pixels=20_000)
    fitted = (GBM() if kind != "blend" else Blend([GBM(), MLP(steps=200), Ridge(1e-3)])
              ).fit(px.X, px.Y, 3)
    net = generator = None
    if kind == "anchored":  # a small U-Net whose residual is not zero, on the trees
        from bandbridge.generators import build_generator
        generator = {"name": "unet", "args": {
            "ngf": 8, "depth": 5, "norm": "none", "dropout": False, "upsample": "bilinear"},
            "learner": fitted.args()}
        net = build_generator("unet", 3, 1, generator["args"], learner=generator["learner"])
        net.learner.load_state_dict(fitted.module(3, 1).state_dict())
        torch.manual_seed(0)
        with torch.no_grad():
            net.network.residual_tail()[-2].weight.normal_(0, 0.02)  # the conv before the tanh
    bundle = learner_bundle(tmp_path / "gbm", fitted, net, generator)
    g = load_bundle(bundle).generator
    trees = g.parts[0] if kind == "blend" else g.learner if kind == "anchored" else g
    from bandbridge.learners.tree_text import checked_tree_text
    fitted_trees = fitted.parts[0].trees_ if kind == "blend" else fitted.trees_
    n = trees.features.out_channels  # what LightGBM is given: the fitted text, checked (its header's
    assert trees.kind == "gbm" and trees.tree_texts() == [  # tree_sizes and trailing sections dropped)
        checked_tree_text(t.encode(), n, "fitted") for t in fitted_trees]
    spec = read_spec(bundle)
    assert spec.runs_on == {"gbm": ["fp32", "onnx", "torch"]} and spec.halo == 22
    assert spec.limited == spec.runs_on  # recorded in model.yaml: read without torch
    if kind == "anchored":  # the residual is really there: the output is not the trees'
        x = naip(DATES[0])[0][None]
        with torch.no_grad():
            assert float((g.eval()(x) - g.learner(x)).abs().max()) > 1e-3
    outs = {}
    for backend in ("torch", "onnx"):
        outs[backend] = tmp_path / f"{backend}.tif"
        code, _, err = run_cli("predict", str(DATES[0]), "-m", str(bundle), "-o",
                               str(outs[backend]), "--backend", backend, "--dtype", "float32")
        assert code == 0, err
    with rasterio.open(outs["torch"]) as a, rasterio.open(outs["onnx"]) as b:
        d = np.abs(a.read() - b.read())
    code, _, err = run_cli("export", "-m", str(bundle), "-o", str(tmp_path / "onnx"), "--qgis")
    assert code == 0, err
    gap = max_graph_gap(tmp_path / "onnx" / "model.onnx", g, 3, side=256, width=288)
    with capsys.disabled():
        print(f"\n{kind} learner: torch vs onnxruntime predict max |Δ| {d.max():.2e} "
              f"({(d > 1e-5).mean():.2e} of pixels over 1e-5); export max |Δ| {gap:.2e}")
    # the graph sums the windows by convolutions, eager torch by shifted additions: the features
    # round apart by ~1e-7 and a ridge's coefficients amplify that to ~3e-5 (0.01 DN); beyond 1e-4
    # only the rare pixel whose tree split flips on float32 features
    assert (d > 1e-4).mean() < 1e-3 and gap < 0.05
    code, _, err = run_cli("predict", str(DATES[0]), "-m", str(bundle), "-o",
                           str(tmp_path / "ov.tif"), "--backend", "openvino")
    assert code == 2 and "holds a gbm learner, whose graph runs on torch or onnx at fp32 only" \
        in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ov.tif").exists()
    code, _, err = run_cli("predict", str(DATES[0]), "-m", str(bundle), "-o",
                           str(tmp_path / "bf.tif"), "--backend", "torch", "--precision", "bf16")
    assert code == 2 and "holds a gbm learner" in err and len(err.strip().splitlines()) == 1


def test_a_run_keeps_the_learner_or_the_network_by_validation(run_cli, tmp_path, capsys, monkeypatch):
    """`bandbridge train` with the learner candidate on: the bundle in model/best is whichever
    of the core's learner and the trained network scored the lower validation MAE; a learner kept
    leaves the network in model/network. The NAIP sample's dates split by rows (validation rows of
    the same scenes), where boosting beats a one-epoch network."""
    import json

    import yaml

    from conftest import TINY
    from bandbridge.bundle import load_bundle
    from bandbridge.learners import student
    from bandbridge.presets import preset_dict
    from bandbridge.workflows.learner_best import val_mae
    monkeypatch.setattr(student, "STEPS", 800)  # a test-sized student, as test_student.py's
    d = preset_dict("rgb2nir-wgangp-cpu")
    d["name"] = "learner-vs-network"
    d["data"].update(root=str(SAMPLE), sources=[{"recipe": "naip_opengeos", "split": {
        "regions": {"train": [0, 0.6], "val": [0.6, 1]}}}])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(d))
    sets = sum([["--set", s] for s in [o for o in TINY if "learner_minutes" not in o]
                + ["train.max_epochs=1", "train.learner_minutes=0.5"]], [])
    code, out, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs"), *sets)
    assert code == 0, err
    run = next((tmp_path / "runs").glob("*/*"))
    rec = json.loads((run / "learner.json").read_text())
    v = rec["val_mae"]
    best = load_bundle(run / "model" / "best")
    if rec["kept"] == "anchor":  # no epoch beat the start: its anchor alone, no zero residual
        assert "model/best: the network's anchor alone" in out
        assert v["network"] <= v["learner"] or rec["worst_ratio"] > 1 + WITHIN
        assert best.config.model.generator.name == "learner" and best.info["epoch"] == -1
    elif rec["kept"] == "learner":
        assert "model/best: the learner" in out
        assert v["learner"] < v["network"]
        assert best.config.model.generator.name == "learner" and (run / "model" / "network").is_dir()
        assert best.info["learner"]["refitted_on"] == "train + validation pixels"
    else:
        assert "model/best: the network" in out
        assert v["network"] <= v["learner"] or rec["worst_ratio"] > 1 + WITHIN
        assert best.config.model.generator.name != "learner"
    with capsys.disabled():
        print(f"\nrun kept the {rec['kept']}: validation MAE learner {v['learner']:.4f} "
              f"({rec['chosen']}), network {v['network']:.4f}")


def test_the_residual_trains_on_top_of_the_chosen_learner_and_resumes(run_cli, tmp_path, monkeypatch):
    """``anchor: learner``: the core chooses a learner on the training split (trees allowed), the
    U-Net's residual trains on top of it from zero, a resumed run continues with the same anchor,
    and a best that is still the start is handed back as the learner alone."""
    import json

    from conftest import TINY
    from bandbridge.bundle import load_bundle
    from bandbridge.learners import student
    from bandbridge.learners.base import LearnerModule
    from bandbridge.learners.blend import BlendModule
    # a test-sized student (as test_student.py's) and a search budget that still reaches the trees
    # (both trees, not the MLP): 3000 steps and 0.3 minutes were three quarters of this test
    monkeypatch.setattr(student, "STEPS", 800)
    sets = sum([["--set", s] for s in [o for o in TINY if "learner_minutes" not in o]
                + ["train.max_epochs=1", "train.learner_minutes=0.1",
                   "model.generator.learner=select"]], [])
    code, out, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE),
                             "--runs", str(tmp_path / "runs"), *sets)
    assert code == 0, err
    run = next((tmp_path / "runs").glob("*/*"))
    anchor = json.loads((run / "baseline.json").read_text())["anchor"]
    assert f"anchor: the {anchor['chosen']} learner, chosen by spatial cross-validation" in out
    assert anchor["oof_mae"][anchor["chosen"]] == min(
        v for k, v in anchor["oof_mae"].items() if k != "zero-shot")
    last = load_bundle(run / "model" / "last")
    assert last.config.model.generator.name == "unet"
    assert isinstance(last.generator.learner, (LearnerModule, BlendModule))
    x = naip(DATES[0])[0][None]
    with torch.no_grad():  # the anchor is the chosen learner, refitted on the training pixels
        start = last.generator.learner.eval()(x)
    code, out2, err = run_cli("train", "--resume", str(run), "--set", "train.max_epochs=2")
    assert code == 0, err
    again = load_bundle(run / "model" / "last")
    with torch.no_grad():
        assert torch.equal(again.generator.learner.eval()(x), start)  # the same anchor resumed
    assert again.info["epoch"] == 1
    rec = json.loads((run / "learner.json").read_text())
    best = load_bundle(run / "model" / "best")
    if best.info["epoch"] == -1:  # no epoch beat the anchor: the learner alone, no residual
        assert rec["kept"] in ("anchor", "learner")
        assert best.config.model.generator.name in ("learner", "blend")


def test_learner_tiles_are_seamless(tmp_path):
    """A context learner predicted in 128 px tiles overlapping by its halo equals one forward on
    the whole image (the blend of the shipped rgb2nir-naip: MLP, ridge and trees)."""
    from bandbridge.bundle import load_bundle
    from bandbridge.inference.core.predictor import PredictOptions, predict_file
    from bandbridge.inference.runtime.backends import TorchBackend
    from bandbridge.spec import read_spec, zoo_models
    spec = read_spec(zoo_models()["rgb2nir-naip"])
    assert spec.config.inference.overlap >= 2 * spec.halo
    g = load_bundle(spec.folder).generator
    x, _, _ = naip(DATES[-1])
    with torch.inference_mode():
        whole = g(x[None])[0].numpy()
    out = tmp_path / "tiled.tif"
    predict_file(TorchBackend(spec), spec, DATES[-1], out,
                 PredictOptions(tile=128, overlap=spec.config.inference.overlap, dtype="float32"))
    with rasterio.open(out) as src:
        tiled = src.read().astype(np.float32)  # float32 outputs: model values
    d = np.abs(tiled - whole)
    assert np.median(d) < 1e-5 and (d > 1e-4).mean() < 1e-3, (d.max(), (d > 1e-4).mean())


def test_a_cheaper_candidate_within_the_folds_noise_wins_and_says_what_was_traded():
    costs = {"constant": Constant().cost, "linear": Linear().cost, "mlp-context": MLP().cost,
             "gbm-context": GBM().cost}
    assert costs["constant"] < costs["linear"] < costs["mlp-context"] < costs["gbm-context"]
    assert Blend([MLP(), GBM()]).cost > costs["gbm-context"]
    per_fold = {"constant": [0.20, 0.22, 0.21, 0.23], "linear": [0.100, 0.120, 0.110, 0.130],
                "mlp-context": [0.095, 0.125, 0.100, 0.125], "gbm-context": [0.099, 0.121, 0.108, 0.131]}
    oof = {k: float(np.mean(v)) for k, v in per_fold.items()}
    assert min(oof, key=oof.get) == "mlp-context"  # 0.1113 vs the linear map's 0.1150: +3.4 %
    # the paired one-standard-error test, by hand: the mean of the fold differences against their
    # standard error (sample std / √4)
    for name in ("linear", "gbm-context"):
        d = np.subtract(per_fold[name], per_fold["mlp-context"])
        assert within_noise(per_fold[name], per_fold["mlp-context"]) == (
            bool(d.mean() <= d.std(ddof=1) / 2), pytest.approx(d.mean()), pytest.approx(d.std(ddof=1) / 2))
    per_fold["linear"] = [0.100, 0.123, 0.098, 0.131]  # differences +.005 −.002 −.002 +.006: noise
    oof["linear"] = float(np.mean(per_fold["linear"]))
    chosen, traded = cheaper_within_noise("mlp-context", list(per_fold), per_fold, oof, costs)
    assert chosen == "linear" and traded["best"] == "mlp-context" and traded["kept"] == "linear"
    assert traded["kept_oof_mae"] == oof["linear"] and traded["best_oof_mae"] == oof["mlp-context"]
    assert traded["fold_difference"] <= traded["standard_error"] and "one-standard-error" in traded["rule"]
    # the card says it, with both errors in the target's units
    from bandbridge.learners.record import traded_line
    line = traded_line({k: v * 255 if k.endswith("_mae") else v for k, v in traded.items()}, "DN (8-bit)")[0]
    assert "`linear` (28.82 DN (8-bit)) is kept over the lowest out-of-fold MAE, `mlp-context` (28.37), +1.6%" in line
    # a clearly better learner stays: the linear map worse on every fold by about the same
    per_fold["linear"] = [0.120, 0.140, 0.125, 0.150]
    oof["linear"] = float(np.mean(per_fold["linear"]))
    assert cheaper_within_noise("mlp-context", list(per_fold), per_fold, oof, costs) == ("mlp-context", {})
    # with fewer folds than NOISE_FOLDS the noise is not measured: the lowest error wins
    few = {k: v[:NOISE_FOLDS - 1] for k, v in per_fold.items()}
    few["linear"] = [0.095, 0.125]
    assert cheaper_within_noise("mlp-context", list(few), few, oof, costs)[0] == "mlp-context"


def test_checks_that_need_no_learner_run_before_the_search(run_cli, tmp_path, monkeypatch):
    """Refusals before work (issue 47 point 8): an --init-from that does not fit is refused
    before the learner search (it came after 212 s), and the search is bounded by
    train.max_minutes as well as train.learner_minutes."""
    from conftest import TINY
    from bandbridge.workflows import learner_anchor
    budgets = []

    from bandbridge.errors import BandbridgeError

    def search(cfg, train, budget_s, blind=None, choice=None):
        budgets.append(budget_s)
        raise BandbridgeError("the learner search ran (stopped here by the test)")
    monkeypatch.setattr(learner_anchor, "fit_learner_anchor", search)
    sets = sum([["--set", s] for s in [o for o in TINY if "learner_minutes" not in o]
                + ["train.max_epochs=1", "model.generator.learner=select"]], [])
    code, _, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs",
                           str(tmp_path / "runs"), "--init-from", "sr-x2", *sets)
    assert code == 2 and "does not fit this model" in err and not budgets, err
    code, _, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs",
                           str(tmp_path / "runs2"), *sets, "--set", "train.max_minutes=0.05",
                           "--set", "train.learner_minutes=5")
    assert code == 2 and budgets == [pytest.approx(1.5)], (budgets, err)  # half of 0.05 min, not 5 min


def test_a_floor_kept_as_the_learner_is_written_to_model_best(tmp_path):
    """Issue 59's defect: when a `learner: select` run's choice was the floor and it beat the
    network on validation, learner.json said `kept: learner` but model/best kept the network."""
    import shutil
    from types import SimpleNamespace

    import torch
    import yaml

    from bandbridge.bundle import load_bundle
    from bandbridge.config import load_config
    from bandbridge.learners.folds import Pixels
    from bandbridge.learners.select import FLOOR, choose
    from bandbridge.spec import zoo_models
    from bandbridge.workflows import best as model_best
    from bandbridge.workflows.learner_best import compare
    rng = np.random.default_rng(0)

    def pair(seed: int):  # NIR an exact linear map of the bands: the linear learner is exact
        x = torch.from_numpy(np.random.default_rng(seed).random((3, 32, 32)).astype(np.float32))
        y = (0.2 + 0.5 * x[0:1] - 0.1 * x[2:3]).clamp(0, 1)
        return SimpleNamespace(x=x, y=y, mask=torch.ones((1, 32, 32), dtype=torch.bool), stats=None,
                               source=SimpleNamespace(name=f"s{seed}"), group=f"g{seed}")
    train, val = [pair(1), pair(2)], [pair(3)]
    X = rng.random((4000, 3)).astype(np.float32)
    Y = (0.2 + 0.5 * X[:, :1] - 0.1 * X[:, 2:3]).astype(np.float32)
    px = Pixels(X, Y, np.repeat([0, 1], 2000), np.repeat([0, 1], 2000), np.tile(np.arange(2000), 2),
                np.array([2000, 2000]), 3, 4000)
    sel = choose(px, allowed=("linear",))
    sel.chosen = FLOOR  # as against_floor leaves it when the floor wins leave-one-source-out
    run = tmp_path / "run"
    best, network = run / "model" / "best", run / "model" / "network"
    shutil.copytree(zoo_models()["rgb2nir-photo"], best)  # a network bundle (a U-Net)
    cfg = load_config("rgb2nir-wgangp-cpu", None, [], str(SAMPLE))
    record, stand_in = compare(best, cfg, train, val, None, sel=sel)
    assert record["kept"] == "learner", record
    model_best.place(run, model_best.decide(record, None), stand_in)
    kept = load_bundle(best)
    assert kept.config.model.generator.name == "learner" and network.is_dir()
    assert yaml.safe_load((network / "model.yaml").read_text())["config"]["model"]["generator"]["name"] == "unet"


def test_a_run_whose_floor_beats_its_network_keeps_the_floor_as_model_best(run_cli, tmp_path, monkeypatch):
    """Issue 59's defect through a real (small) `learner: select` run of two sources: the core's
    choice did not carry to a held-out source (the floor replaced it) and validated better than
    the network — learner.json, model/best and its card all say the floor's map."""
    import json

    from conftest import TINY, TWO_SOURCES
    from bandbridge.bundle import load_bundle
    from bandbridge.learners import floor, select
    real = floor.versus_floor

    def broke(*a, **k):  # the core's choice worse held out on one source: the floor replaces it
        vs = real(*a, **k)
        return vs | {"broke": sorted(vs["by_source"])[:1], "kept": False}
    monkeypatch.setattr(floor, "versus_floor", broke)
    monkeypatch.setattr(select, "never_worse", lambda lrn, net, tolerance=0.01: (True, 1.0))
    (tmp_path / "two.yaml").write_text(TWO_SOURCES)
    sets = sum([["--set", s] for s in [o for o in TINY if "learner_minutes" not in o]
                + ["train.max_epochs=1", "train.learner_minutes=0.2", "model.generator.learner=select",
                   "train.network_held_out=false"]], [])
    code, out, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--config",
                             str(tmp_path / "two.yaml"), "--data", str(SAMPLE),
                             "--runs", str(tmp_path / "runs"), *sets)
    assert code == 0, err
    run = next((tmp_path / "runs").glob("*/*"))
    rec = json.loads((run / "learner.json").read_text())
    assert rec["kept"] == "learner" and rec["chosen"] == select.FLOOR, rec
    best = load_bundle(run / "model" / "best")
    assert best.config.model.generator.name == "learner" and best.info["learner"]["chosen"] == select.FLOOR
    assert load_bundle(run / "model" / "network").config.model.generator.name == "unet"
    assert "Kept: **the floor learner**" in (run / "model" / "best" / "MODEL_CARD.md").read_text()
    assert json.loads((run / "summary.json").read_text())["kept"] == "learner"
