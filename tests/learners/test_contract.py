"""Every registered learner kind keeps one contract (learners/base.py), like scikit-learn's
``check_estimator``: fitted on real pixels, its ``predict`` equals its torch ``module()`` on a
whole image, which equals its ``onnx()`` graph in onnxruntime; it round-trips through a bundle
bit for bit; and a backend or precision its ``runs_on`` excludes is refused in one line. A kind
that lacks part of the contract cannot be registered."""

import numpy as np
import pytest
import rasterio
import torch

from conftest import SAMPLE

from bandbridge.learners.base import TARGETS, Learner
from bandbridge.learners.folds import gather, image_features
from bandbridge.learners.registry import KINDS, register

DATE = sorted((SAMPLE / "nir_naip_opengeos").glob("*.tif"))[-1]
# predict (numpy, float64 for linear kinds, on the direct box filters the core fits on) against the
# module (float32, nested sums: a local deviation near zero is the square root of their rounding)
MODULE_TOL = 3e-5
GRAPH_TOL = 1e-4  # the ONNX graph against torch, on all but a kind's graph_flips share of pixels


def configured(kind: str) -> Learner:
    """One configuration of ``kind`` to hold to the contract: its last candidate (the richest),
    a blend of a tree and a linear kind, an MLP trained briefly, a student of trees."""
    cls = KINDS[kind]
    if kind == "blend":
        return cls([KINDS["gbm"](context=True), KINDS["linear"]()])
    if kind == "mlp":
        return cls(steps=150)
    if kind == "student":
        return cls(KINDS["gbm"](context=True), steps=150)
    return (cls.candidates() or [cls()])[-1]


@pytest.fixture(scope="module")
def image():
    with rasterio.open(DATE) as src:
        a = torch.from_numpy(src.read(window=((0, 96), (0, 128))).astype(np.float32) / 255)
    x, y = a[:3], a[3:]
    px, _ = gather([(x, y, torch.ones(x.shape[1:], dtype=torch.bool))], ["one"], max_pixels=6000)
    return x, px


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_predict_module_and_onnx_agree(kind, image):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'bandbridge[onnx]')")
    from bandbridge.learners.registry import graph_flips
    x, px = image
    fitted = configured(kind).fit(px.X, px.Y, px.bands)
    F = image_features(x).numpy()
    want = fitted.predict(F.reshape(F.shape[0], -1).T, 3).T.reshape(1, 1, *x.shape[1:])
    m = fitted.module(3, 1)
    with torch.inference_mode():
        got = m(x[None]).numpy()
    assert np.abs(got - want).max() < MODULE_TOL
    assert got.min() >= 0.0 and got.max() <= 1.0
    graph = fitted.onnx(3, 1)
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_out = sess.run(["output"], {"input": x[None].numpy()})[0]
    flips = graph_flips(m)
    assert (np.abs(onnx_out - got) > GRAPH_TOL).mean() <= flips
    assert flips == max(KINDS[k].graph_flips for k in _kinds_in(m))


def _kinds_in(m) -> set[str]:
    return {s.kind for s in m.modules() if getattr(s, "kind", None) in KINDS}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_round_trip_through_a_bundle_and_runs_on(kind, image, tmp_path, run_cli):
    from conftest import learner_bundle
    from bandbridge.bundle import load_bundle
    from bandbridge.learners.registry import runs_on
    from bandbridge.spec import read_spec
    x, px = image
    fitted = configured(kind).fit(px.X, px.Y, px.bands)
    folder = learner_bundle(tmp_path / kind, fitted)
    loaded = load_bundle(folder).generator
    with torch.inference_mode():
        assert torch.equal(loaded(x[None]), fitted.module(3, 1)(x[None]))
    spec = read_spec(folder)
    g = spec.config.model.generator
    assert spec.runs_on == runs_on(g.name, g.args)  # recorded in model.yaml as the registry says
    limited = {k for k in _kinds_in(loaded) if KINDS[k].runs_on != TARGETS}
    assert set(spec.runs_on) == limited
    for backend in ("torch", "onnx", "openvino"):
        for precision in ("fp32", "bf16", "int8"):
            why = spec.refusal(backend, precision)
            allowed = all({backend, precision} <= KINDS[k].runs_on for k in _kinds_in(loaded))
            assert (why is None) == allowed, (backend, precision, why)
    refused = [(b, p) for b in ("openvino", "torch") for p in ("fp32", "bf16") if spec.refusal(b, p)]
    if refused:  # one line naming the kind, exit 2, nothing written
        b, p = refused[0]
        out = tmp_path / "refused.tif"
        code, _, err = run_cli("predict", str(DATE), "-m", str(folder), "-o", str(out),
                               "--backend", b, "--precision", p)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"holds a {sorted(limited)[0]} learner" in err and not out.exists()


def test_a_kind_without_the_contract_cannot_be_registered():
    class Half(Learner):
        kind = "half"

        def fit(self, X, Y, bands):
            return self

    with pytest.raises(TypeError, match="defines no module_class, predict, load"):
        register(Half)
    with pytest.raises(TypeError, match="registered twice"):
        register(KINDS["linear"])

    class Nowhere(KINDS["linear"]):
        kind = "nowhere"
        runs_on = frozenset({"openvino", "int8"})

    with pytest.raises(TypeError, match="runs_on must be a subset"):
        register(Nowhere)
    assert "half" not in KINDS and "nowhere" not in KINDS


def test_clone_is_unfitted_and_keeps_the_configuration(image):
    _, px = image
    for kind in KINDS:
        a = configured(kind)
        b = a.clone().fit(px.X, px.Y, px.bands)
        assert a.name == b.name and b is not a
        config = lambda m: {k: v for k, v in vars(m).items() if not k.endswith("_") and k != "parts"}  # noqa: E731
        assert config(a) == config(b)
        assert [p.name for p in getattr(a, "parts", [])] == [p.name for p in getattr(b, "parts", [])]
        assert not [k for k in vars(a) if k.endswith("_")]  # the configured instance stays unfitted
        assert all(not [k for k in vars(p) if k.endswith("_")] for p in getattr(a, "parts", []))


@pytest.mark.parametrize("args, says", [
    ({"kind": "mlp", "windows": [5], "products": True, "hidden": 100000}, "mlp learner: hidden"),
    ({"kind": "gbm", "windows": [], "products": False, "gbm_bytes": [10 ** 12]}, "gbm learner: gbm_bytes"),
    ({"kind": "gbm", "windows": [], "products": False, "gbm_bytes": []}, "gbm learner: gbm_bytes"),
    ({"kind": "ridge", "windows": [4], "products": True}, "odd"),
    ({"kind": "ridge", "windows": [9999], "products": True}, "ridge learner: windows"),
    ({"kind": "linear", "windows": [], "products": False, "head": 3}, "linear learner: head"),
    ({"kind": "trees", "windows": []}, "learner kind must be one of")])
def test_typed_args_refuse_what_no_kind_saves(args, says):
    """A learner's ``model.yaml`` arguments are checked by its kind's ``args_type`` before any
    module (or buffer) is built: sizes past what the project writes are one line, no allocation."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.generators import build_generator
    with pytest.raises(BandbridgeError, match=says):
        build_generator("learner", 3, 1, args)
