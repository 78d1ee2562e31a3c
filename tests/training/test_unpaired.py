"""Unpaired translation (CycleGAN, issue 24) on real RoadScene data: the unpaired layout reads each
folder apart, training never shows a crop with its registered partner, the losses and the pool do
what the paper says, a run resumes exactly, and its A→B generator is a bundle that predict and
ONNX export take unchanged."""

import json

import numpy as np
import pytest
import torch

from bandbridge.config import load_config
from bandbridge.errors import BandbridgeError
from conftest import SHARED, needs_shared
from test_cli_train import _only_run

# A CycleGAN shrunk to seconds: 4 steps an epoch of 64² crops.
TINY_CYCLE = ["model.generator.args.ngf=8", "model.generator.args.depth=5",
              "model.critic.args.ndf=8", "data.patch_size=64", "data.batch_size=2",
              "data.samples_per_epoch=8", "data.max_eval_tiles=2", "train.log_every_n_steps=1",
              "train.precision=32", "train.threads=1", "loss.pool_size=3"]


def _sets(extra=()):
    return [a for kv in [*TINY_CYCLE, *extra] for a in ("--set", kv)]


# ------------------------------------------------------------------ config and data
def test_config_refuses_what_has_no_pairs_to_use():
    with pytest.raises(BandbridgeError, match="layout 'unpaired' has no pairs.*model.kind=cyclegan"):
        load_config("rgb2thermal-cpu", overrides=["data.sources.0.layout=unpaired"])
    for learner in ("model.generator.learner=linear", "model.generator.args.anchor=true"):  # 0.1.0's key too
        with pytest.raises(BandbridgeError, match="learner: the learner is a fit on registered pairs"):
            load_config("rgb2thermal-cyclegan-cpu", overrides=[learner])
    with pytest.raises(BandbridgeError, match="loss.lambda_l1 needs registered pairs"):
        load_config("rgb2thermal-cyclegan-cpu", overrides=["loss.lambda_l1=100"])
    with pytest.raises(BandbridgeError, match="loss.lambda_emd needs registered pairs"):
        load_config("rgb2thermal-cyclegan-cpu", overrides=["loss.lambda_emd=1"])


@needs_shared
def test_unpaired_layout_reads_each_folder_apart_in_the_paired_recipes_splits():
    from bandbridge.data.items import discover, discover_unpaired
    cfg = load_config("rgb2thermal-cyclegan-cpu", data_root=str(SHARED))
    sides = discover_unpaired(cfg.data)
    paired = discover(load_config("rgb2thermal-cpu", data_root=str(SHARED)).data)
    for split in ("train", "val", "test"):
        a = {it.id for it in sides[split]["input"]}
        b = {it.id for it in sides[split]["target"]}
        # Each side's files go to the split their registered pair is in: the unpaired model is
        # scored on registered test pairs of files it never saw, on either side.
        assert a == b == {it.id for it in paired[split] if it.source == 0}, split  # roadscene
        assert all("crop_LR_visible" in it.input_path for it in sides[split]["input"])
        assert all("cropinfrared" in it.input_path for it in sides[split]["target"])
    assert len(sides["test"]["input"]) == 32  # RoadScene's frame-number blocks in test
    # The paired data module finds no pairs in an unpaired source (nothing is matched).
    assert discover(cfg.data) == {"train": [], "val": [], "test": []}


@needs_shared
def test_an_empty_side_is_one_line_naming_the_folder_and_the_fix(tmp_path):
    from bandbridge.data.items import discover_unpaired
    (tmp_path / "empty").mkdir()
    cfg = load_config("rgb2thermal-cyclegan-cpu", data_root=str(SHARED),
                      overrides=[f"data.sources.0.target_dir={tmp_path / 'empty'}"])
    with pytest.raises(BandbridgeError) as e:
        discover_unpaired(cfg.data)
    msg = str(e.value)
    assert "\n" not in msg and "no target images found" in msg and str(tmp_path / "empty") in msg
    assert "target_dir/target_glob or target_files" in msg


@needs_shared
def test_training_crops_of_a_and_b_are_drawn_apart():
    """The pairing is broken for real: an A crop comes with the B crop of its registered partner
    only at the chance rate (1 in 172 files), and then never at the same window."""
    from bandbridge.data.unpaired import UnpairedDataModule
    cfg = load_config("rgb2thermal-cyclegan-cpu", data_root=str(SHARED),
                      overrides=["data.samples_per_epoch=400", "data.batch_size=8"])
    dm = UnpairedDataModule(cfg)
    dm.setup("fit")
    assert dm.channels == (3, 1)
    same_file = same_window = n = 0
    for batch in dm.train_dataloader():
        a, b = batch["a"]["meta"], batch["b"]["meta"]
        for i in range(len(a["id"])):
            n += 1
            if a["id"][i] == b["id"][i]:
                same_file += 1
                same_window += (a["row"][i], a["col"][i]) == (b["row"][i], b["col"][i])
    assert n == 400 and same_file <= 12 and same_window == 0  # chance: ~2.3 of 400


# ------------------------------------------------------------------ losses, pool, distances
def test_cycle_and_identity_terms_are_l1_per_domain_with_bands_bridged():
    from bandbridge.losses.cycle import as_bands, can_swap_bands, two_domain_l1
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 1, 8, 8)
    mx, my = torch.ones(2, 1, 8, 8, dtype=torch.bool), torch.ones(2, 1, 8, 8, dtype=torch.bool)
    assert float(two_domain_l1(x, x, mx, y, y, my)) == 0.0
    assert float(two_domain_l1(x, x + 0.1, mx, y, y - 0.2, my)) == pytest.approx(0.3, abs=1e-6)
    my[:, :, :4] = False  # masked pixels count in no term
    assert float(two_domain_l1(x, x, mx, y, torch.where(my, y, y + 5), my)) == 0.0
    assert torch.equal(as_bands(y, 3)[:, 2], y[:, 0]) and as_bands(x, 1).shape == (2, 1, 8, 8)
    assert torch.allclose(as_bands(x, 1)[:, 0], x.mean(1))
    assert can_swap_bands(3, 1) and can_swap_bands(1, 3) and not can_swap_bands(2, 3)


def test_image_pool_fills_then_swaps_half_and_round_trips():
    from bandbridge.training.cyclegan import ImagePool
    pool = ImagePool(4)
    first = torch.arange(4.0).reshape(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and len(pool.images) == 4  # filling: as is
    torch.manual_seed(0)
    new = torch.arange(100.0, 500.0).reshape(400, 1, 1, 1)
    out = pool.query(new)
    swapped = out != new
    assert 150 < int(swapped.sum()) < 250 and len(pool.images) == 4  # about half: older fakes
    assert bool((out[swapped] < new[swapped]).all())  # what comes back is older, never newer
    again = ImagePool(4)
    again.load(pool.state())
    assert all(torch.equal(u, v) for u, v in zip(again.images, pool.images))
    assert torch.equal(ImagePool(0).query(new), new)


def test_wasserstein_distances_of_values_and_gradients():
    from bandbridge.losses.distribution import DistributionSample, wasserstein_1d
    g = torch.Generator().manual_seed(0)
    a = torch.rand(200_000, generator=g)
    assert wasserstein_1d(a, a + 0.1) == pytest.approx(0.1, abs=1e-4)  # a shift moves by itself
    assert wasserstein_1d(a, a * 0.5) == pytest.approx(0.25, abs=2e-3)  # E|u − u/2| = 1/4
    ramp = torch.linspace(0, 1, 64).expand(1, 1, 64, 64)  # |∇| = 1/63 everywhere
    m = torch.ones(1, 1, 64, 64, dtype=torch.bool)
    real, flat = DistributionSample(), DistributionSample()
    real.add(ramp, m)
    flat.add(torch.full_like(ramp, 0.5), m)  # the same mean, no gradient
    d = flat.distances(real)
    assert d["w1_gradient"] == pytest.approx(1 / 63, rel=1e-3)
    assert d["w1_intensity"] == pytest.approx(0.25, abs=0.01)  # E|u − ½| for u ~ U(0, 1)
    assert real.distances(real)["w1"] == 0.0


# ------------------------------------------------------------------ end to end on real data
@needs_shared
def test_cyclegan_resumes_exactly_and_its_bundle_predicts_and_exports(run_cli, tmp_path):
    data = str(SHARED)
    sched = ["optim.schedule.n_epochs=1", "optim.schedule.n_epochs_decay=2"]
    a, b = tmp_path / "a", tmp_path / "b"
    for root, epochs in ((a, 3), (b, 2)):
        code, out, err = run_cli("train", "-p", "rgb2thermal-cyclegan-cpu", "--data", data,
                                 "--runs", str(root), *_sets([*sched, f"train.max_epochs={epochs}"]))
        assert code == 0, err
    run_b = _only_run(b)
    code, _, err = run_cli("train", "--resume", str(run_b), "--set", "train.max_epochs=3")
    assert code == 0, err
    full = torch.load(_only_run(a) / "checkpoints" / "last.ckpt", weights_only=True)
    res = torch.load(run_b / "checkpoints" / "last.ckpt", weights_only=True)
    assert res["global_step"] == full["global_step"] == 3 * 4 * 2  # 2 optimizers a batch
    assert [s["_last_lr"] for s in res["lr_schedulers"]] == \
           [s["_last_lr"] for s in full["lr_schedulers"]]
    nets = {k.split(".")[0] for k in full["state_dict"]}
    assert nets == {"G", "F", "D", "D_A", "batches_seen"}
    for k, v in full["state_dict"].items():  # the same crops, noise and pool: the same model
        assert torch.equal(v, res["state_dict"][k]), k
    for side in ("a", "b"):  # the pools were full (size 3) and travelled with the checkpoint
        assert full["image_pools"][side].shape[0] == 3
        assert torch.equal(full["image_pools"][side], res["image_pools"][side])
    summary = json.loads((run_b / "summary.json").read_text())
    assert set(summary["val_end"]) >= {"val/w1", "val/w1_intensity", "val/w1_gradient"}

    # The A→B generator is a normal bundle: predict (torch and the ONNX export) takes it.
    from bandbridge.bundle import load_bundle
    bundle = load_bundle(run_b / "model" / "last")
    assert (bundle.in_channels, bundle.out_channels) == (3, 1)
    assert bundle.config.model.kind == "cyclegan"
    img = sorted((SHARED / "thermal_roadscene" / "crop_LR_visible").glob("*.jpg"))[0]
    outs = {}
    for backend, model in (("torch", run_b / "model" / "last"), ("onnx", tmp_path / "onnx")):
        if backend == "onnx":
            pytest.importorskip("onnxruntime")
            code, _, err = run_cli("export", "-m", str(run_b / "model" / "last"), "-o", str(model))
            assert code == 0, err
            assert (model / "model.onnx").exists()
        dst = tmp_path / f"pred_{backend}.tif"
        code, _, err = run_cli("predict", str(img), "-m", str(model), "-o", str(dst),
                               "--backend", backend, "--dtype", "float32")
        assert code == 0, err
        import rasterio
        with rasterio.open(dst) as f:
            outs[backend] = f.read()
    from PIL import Image
    w, h = Image.open(img).size
    assert outs["torch"].shape == (1, h, w)
    assert np.abs(outs["torch"] - outs["onnx"]).max() < 1e-3
    # evaluate as is scores it on the registered pairs of the paired recipe (no baselines: the
    # unpaired model's training data has no pairs to fit them on)
    code, out, err = run_cli("evaluate", "-m", str(run_b / "model" / "last"), "--data", data,
                             "--recipe", "roadscene", "--split", "val",
                             "-o", str(tmp_path / "eval"))
    assert code == 0, err
    s = json.loads((tmp_path / "eval" / "summary.json").read_text())
    # no fitted baseline; the flat row every image-like target gets (each image's own mean)
    assert list(s["methods"]) == ["model", "flat (own mean)"] and s["protocol"]["images"] == 12
    assert s["methods"]["model"]["contrast"] > 0 and "swd" in s["methods"]["model"]
    assert 0 < s["methods"]["model"]["psnr"] < 40
