"""benchmarks/thermal_gan.py (the thermal GAN held out by source, issue 60): its shift-tolerant
L1, the image rule it is judged by, and a tiny run on the CPU that writes what the docs read."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from bandbridge.realism import image_rule
from tests.conftest import HANG_S, REPO, SHARED, needs_shared


def _module():
    spec = importlib.util.spec_from_file_location("thermal_gan", REPO / "benchmarks" / "thermal_gan.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_shift_tolerant_l1_forgives_a_shift_of_two_pixels_not_three():
    tg = _module()
    y = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(tg.shift_tolerant_l1(torch.roll(y, (2, -1), (2, 3)), y)) == pytest.approx(0.0, abs=1e-7)
    assert float(tg.shift_tolerant_l1(torch.roll(y, 3, 2), y)) > 0.1
    # no shift at all: the plain L1 of the interior
    f = y + 0.25
    assert float(tg.shift_tolerant_l1(f, y)) <= 0.25 + 1e-6


def test_image_rule_names_each_failed_axis():
    floor = {"mae": 40.0, "swd": 0.5, "contrast": 0.3, "r": 0.2}
    assert image_rule({"mae": 45.0, "swd": 0.4, "contrast": 1.0, "r": 0.35}, floor) == []
    why = image_rule({"mae": 47.0, "swd": 0.5, "contrast": 1.4, "r": 0.1}, floor)
    assert [w.split()[0] for w in why] == ["SWD", "MAE", "contrast", "r"]
    assert image_rule({"mae": 45.0, "swd": 0.4, "contrast": 1.0, "r": 0.1}, floor, need_r=False) == []


@needs_shared
def test_a_tiny_run_writes_curves_and_generators(tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks" / "thermal_gan.py"), "--data", str(SHARED),
           "--out", str(tmp_path), "--device", "cpu", "--epochs", "1", "--steps-per-epoch", "1",
           "--evals", "1", "--lambdas", "10", "--holds", "msrs", "--sources", "m3svd,msrs"]
    subprocess.run(cmd, check=True, timeout=HANG_S, capture_output=True)
    rec = json.loads((tmp_path / "curves.json").read_text())
    (run,) = rec["runs"]
    assert run["hold"] == "msrs" and run["train_sources"] == ["m3svd"] and rec["epochs"] == 1
    held = run["curve"][-1]["held_out"]
    assert {"mae_dn", "swd", "contrast", "r"} <= set(held) and held["mae_dn"] > 0
    from safetensors.torch import load_file
    keys = load_file(str(tmp_path / "generators_0.safetensors"))
    assert any(k.startswith("10.0/msrs/") for k in keys)
    # --levels: the finished generator rebuilt from its safetensors scores what the run scored
    subprocess.run([*cmd[:6], "--levels"], check=True, timeout=HANG_S, capture_output=True)
    lv = json.loads((tmp_path / "levels.json").read_text())["runs"]["10.0/msrs"]
    assert lv["mae_dn"] == pytest.approx(held["mae_dn"], rel=1e-2)  # float16 weights
    assert lv["r"] == pytest.approx(held["r"], abs=1e-2)
    assert 0 <= lv["mean_dn"] <= 255 and lv["real_mean_dn"] > 0


class _Fixed(torch.nn.Module):
    """A 'network' that outputs a given frame whatever the input."""

    def __init__(self, frame: torch.Tensor):
        super().__init__()
        self.frame = frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame[None].expand(x.shape[0], -1, -1, -1)


def test_level_scores_against_hand_computed_frames():
    """A prediction that is the real frame darkened by 40 DN: 40 DN of error as written, none
    with its level set to the real frame's; with a halved contrast, gain set too removes it."""
    tg = _module()
    y = torch.linspace(0.2, 0.6, 64 * 64).reshape(1, 64, 64)
    x = torch.rand(3, 64, 64)
    s = tg.level_scores(_Fixed(y - 40 / 255), [(x, y)])
    assert s["mae_dn"] == pytest.approx(40, abs=0.51) and s["mae_level_dn"] == pytest.approx(0, abs=0.51)
    assert s["mean_dn"] == pytest.approx(s["real_mean_dn"] - 40, abs=0.51) and s["r"] == pytest.approx(1, abs=1e-3)
    s = tg.level_scores(_Fixed((y - y.mean()) / 2 + y.mean()), [(x, y)])  # half the contrast
    assert s["mae_level_dn"] > 10 and s["mae_level_gain_dn"] == pytest.approx(0, abs=0.51)
    s = tg.level_scores(tg.Flat(), [(x, y)])  # level set: the real frame's own mean everywhere
    own = float((y - y.mean()).abs().mean()) * 255
    assert s["mean_dn"] == 128 and s["mae_level_dn"] == pytest.approx(own, abs=0.51) and s["r"] != s["r"]


@needs_shared
def test_a_run_stopped_and_resumed_trains_bit_for_bit_as_one_run(tmp_path):
    """Two epochs in one go, and one epoch, stopped (the deadline), then --resume for the second:
    the same generator, the same curve. The state saved every epoch holds all the next step
    depends on (weights, Adam's moments, the crop sampler's random state)."""
    base = [sys.executable, str(REPO / "benchmarks" / "thermal_gan.py"), "--data", str(SHARED),
            "--device", "cpu", "--steps-per-epoch", "2", "--evals", "2", "--lambdas", "10",
            "--holds", "msrs", "--sources", "m3svd,msrs", "--crop", "64", "--depth", "6",
            "--ngf", "4", "--ndf", "8"]
    run = lambda *a: subprocess.run([*base, *a], check=True, timeout=HANG_S, capture_output=True, text=True)
    run("--out", str(tmp_path / "one"), "--epochs", "2")
    # a deadline already past: the run stops after its first epoch, its state saved
    run("--out", str(tmp_path / "two"), "--epochs", "2", "--deadline-s", "0.001")
    first = json.loads((tmp_path / "two" / "curves.json").read_text())["runs"][0]
    assert first["stopped_at"] == 1 and [r["epoch"] for r in first["curve"]] == [1]
    run("--out", str(tmp_path / "two"), "--progress")  # the curve so far, from the saved state
    (now,) = json.loads((tmp_path / "two" / "progress.json").read_text())["runs"]
    assert now["run"] == "10.0_msrs" and now["epoch"] == 1 and now["curve"] == first["curve"]
    again = subprocess.run([*base, "--out", str(tmp_path / "two"), "--epochs", "2"], capture_output=True,
                           text=True, timeout=HANG_S)
    assert again.returncode != 0 and "--resume continues it" in again.stderr  # never overwritten
    run("--out", str(tmp_path / "two"), "--resume")
    from safetensors.torch import load_file
    one, two = (load_file(str(tmp_path / d / "generators_0.safetensors")) for d in ("one", "two"))
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    rec = [json.loads((tmp_path / d / "curves.json").read_text()) for d in ("one", "two")]
    (a,), (b,) = (r["runs"] for r in rec)
    strip = lambda c: [{k: v for k, v in row.items() if k != "seconds"} for row in c]
    assert strip(a["curve"])[-1] == strip(b["curve"])[-1] and b["stopped_at"] is None
    assert len(rec[1]["commands"]) == 2 and rec[1]["commands"][1].endswith("--resume")
