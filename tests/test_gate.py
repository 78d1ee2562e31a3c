"""The precision gate, the backends and ``--backend auto``: real check samples of the bundled
models, perturbed candidates, missing backends and the per-machine cache."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from bandbridge.errors import BandbridgeError
from bandbridge.inference import select
from bandbridge.inference.backends import build_backend
from bandbridge.inference.gate import CHECK_FILE, judge, load_check_sample, quant_step
from bandbridge.inference.spec import read_spec, resolve_model_folder, zoo_models

from conftest import SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20120731.tif"
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


def _fast_probe(monkeypatch):
    """Speeds by name (the timing itself is the bench's business): keeps these tests quick."""
    monkeypatch.setattr(select, "_speed", lambda be, x: {"torch": 1.0, "onnx": 2.0, "openvino": 3.0}[be.name])


def _spec(name="rgb2nir-naip"):
    return read_spec(resolve_model_folder(name))


def test_every_bundled_model_carries_a_small_real_check_sample():
    for name, folder in zoo_models().items():
        f = folder / CHECK_FILE
        assert f.exists() and f.stat().st_size < 400_000, name  # a few hundred KB at most
        s = load_check_sample(folder)
        spec = read_spec(folder)
        assert s.x.shape[:2] == (1, spec.in_channels) and s.y.shape[0] == spec.out_channels
        assert s.y.shape[1:] == (s.x.shape[2] * spec.scale, s.x.shape[3] * spec.scale) == s.mask.shape
        assert s.mask.mean() > 0.5 and 0 < s.x.std() and s.meta["split"] == "val"
        assert (s.context is not None) == spec.uses_context
        # Its fp32 metrics reproduce here: the sample is what the bundle says it is.
        out = build_backend(spec, "torch", "fp32")(s.x, s.context)[0]
        from bandbridge.inference.gate import task_metrics
        got = task_metrics(out, s, spec.input_names, spec.target_names)
        assert got.keys() == s.meta["fp32"].keys()
        for k, v in got.items():
            assert v == pytest.approx(s.meta["fp32"][k], rel=1e-3), (name, k)


def test_quantisation_steps():
    assert quant_step(_spec().target) == pytest.approx(1 / 255)
    assert quant_step(_spec("rgb2nir-s2").target) == pytest.approx(1e-4)


def test_gate_accepts_what_keeps_the_metric_and_refuses_what_does_not():
    spec = _spec()
    s = load_check_sample(spec.folder)
    ref = build_backend(spec, "torch", "fp32")(s.x, s.context)[0]
    rng = np.random.default_rng(0)
    # Noise far below half a DN on average, a few pixels moved by 5 DN: the answer is unchanged.
    near = ref + rng.normal(0, 2e-4, ref.shape).astype(np.float32)
    near.reshape(-1)[:20] += 5 / 255
    v = judge(ref, near, s, spec)
    assert v.ok and "within" in v.why and v.mean_abs_diff < 0.5 / 255
    # A shift of one DN: every metric may hold, but the stored map changes.
    v = judge(ref, ref + 1 / 255, s, spec)
    assert not v.ok and "mean |Δ|" in v.why
    # A NIR 10 % too bright: MAE and NDVI MAE both move by more than 1 %.
    v = judge(ref, ref * 1.1, s, spec)
    assert not v.ok and "mae" in v.why and "ndvi_mae" in v.why and "≥ 1%" in v.why


@pytest.mark.parametrize("backend", ["onnx", pytest.param("openvino", marks=pytest.mark.skipif(
    not HAS_OPENVINO, reason="openvino not installed (pip install 'bandbridge[openvino]')"))])
@pytest.mark.parametrize("model", ["rgb2nir-naip", "rgb2nir-s2", "sr-x4"])
def test_every_backend_matches_fp32_within_the_gate_on_a_real_tile(backend, model):
    spec = _spec(model)
    s = load_check_sample(spec.folder)
    ref = build_backend(spec, "torch", "fp32")(s.x, s.context)[0]
    out = build_backend(spec, backend, "fp32")(s.x, s.context)[0]
    v = judge(ref, out, s, spec)
    assert v.ok, v.why
    assert np.abs(out - ref).max() < 1e-3  # fp32 everywhere: the same numbers up to rounding


class _Fake:
    """A 'backend' that is the reference, perturbed, and pretends to be fast."""

    def __init__(self, inner, shift: float, name: str):
        self.inner, self.shift, self.name, self.precision = inner, shift, name, "fp32"

    def __call__(self, x, context=None):
        return self.inner(x, context) + self.shift


def _with_fake(monkeypatch, tmp_path, shift: float):
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path))  # its choice must not outlive the test
    real = select.build_backend
    monkeypatch.setattr(select, "candidates", lambda spec, b="auto", p="auto": [("torch", "fp32"), ("fake", "fp32")])
    monkeypatch.setattr(select, "build_backend", lambda spec, b, p, t=None, c=False:
                        _Fake(real(spec, "torch", "fp32", t), shift, "fake") if b == "fake" else real(spec, b, p, t, c))
    speeds = iter([1.0, 100.0])  # the fake is 'faster'
    monkeypatch.setattr(select, "_speed", lambda be, x: next(speeds))


def test_auto_refuses_a_faster_backend_that_changes_the_answer(monkeypatch, tmp_path):
    _with_fake(monkeypatch, tmp_path, 0.01)  # 2.6 DN everywhere: beyond the threshold
    be = select.choose(_spec(), measure=True)
    assert be.name == "torch" and be.precision == "fp32"
    fake = be.record["candidates"][1]
    assert fake["status"] == "refused" and "mean |Δ|" in fake["why"]
    assert "fake fp32 100.00 (refused)" in be.choice


def test_auto_takes_a_faster_backend_that_keeps_the_answer(monkeypatch, tmp_path):
    _with_fake(monkeypatch, tmp_path, 1e-4)
    be = select.choose(_spec(), measure=True)
    assert be.name == "fake" or isinstance(be, _Fake)
    assert be.record["backend"] == "fake" and be.record["candidates"][1]["status"] == "accepted"


def test_auto_falls_back_cleanly_when_backends_are_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "openvino", None)
    _fast_probe(monkeypatch)
    spec = _spec()
    rec = select.probe(spec, select.candidates(spec))
    by = {r["backend"]: r for r in rec["candidates"]}
    assert rec["backend"] == "torch" and by["torch"]["status"] == "accepted"
    assert by["onnx"]["status"] == "unavailable" and "pip install 'bandbridge[onnx]'" in by["onnx"]["why"]
    assert by["openvino"]["status"] == "unavailable" and "bandbridge[openvino]" in by["openvino"]["why"]
    with pytest.raises(BandbridgeError, match=r"pip install 'bandbridge\[openvino\]'"):
        build_backend(spec, "openvino", "fp32")


def test_the_choice_is_measured_once_per_model_and_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path))
    _fast_probe(monkeypatch)
    calls = []
    real = select.probe
    monkeypatch.setattr(select, "probe", lambda *a, **k: calls.append(1) or real(*a, **k))
    spec = _spec("sr-x2")
    first = select.choose(spec, measure=True)
    assert calls == [1] and "measured now" in first.choice
    again = select.choose(spec, measure=True)
    assert calls == [1] and "cached" in again.choice and again.name == first.name
    monkeypatch.setattr(select, "machine_key", lambda threads: "another-machine")
    select.choose(spec, measure=True)
    assert calls == [1, 1]  # another machine (or library version) measures again
    # A small job never measures: it takes the cached choice, else the reference.
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path / "empty"))
    small = select.choose(spec, measure=False)
    assert calls == [1, 1] and (small.name, small.precision) == ("torch", "fp32")
    assert "small job" in small.choice


def test_predict_cli_measures_on_large_jobs_and_says_what_it_chose(run_cli, tmp_path, monkeypatch):
    from bandbridge.inference import job
    monkeypatch.setattr(job, "PROBE_MPIX", 0.0)
    _fast_probe(monkeypatch)
    code, out, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "n.tif"))
    assert code == 0, err
    assert "backend: " in out and "fastest passing the precision gate" in out
    code, out, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "m.tif"),
                             "--backend", "torch", "--precision", "fp32")
    assert code == 0 and "torch fp32 as asked" in out


def test_a_named_backend_that_is_not_installed_is_one_line_and_writes_nothing(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(out / "n.tif"),
                           "--backend", "openvino", "--precision", "fp32")
    assert code == 2 and "pip install 'bandbridge[openvino]'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(out.iterdir()) == []


def test_a_named_precision_is_used_even_where_the_gate_would_refuse_it(monkeypatch):
    real = select.build_backend
    monkeypatch.setattr(select, "build_backend", lambda spec, b, p, t=None, c=False:
                        _Fake(real(spec, "torch", "fp32", t), 0.01, "fake") if b == "fake" else real(spec, b, p, t, c))
    monkeypatch.setattr(select, "_speed", lambda be, x: 1.0)
    spec, cands = _spec(), [("torch", "fp32"), ("fake", "bf16")]
    assert select.probe(spec, cands)["candidates"][1]["status"] == "refused"
    forced = select.probe(spec, cands, forced=True)["candidates"][1]
    assert forced["status"] == "accepted" and "--precision forces it" in forced["why"]
    assert "mean |Δ|" in forced["why"]  # the verdict is still recorded


def test_torch_bf16_runs_and_the_gate_judges_it_on_a_real_tile():
    # Emulated here without AMX (slow but exact to bf16): the verdict, not the speed, is tested.
    spec = _spec()
    s = load_check_sample(spec.folder)
    ref = build_backend(spec, "torch", "fp32")(s.x, s.context)[0]
    out = build_backend(spec, "torch", "bf16")(s.x, s.context)[0]
    v = judge(ref, out, s, spec)
    assert 0 < v.mean_abs_diff < 0.02 and v.ok == (v.mean_abs_diff < 0.5 / 255 and "≥ 1%" not in v.why)
