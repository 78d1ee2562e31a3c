"""A model file is data, never a program (issue 47 point 5): 220 seeded mutants of a LightGBM
learner bundle — its tree text (header, splits, child links, numbers, bytes), its learner block in
``model.yaml`` and its sizes — each with ``weights_sha256`` re-hashed as the issue's trial did and
without a check sample, through ``predict``. Every run ends in exit 2 with one line, or exit 0
with the original's output bit for bit: never a crash, a traceback or another raster
(``generator_sha256`` covers the learner block, the sizes and the weights' hash). Then hostile
trees with every hash forged: the project's own parser (``learners/tree_text.py``) refuses each
before LightGBM's native parser, which once aborted on ``objective=multiclass`` and read out of
bounds on ``split_feature=9999``, sees it."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import rasterio
import torch
import yaml
from safetensors.torch import load_file, save_file

from bandbridge.bundle import stamp_weights_hash
from bandbridge.fileio import sha256_file
from conftest import SAMPLE, learner_bundle

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
N = 220
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A small boosted learner on NAIP context features, a 64² chip, and its output."""
    from bandbridge.learners.folds import gather
    from bandbridge.learners.gbm import GBM
    d = tmp_path_factory.mktemp("fuzz")
    with rasterio.open(NAIP) as src:
        win = rasterio.windows.Window(200, 200, 64, 64)
        data, prof = src.read(window=win), src.profile | {"width": 64, "height": 64,
                                                           "transform": src.window_transform(win)}
    chip = d / "chip.tif"
    with rasterio.open(chip, "w", **prof) as dst:
        dst.write(data)
    a = torch.from_numpy(data.astype(np.float32) / 255)
    px, _ = gather([(a[:3], a[3:], torch.ones(a.shape[1:], dtype=torch.bool))], ["one"], max_pixels=4096)
    bundle = learner_bundle(d / "gbm", GBM(context=True, n_estimators=12, num_leaves=7).fit(px.X, px.Y, 3))
    return chip, bundle


def _texts(folder):
    meta = yaml.safe_load((folder / "model.yaml").read_text())
    args = meta["config"]["model"]["generator"]["args"]
    raw = load_file(folder / "generator.safetensors")["trees"].numpy().tobytes()
    return meta, args, raw


def _write(folder, meta, raw: bytes | None) -> None:
    if raw is not None:
        state = load_file(folder / "generator.safetensors")
        state["trees"] = torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone() if raw else \
            torch.zeros(0, dtype=torch.uint8)
        save_file(state, str(folder / "generator.safetensors"))
    meta["weights_sha256"] = sha256_file(folder / "generator.safetensors")  # re-hashed, as the trial did
    (folder / "model.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


def _mutate_text(text: str, rng) -> str:
    """One edit of the LightGBM text model a hostile or damaged file might hold."""
    lines = text.split("\n")
    kind = rng.integers(0, 11)
    arrays = [i for i, ln in enumerate(lines) if re.match(r"(split_feature|left_child|right_child|threshold|"
                                                          r"leaf_value|decision_type|num_leaves)=", ln)]
    if kind == 0:  # a header value
        key, value = [("objective", "multiclass num_class:7"), ("num_class", "7"), ("max_feature_idx", "5"),
                      ("max_feature_idx", "9999"), ("num_tree_per_iteration", "3"), ("version", "v4\nevil=1"),
                      ("objective", "binary sigmoid:1"), ("tree_sizes", "1 2 3")][rng.integers(0, 8)]
        return re.sub(rf"^{key}=.*$", f"{key}={value}", text, count=1, flags=re.M)
    if kind in (1, 2, 3, 4, 5):  # a value inside a tree's arrays
        i = arrays[rng.integers(0, len(arrays))]
        key, _, vals = lines[i].partition("=")
        parts = vals.split(" ")
        j = int(rng.integers(0, len(parts)))
        parts[j] = str([9999, -3, 27, -9999, 0, 1, -1, 2 ** 31, "nan", "inf", "1e400", "x", ""][rng.integers(0, 13)])
        if kind == 5 and len(parts) > 1:
            parts.pop(j)  # one value too few
        lines[i] = f"{key}={' '.join(parts)}"
        return "\n".join(lines)
    if kind == 6:  # a line deleted
        del lines[int(rng.integers(0, len(lines)))]
        return "\n".join(lines)
    if kind == 7:  # a line repeated
        i = int(rng.integers(0, len(lines)))
        lines.insert(i, lines[i])
        return "\n".join(lines)
    if kind == 8:  # categorical or linear trees
        return text.replace("num_cat=0", "num_cat=1", 1) if rng.integers(0, 2) else text.replace("is_linear=0", "is_linear=1", 1)
    if kind == 9:  # trees renumbered or a tree cut short
        return text.replace("Tree=1\n", "Tree=0\n", 1) if rng.integers(0, 2) else text[: int(rng.integers(1, len(text)))]
    return text  # kind 10: the bytes themselves (below)


@pytest.mark.parametrize("i", range(N))
def test_a_mutated_learner_bundle_is_refused_in_one_line_or_predicts_the_same(run_cli, original, tmp_path, i):
    chip, bundle = original
    rng = np.random.default_rng([47, i])
    ref = bundle.parent / "ref.tif"
    if not ref.exists():
        code, _, err = run_cli("predict", str(chip), "-m", str(bundle), "-o", str(ref), "--backend", "torch")
        assert code == 0, err
    model = tmp_path / "m"
    shutil.copytree(bundle, model)
    meta, args, raw = _texts(model)
    text = raw.decode()
    target = ("text", "text", "text", "bytes", "block", "sizes")[i % 6]
    if target == "text":
        new = _mutate_text(text, rng).encode()
        args["gbm_bytes"] = [len(new)]  # the sizes agree: only the text's own check stands
        _write(model, meta, new)
    elif target == "bytes":  # bytes flipped (UTF-8 broken or not), sizes kept
        b = bytearray(raw)
        for at in rng.integers(0, len(b), int(rng.integers(1, 6))):
            b[at] = int(rng.integers(0, 256))
        _write(model, meta, bytes(b))
    elif target == "block":  # the learner block edited
        key, value = [("windows", [3, 7]), ("windows", []), ("windows", [9999]), ("windows", "x"),
                      ("kind", "mlp"), ("kind", "student"), ("kind", "../../evil"), ("products", True),
                      ("hidden", 100000), ("gbm_bytes", [10 ** 12]), ("gbm_bytes", [len(raw) - 1]),
                      ("gbm_bytes", [len(raw), 5]), ("gbm_bytes", []), ("extra", 1)][i // 6 % 14]
        args[key] = value
        _write(model, meta, None)
    else:  # the sizes
        key, value = [("in_channels", 4), ("in_channels", 0), ("out_channels", 2), ("out_channels", -1),
                      ("in_channels", 10 ** 9), ("out_channels", "one")][i // 6 % 6]
        meta[key] = value
        _write(model, meta, None)
    out = tmp_path / "o.tif"
    code, stdout, err = run_cli("predict", str(chip), "-m", str(model), "-o", str(out), "--backend", "torch")
    assert "Traceback" not in stdout + err and code in (0, 2), (code, err[-2000:])
    if code == 2:
        lines = err.strip().splitlines()  # progress lines may come first; one error line, last
        assert [ln for ln in lines if ln.startswith("error:")] == lines[-1:], err
        assert not out.exists()
        # the refusal names the bundle, not only config language (issue 58: "model.generator
        # for 'blend': gbm_bytes.0: …" named neither the bundle nor the file)
        assert str(model) in " ".join(err.split()), (target, err)
    else:  # ran: it must be the original model's output, bit for bit
        with rasterio.open(ref) as a, rasterio.open(out) as b:
            assert np.array_equal(a.read(), b.read()), target


HOSTILE = {
    "multiclass": lambda t: re.sub(r"^objective=.*$", "objective=multiclass num_class:7", t, count=1, flags=re.M),
    "num_class": lambda t: t.replace("num_class=1", "num_class=7", 1),
    "max_feature_idx": lambda t: re.sub(r"^max_feature_idx=.*$", "max_feature_idx=9999", t, count=1, flags=re.M),
    "split_feature 9999": lambda t: re.sub(r"^split_feature=(\d+)", "split_feature=9999", t, count=1, flags=re.M),
    "split_feature -3": lambda t: re.sub(r"^split_feature=(\d+)", "split_feature=-3", t, count=1, flags=re.M),
    "child out of range": lambda t: re.sub(r"^left_child=(-?\d+)", "left_child=4000", t, count=1, flags=re.M),
    "child cycle": lambda t: re.sub(r"^right_child=(-?\d+)", "right_child=0", t, count=1, flags=re.M),
    "leaf short": lambda t: re.sub(r"^(leaf_value=.*) \S+$", r"\1", t, count=1, flags=re.M),
    "threshold nan": lambda t: re.sub(r"^threshold=\S+", "threshold=nan", t, count=1, flags=re.M),
    "categorical": lambda t: re.sub(r"^decision_type=\d+", "decision_type=1", t, count=1, flags=re.M),
    "num_cat": lambda t: t.replace("num_cat=0", "num_cat=1", 1),
    "no label_index": lambda t: re.sub(r"^label_index=.*\n", "", t, count=1, flags=re.M),
    "no end": lambda t: t.replace("end of trees", "end of forest"),
    "empty": lambda t: "",
    "not text": lambda t: "\udcff",
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_trees_with_every_hash_forged_are_refused_before_lightgbm_sees_them(run_cli, original, tmp_path, kind):
    chip, bundle = original
    model = tmp_path / "m"
    shutil.copytree(bundle, model)
    meta, args, raw = _texts(model)
    new = HOSTILE[kind](raw.decode()).encode("utf-8", "surrogateescape")
    if new:
        args["gbm_bytes"] = [len(new)]
    _write(model, meta, new)
    stamp_weights_hash(model)  # both hashes forged: only the parser stands
    out = tmp_path / "o.tif"
    code, stdout, err = run_cli("predict", str(chip), "-m", str(model), "-o", str(out), "--backend", "torch")
    assert code == 2 and "Traceback" not in err and not out.exists(), (code, err)
    assert "LightGBM trees are not a model this project wrote" in err or "gbm_bytes" in err \
        or "model.generator" in err or "weights do not fit" in err, err
