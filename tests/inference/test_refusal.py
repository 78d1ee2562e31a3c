"""A precision a model's kind cannot take is refused in one line naming the kind (never
"damaged weights"), and `bench` records such a row as refused and goes on."""

import numpy as np
import pytest

from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.cache import record_path
from bandbridge.inference.runtime.gate import load_check_sample, verify
from bandbridge.spec import read_spec, zoo_models


class Shifted:
    """A backend whose output moves the check sample's MAE by far more than a precision may."""

    def __init__(self, name: str, precision: str):
        self.name, self.precision = name, precision

    def __call__(self, x, context=None):
        s = load_check_sample(self.folder)
        return (np.clip(s.y + 0.3, 0, 1))[None]


@pytest.mark.parametrize("model, kind", [("rgb2nir-photo", "ridge and unet parts"), ("rgb2nir-s2", "linear learner")])
def test_a_reduced_precision_that_moves_the_metric_is_a_refusal(model, kind):
    spec = read_spec(zoo_models()[model])
    be = Shifted("torch", "bf16")
    be.folder = spec.folder
    with pytest.raises(BandbridgeError) as e:
        verify(spec, be)
    msg = str(e.value)
    assert "\n" not in msg and "damaged" not in msg
    assert f"its {kind} cannot take bf16" in msg and msg.endswith("use --precision fp32")
    assert not record_path("verified", spec.folder, None, "torch", "bf16").exists()


def test_fp32_that_moves_the_metric_is_still_damage(monkeypatch, tmp_path):
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path))  # no verification another test recorded
    spec = read_spec(zoo_models()["rgb2nir-photo"])
    be = Shifted("torch", "fp32")
    be.folder = spec.folder
    with pytest.raises(BandbridgeError, match="damaged or altered"):
        verify(spec, be)


def test_bench_records_a_refused_row_and_goes_on(monkeypatch):
    from bandbridge import bench_row

    def refuse(row):
        raise BandbridgeError("rgb2nir-naip: torch bf16 moves its check sample's mae: its gbm learner "
                              "cannot take bf16; use --precision fp32")
    monkeypatch.setattr(bench_row, "run_row", refuse)
    got = bench_row.refused_or_run({"kind": "forward", "backend": "torch", "precision": "bf16"})
    assert got["status"] == "refused" and "cannot take bf16" in got["why"]
    from bandbridge.bench_report import format_rows
    table = format_rows([got | {"name": "raw forward 512×512, torch bf16", "kind": "forward"}])
    assert "| raw forward 512×512, torch bf16 | bf16 | refused: rgb2nir-naip" in table
