"""Nothing lost, nothing written outside where the user said (issue 34): adapt's output folder,
a full disk, a cache that never breaks a run and never deletes what it did not write, checks
before any work, and the documented `adapt` forms. Every refusal is one line, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from bandbridge.spec import zoo_models
from conftest import SAMPLE, TINY

NAIP = SAMPLE / "nir_naip_opengeos"
DATE = NAIP / "m_4709963_se_14_1_20200831.tif"
FIXED = ["--backend", "torch", "--precision", "fp32"]


def one_line(code: int, err: str, says: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and says in err, (code, err)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def split_bands(folder: Path) -> tuple[Path, Path]:
    """The sample date as a 3-band RGB file and a 1-band NIR file (rgb/x.tif, nir/x.tif)."""
    with rasterio.open(DATE) as d:
        a, prof = d.read(), d.profile
    for sub, data in (("rgb", a[:3]), ("nir", a[3:])):
        (folder / sub).mkdir(parents=True)
        p = {**prof, "count": len(data)}
        p.pop("photometric", None)
        with rasterio.open(folder / sub / "x.tif", "w", **p) as o:
            o.write(data)
    return folder / "rgb" / "x.tif", folder / "nir" / "x.tif"


# ---------------------------------------------------------------- adapt's output folder
@pytest.mark.parametrize("case", ["holds-input", "dotdot", "model", "file", "link", "foreign"])
def test_adapt_never_replaces_what_it_did_not_write(run_cli, tmp_path, case):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(DATE, work / "pair.tif")
    (work / "notes.txt").write_text("mine")
    model = tmp_path / "model"
    shutil.copytree(zoo_models()["rgb2nir-naip"], model)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "alink").symlink_to(other)
    out, says = {"holds-input": (work, "which this command reads"),
                 "dotdot": (work / "sub" / "..", "which this command reads"),
                 "model": (model, "which this command reads"),
                 "file": (tmp_path / "afile", "is a file"),
                 "link": (tmp_path / "alink", "is a link"),
                 "foreign": (other, "holds files bandbridge did not write (keep.txt)")}[case]
    before = tree(tmp_path)
    code, _, err = run_cli("adapt", "-m", str(model), str(work / "pair.tif"), "-o", str(out),
                           "--overwrite", "--minutes", "0.1")
    one_line(code, err, says)
    assert tree(tmp_path) == before  # nothing deleted, nothing half-written


def test_adapt_overwrite_replaces_its_own_bundle(run_cli, tmp_path):
    out = tmp_path / "adapted"
    for _ in range(2):
        code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(out),
                               "--overwrite", "--minutes", "0.1")
        assert code == 0, err
    assert (out / "model.yaml").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- the documented adapt forms
def test_adapt_takes_folders_of_rgb_and_nir_files_and_file_pairs(run_cli, tmp_path, monkeypatch):
    from bandbridge.learners import student
    monkeypatch.setattr(student, "STEPS", 800)  # a test-sized student (test_student.py's): the forms are tested
    rgb, nir = split_bands(tmp_path)
    for pairs in ([f"{rgb.parent}:{nir.parent}"], [f"{rgb}:{nir}"]):
        out = tmp_path / f"out{len(pairs[0])}"
        code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", *pairs, "-o", str(out),
                                    "--minutes", "0.1", "--within-scene")
        assert code == 0, err
        assert "refitted on 65536 of 65536" in stdout  # every pixel of the 256² pair was read
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(rgb), "-o", str(tmp_path / "x"))
    one_line(code, err, "holds no nir band")
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(rgb), "--target-bands", "swir",
                           "-o", str(tmp_path / "x"))
    one_line(code, err, "holds no swir band")  # the band asked for, not the model's
    colon = tmp_path / "a:b.tif"  # a file whose name holds ':' is one FILE
    shutil.copy(DATE, colon)
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(colon), "-o", str(tmp_path / "c"),
                           "--minutes", "0.1")
    assert code == 0, err


def test_adapt_refuses_pairs_on_two_grids_or_of_another_kind_before_any_work(run_cli, tmp_path):
    rgb, nir = split_bands(tmp_path)
    with rasterio.open(nir, "r+") as d:  # the NIR 10 km east: no overlap
        d.transform = d.transform @ d.transform.translation(10_000, 0)
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", f"{rgb}:{nir}", "-o", str(tmp_path / "o"))
    one_line(code, err, "different grids")
    with rasterio.open(nir) as d:
        a, prof = d.read(), d.profile
    prof.update(crs="EPSG:4326")
    with rasterio.open(nir, "w", **prof) as d:
        d.write(a)
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", f"{rgb}:{nir}", "-o", str(tmp_path / "o"))
    one_line(code, err, "reproject one onto the other's grid")
    refl = tmp_path / "refl.tif"  # the real band as float reflectance, the model makes 8-bit DN
    with rasterio.open(rgb) as d:
        p = {**d.profile, "count": 1, "dtype": "float32", "nodata": None}
        p.pop("photometric", None)
        t = d.read(1).astype(np.float32) / 255
    with rasterio.open(refl, "w", **p) as d:
        d.write(t[None])
    code, _, err = run_cli("adapt", "-m", "rgb2nir-photo", f"{rgb}:{refl}", "-o", str(tmp_path / "o"))
    one_line(code, err, "the real band looks like reflectance")
    assert not (tmp_path / "o").exists()


def test_adapt_refuses_pairs_too_large_to_hold_before_reading_them(run_cli, tmp_path, monkeypatch):
    from bandbridge.workflows import pairs
    monkeypatch.setattr(pairs, "MAX_MPIX", 0.05)  # the 256² sample is 0.066 MPix
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(tmp_path / "o"))
    one_line(code, err, "adapt holds them in memory and takes up to 0.05 MPix")


# ---------------------------------------------------------------- a full disk
@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 KB tmpfs (root with mount rights only; skipped elsewhere)."""
    d = tmp_path / "tiny"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(d)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights): the full-disk "
                    "case is not exercised on this machine")
    yield d
    subprocess.run(["umount", str(d)], capture_output=True)


@pytest.mark.parametrize("fill_kb", [270, 295])
@pytest.mark.parametrize("cog", [False, True])
def test_a_full_disk_is_one_line_and_leaves_nothing(run_cli, tiny_disk, fill_kb, cog):
    (tiny_disk / "junk").write_bytes(b"\0" * fill_kb * 1024)
    code, _, err = run_cli("predict", str(DATE), "-m", "rgb2nir-naip", "-o", str(tiny_disk / "out.tif"),
                           *FIXED, *(["--cog"] if cog else []))
    one_line(code, err, "writing failed")
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["junk"]  # no output, no temporary


def test_a_full_disk_under_a_reference_run_is_one_line_and_leaves_nothing(run_cli, tiny_disk, tmp_path,
                                                                          monkeypatch):
    """`predict --reference` writes through the same writer: its output on a full disk is one line
    (its work files live in the temporary folder, not beside the output)."""
    from bandbridge.data.reference import raster_grid
    from bandbridge.evaluation.wald import make_reference
    from bandbridge.learners import student
    import rasterio
    monkeypatch.setattr(student, "STEPS", 800)  # a test-sized student (test_student.py's): the write is tested
    with rasterio.open(DATE) as s:
        nir = s.read(4).astype("float32")
    ref = make_reference(nir, raster_grid(DATE), 4, tmp_path / "nir_k4.tif")
    (tiny_disk / "junk").write_bytes(b"\0" * 290 * 1024)
    code, _, err = run_cli("-q", "predict", str(DATE), "-m", "rgb2nir-naip", "--bands", "0,1,2", "--reference", str(ref),
                           "-o", str(tiny_disk / "out.tif"))
    one_line(code, err, "writing failed")
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["junk"]  # no output, no temporary


# ---------------------------------------------------------------- the cache
def _cache_onnx(run_cli, tmp_path) -> None:
    code, _, err = run_cli("predict", str(DATE), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o.tif"),
                           "--backend", "onnx", "--precision", "fp32", "--overwrite")
    assert code == 0, err


def test_cache_clear_deletes_only_its_own_entries(run_cli, tmp_path, monkeypatch):
    cache = tmp_path / "mine"
    (cache / "onnx").mkdir(parents=True)
    (cache / "onnx" / "my_model.onnx").write_bytes(b"user's own")
    (cache / "notes.txt").write_text("mine")
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(cache))
    _cache_onnx(run_cli, tmp_path)
    assert list((cache / "onnx").glob("*/model.onnx"))
    code, out, err = run_cli("cache", "clear")
    assert code == 0 and "left 1 file(s) bandbridge did not write" in out, (out, err)
    assert (cache / "onnx" / "my_model.onnx").read_bytes() == b"user's own"
    assert (cache / "notes.txt").exists() and not list((cache / "onnx").glob("*/model.onnx"))


@pytest.mark.parametrize("case", ["a-file", "graph-is-a-folder"])
def test_an_unusable_cache_never_stops_a_run(run_cli, tmp_path, monkeypatch, case):
    from bandbridge.inference.runtime import cache as cache_mod
    monkeypatch.setattr(cache_mod, "_FALLBACK", [])
    cache = tmp_path / "cache"
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(cache))
    if case == "a-file":
        cache.write_text("not a folder")
    else:
        _cache_onnx(run_cli, tmp_path)
        graph = next(cache.glob("onnx/*/model.onnx"))
        graph.unlink()
        graph.mkdir()
        (graph / "x").write_text("in the way")
    code, _, err = run_cli("predict", str(DATE), "-m", "rgb2nir-naip", "-o", str(tmp_path / "p.tif"),
                           "--backend", "onnx", "--precision", "fp32")
    assert code == 0 and "Traceback" not in err, err
    assert (tmp_path / "p.tif").exists()
    if case == "a-file":
        assert cache.read_text() == "not a folder" and "cache folder cannot be used" in err
    else:
        assert (graph / "x").read_text() == "in the way"  # a folder in the way is not ours to delete


@pytest.mark.parametrize("shape", ["[1, 2]", '"text"', '{"backend": 3}', '{"backend": "onnx", "precision": "fp32", '
                                   '"measured": "x", "candidates": [7]}'])
def test_cache_records_of_another_shape_are_measured_again(run_cli, tmp_path, monkeypatch, shape):
    """A record that is a JSON list gave AttributeError (issue 58): every record of another shape
    (choice, memory, verified, ranking) is ignored and the run measures what it needs again."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(cache))
    run = ["predict", str(DATE), "-m", "rgb2nir-naip", "-o", str(tmp_path / "p.tif"), "--overwrite"]
    assert run_cli(*run)[0] == 0
    records = [p for p in cache.rglob("*.json")]
    assert records
    for p in records:
        p.write_text(shape)
    code, _, err = run_cli(*run)
    assert code == 0 and "Traceback" not in err, err
    assert run_cli("cache", "list")[0] == 0


# ---------------------------------------------------------------- checks before work, exit codes
def test_malformed_confidence_blocks_are_refused_in_one_line(run_cli, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(zoo_models()["rgb2nir-naip"], model)
    meta = yaml.safe_load((model / "model.yaml").read_text())
    for conf, says in [({**meta["confidence"], "coef": [1.0, 2.0]}, "one finite number per feature"),
                       ({**meta["confidence"], "values": ["a"] * len(meta["confidence"]["knots"])}, "finite"),
                       ({**meta["confidence"], "values": [float("nan")] * len(meta["confidence"]["knots"])}, "finite")]:
        (model / "model.yaml").write_text(yaml.safe_dump({**meta, "confidence": conf}, sort_keys=False))
        code, _, err = run_cli("predict", str(DATE), "-m", str(model), "-o", str(tmp_path / "o.tif"),
                               "--confidence", *FIXED)
        one_line(code, err, says)
        assert not (tmp_path / "o.tif").exists()


def test_flags_that_do_not_apply_are_refused(run_cli, tmp_path):
    code, _, err = run_cli("predict", str(DATE), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o.tif"),
                           "--confidence", "--workers", "2")
    one_line(code, err, "--confidence is written by a local predict only")
    for extra, says in ([["--preset", "rgb2nir-pix2pix-cpu"], "drop --preset or --shots"],
                        [["--minutes", "0"], "--minutes 0"], [["--minutes", "-1"], "--minutes -1"]):
        code, _, err = run_cli("loso", "--shots", "1", "-m", "rgb2nir-naip", "--recipes", "naip_opengeos",
                               "-o", str(tmp_path / "s"), *extra)
        one_line(code, err, says)
    code, _, err = run_cli("loso", "--shots", "1", "-m", "rgb2nir-naip", "--recipes", "sr_bsd100",
                           "-o", str(tmp_path / "s"))
    one_line(code, err, "a super-resolution recipe")
    code, _, err = run_cli("loso", "--shots", "1", "-m", "sr-x2", "--recipes", "naip_opengeos",
                           "-o", str(tmp_path / "s"))
    one_line(code, err, "--shots adapts a translation model")


def test_loso_shots_that_scores_nothing_exits_non_zero(run_cli, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    code, _, err = run_cli("loso", "--shots", "1", "-m", "rgb2nir-naip", "--recipes", "naip_opengeos",
                           "--data", str(empty), "-o", str(tmp_path / "s"))
    one_line(code, err, "no source was scored")
    assert json.loads((tmp_path / "s" / "shots.json").read_text())["folds"][0]["methods"] == {}


def test_a_cyclegan_cannot_be_asked_to_enlarge(run_cli, tmp_path):
    code, _, err = run_cli("train", "-p", "rgb2thermal-cyclegan-cpu", "--data", str(SAMPLE), "--runs",
                           str(tmp_path), *sum([["--set", s] for s in [*TINY, "task.scale=2"]], []))
    one_line(code, err, "task.scale 2: must be 1 for translation")
    assert not list(tmp_path.iterdir())


def test_weak_messages_made_plain(run_cli, tmp_path):
    (tmp_path / "col.json").write_text('{"type": "Collection", "stac_version": "1.0.0", "id": "c"}')
    (tmp_path / "broken.json").write_text("{broken")
    for name, says in (("col.json", "JSON of type 'Collection', not a STAC Item"), ("broken.json", "not valid JSON")):
        code, _, err = run_cli("predict", str(tmp_path / name), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o.tif"))
        one_line(code, err, says)
    # --backend onnx on a small job is never an unmeasured int8: the gate judges only what it measured
    code, out, err = run_cli("predict", str(DATE), "-m", "rgb2thermal", "-o", str(tmp_path / "o.tif"),
                             "--backend", "onnx")
    assert code == 0 and "backend: onnx fp32" in out, (out, err)


def test_init_from_takes_a_bundled_models_name(run_cli, tmp_path):
    code, out, err = run_cli("train", "-p", "rgb2nir-photo-cpu", "--data", str(SAMPLE), "--runs", str(tmp_path),
                             "--init-from", "rgb2nir-photo",
                             *sum([["--set", s] for s in ["data.sources=[naip_opengeos]", "train.max_epochs=1",
                                                          "data.samples_per_epoch=8", "data.max_eval_tiles=2",
                                                          "train.learner_minutes=0", "train.within_scene=true",
                                                          "train.threads=1"]], []))
    assert code == 0, err
    assert "--init-from: validation L1" in out  # the bundle's residual was loaded and judged


def test_a_translation_bundle_that_says_it_enlarges_is_refused_in_one_line(run_cli, tmp_path):
    """config.task.scale: 4 in a translation bundle ended in a broadcast ValueError (issue 58)."""
    model = tmp_path / "m"
    shutil.copytree(zoo_models()["rgb2thermal"], model)
    meta = yaml.safe_load((model / "model.yaml").read_text())
    meta["config"]["task"]["scale"] = 4
    (model / "model.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    code, _, err = run_cli("predict", str(DATE), "-m", str(model), "-o", str(tmp_path / "o.tif"))
    one_line(code, err, "task.scale 4: must be 1 for translation")
    assert "model.yaml" in err and not (tmp_path / "o.tif").exists()


def test_an_output_another_run_wrote_meanwhile_is_not_replaced(run_cli, tmp_path, monkeypatch):
    """Two predicts to one output without --overwrite both exited 0 and the later replaced the
    first (issue 58): the later one is refused, the first output kept, nothing else left."""
    import bandbridge.inference.core.outputs as outputs  # the one writer's opening of a raster
    out = tmp_path / "o.tif"
    real = outputs.open_output

    def meanwhile(path, profile):  # the other run finishes while this one writes
        if not out.exists():
            out.write_bytes(b"the other run's output")
        return real(path, profile)
    monkeypatch.setattr(outputs, "open_output", meanwhile)
    code, _, err = run_cli("predict", str(DATE), "-m", "rgb2nir-naip", "-o", str(out), *FIXED)
    one_line(code, err, "written by another run while this one ran; pass --overwrite")
    assert out.read_bytes() == b"the other run's output" and [p.name for p in tmp_path.iterdir()] == ["o.tif"]
    code, _, err = run_cli("predict", str(DATE), "-m", "rgb2nir-naip", "-o", str(out), *FIXED, "--overwrite")
    assert code == 0 and out.read_bytes()[:2] in (b"II", b"MM"), err


def test_a_damaged_learner_block_is_refused_naming_the_bundle(run_cli, tmp_path):
    """Damage to a learner block, re-hashed, was reported in config language ("model.generator for
    'learner': … hidden: …") naming neither the bundle nor the file (issue 58)."""
    from bandbridge.bundle import GEN_HASH_KEY, generator_digest
    model = tmp_path / "m"
    shutil.copytree(zoo_models()["rgb2nir-naip"], model)
    meta = yaml.safe_load((model / "model.yaml").read_text())
    meta["config"]["model"]["generator"]["args"]["hidden"] = "many"
    meta[GEN_HASH_KEY] = generator_digest(meta)  # re-hashed, as the trial did
    (model / "model.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    code, _, err = run_cli("predict", str(DATE), "-m", str(model), "-o", str(tmp_path / "o.tif"))
    one_line(code, err, "hidden")
    assert str(model / "model.yaml") in " ".join(err.split()) and "copy it again" in err, err
