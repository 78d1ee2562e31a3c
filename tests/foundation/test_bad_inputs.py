"""Errors a user can cause: one clear message naming the culprit and the fix, exit code 2,
no traceback, nothing half-written."""

import numpy as np
import pytest
import torch
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
    ([*BASE, "--set", "data.sources.0.target.bands=[B11]"], "no band named 'B11' (role swir)"),  # B08 is found by role (nir)
    ([*BASE, "--set", "data.sources.0.input.bands=[0,1,9]"], "band index 9 out of range"),
    ([*BASE, "--set", "data.sources.0.split.val=[nomatch]", "--set", "data.sources.0.split.default=train",
      "--set", "data.sources.0.split.test=[_2018,_2020]"], "the 'val' split is empty"),
    ([*BASE, "--set", "data.sources.0.input.scaling=uint12"], "unknown scaling 'uint12'"),
    ([*BASE, "--set", "optim.lr_g"], "override 'optim.lr_g' must look like key.path=value"),
    (["train", "--config", "/nonexistent/cfg.yaml"], "cfg.yaml: file not found"),
    (["train", "--resume", "/nonexistent/run"], "no checkpoints/last.ckpt here"),
    ([*BASE, "--set", "model.generator.name=vit"], "unknown generator 'vit'"),
    ([*BASE, "--set", "model.generator.args.widht=3"], "unexpected keyword argument 'widht'"),
    ([*BASE, "--init-from", "/nonexistent/model"], "nor a bundled model"),
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


# ------------------------------------------------------------------ every entry point, one line
# Each case: (id, args built from (tmp, out), a fragment of the message, the file or flag it names).
# The run must exit 2 with exactly one "error:" line on stderr, no traceback, and leave the output
# folder ``out`` (which holds a file beforehand) exactly as it was.
import os  # noqa: E402
import pickle  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import rasterio  # noqa: E402

from bandbridge.spec import zoo_models  # noqa: E402

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
ZOO = zoo_models()


def _tif(path, arr, dtype=None, **kw):
    arr = np.asarray(arr)
    prof = {"driver": "GTiff", "height": arr.shape[1], "width": arr.shape[2], "count": arr.shape[0],
            "dtype": dtype or arr.dtype, **kw}
    with rasterio.open(path, "w", **prof) as d:
        d.write(arr.astype(prof["dtype"]))
    return path


def _rgb16(t):  # plain 3-band uint16 reflectance × 10000
    return _tif(t / "refl.tif", np.random.default_rng(0).integers(100, 3000, (3, 64, 64)), "uint16")


def _rgb8(t, name="rgb8.tif"):
    return _tif(t / name, np.random.default_rng(1).integers(1, 255, (3, 64, 64)), "uint8")


def _bundle(t, damage=None, model="rgb2nir-naip"):
    d = t / "bundle"
    shutil.copytree(ZOO[model], d)
    if damage:
        damage(d)
    return d


def _truncate(f, frac=0.5):
    f.write_bytes(f.read_bytes()[:int(f.stat().st_size * frac)])


def _onnx(t, damage):
    d = t / "export"
    d.mkdir()
    shutil.copy(ZOO["rgb2nir-naip"] / "model.yaml", d / "model.yaml")
    from bandbridge.bundle import untie_floor
    untie_floor(d)  # an export of the model alone (a floor it names but lacks is other damage: test_bundle_check)
    (d / "model.onnx").write_bytes(damage)
    return d


def _cut_naip(t):
    f = t / "cut.tif"
    f.write_bytes(NAIP.read_bytes())
    _truncate(f)
    return f


def _cut_pixels(t):
    """A tiled GeoTIFF whose header survives but whose tiles end halfway."""
    f = _tif(t / "cutpx.tif", np.random.default_rng(2).integers(0, 255, (3, 512, 512)), "uint8",
             tiled=True, compress="deflate")
    _truncate(f, 0.6)
    return f


def _rerun(o):
    """A folder of scenes that also holds the previous run's output (tagged by predict)."""
    d = o / "scenes"
    d.mkdir()
    shutil.copy(NAIP, d / "scene.tif")
    prev = _tif(d / "scene_rgb2nir-naip.tif", np.ones((1, 8, 8)), "uint8")
    with rasterio.open(prev, "r+") as f:
        f.update_tags(bandbridge_model="rgb2nir-naip")
    return d


def _dated(t, name):
    f = t / name
    shutil.copy(NAIP, f)
    return f


def _p(*extra):
    """predict NAIP with rgb2nir into out/x.tif, plus ``extra``."""
    return lambda t, o: ["predict", str(NAIP), "-m", "rgb2nir", "-o", str(o / "x.tif"), *extra]


def _pf(make, *extra, model="rgb2nir"):
    """predict a file made by ``make(tmp)``."""
    return lambda t, o: ["predict", str(make(t)), "-m", model, "-o", str(o / "x.tif"), *extra]


def _pm(damage, *extra, model="rgb2nir-naip"):
    """predict NAIP with a copy of a bundled model damaged by ``damage(folder)``."""
    return lambda t, o: ["predict", str(NAIP), "-m", str(_bundle(t, damage, model)), "-o",
                         str(o / "x.tif"), *extra]


def _yaml(text):
    return lambda d: (d / "model.yaml").write_text(text)


def _paired_unpaired(t, o):
    cfg = _paired_config(t)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(t / "A" / "lonely.png")
    return ["train", "--config", str(cfg), "--runs", str(o)]


def _swap_weights(d):
    shutil.copy(ZOO["sr-x4"] / "generator.safetensors", d / "generator.safetensors")


def _wrong_shapes(d):
    from safetensors.torch import load_file, save_file
    state = load_file(d / "generator.safetensors")
    k = next(iter(state))
    state[k] = state[k][..., :1].contiguous()
    save_file(state, d / "generator.safetensors")


LOSO = ["loso", "--preset", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--recipes"]


def _flip_bytes(d):
    """32 random bytes written over the middle of the weights (the header still parses)."""
    f = d / "generator.safetensors"
    b = bytearray(f.read_bytes())
    at = len(b) // 2
    b[at:at + 32] = np.random.default_rng(32).integers(0, 256, 32, dtype=np.uint8).tobytes()
    f.write_bytes(bytes(b))


def _plain_ckpt(t):
    torch.save({"w": torch.zeros(3)}, t / "plain.ckpt")
    return t / "plain.ckpt"


def _png(t):
    Image.fromarray(np.random.default_rng(3).integers(1, 255, (64, 64, 3), dtype=np.uint8)).save(t / "p.png")
    return t / "p.png"


def _touch(p):
    p.write_text("{}")
    return p


TRAIN = ["train", "--preset", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE)]
SUITE = [
    # predict: the input file
    ("truncated GeoTIFF", _pf(_cut_naip), "truncated or corrupt", "cut.tif"),
    ("GeoTIFF cut in its pixels", _pf(_cut_pixels), "cannot read its pixels", "cutpx.tif"),
    ("no such input", lambda t, o: ["predict", str(t / "nope.tif"), "-m", "rgb2nir", "-o", str(o / "x.tif")],
     "no such file", "nope.tif"),
    ("text file as raster", _pf(lambda t: (t / "notes.tif").write_text("hello") and t / "notes.tif"),
     "cannot read this file as a raster", "notes.tif"),
    ("empty file", _pf(lambda t: (t / "empty.png").write_bytes(b"") or t / "empty.png"),
     "cannot read this file as a raster", "empty.png"),
    ("folder without rasters", lambda t, o: ["predict", str((t / "e").mkdir() or t / "e"), "-m", "rgb2nir",
                                             "-o", str(o)], "no input rasters", "/e"),
    ("complex values", _pf(lambda t: _tif(t / "c.tif", np.ones((3, 8, 8)), "complex64")),
     "complex values", "c.tif"),
    ("all nodata", _pf(lambda t: _tif(t / "nd.tif", np.zeros((3, 32, 32)), "uint8", nodata=0)),
     "no valid pixels", "nd.tif"),
    ("all NaN", _pf(lambda t: _tif(t / "nan.tif", np.full((3, 32, 32), np.nan), "float32")),
     "no valid pixels", "nan.tif"),
    ("5 bands without names", _pf(lambda t: _tif(t / "five.tif", np.ones((5, 32, 32)), "uint8")),
     "--band-names", "five.tif"),
    ("reflectance into an 8-bit model", _pf(_rgb16, model="rgb2nir-naip"),
     "use -m rgb2nir-s2", "refl.tif"),
    ("8-bit into a reflectance model", _pf(_rgb8, model="rgb2nir-s2"), "use -m rgb2nir-photo", "rgb8.tif"),  # no CRS: a photo
    ("1×1 image into super-resolution", _pf(lambda t: _tif(t / "px.tif", np.full((3, 1, 1), 90), "uint8"),
                                            model="sr-x2"), "needs at least 15×15", "px.tif"),
    ("4096×2 image into super-resolution", _pf(lambda t: _tif(t / "thin.tif", np.full((3, 4096, 2), 90), "uint8"),
                                               model="sr-x4"), "needs at least", "thin.tif"),
    ("missing datacube reference", lambda t, o: ["predict", str(t / "cube.nc") + "@2021-05-01", "-m", "rgb2nir",
                                                 "-o", str(o / "x.tif")], "cube.nc", "cube.nc"),
    ("8-bit into the SAR model", _pf(_rgb8, model="sar2optical"), "no such roles", "rgb8.tif"),
    ("values of no known kind", _pf(lambda t: _tif(t / "big.tif", np.full((3, 16, 16), 1e7), "float32")),
     "--scaling minmax --vmin", "big.tif"),
    ("forced scaling saturates", _pf(_rgb16, "--scaling", "uint8", model="rgb2nir-naip"),
     "would saturate", "--scaling"),
    # predict: flags
    ("--tile 0", _p("--tile", "0"), "must be at least 1", "--tile"),
    ("--tile -64", _p("--tile", "-64"), "must be at least 1", "--tile"),
    ("--tile not a number", _p("--tile", "abc"), "Invalid value", "--tile"),
    ("--overlap -1", _p("--overlap", "-1"), "must be 0 or more", "--overlap"),
    ("--overlap half the tile", _p("--tile", "256", "--overlap", "128"), "less than half", "--overlap"),
    ("--overlap half the model's tile", _p("--overlap", "1100"), "less than half", "--overlap"),
    ("--overlap larger than the raster", _p("--tile", "1024", "--overlap", "300"), "larger than", "--overlap"),
    ("--threads 0", _p("--threads", "0"), "must be at least 1", "--threads"),
    ("--threads -2", _p("--threads", "-2"), "must be at least 1", "--threads"),
    ("--batch-size 0", _p("--batch-size", "0"), "must be at least 1", "--batch-size"),
    ("--batch-size -1", _p("--batch-size", "-1"), "must be at least 1", "--batch-size"),
    ("--bands 0,0,0 on four bands", _p("--bands", "0,0,0"), "selects a band twice", "--bands"),
    ("--bands red,0 (same band)", _p("--bands", "red,0,blue"), "selects a band twice", "--bands"),
    ("--bands too few", _p("--bands", "0,1"), "takes 3", "--bands"),
    ("--bands index out of range", _p("--bands", "0,1,9"), "has 4 bands", "--bands"),
    ("--bands unknown name", _p("--bands", "red,green,purple"), "no band of that name", "--bands"),
    ("--bands empty entry", _p("--bands", "0,,2"), "empty entry", "--bands"),
    ("--band-names count", _p("--band-names", "red,green"), "lists 2 names", "--band-names"),
    ("--band-names empty entry", _p("--band-names", "red,,blue,nir"), "empty entry", "--band-names"),
    ("--sensor without conditioning", _p("--sensor", "naip"), "no sensor conditioning", "--sensor"),
    ("--scaling minmax alone", _p("--scaling", "minmax"), "needs --vmin and --vmax", "--scaling"),
    ("--scaling minmax reversed", _p("--scaling", "minmax", "--vmin", "5", "--vmax", "1"), "vmin < vmax",
     "--scaling"),
    ("--scaling unknown", _p("--scaling", "uint12"), "unknown", "--scaling"),
    ("--vmin without --scaling", _p("--vmin", "0"), "go with --scaling", "--vmin"),
    ("--dtype unknown", _p("--dtype", "int7"), "unknown", "--dtype"),
    ("--backend unknown", _p("--backend", "tpu"), "unknown", "--backend"),
    ("--precision unknown", _p("--precision", "fp8"), "unknown", "--precision"),
    ("--index unknown", _p("--index", "ndxi"), "unknown index", "--index"),
    ("--index on a thermal model", lambda t, o: ["predict", str(_rgb8(t)), "-m", "rgb2thermal", "-o",
                                                 str(o / "x.tif"), "--index", "ndvi"],
     "one NIR band", "--index"),
    ("--append with super-resolution", lambda t, o: ["predict", str(_rgb8(t)), "-m", "sr-x4", "-o",
                                                     str(o / "x.tif"), "--append"], "one grid", "--append"),
    ("missing --model", lambda t, o: ["predict", str(NAIP), "-o", str(o / "x.tif")], "Missing option",
     "--model"),
    # predict: outputs
    ("output is the input", lambda t, o: ["predict", str(_dated(o, "in.tif")), "-m", "rgb2nir", "-o",
                                          str(o / "in.tif")], "is the input file", "in.tif"),
    ("output exists", lambda t, o: ["predict", str(NAIP), "-m", "rgb2nir", "-o", str(o / "keep.tif")],
     "--overwrite", "keep.tif"),
    ("output path is a folder", lambda t, o: ["predict", str(NAIP), "-m", "rgb2nir", "-o",
                                              str(o / "dir.tif")], "is a folder", "dir.tif"),
    ("output folder not writable", lambda t, o: ["predict", str(NAIP), "-m", "rgb2nir", "-o",
                                                 str(_unwritable(o) / "x.tif")], "cannot write in", "--output"),
    ("output under a file", lambda t, o: ["predict", str(NAIP), "-m", "rgb2nir", "-o",
                                          str(o / "keep.tif" / "x.tif")], "is a file", "keep.tif"),
    ("several inputs, one .tif", lambda t, o: ["predict", str(NAIP), str(_rgb8(t)), "-m", "rgb2nir", "-o",
                                               str(o / "x.tif")], "need an output folder", "--output"),
    ("several inputs, output is a file", lambda t, o: ["predict", str(NAIP), str(_rgb8(t)), "-m", "rgb2nir",
                                                       "-o", str(o / "keep.txt")], "is a file", "keep.txt"),
    ("two inputs, one output name", lambda t, o: ["predict", str(_rgb8(t, "a.tif")), str(_rgb8(t / "b" if
                                                  (t / "b").mkdir() is None else t, "a.tif")), "-m",
                                                  "rgb2nir", "-o", str(o)], "would both be written", "a.tif"),
    ("rerun on a folder with earlier outputs", lambda t, o: ["predict", str(_rerun(o)), "-m", "rgb2nir",
                                                             "-o", str(o / "scenes")],
     "the folder the inputs are read from", "scenes"),  # -o the input folder: refused (issue 98)
    # predict: broken model bundles
    ("no such model", lambda t, o: ["predict", str(NAIP), "-m", str(t / "nomodel"), "-o", str(o / "x.tif")],
     "not a run folder", "nomodel"),
    ("truncated safetensors", _pm(lambda d: _truncate(d / "generator.safetensors")),
     "not a readable safetensors", "generator.safetensors"),
    ("empty safetensors", _pm(lambda d: (d / "generator.safetensors").write_bytes(b"")), "empty file",
     "generator.safetensors"),
    ("pickle as safetensors", _pm(lambda d: (d / "generator.safetensors").write_bytes(
        pickle.dumps({"w": [1.0, 2.0]}))), "not a readable safetensors", "generator.safetensors"),
    ("weights of another model", _pm(_swap_weights), "do not fit", "generator.safetensors"),
    ("tensor of a wrong shape", _pm(_wrong_shapes), "another shape", "generator.safetensors"),
    ("model.yaml not YAML", _pm(_yaml("config: [unclosed\n")), "not valid YAML", "model.yaml"),
    ("model.yaml a list", _pm(_yaml("- 1\n- 2\n")), "expected a mapping", "model.yaml"),
    ("model.yaml without config", _pm(_yaml("in_channels: 3\nout_channels: 1\n")), "lacks config",
     "model.yaml"),
    ("model.yaml empty", _pm(_yaml("")), "expected a mapping", "model.yaml"),
    ("model.yaml with a bad config", _pm(lambda d: (d / "model.yaml").write_text(
        (d / "model.yaml").read_text().replace("generator:\n", "generator:\n      colour: red\n", 1))),
     "invalid config", "model.yaml"),
    ("truncated model.onnx", lambda t, o: ["predict", str(NAIP), "-m", str(_onnx(t, b"\x08\x07\x12")),
                                           "-o", str(o / "x.tif")], "not a readable ONNX model", "model.onnx"),
    ("empty model.onnx", lambda t, o: ["predict", str(NAIP), "-m", str(_onnx(t, b"")), "-o",
                                       str(o / "x.tif")], "empty file", "model.onnx"),
    ("only a checkpoint", lambda t, o: ["predict", str(NAIP), "-m", str(_ckpt_only(t)), "-o",
                                        str(o / "x.tif")], "training checkpoint", "best.ckpt"),
    ("--backend onnx at bf16", _pm(None, "--backend", "onnx", "--precision", "bf16"), "runs fp32 on CPUs",
     "--precision"),
    # compare, timeseries, evaluate, export
    ("compare without the real band", lambda t, o: ["compare", str(_rgb8(t)), "-m", "rgb2nir-naip", "-o",
                                                    str(o)], "real target band", "rgb8.tif"),
    ("compare into existing outputs", lambda t, o: ["compare", str(_dated(t, "keep.tif")), "-o", str(o)],
     "--overwrite", "keep_with_synthetic.tif"),
    ("compare with super-resolution", lambda t, o: ["compare", str(_rgb8(t)), "-m", "sr-x4", "-o", str(o)],
     "translation models", "sr-x4"),
    ("timeseries with a thermal model", lambda t, o: ["timeseries", str(NAIP), "-m", "rgb2thermal", "-o",
                                                      str(o / "ts")], "one NIR band", "rgb2thermal"),
    ("timeseries without dates", lambda t, o: ["timeseries", str(_rgb8(t)), "-o", str(o / "ts")], "no date",
     "rgb8.tif"),
    ("timeseries bad --bbox", lambda t, o: ["timeseries", str(NAIP), "-o", str(o), "--bbox", "1,2,3"],
     "must be xmin,ymin,xmax,ymax", "--bbox"),
    ("timeseries into existing outputs", lambda t, o: ["timeseries", str(NAIP), "-o", str(o)],
     "--overwrite", "ndvi_timeseries"),
    ("evaluate --split bogus", lambda t, o: ["evaluate", "-m", "rgb2nir-naip", "--split", "bogus", "-o",
                                             str(o)], "choose train, val or test", "--split"),
    ("evaluate a missing model", lambda t, o: ["evaluate", "-m", str(t / "nomodel"), "-o", str(o)],
     "not a run folder", "nomodel"),
    ("export to an existing file", lambda t, o: ["export", "-m", "rgb2nir-naip", "-o", str(o / "keep.txt")],
     "is a file", "keep.txt"),
    ("export in an unknown format", lambda t, o: ["export", "-m", "rgb2nir-naip", "--format", "tflite", "-o",
                                                  str(o / "e")], "unknown", "--format"),
    ("export a broken bundle", lambda t, o: ["export", "-m", str(_bundle(t, lambda d: _truncate(
        d / "generator.safetensors"))), "-o", str(o / "e")], "not a readable safetensors", "generator.safetensors"),
    # train
    ("--set into a value", lambda t, o: [*TRAIN, "--runs", str(o), "--set", "train.max_epochs.x=1"],
     "is a value", "train.max_epochs.x"),
    ("--set source index out of range", lambda t, o: [*TRAIN, "--runs", str(o), "--set",
                                                      "data.sources.7.input.bands=[x]"], "out of range",
     "data.sources.7"),
    ("--set list by name", lambda t, o: [*TRAIN, "--runs", str(o), "--set", "data.sources.first.gsd=1"],
     "is a list", "data.sources.first"),
    ("--accelerator gpu without a GPU", lambda t, o: [*TRAIN, "--runs", str(o), "--accelerator", "gpu"],
     "no CUDA GPU", "--accelerator"),
    ("paired layout, unpaired file", _paired_unpaired, "without a partner", "lonely.png"),
    # the features of the last release (issue 19): every check runs before the work
    ("damaged weights (32 random bytes)", _pm(_flip_bytes), "do not match weights_sha256",
     "generator.safetensors"),
    ("evaluate a .ckpt of plain tensors", lambda t, o: ["evaluate", "-m", str(_plain_ckpt(t)), "-o",
                                                        str(o / "ev")], "not a bandbridge training checkpoint",
     "plain.ckpt"),
    ("--stac on a plain PNG", lambda t, o: ["predict", str(_png(t)), "-m", "rgb2nir", "-o", str(o / "x.tif"),
                                            "--stac"], "has no georeference", "--stac"),
    ("--stac onto an existing item", lambda t, o: ["predict", str(NAIP), "-m", "rgb2nir", "-o",
                                                   str(_touch(o / "x.tif.json").with_suffix("")), "--stac"],
     "--overwrite", "x.tif.json"),
    ("--summary is a folder", _p("--workers", "1", "--summary", "SELF"), "is a folder", "--summary"),
    ("--summary in a read-only folder", lambda t, o: [*_p("--workers", "1")(t, o), "--summary",
                                                      str(_unwritable(o) / "s.csv")], "cannot write in", "--summary"),
    ("--scheduler not an address", _p("--scheduler", "tcp://host:99999"), "not a Dask scheduler address",
     "--scheduler"),
    ("--scheduler no such host", _p("--scheduler", "notaurl"), "cannot connect", "--scheduler notaurl"),
    ("--workers with --scheduler", _p("--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"),
     "only one of them", "--workers"),
    ("--strips without a cluster", _p("--strips", "2"), "only applies with --workers", "--strips"),
    ("--summary without a cluster", _p("--summary", "s.csv"), "only applies with --workers", "--summary"),
    ("--retries -1", _p("--workers", "1", "--retries", "-1"), "must be at least 0", "--retries"),
    ("loso --recipes ''", lambda t, o: [*LOSO, "", "-o", str(o / "l")], "name at least two recipes",
     "--recipes"),
    ("loso unknown recipe", lambda t, o: [*LOSO, "naip_opengeos,nope", "-o", str(o / "l")],
     "unknown recipe 'nope'", "--recipes"),
    ("loso --out an existing file", lambda t, o: [*LOSO, "naip_opengeos,naip_stactools", "-o",
                                                  str(o / "keep.txt")], "is a file", "keep.txt"),
]
if torch.cuda.is_available():  # the case needs a machine without a GPU
    SUITE = [c for c in SUITE if not c[0].startswith("--accelerator gpu")]


def _unwritable(o):
    """A folder nobody may write in: mode 0555, or for root (who ignores modes) a sysfs folder."""
    if os.geteuid() == 0:
        return Path("/sys/bandbridge-test-unwritable")
    d = o.parent / "ro"
    d.mkdir(mode=0o555, exist_ok=True)
    return d


def _ckpt_only(t):
    d = t / "checkpoints"
    d.mkdir()
    (d / "best.ckpt").write_bytes(b"not really a checkpoint")
    return d


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.is_dir(), 0 if p.is_dir() else p.stat().st_size,
                                         0 if p.is_dir() else p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("make,fragment,names", [c[1:] for c in SUITE], ids=[c[0] for c in SUITE])
def test_every_mistake_is_one_line_and_leaves_nothing(run_cli, tmp_path, make, fragment, names):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work")
    shutil.copy(NAIP, out / "keep.tif")
    (out / "dir.tif").mkdir()
    (out / "keep_with_synthetic.tif").write_bytes(b"earlier")
    (out / "ndvi_timeseries.csv").write_text("earlier")
    args = [str(out) if a == "SELF" else a for a in make(tmp_path, out)]
    before = _snapshot(out)
    code, stdout, err = run_cli(*args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (stdout, err)
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert fragment in lines[0] and names in lines[0], lines[0]
    assert "Traceback" not in err + stdout
    assert _snapshot(out) == before
    assert not list(out.parent.rglob("*.partial"))


def test_suite_is_large():
    assert len(SUITE) + len(CASES) >= 60


def test_a_full_disk_is_one_line_and_leaves_nothing(run_cli, tmp_path, monkeypatch):
    from rasterio.errors import RasterioIOError

    def full(*a, **k):
        raise RasterioIOError(f"{tmp_path / 'o' / '.x.tif.partial'}: Free disk space available is 0 bytes, "
                              "whereas 4194304 are at least necessary.")
    monkeypatch.setattr("bandbridge.inference.jobs.job.predict_file", full)
    code, out, err = run_cli("predict", str(NAIP), "-m", "rgb2nir", "-o", str(tmp_path / "o" / "x.tif"),
                             "--backend", "torch", "--precision", "fp32")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "no space left on the device" in lines[0], err
    assert "Traceback" not in err + out and not list((tmp_path / "o").glob("*x.tif*"))
    from bandbridge.fileio import disk_full_message
    assert disk_full_message(OSError(28, "No space left on device", "/o/x.tif")).startswith("/o/x.tif: no space")
    assert disk_full_message(ValueError("other")) is None


def test_weights_hash_is_written_checked_and_optional_for_older_bundles(tmp_path):
    from bandbridge.bundle import HASH_KEY, load_bundle, save_bundle, stamp_weights_hash
    from bandbridge.errors import BandbridgeError
    old = _bundle(tmp_path)
    meta = (old / "model.yaml").read_text()
    assert f"{HASH_KEY}: " in meta  # every shipped bundle carries it
    (old / "model.yaml").write_text("".join(ln for ln in meta.splitlines(True)  # as saved before the hashes
                                            if not ln.startswith((HASH_KEY, "generator_sha256"))))
    b = load_bundle(old)  # saved before the hash existed: loads, unchecked
    _flip_bytes(old)
    load_bundle(old)
    saved = save_bundle(tmp_path / "new", b.generator, b.config, b.in_channels, b.out_channels)
    assert yaml.safe_load((saved / "model.yaml").read_text())[HASH_KEY] == stamp_weights_hash(saved)
    assert load_bundle(saved).info[HASH_KEY]
    _flip_bytes(saved)
    with pytest.raises(BandbridgeError, match="do not match weights_sha256 in model.yaml"):
        load_bundle(saved)
    (saved / "model.yaml").write_text((saved / "model.yaml").read_text().replace(f"{HASH_KEY}: ", f"{HASH_KEY}: x"))
    with pytest.raises(BandbridgeError, match="weights_sha256 must be 64 hex digits"):
        load_bundle(saved)
