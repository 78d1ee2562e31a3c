"""Bundles saved by version 0.1.0 (tests/data/bundles-0.1.0: every learner kind and every anchor
form, the anchor then held inside the network as ``spectral``) load into today's composition and
predict what 0.1.0 predicted; every bundled model loads as the composition it now is."""

from pathlib import Path

import numpy as np
import pytest
import torch

from bandbridge.bundle import load_bundle
from bandbridge.learners.blend import BlendModule
from bandbridge.learners.base import LearnerModule
from bandbridge.models.anchored import Anchored
from bandbridge.models.unet import UNet

OLD = Path(__file__).resolve().parent.parent / "data" / "bundles-0.1.0"
FOLDERS = sorted(p.name for p in OLD.iterdir() if p.is_dir())
KINDS = {"learner_blend": BlendModule, "unet_none": UNet}
# 0.1.0 computed the context windows by direct box filters, today's by nested sums
# (models/features.py): the two round differently (~1e-7 in a mean, more in the square root of
# a variance near zero)
FEATURE_TOL = 1e-5


@pytest.mark.parametrize("name", FOLDERS)
def test_a_bundle_saved_by_0_1_0_predicts_as_it_did(name):
    """Within float32 rounding of the context features' sums (``FEATURE_TOL``): bit for bit
    without context windows on the CPU that made the fixtures."""
    b = load_bundle(OLD / name)
    g = b.generator
    want = KINDS.get(name, Anchored if name.startswith("unet") else LearnerModule)
    assert isinstance(g, want)
    if isinstance(g, Anchored):
        assert isinstance(g.network, UNet) and not hasattr(g.network, "spectral")
        assert g.clamp_learner == (name in ("unet_gbm", "unet_blend"))  # the core's, clamped
    x = torch.from_numpy(np.load(OLD / "input.npy"))
    ctx = torch.from_numpy(np.load(OLD / "context.npy"))
    with torch.inference_mode():
        y = g(x).numpy()
        y2 = g(x * 1.6, ctx).numpy() if name.startswith("unet") else y
    got, expected = np.stack([y, y2]), np.load(OLD / name / "expected.npy")
    exact = np.array_equal(got, expected)
    print(f"{name}: {'bit-identical' if exact else f'max |Δ| {np.abs(got - expected).max():.2e}'}")
    np.testing.assert_allclose(got, expected, rtol=0, atol=FEATURE_TOL)


def test_networks_know_no_anchor():
    from bandbridge.models.resnet import ResNetGenerator
    for cls in (UNet, ResNetGenerator):
        net = cls(3, 1, ngf=4) if cls is ResNetGenerator else cls(3, 1, ngf=4, depth=3)
        assert not {"spectral", "guard", "clamp_output", "anchor_features"} & set(vars(net))
        assert not {"spectral", "guard"} & {k.split(".")[0] for k in net.state_dict()}
        with pytest.raises(TypeError):
            cls(3, 1, anchor=True)


def test_a_0_1_0_checkpoint_fine_tunes_into_the_composition(tmp_path):
    """``--init-from`` a 0.1.0 bundle whose anchor sat inside the network: its residual's
    weights reach ``network.*``; the anchor is the run's own (refitted, not carried)."""
    from bandbridge.models.anchored import legacy_keys
    from safetensors.torch import load_file
    old = load_file(OLD / "unet_linear" / "generator.safetensors")
    assert "spectral.weight" in old and "down.0.0.weight" in old
    state = {f"G.{k}": v for k, v in old.items()}
    legacy_keys(state, "G.")
    assert "G.learner.head.weight" in state and "G.network.down.0.0.weight" in state
    assert not [k for k in state if k.startswith("G.spectral") or k.startswith("G.down")]


@pytest.mark.parametrize("old, new", [
    (True, {"kind": "linear", "clamp": False}),
    ({"windows": [5, 15], "products": True}, {"kind": "ridge", "windows": [5, 15], "products": True, "clamp": False}),
    ("learner", "select"),
    ({"learner": {"kind": "gbm", "windows": [], "products": False, "gbm_bytes": [9]}},
     {"kind": "gbm", "windows": [], "products": False, "gbm_bytes": [9]}),
    ({"blend": [{"kind": "linear"}, {"kind": "mlp"}]}, {"blend": [{"kind": "linear"}, {"kind": "mlp"}]}),
    (False, None)])
def test_0_1_0_anchor_forms_are_read_beside_the_network(old, new):
    """``model.generator.args.anchor`` / ``args.guard`` (configs, presets and bundles of 0.1.0,
    ``--set`` overrides) become ``model.generator.learner`` / ``guard``; the network's args keep
    only its own."""
    from bandbridge.config import GeneratorConfig
    guard = {"low": [0.1] * 6, "high": [0.2] * 6}
    g = GeneratorConfig.model_validate({"name": "unet", "args": {"ngf": 4, "anchor": old, "guard": guard}})
    assert g.learner == new and g.guard == guard and g.args == {"ngf": 4}
    # an override in 0.1.0's key wins over a preset in today's
    g2 = GeneratorConfig.model_validate({"name": "unet", "args": {"anchor": old}, "learner": "select"})
    assert g2.learner == new
    dumped = g.model_dump(mode="json")
    assert "anchor" not in dumped["args"] and dumped["learner"] == new


def test_every_bundled_model_scores_its_check_sample_as_recorded():
    """Each zoo bundle (saved by 0.1.0: the networks' anchors inside them, no runs_on) loads as
    the composition it now is and computes on its check sample, with torch at fp32, the task
    metrics recorded when it was bundled — to 1e-5 relative (the nested sums round otherwise than the direct filters the bundles were
    measured with), where the gate allows 2 %."""
    from bandbridge.inference.runtime.backends import build_backend
    from bandbridge.inference.runtime.gate import load_check_sample, task_metrics
    from bandbridge.spec import ZOO_ALIASES, read_spec, zoo_models
    for name, folder in zoo_models().items():
        if name in ZOO_ALIASES:
            continue
        spec, s = read_spec(folder), load_check_sample(folder)
        out = build_backend(spec, "torch", "fp32")(s.x, s.context)[0]
        got = task_metrics(out, s, spec.input_names, spec.target_names)
        for k, v in s.meta["fp32"].items():
            assert got[k] == pytest.approx(v, rel=FEATURE_TOL), (name, k, got[k], v)
