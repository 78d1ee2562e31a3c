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
