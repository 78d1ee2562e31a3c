"""The per-image fallback to the zero-shot floor (models/fallback.py): images unlike every
training source get the floor, images like them the model unchanged, and the bundle's weights
file does not change when a floor is added."""

import numpy as np
import pytest
import torch

from bandbridge.generators import build_generator
from bandbridge.radiometry import GUARD_DEFAULTS, guard_note, guard_weight

GUARD = {"low": [0.1] * 3 + [0.6] * 3, "high": [0.2] * 3 + [0.9] * 3, **GUARD_DEFAULTS}
FLOOR = {"kind": "lad", "linear": [[0.5], [0.25], [-0.25], [0.1]], "sources": ["a", "b"]}
NET = {"ngf": 8, "depth": 4, "norm": "none", "dropout": False, "input_norm": "robust"}
INSIDE = [0.15] * 3 + [0.8] * 3
FAR = [0.15] * 3 + [0.8, 0.8, 0.1]  # blue's 99th percentile far below training's (a night image)
EDGE = [0.15] * 3 + [0.8, 0.8, 0.6 - 0.3 * 0.625]  # half way to the guard's end


def ctx(s: list[float]) -> torch.Tensor:
    return torch.tensor([[float("nan")] * 3 + [-1.0] + s])


def _pair(learner=True):
    """The same anchored U-Net (a residual that is not zero) without and with the fallback."""
    torch.manual_seed(0)
    kw = {"learner": "linear"} if learner else {}
    plain = build_generator("unet", 3, 1, NET, **kw)
    if learner:
        for p in plain.network.residual_tail().parameters():
            torch.nn.init.normal_(p, std=0.05)
    floored = build_generator("unet", 3, 1, NET, guard=GUARD, floor=FLOOR, **kw)
    floored.load_state_dict(plain.state_dict())
    return plain.eval(), floored.eval()


def floor_map(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(FLOOR["linear"])
    return (torch.einsum("bchw,c->bhw", x, w[:3, 0]) + w[3, 0]).clamp(0, 1)[:, None]


@pytest.mark.parametrize("learner", [True, False], ids=["anchored", "network-alone"])
def test_the_floor_serves_images_unlike_training_and_the_model_the_others(learner):
    plain, floored = _pair(learner)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        y, y_edge_plain = plain(x, ctx(INSIDE)), plain(x, ctx(EDGE))  # (it normalises per image)
        y_in, y_far, y_edge = (floored(x, ctx(s)) for s in (INSIDE, FAR, EDGE))
    assert torch.equal(y_in, y)  # inside the range: the model, bit for bit
    assert torch.allclose(y_far, floor_map(x), atol=1e-6)  # far outside: the floor alone
    assert guard_weight(np.array(EDGE), GUARD) == pytest.approx(0.5)
    assert torch.allclose(y_edge, 0.5 * (y_edge_plain + floor_map(x)), atol=1e-6)  # half of each
    with torch.no_grad():  # training never falls back: every crop teaches the model
        assert torch.equal(floored.train()(x, ctx(FAR)), plain.train()(x, ctx(FAR)))


def test_a_learner_alone_falls_back_too_and_keeps_its_weight_names(tmp_path):
    """rgb2nir-naip's kind: a per-pixel learner with no network; its bundle's weights file is
    the same with and without the floor."""
    import shutil
    from bandbridge.bundle import WEIGHTS, load_bundle
    from bandbridge.spec import zoo_models
    from bandbridge.workflows.trust import write_floor
    d = tmp_path / "naip"
    shutil.copytree(zoo_models()["rgb2nir-naip"], d)
    before = (d / WEIGHTS).read_bytes()
    write_floor(d, None)  # the shipped bundle's own floor off: the learner alone
    plain = load_bundle(d).generator
    write_floor(d, FLOOR, GUARD)
    b = load_bundle(d)  # the generator hash follows the edit; the weights load under their own names
    assert (d / WEIGHTS).read_bytes() == before
    assert list(b.generator.state_dict()) == list(plain.state_dict())
    x = torch.rand(2, 3, 16, 16) * 0.1 + 0.12
    with torch.no_grad():
        assert torch.allclose(b.generator(x, torch.cat([ctx(INSIDE), ctx(FAR)])),
                              torch.cat([plain(x[:1]), floor_map(x[1:])]), atol=1e-6)
    write_floor(d, None)  # removed: the learner alone again
    assert type(load_bundle(d).generator) is type(plain)


def test_the_note_names_the_floor_it_falls_back_to():
    assert guard_note(np.array(INSIDE), GUARD, ["red", "green", "blue"], FLOOR) is None
    note = guard_note(np.array(FAR), GUARD, ["red", "green", "blue"], FLOOR)
    assert "blue 99th percentile 0.1" in note and "the output is the zero-shot floor, the lad " \
        "linear map chosen for sources the model never saw" in note
    assert "the output is 50% the zero-shot floor" in guard_note(np.array(EDGE), GUARD, ["r", "g", "b"], FLOOR)


def test_a_floor_of_the_wrong_shape_is_refused_in_one_line():
    from bandbridge.errors import BandbridgeError
    with pytest.raises(BandbridgeError, match=r"floor: linear needs 4 rows .* got shape \(3, 1\)"):
        build_generator("unet", 3, 1, NET, guard=GUARD, floor={"linear": [[1.0], [1.0], [1.0]]})


def test_an_image_is_unlike_the_training_data_only_when_unlike_every_source():
    """Per-source ranges (data/domain.source_ranges): an image inside one source's range keeps
    the model; one that mixes the two sources' ranges (red like A, blue like B) is like neither."""
    from bandbridge.models.anchor import DomainGuard
    a, b = [0.1] * 3 + [0.3] * 3, [0.5] * 3 + [0.9] * 3  # A dark, B bright (1st, 99th percentiles)
    guard = {"low": [a, b], "high": [[v + 0.05 for v in a], [v + 0.05 for v in b]],
             "sources": ["dark", "bright"], **GUARD_DEFAULTS}
    like_a, like_b = [v + 0.02 for v in a], [v + 0.02 for v in b]
    mixed = like_a[:3] + like_b[3:]  # dark shadows of A, bright highlights of B
    g = DomainGuard(**guard)
    w = g(torch.tensor([like_a, like_b, mixed]))
    assert w.tolist() == [1.0, 1.0, 0.0]
    assert [guard_weight(np.array(s), guard) for s in (like_a, like_b, mixed)] == [1.0, 1.0, 0.0]
    note = guard_note(np.array(mixed), guard, ["red", "green", "blue"], FLOOR)
    assert "training of its nearest source" in note and "the output is the zero-shot floor" in note


@pytest.mark.parametrize("name", ["learner_gbm", "unet_gbm"])
def test_a_fallback_around_trees_exports_as_one_graph(name, run_cli, tmp_path):
    """Trees build their own graph (no tracer); the fallback's graph is traced beside it and the
    export agrees with torch — the model on an image like training's, the floor on one unlike."""
    import shutil
    from pathlib import Path
    ort = pytest.importorskip("onnxruntime")
    from bandbridge.bundle import load_bundle
    from bandbridge.workflows.trust import write_floor
    src = Path(__file__).resolve().parents[1] / "data" / "bundles-0.1.0" / name
    d = tmp_path / name
    shutil.copytree(src, d)
    write_floor(d, FLOOR, GUARD)
    code, _, err = run_cli("export", "-m", str(d), "-o", str(tmp_path / "x"))
    assert code == 0, err
    g = load_bundle(d).generator
    s = ort.InferenceSession(str(tmp_path / "x" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == ["input", "context"]
    x = torch.rand(2, 3, 40, 48) * 0.1 + 0.12
    c = torch.cat([ctx(INSIDE), ctx(FAR)])
    with torch.no_grad():
        ref = g(x, c).numpy()
        inner = g.model(x).numpy()
    got = s.run(None, {"input": x.numpy(), "context": c.numpy()})[0]
    assert np.abs(got - ref).max() < 1e-4
    assert np.abs(got[0] - inner[0]).max() < 1e-4  # inside: the trees' output
    assert np.abs(got[1] - floor_map(x[1:])[0].numpy()).max() < 1e-5  # far outside: the floor


@pytest.mark.parametrize("case", ["link to another bundle", "another bundle's bands", "a file linked out",
                                  "another bundle's floor, same bands"])
def test_a_floor_that_is_not_the_bundles_own_is_refused(run_cli, tmp_path, case):
    """A floor/ that was a symlink to another bundle ran it, announced as the bundle's own linear
    map (issue 58): refused in one line, nothing written."""
    import shutil

    import rasterio

    from bandbridge.spec import zoo_models
    zoo = zoo_models()
    model = tmp_path / "m"
    shutil.copytree(zoo["rgb2nir-naip"], model)
    shutil.rmtree(model / "floor")
    if case == "link to another bundle":
        (model / "floor").symlink_to(zoo["rgb2nir-s2"], target_is_directory=True)
    elif case == "another bundle's bands":
        shutil.copytree(zoo["rgb2thermal"], model / "floor")
    elif case == "another bundle's floor, same bands":  # a real folder, RGB → NIR, whole and
        shutil.copytree(zoo["rgb2nir-photo"] / "floor", model / "floor")  # consistent: the hash tells
    else:
        shutil.copytree(zoo["rgb2nir-naip"] / "floor", model / "floor")
        w = model / "floor" / "generator.safetensors"
        w.unlink()
        w.symlink_to(zoo["rgb2nir-s2"] / "generator.safetensors")
    src = tmp_path / "u16.tif"  # 11-bit DN stored as uint16: another sensor, so the floor is asked
    rng = np.random.default_rng(0)
    with rasterio.open(src, "w", driver="GTiff", height=64, width=64, count=3, dtype="uint16") as o:
        o.write(rng.integers(100, 2000, (3, 64, 64)).astype(np.uint16))
    code, _, err = run_cli("predict", str(src), "-m", str(model), "-o", str(tmp_path / "o.tif"))
    assert code == 2 and "copy the bundle again" in err and "Traceback" not in err, err
    assert not (tmp_path / "o.tif").exists()


def test_the_two_fades_have_two_names_and_older_bundles_still_load(tmp_path):
    """Issue 59: `guard` fades a residual toward its learner; the floor's own `ranges` decide
    where the whole output falls back to the floor. A bundle that kept those ranges in `guard`
    beside `floor` (the shipped ones) loads with them moved, and writing a floor writes them
    inside it; `write_guard` writes `model.generator.guard`, not 0.1.0's `args.guard`."""
    import shutil

    import yaml

    from bandbridge.bundle import load_bundle
    from bandbridge.config import GeneratorConfig
    from bandbridge.spec import read_spec, zoo_models
    from bandbridge.workflows.trust import write_floor, write_guard
    old = GeneratorConfig(name="learner", args={"kind": "linear"}, guard=GUARD, floor=FLOOR)
    assert old.guard is None and old.floor["ranges"] == GUARD and old.fallback_ranges == GUARD
    d = tmp_path / "naip"
    shutil.copytree(zoo_models()["rgb2nir-naip"], d)
    raw = yaml.safe_load((d / "model.yaml").read_text())["config"]["model"]["generator"]
    assert raw["guard"] and "ranges" not in raw["floor"]  # the shipped bundle: the older form
    spec = read_spec(d)
    assert spec.floor["ranges"] == raw["guard"] and spec.fallback_ranges == raw["guard"]
    assert spec.residual_guard is None  # the network inside never had one
    before = load_bundle(d).generator
    write_floor(d, FLOOR, GUARD)
    raw = yaml.safe_load((d / "model.yaml").read_text())["config"]["model"]["generator"]
    assert raw["guard"] is None and raw["floor"]["ranges"] == GUARD
    assert type(load_bundle(d).generator) is type(before)
    write_guard(d, False)
    raw = yaml.safe_load((d / "model.yaml").read_text())["config"]["model"]
    assert raw["generator"]["guard"] is False and "guard" not in raw["generator"]["args"]
