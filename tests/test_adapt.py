"""`bandbridge adapt` and `loso --shots` end to end on real data: a bundle that predicts, a card
with the before/after table, never worse than its refitted anchor on validation, and every
refusal one line with nothing written."""

import re

import pytest
import yaml

from conftest import SAMPLE, SHARED, needs_shared

NAIP = SAMPLE / "nir_naip_opengeos"
DATE = NAIP / "m_4709963_se_14_1_20200831.tif"


def test_adapt_one_image_keeps_the_linear_anchor_and_writes_a_bundle_predict_takes(run_cli, tmp_path):
    # one pair: its own rows validate, which cannot show how a context fit carries over to
    # other images, so the plain linear anchor is refitted and nothing is fine-tuned
    out = tmp_path / "naip-adapted"
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(out),
                                "--minutes", "0.15")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "generator.safetensors",
                                                     "model.yaml"]
    card = (out / "MODEL_CARD.md").read_text()
    for row in ("zero-shot (rgb2nir-naip)", "linear map (same adapt pixels)",
                "context ridge (same adapt pixels)", "**adapted**", "--within-scene"):
        assert row in card
    kept = re.search(r"Kept: the (adapted|zero-shot) model", card)
    assert kept, card
    if kept.group(1) == "adapted":
        info = yaml.safe_load((out / "model.yaml").read_text())
        assert info["config"]["model"]["generator"]["args"]["anchor"] is True
        assert info["config"]["train"]["max_steps"] == 0 and info["epoch"] == -1
        # the adapted model is the linear map fitted on the adapt rows: its test row equals it
        rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
                for line in card.splitlines() if line.startswith("| ")}
        assert rows["**adapted**"] == rows["linear map (same adapt pixels)"], card
    pred = tmp_path / "nir.tif"
    code, _, err = run_cli("predict", str(NAIP / "m_4709963_se_14_1_20120731.tif"),
                           "--model", str(out), "-o", str(pred))
    assert code == 0 and pred.exists(), err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left


def test_adapt_within_scene_fits_the_context_anchor_and_never_starts_worse(run_cli, tmp_path):
    out = tmp_path / "naip-adapted"
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(out),
                                "--minutes", "0.15", "--within-scene")
    assert code == 0, err
    card = (out / "MODEL_CARD.md").read_text()
    assert "--within-scene" not in card  # the linear-only note is not there
    kept = re.search(r"Kept: the (adapted|zero-shot) model", card)
    assert kept, card
    if kept.group(1) == "zero-shot":  # handed back as it was: nothing below applies
        return
    info = yaml.safe_load((out / "model.yaml").read_text())
    assert info["config"]["model"]["generator"]["args"]["anchor"]["windows"] == [5, 15, 45]
    assert info["baseline"]["anchor"]["kind"] == "ridge-context"
    # never worse: the kept model validates at least as well as the better start
    m = re.search(r"validation L1 ([\d.]+) with the source's residual, ([\d.]+) with the "
                  r"refitted anchor alone", stdout)
    assert m, stdout
    assert info["val_metrics"]["val/l1"] <= min(map(float, m.groups())) + 5e-5


@pytest.mark.parametrize("args,message", [
    (["missing.tif"], "missing.tif: not a file"),
    ([str(DATE) + ":" + "nope.tif"], "nope.tif not found"),
    ([str(DATE), "--region", "rows:0.5:0.2"], "--region rows:0.5:0.2"),
    ([str(DATE), "--region", "diag:0:1"], "--region diag:0:1"),
    ([str(DATE), "--minutes", "0"], "--minutes 0"),
    ([str(DATE), "-m", "sr-x2"], "adapt re-calibrates an anchored translation model"),
    ([str(DATE), "--bands", "red,green,purple"], "purple"),
])
def test_adapt_refusals_are_one_line_and_write_nothing(run_cli, tmp_path, args, message):
    out = tmp_path / "adapted"
    model = [] if "-m" in args else ["-m", "rgb2nir-naip"]
    minutes = [] if "--minutes" in args else ["--minutes", "0.1"]
    code, stdout, err = run_cli("adapt", *model, *args, "-o", str(out), *minutes)
    assert code == 2, (stdout, err)
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_adapt_keeps_an_existing_output_without_overwrite(run_cli, tmp_path):
    out = tmp_path / "adapted"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(out))
    assert code == 2 and "--overwrite" in err
    assert (out / "keep.txt").read_text() == "mine"


@needs_shared
def test_loso_shots_scores_adapted_against_every_bar(run_cli, tmp_path):
    code, stdout, err = run_cli("loso", "--shots", "1", "-m", "rgb2nir-s2", "--recipes",
                                "s2_eolearn", "--data", str(SHARED), "--minutes", "0.05",
                                "--out", str(tmp_path / "shots"))
    assert code == 0, err
    table = (tmp_path / "shots" / "shots.md").read_text()
    head = table.splitlines()[2]
    for col in ("zero-shot", "linear", "ridge-context", "mean", "scratch", "model",
                "adapted vs linear"):
        assert col in head
    assert "s2_eolearn (seen in training) | 1 image(s) adapt" in table
