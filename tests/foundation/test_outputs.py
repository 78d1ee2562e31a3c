"""Files and runs a user can trust: normal modes, no Alpha band, --overwrite, the input never
destroyed, SIGTERM and killed runs leave nothing, best.ckpt across --resume, no noise."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import yaml

from bandbridge.fileio import HOST
from conftest import HANG_S, REPO, SAMPLE, TINY, TWO_SOURCES

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")


def _cli(*args, timeout=HANG_S):
    return subprocess.run([sys.executable, "-m", "bandbridge.cli", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_outputs_get_the_umask_mode(run_cli, tmp_path, umask, mask, mode):
    umask(mask)
    out = tmp_path / "nir.tif"
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir", "-o", str(out), "--index", "ndvi",
                           "--cog")
    assert code == 0, err
    for p in (out, tmp_path / "nir_ndvi.tif"):
        assert p.stat().st_mode & 0o777 == mode, oct(p.stat().st_mode)
    code, _, err = run_cli("compare", str(NAIP), "-m", "rgb2nir", "-o", str(tmp_path / "cmp"))
    assert code == 0, err
    for p in (tmp_path / "cmp").iterdir():
        assert p.stat().st_mode & 0o777 == mode, p
    from bandbridge.bundle import load_bundle, save_bundle
    from bandbridge.fileio import atomic_write_bytes
    from bandbridge.spec import zoo_models
    b = load_bundle(zoo_models()["rgb2nir-naip"])
    d = save_bundle(tmp_path / "bundle", b.generator, b.config, b.in_channels, b.out_channels)
    atomic_write_bytes(tmp_path / "x.json", b"{}")
    for p in [*d.iterdir(), tmp_path / "x.json"]:
        assert p.stat().st_mode & 0o777 == mode, p
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]


def test_synthetic_band_beside_rgb_is_not_alpha(run_cli, tmp_path):
    out = tmp_path / "rgbn.tif"
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir", "-o", str(out), "--append")
    assert code == 0, err
    with rasterio.open(out) as f:
        assert [c.name for c in f.colorinterp] == ["red", "green", "blue", "undefined"]
        assert f.descriptions == ("red", "green", "blue", "synthetic_nir")
    code, _, err = run_cli("compare", str(NAIP), "-m", "rgb2nir", "-o", str(tmp_path / "cmp"))
    assert code == 0, err
    with rasterio.open(next((tmp_path / "cmp").glob("*_with_synthetic.tif"))) as f:
        assert "alpha" not in [c.name for c in f.colorinterp]
        assert f.colorinterp[-1].name == "undefined" and f.descriptions[-1] == "synthetic_nir"


def test_overwrite_replaces_and_the_input_survives_being_named_as_output(run_cli, tmp_path):
    src = tmp_path / "scene.tif"
    src.write_bytes(NAIP.read_bytes())
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    code, _, err = run_cli("predict", str(src), "-m", "rgb2nir", "-o", str(src), "--overwrite")
    assert code == 2 and "is the input file" in err  # --overwrite never means "destroy the input"
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    out = tmp_path / "nir.tif"
    assert run_cli("predict", str(src), "-m", "rgb2nir", "-o", str(out))[0] == 0
    out.write_bytes(b"stale")
    code, _, err = run_cli("predict", str(src), "-m", "rgb2nir", "-o", str(out))
    assert code == 2 and "--overwrite" in err and out.read_bytes() == b"stale"
    code, _, err = run_cli("predict", str(src), "-m", "rgb2nir", "-o", str(out), "--overwrite")
    assert code == 0, err
    with rasterio.open(out) as f:
        assert f.count == 1 and f.read(1).mean() > 1


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_a_folder_into_itself_is_refused_leftovers_of_killed_runs_go_and_earlier_outputs_are_skipped(run_cli, tmp_path):
    """-o the input folder is refused in one line, nothing written (issue 98: it wrote among its inputs); in the
    output folder a killed run's temporary file of this host goes, another host's stays; an earlier output of
    bandbridge put among the inputs is skipped, not predicted again."""
    d, o = tmp_path / "scenes", tmp_path / "out"
    d.mkdir()
    o.mkdir()
    (d / "a.tif").write_bytes(NAIP.read_bytes())
    (d / ".hidden.tif").write_bytes(b"not an input")
    code, out, err = run_cli("predict", str(d), "-m", "rgb2nir", "-o", str(d))
    assert code == 2 and "the folder the inputs are read from" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in d.iterdir()) == [".hidden.tif", "a.tif"]
    stale = o / f".a_rgb2nir-naip.tif.{HOST}-{_dead_pid()}.x1y2z3w4.partial"
    other = o / f".a_rgb2nir-naip.tif.otherhost-{_dead_pid()}.x1y2z3w4.partial"  # another host's run
    other.write_bytes(b"live elsewhere")
    stale.write_bytes(b"half a file")
    code, out, err = run_cli("predict", str(d), "-m", "rgb2nir", "-o", str(o))
    assert code == 0, err
    assert not stale.exists()  # the killed run's temporary file is gone ...
    assert other.exists()  # ... another host's is not ours to judge
    other.unlink()
    assert sorted(p.name for p in o.iterdir()) == ["a_rgb2nir-naip.tif"]
    (d / "a_rgb2nir-naip.tif").write_bytes((o / "a_rgb2nir-naip.tif").read_bytes())  # an output among the inputs
    code, out, err = run_cli("predict", str(d), "-m", "rgb2nir", "-o", str(o), "--overwrite")
    assert code == 0, err
    assert "skipped 1 earlier output" in out and out.count("a_rgb2nir-naip.tif") == 1
    assert sorted(p.name for p in o.iterdir()) == ["a_rgb2nir-naip.tif"]


@pytest.mark.load
def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    with rasterio.open(NAIP) as f:  # a 3072² mosaic of the sample: many seconds of work
        prof, a = f.profile, f.read([1, 2, 3])
    big = tmp_path / "big.tif"
    prof.update(count=3, height=3072, width=3072, tiled=True, blockxsize=256, blockysize=256,
                compress="deflate")
    with rasterio.open(big, "w", **prof) as f:
        f.write(np.tile(a, (1, 12, 12)))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "bandbridge.cli", "predict", str(big), "-m",
                             "rgb2nir-naip", "-o", str(out / "nir.tif"), "--tile", "256",
                             "--overlap", "32"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + HANG_S
    while not list(out.glob(".*.partial")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    time.sleep(1.0)  # well inside the tile loop
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 143, err
    assert "interrupted (SIGTERM)" in err and "Traceback" not in err
    assert list(out.iterdir()) == []


def _stop_training(runs, signum: int, *args: str) -> subprocess.CompletedProcess:
    """Start a long tiny training run into ``runs``, send ``signum`` once an epoch has ended
    (``last.ckpt``, the checkpoint --resume continues from: under load a stop could land between
    an epoch's own checkpoint and it), and return the finished process."""
    sets = [a for kv in TINY for a in ("--set", kv)]
    cmd = [sys.executable, "-m", "bandbridge.cli", "train", "--preset", "rgb2nir-wgangp-cpu", *args,
           "--data", str(SAMPLE), "--runs", str(runs), *sets, "--set", "train.max_epochs=500"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + HANG_S
    while not list(Path(runs).glob("*/*/checkpoints/last.ckpt")) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=HANG_S)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.load
def test_sigterm_during_training_exits_143_and_leaves_no_temporary_files(tmp_path):
    r = _stop_training(tmp_path, signal.SIGTERM)
    err = r.stderr
    assert r.returncode == 143, err[-2000:]
    assert "interrupted (SIGTERM)" in err and "Traceback" not in err
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".partial"))]
    # the run ended with what it had (issue 58): a summary, and model/best with a card saying so
    run = next(tmp_path.glob("*/*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"].startswith("SIGTERM in epoch") and summary["kept"] == "network"
    card = (run / "model" / "best" / "MODEL_CARD.md").read_text()
    assert "Kept: **the trained network**" in card and "--resume" in card and "interrupted (SIGTERM" in card


@pytest.mark.load
def test_ctrl_c_in_a_two_source_run_leaves_the_floor_as_model_best_with_its_card(tmp_path):
    """Issue 58: an interrupted run leaves model/best as the rule says. With two sources the
    network is kept only once held out source by source, which an interrupted run has not done:
    model/best is the floor, the network waits in model/network, the card says how to finish."""
    (tmp_path / "two.yaml").write_text(TWO_SOURCES)
    r = _stop_training(tmp_path / "runs", signal.SIGINT, "--config", str(tmp_path / "two.yaml"))
    out, err = r.stdout, r.stderr
    assert r.returncode == 130, err[-2000:]
    assert "interrupted (Ctrl-C)" in err and "Traceback" not in err
    assert "ending the run with what it has" in out and "--resume" in out
    run = next(tmp_path.glob("runs/*/*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"].startswith("Ctrl-C in epoch") and summary["kept"] == "floor"
    held = json.loads((run / "held_out.json").read_text())
    assert held["kept"] == "floor" and held["not_run"] and held["folds"] == []
    best = yaml.safe_load((run / "model" / "best" / "model.yaml").read_text())
    assert best["config"]["model"]["generator"]["name"] == "learner"  # the floor's linear map
    assert (run / "model" / "network" / "generator.safetensors").exists()
    card = (run / "model" / "best" / "MODEL_CARD.md").read_text()
    assert "Kept: **the zero-shot floor**" in card and "the network was not held out" in card
    assert "model/best = the zero-shot floor: the network was not held out (interrupted)" in out
    # --resume ends it in full: the network back in model/best, then held out source by source
    epochs = summary["epochs"]
    r = _cli("train", "--resume", run, "--set", f"train.max_epochs={epochs + 1}",
             "--set", "data.max_eval_tiles=6")
    assert r.returncode == 0, r.stderr[-2000:]
    held = json.loads((run / "held_out.json").read_text())
    assert [f["source"] for f in held["folds"]] == ["early", "late"] and "not_run" not in held
    summary = json.loads((run / "summary.json").read_text())
    assert "interrupted" not in summary and summary["kept"] == held["kept"]
    best = yaml.safe_load((run / "model" / "best" / "model.yaml").read_text())
    assert (best["config"]["model"]["generator"]["name"] == "unet") == (held["kept"] == "network")
    assert (run / "model" / "network").exists() == (held["kept"] == "floor")



def test_best_checkpoint_after_resume_is_the_best_of_the_whole_run_and_train_is_quiet(tmp_path):
    sets = [a for kv in TINY for a in ("--set", kv)]
    r = _cli("train", "--preset", "rgb2nir-wgangp-cpu", "--data", SAMPLE, "--runs", tmp_path,
             *sets, "--set", "train.max_epochs=1")
    assert r.returncode == 0, r.stderr[-2000:]
    run = next(p for p in tmp_path.glob("*/*") if p.is_dir())
    r2 = _cli("train", "--resume", run, "--set", "train.max_epochs=4")
    assert r2.returncode == 0, r2.stderr[-2000:]
    for res in (r, r2):
        noise = res.stdout + res.stderr
        assert "Tip" not in noise and "deprecated" not in noise and "Warning" not in noise, noise
    ck = run / "checkpoints"
    assert not list(ck.glob("best-v*.ckpt")), sorted(p.name for p in ck.iterdir())

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    logged = EventAccumulator(str(run / "tensorboard")).Reload().Scalars("val/psnr")
    per_epoch = {e.step: e.value for e in logged if e.step > 0}  # step 0: the start, no checkpoint
    assert len(per_epoch) == 4, per_epoch  # two runs, four epochs
    best = torch.load(ck / "best.ckpt", map_location="cpu", weights_only=True)
    state = next(v for k, v in best["callbacks"].items() if "val/psnr" in k)
    assert float(state["best_model_score"]) == pytest.approx(max(per_epoch.values()), abs=1e-4)
    by_epoch = [per_epoch[k] for k in sorted(per_epoch)]
    assert by_epoch[best["epoch"]] == pytest.approx(max(by_epoch), abs=1e-4)


def test_plain_images_predict_without_gdal_noise(tmp_path):
    from PIL import Image
    with rasterio.open(NAIP) as f:
        Image.fromarray(f.read([1, 2, 3]).transpose(1, 2, 0)).save(tmp_path / "rgb.png")
    r = _cli("predict", tmp_path / "rgb.png", "-m", "rgb2nir", "-o", tmp_path / "nir.tif")
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "matrix" not in r.stderr, r.stderr


@pytest.mark.parametrize("dtype, scale", [("uint16", 1e-4), ("float32", 1.0)])
def test_gdal_reads_the_physical_values_of_a_scaled_output(run_cli, tmp_path, dtype, scale):
    """A reflectance model's output carries GDAL scale/offset/units (what QGIS and `gdalinfo`
    show): stored × scale + offset is reflectance; read back, bandbridge takes a uint16 output's
    own scale as its scaling."""
    import numpy as np
    from bandbridge.inference.core.look import look_at
    with rasterio.open(NAIP) as d:
        a, prof = d.read([1, 2, 3], window=((0, 128), (0, 128))), d.profile
    prof.update(height=128, width=128, count=3, dtype="uint16", nodata=0, photometric=None)
    prof.pop("photometric")
    src = tmp_path / "refl.tif"
    with rasterio.open(src, "w", **prof) as d:
        d.write(a.astype(np.uint16) * 20 + 50)
    code, _, err = run_cli("predict", str(src), "-m", "rgb2nir-s2", "-o", str(tmp_path / "nir.tif"),
                           "--dtype", dtype)
    assert code == 0, err
    with rasterio.open(tmp_path / "nir.tif") as o:
        assert (o.scales, o.offsets, o.units) == ((scale,), (0.0,), ("reflectance",))
        physical = o.read(1, masked=True) * o.scales[0] + o.offsets[0]
        assert 0.0 < float(physical.mean()) < 1.0  # reflectance, whatever the stored type
        assert o.tags()["bandbridge_units"] == ("reflectance = stored × 0.0001" if dtype == "uint16"
                                                else "reflectance")
    if dtype == "uint16":
        look = look_at(tmp_path / "nir.tif")
        assert (look.scaling, look.tagged) == ("reflectance_10000", True)


@pytest.mark.parametrize("dtype, nodata", [("uint16", None), ("uint8", 0), ("int16", -32768), ("uint16", 65535)])
@pytest.mark.parametrize("kind", [np.float32, np.float64, np.int64])
def test_the_encoder_rounds_clips_and_keeps_nodata_apart_as_its_rule_says(dtype, nodata, kind):
    """``writer.store`` into an integer type, worked in its one copy: each value rounded half to even and clipped to
    the type, NaN and invalid pixels the nodata value, and a valid value that lands on nodata moved one step inside;
    the input never changed; an integer input as well as a float one."""
    from bandbridge.inference.core.writer import nodata_of, store
    lim = np.iinfo(dtype)
    nd = nodata_of(dtype, nodata)
    raw = np.array([[0.5, 1.5, 2.49, -7.0, 1e6, np.nan], [lim.min, lim.max, nd, nd + 0.4, 3.0, 4.0]])
    values = (np.nan_to_num(raw, nan=5.0) if kind is np.int64 else raw).astype(kind)[None]
    valid = np.ones(raw.shape, bool)
    valid[1, 5] = False
    before = values.copy()
    out = store(values, valid, dtype, nodata)
    assert out.dtype == np.dtype(dtype) and np.array_equal(values, before, equal_nan=True)
    want = np.clip(np.rint(values[0].astype(np.float64)), lim.min, lim.max)
    on = want == nd  # a valid value never reads as nodata
    want[on] = nd + 1 if nd < lim.max else nd - 1
    want[~valid | np.isnan(values[0])] = nd
    assert np.array_equal(out[0], want.astype(dtype))
    assert out[0, 1, 5] == nd and (kind is np.int64 or out[0, 0, 5] == nd)
