"""End to end: the CLI trains on the bundled real sample, resumes exactly, runs DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from bandbridge.bundle import load_bundle
from conftest import HANG_S, REPO, SAMPLE, TINY


def _sets(extra=()):
    return [a for kv in [*TINY, *extra] for a in ("--set", kv)]


def _only_run(root: Path) -> Path:
    runs = sorted(p for p in root.glob("*/*") if p.is_dir())
    assert len(runs) == 1, runs
    return runs[0]


def test_train_writes_checkpoints_tensorboard_config_and_bundle(run_cli, tmp_path):
    code, out, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE),
                             "--runs", str(tmp_path), *_sets(["train.max_epochs=2"]))
    assert code == 0, err
    run = _only_run(tmp_path)
    assert run.parent.name == "rgb2nir-wgangp-cpu"
    ck = {p.name for p in (run / "checkpoints").iterdir()}
    assert {"epoch000.ckpt", "epoch001.ckpt", "last.ckpt", "best.ckpt"} <= ck
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["loss"]["adversarial"] == "wgan-gp" and cfg["data"]["root"] == str(SAMPLE)
    # TensorBoard holds the losses, the penalty, the LR, validation metrics and image grids.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(run / "tensorboard")).Reload()
    scalars = set(ea.Tags()["scalars"])
    assert {"train/loss_d", "train/loss_g", "train/gp", "train/wasserstein", "train/l1",
            "train/g_adv", "lr/generator", "val/l1", "val/psnr", "val/ssim", "val/ndvi_mae"} <= scalars
    assert "val/input_target_prediction_error" in ea.Tags()["images"]
    # The checkpoint carries G, D, optimisers, schedulers, RNG and the resolved config.
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] > 0
    assert any(k.startswith("G.") for k in state["state_dict"])
    assert any(k.startswith("D.") for k in state["state_dict"])
    assert len(state["optimizer_states"]) == 2 and len(state["lr_schedulers"]) == 2
    assert "rng_state" in state and state["hyper_parameters"]["config"]["name"] == "rgb2nir-wgangp-cpu"
    # The bundle loads without unpickling and reproduces the checkpoint's generator.
    b = load_bundle(run / "model" / "last")
    x = torch.rand(1, 3, 64, 64)
    assert b.generator(x).shape == (1, 1, 64, 64)
    assert b.in_channels == 3 and b.out_channels == 1
    assert json.loads((run / "val_start.json").read_text())["psnr"] > 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and "val/psnr" in summary["val_end"]
    # Anchored on the core's learner (anchor: learner; learner_minutes 0: the constant or the
    # linear map): the run starts as it, says so, and every bundle carries the linear fit.
    flat = " ".join(out.split())  # the console wraps long lines
    assert summary["start"] in ("the linear learner chosen on the training split",
                                "the constant learner chosen on the training split")
    assert summary["starts_as_linear_baseline"] and f"start = {summary['start']}" in flat
    assert "validation l1 " in flat and "→" in flat
    best = load_bundle(run / "model" / "best")
    coef = best.info["baseline"]["linear"]
    assert len(coef) == 4 and len(coef[0]) == 1  # 3 band weights + bias, one target band
    assert best.info["epoch"] >= -1 and best.info["val_metrics"]["val/psnr"] >= summary["val_start"]["psnr"] - 1e-6
    # predict's reading line for each source before training (issue 47 point 2), and the bundle
    # remembers the values its inputs held (point 1)
    assert "naip_opengeos: m_" in flat and "uint8 values; read as uint8 as declared" in flat, flat
    seen = best.info["inputs_seen"]
    assert seen["dtypes"] == ["uint8"] and seen["scalings"] == ["uint8"] and len(seen["p1"]) == 3
    assert all(0 <= a < b <= 1 for a, b in zip(seen["p1"], seen["p99"])), seen


def test_resume_continues_step_count_lr_schedule_and_weights(run_cli, tmp_path):
    sched = ["optim.schedule.kind=linear", "optim.schedule.n_epochs=1",
             "optim.schedule.n_epochs_decay=3"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs", str(a),
                   *_sets([*sched, "train.max_epochs=3"]))[0] == 0
    assert run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs", str(b),
                   *_sets([*sched, "train.max_epochs=2"]))[0] == 0
    run_b = _only_run(b)
    code, _, err = run_cli("train", "--resume", str(run_b), "--set", "train.max_epochs=3")
    assert code == 0, err
    full = torch.load(_only_run(a) / "checkpoints" / "last.ckpt", weights_only=True)
    res = torch.load(run_b / "checkpoints" / "last.ckpt", weights_only=True)
    assert res["global_step"] == full["global_step"] and res["epoch"] == full["epoch"] == 2
    assert [s["_last_lr"] for s in res["lr_schedulers"]] == \
           [s["_last_lr"] for s in full["lr_schedulers"]]
    lr = res["lr_schedulers"][0]["_last_lr"][0]
    from bandbridge.config import load_config
    lr0 = load_config("rgb2nir-wgangp-cpu").optim.lr_g
    assert lr == pytest.approx(lr0 * 0.25)  # 3 epochs of the linear decay, not a reset
    for k, v in full["state_dict"].items():  # the same batches, the same noise: the same model
        assert torch.equal(v, res["state_dict"][k]), k


def test_init_from_fine_tunes(run_cli, tmp_path):
    assert run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs",
                   str(tmp_path / "a"), *_sets(["train.max_epochs=1"]))[0] == 0
    src = _only_run(tmp_path / "a")
    code, _, err = run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs",
                           str(tmp_path / "b"), "--init-from", str(src / "model" / "last"),
                           *_sets(["train.max_epochs=1"]))
    assert code == 0, err
    start = json.loads((_only_run(tmp_path / "b") / "val_start.json").read_text())
    before = json.loads((src / "summary.json").read_text())["val_end"]
    assert start["l1"] == pytest.approx(before["val/l1"], rel=1e-4)  # starts where `a` ended


@pytest.mark.load
def test_ddp_two_processes_on_cpu(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    env.pop("BANDBRIDGE_RUN_DIR", None)
    cmd = [sys.executable, "-m", "bandbridge.cli", "train", "-p", "rgb2nir-wgangp-cpu",
           "--data", str(SAMPLE), "--runs", str(tmp_path), "--devices", "2",
           "--strategy", "ddp", "--accelerator", "cpu",
           *_sets(["train.max_epochs=1", "data.samples_per_epoch=8"])]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=HANG_S)
    assert p.returncode == 0, p.stderr[-3000:]
    run = _only_run(tmp_path)
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    # 8 crops over 2 ranks, batch 2: 2 batches per rank → 2 critic + 1 generator steps.
    assert state["global_step"] == 3
    # Lightning's lines go to the run's log, not the terminal (both ranks append to it)
    log = (run / "train.log").read_text()
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in log
    assert "Initializing distributed" not in p.stdout + p.stderr


@pytest.mark.load
def test_a_run_says_its_folder_first_and_counts_epochs_as_people_do(tmp_path):
    """What a person sees in the terminal: the run folder before any work (what to --resume
    after Ctrl-C), "Epoch 2/2" on the last of two epochs, no hardware roll call, no v_num."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    env.pop("BANDBRIDGE_RUN_DIR", None)
    cmd = [sys.executable, "-m", "bandbridge.cli", "train", "-p", "rgb2nir-wgangp-cpu",
           "--data", str(SAMPLE), "--runs", str(tmp_path),
           *_sets(["train.max_epochs=2", "train.precision=auto"])]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=HANG_S)
    assert p.returncode == 0, p.stderr[-3000:]
    run = _only_run(tmp_path)
    # no line from Lightning or PyTorch in the terminal: they are in the run's train.log
    log = (run / "train.log").read_text()
    assert "`Trainer.fit` stopped" in log
    from bandbridge.machine import cpu_has_bf16
    if cpu_has_bf16():  # the native-bf16 branch: precision auto is bf16-mixed, and Lightning says so
        assert "Automatic Mixed Precision" in log
    for line in (p.stdout + p.stderr).replace("\r", "\n").splitlines():
        assert not any(w in line for w in ("Trainer.fit", "Automatic Mixed Precision", "lightning",
                                           "Warning", "warn(")), line
    assert ", the highest val/" in p.stdout or ", the lowest val/" in p.stdout  # what chose best
    first = p.stdout.splitlines()[0]
    assert first.startswith(f"run folder: {run} ") and f"--resume {run}" in first, first
    both = p.stdout + p.stderr
    assert "Epoch 2/2" in both and "Epoch 1/2" in both and "Epoch 0" not in both, both[-2000:]
    for noise in ("GPU available", "TPU available", "HPU available", "v_num"):
        assert noise not in both, noise
