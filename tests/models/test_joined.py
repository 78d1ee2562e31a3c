"""``models/joined.Joined`` and ``place/bundle.save_joined`` (issue 96: the fit and the Sentinel-2 network in one
engine pass): each part reads its own prefix of the input, the outputs side by side; saved as one bundle,
loaded back without unpickling, and exported to one ONNX graph that onnxruntime runs to the same values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bandbridge.generators import build_generator
from bandbridge.inference.place.bundle import Part, save_joined
from bandbridge.models.joined import Joined


def _parts() -> list[Part]:
    torch.manual_seed(0)
    a = build_generator("s2-residual", 20, 8, {"nf": 8, "n_blocks": 1})  # reads all 22 channels' first 20
    b = build_generator("fill-base", 6, 2, {"bands": 2, "half": 0.5})
    with torch.no_grad():
        for m in (a, b):
            for p in m.parameters():
                p.normal_(0, 0.1)
    io = lambda n, t: ({"bands": list(range(n)), "scaling": "minmax", "vmin": 0.0, "vmax": 4.0},  # noqa: E731
                       {"bands": t, "scaling": "minmax", "vmin": 0.0, "vmax": 1.0})
    return [Part(a.eval(), "one", *io(20, [f"b{i}" for i in range(8)]), {"name": "s2-residual",
                                                                         "args": {"nf": 8, "n_blocks": 1}}, ("one", {})),
            Part(b.eval(), "two", *io(6, ["c0", "c1"]), {"name": "fill-base", "args": {"bands": 2, "half": 0.5}},
                 ("two", {}))]


def test_each_part_reads_its_prefix_and_the_outputs_stand_side_by_side():
    parts = _parts()
    j = Joined([p.module for p in parts], [20, 6]).eval()
    x = torch.rand(1, 20, 16, 16)
    with torch.no_grad():
        y = j(x)
        assert y.shape == (1, 10, 16, 16)
        assert torch.equal(y[:, :8], parts[0].module(x)) and torch.equal(y[:, 8:], parts[1].module(x[:, :6]))
    with pytest.raises(ValueError, match="one input count a part"):
        Joined([parts[0].module], [20, 6])


def test_saved_joined_loads_without_unpickling_and_exports_to_one_graph(tmp_path, run_cli):
    from bandbridge.bundle import load_bundle
    ort = pytest.importorskip("onnxruntime")
    parts = _parts()
    spec = save_joined(tmp_path / "both", parts)
    assert spec.target_names == [f"b{i} (one)" for i in range(8)] + ["c0 (two)", "c1 (two)"]
    g = load_bundle(tmp_path / "both").generator.eval()
    x = torch.rand(1, 20, 24, 24)
    with torch.no_grad():
        want = torch.cat([parts[0].module(x), parts[1].module(x[:, :6])], 1).numpy()
        assert np.allclose(g(x).numpy(), want, atol=1e-6)
    code, _, err = run_cli("export", "-m", str(tmp_path / "both"), "-o", str(tmp_path / "x"))
    assert code == 0, err
    s = ort.InferenceSession(str(tmp_path / "x" / "model.onnx"), providers=["CPUExecutionProvider"])
    got = s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4
