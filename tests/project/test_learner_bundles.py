"""scripts/learner_bundles.py writes into the zoo: its write step runs here on copies of bundles
(``--zoo``) with the comparison's recorded outcome (``docs/results/learner_bundles.json``) fed in
where the script would fit the selection core on the full training data — what it wrote must
load and say what the record says was kept."""

from __future__ import annotations

import json

import numpy as np

from bandbridge.bundle import load_bundle
from bandbridge.spec import read_meta, zoo_dir
from tests.conftest import REPO, SAMPLE, load_file, zoo_copies

RESULTS = json.loads((REPO / "docs" / "results" / "learner_bundles.json").read_text())
RUN_ONLY = ("command", "measured", "seconds", "units", "scale")  # what main adds to compare's record


def _module():
    return load_file(REPO / "scripts" / "learner_bundles.py")

def copies(tmp_path, *names):
    return zoo_copies(tmp_path, *names)

def headings(card: str) -> list[str]:
    return [ln for ln in card.splitlines() if ln.startswith("## ")]


def test_sections_only_rewrites_the_learner_section_and_keeps_the_rest(tmp_path):
    lb = _module()
    zoo = copies(tmp_path, "rgb2nir-naip", "rgb2nir-photo", "rgb2thermal")
    lb.main(["--sections-only", "--zoo", str(zoo), "rgb2nir-naip", "rgb2nir-photo", "rgb2thermal"])
    for n in ("rgb2nir-naip", "rgb2nir-photo"):  # their records and tables unchanged since: the same card
        assert (zoo / n / "MODEL_CARD.md").read_text() == (zoo_dir() / n / "MODEL_CARD.md").read_text()
    # rgb2thermal's evaluation table was re-measured after the floor replaced it: the section's test
    # line follows the table, the sections after it (the floor's) stay where they were
    old, new = ((z / "rgb2thermal" / "MODEL_CARD.md").read_text() for z in (zoo_dir(), zoo))
    assert headings(new) == headings(old) and headings(new)[-1].startswith("## The zero-shot floor")
    mae = next(ln for ln in new.splitlines() if ln.startswith("| mae |")).split("|")[2].strip()
    assert f"the bundle's MAE is {mae} DN (8-bit)" in new
    assert new.split(lb.SECTION)[0] == old.split(lb.SECTION)[0]
    assert new.split("## The zero-shot floor")[1] == old.split("## The zero-shot floor")[1]


def recorded(name: str) -> dict:
    return {k: v for k, v in RESULTS[name].items() if k not in RUN_ONLY}


def test_a_kept_network_is_left_as_it_is_and_recorded(tmp_path, monkeypatch):
    lb = _module()
    zoo = copies(tmp_path, "rgb2nir-photo")
    monkeypatch.setattr(lb, "splits", lambda b, data: (b.config, [], []))
    monkeypatch.setattr(lb, "compare", lambda *a, **k: (recorded("rgb2nir-photo"), None))
    out = tmp_path / "learner_bundles.json"
    res = lb.main(["--zoo", str(zoo), "--results", str(out), "rgb2nir-photo"])
    assert json.loads(out.read_text()) == res
    rec = res["rgb2nir-photo"]
    assert {k: rec[k] for k in ("command", "units", "scale")} == \
        {k: RESULTS["rgb2nir-photo"][k] for k in ("command", "units", "scale")}
    folder = zoo / "rgb2nir-photo"
    for f in ("generator.safetensors", "model.yaml", "check.safetensors", "MODEL_CARD.md"):
        assert (folder / f).read_bytes() == (zoo_dir() / "rgb2nir-photo" / f).read_bytes(), f
    load_bundle(folder)


def test_a_kept_learner_becomes_the_bundle_with_its_check_sample_and_error_model(tmp_path, monkeypatch):
    """``rgb2nir-naip`` (the record kept a learner): the learner written in the network's place
    is its floor's linear map here (the stand-in for the refit), validated on the sample's image."""
    from bandbridge.data.datamodule import PairedDataModule
    from bandbridge.evaluation.evaluate import with_data
    from bandbridge.learners.linear import Linear
    from bandbridge.workflows.learner_best import writer
    lb = _module()
    zoo = copies(tmp_path, "rgb2nir-naip")
    folder = zoo / "rgb2nir-naip"
    cfg = with_data(load_bundle(folder).config, str(SAMPLE), ["naip_opengeos"])
    val = PairedDataModule(cfg).load_split("val")
    monkeypatch.setattr(lb, "splits", lambda b, data: (cfg, [], val))

    def compare(best, cfg, train, val, budget_s):
        b = load_bundle(best)
        lin = Linear()
        lin.coef_ = np.array(b.config.model.generator.floor["linear"])
        rec = recorded("rgb2nir-naip")
        return rec, writer(b, cfg, lin.module(b.in_channels, b.out_channels), lin.generator(), rec)
    monkeypatch.setattr(lb, "compare", compare)
    res = lb.main(["--zoo", str(zoo), "--results", str(tmp_path / "r.json"), "rgb2nir-naip"])
    b = load_bundle(folder)
    assert b.config.model.generator.name == "learner"
    assert b.info["learner"]["kept"] == res["rgb2nir-naip"]["kept"] == "learner"
    assert b.info["epoch"] == -1 and b.info["val_metrics"] == {}
    assert b.info["confidence"]["fitted_on"]  # the error model fitted on the learner, on val
    check = (folder / "check.safetensors").read_bytes()
    assert check != (zoo_dir() / "rgb2nir-naip" / "check.safetensors").read_bytes()
    meta = read_meta(folder / "model.yaml")
    assert meta["weights_sha256"] != read_meta(zoo_dir() / "rgb2nir-naip" / "model.yaml")["weights_sha256"]
    card = (folder / "MODEL_CARD.md").read_text()
    assert card.count(lb.SECTION) == 1 and "**Kept: the learner" in card
    assert "(float16 weights, as shipped)" not in card
