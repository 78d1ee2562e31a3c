"""Errors a user can cause: one clear message naming the culprit and the fix, exit code 2,
no traceback, nothing half-written."""

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import SAMPLE, TINY

BASE = ["train", "--preset", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE)]


def _paired_config(tmp_path, size_a=(64, 64), size_b=(64, 64), name="x"):
    (tmp_path / "A").mkdir(exist_ok=True)
    (tmp_path / "B").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (*size_a, 3), dtype=np.uint8)).save(tmp_path / "A" / f"{name}.png")
    Image.fromarray(rng.integers(0, 255, size_b, dtype=np.uint8)).save(tmp_path / "B" / f"{name}.png")
    cfg = {"base": "rgb2thermal-cpu", "data": {"root": str(tmp_path), "sources": [{
        "layout": "paired", "input_dir": "A", "target_dir": "B",
        "input": {"bands": ["red", "green", "blue"], "scaling": "uint8"},
        "target": {"bands": [0], "scaling": "uint8"}, "split": {"default": "train"}}]}}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


CASES = [
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    ([*BASE, "--set", "train.max_epoch=3"], "train.max_epoch: unknown key"),
    ([*BASE, "--set", "loss.lambda_l1=-1"], "loss.lambda_l1: Input should be greater than or equal to 0"),
    ([*BASE, "--set", "model.critic.args.norm=batch"], "norm=batch cannot be used with wgan-gp"),
    (["train", "--preset", "rgb2nir-wgangp-cpu", "--data", "/nonexistent/data"],
     "no files found for ['nir_naip_opengeos/*.tif'] under root '/nonexistent/data'"),
    ([*BASE, "--set", "data.sources.0.target.bands=[B08]"], "no band named 'B08'"),
    ([*BASE, "--set", "data.sources.0.input.bands=[0,1,9]"], "band index 9 out of range"),
    ([*BASE, "--set", "data.sources.0.split.val=[nomatch]", "--set", "data.sources.0.split.default=train",
      "--set", "data.sources.0.split.test=[_2018,_2020]"], "the 'val' split is empty"),
    ([*BASE, "--set", "data.sources.0.input.scaling=uint12"], "unknown scaling 'uint12'"),
    ([*BASE, "--set", "optim.lr_g"], "override 'optim.lr_g' must look like key.path=value"),
    (["train", "--config", "/nonexistent/cfg.yaml"], "cfg.yaml: file not found"),
    (["train", "--resume", "/nonexistent/run"], "no checkpoints/last.ckpt here"),
    ([*BASE, "--set", "model.generator.name=vit"], "unknown generator 'vit'"),
    ([*BASE, "--set", "model.generator.args.widht=3"], "unexpected keyword argument 'widht'"),
    ([*BASE, "--init-from", "/nonexistent/model"], "not a model bundle"),
    ([*BASE, "--set", "data.sources=[wrong_recipe]"], "unknown data recipe 'wrong_recipe'"),
]


@pytest.mark.parametrize("args,message", CASES, ids=[c[1][:40] for c in CASES])
def test_bad_input_message(run_cli, tmp_path, args, message):
    code, out, err = run_cli(*args, "--runs", str(tmp_path / "runs"), *sum((["--set", t] for t in TINY), []))
    assert code == 2, (out, err)
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err and "Traceback" not in out
    assert not list((tmp_path / "runs").rglob("*.ckpt"))  # nothing half-written


def test_mismatched_pair_sizes(run_cli, tmp_path):
    cfg = _paired_config(tmp_path, (64, 64), (60, 64))
    code, _, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs"))
    assert code == 2
    msg = " ".join(err.split())
    assert "pair 'x'" in msg and "is 64×64 but target" in msg and "is 60×64" in msg


def test_unreadable_file_is_named(run_cli, tmp_path):
    cfg = _paired_config(tmp_path)
    (tmp_path / "A" / "y.png").write_bytes(b"garbage")
    (tmp_path / "B" / "y.png").write_bytes(b"garbage")
    code, _, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs"))
    assert code == 2 and "y.png: cannot read this file as a raster" in " ".join(err.split())


def test_invalid_yaml_config(run_cli, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("data: [unclosed\n")
    code, _, err = run_cli("train", "--config", str(p))
    assert code == 2 and "not valid YAML" in err


def test_all_nodata_pair(run_cli, tmp_path):
    cfg = _paired_config(tmp_path)
    d = yaml.safe_load(cfg.read_text())
    d["data"]["sources"][0]["target"]["scaling"] = "reflectance_10000"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "B" / "x.png")
    cfg.write_text(yaml.safe_dump(d))
    code, _, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs"))
    assert code == 2 and "no valid pixels" in err
