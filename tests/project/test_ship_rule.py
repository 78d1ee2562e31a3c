"""scripts/ship_rule.py (issue 49's rule for what ships) writes into the zoo: its decisions are
re-derived from the kept evidence, and ``--apply`` is run on copies of two bundles — one whose
model ships with its fallback (``rgb2nir-naip``), one replaced by its floor (``rgb2thermal``) —
with the floor and guard the bundles recorded fed in where the script would choose them again on
the full training data (no data read but the sample's one validation image). What it wrote must
load, say the recorded decision in its card and model.yaml, and leave the real zoo alone."""

from __future__ import annotations

import json

import pytest

from bandbridge.bundle import load_bundle
from bandbridge.spec import FLOOR_DIR, read_meta, zoo_dir
from tests.conftest import REPO, SAMPLE, load_file, zoo_copies

RECORD = json.loads((REPO / "docs" / "results" / "ship_rule.json").read_text())
SECTION = "## The zero-shot floor and the rule it sets"


def _module():
    return load_file(REPO / "scripts" / "ship_rule.py", "ship_rule")


@pytest.mark.parametrize("name", sorted(RECORD))
def test_the_kept_evidence_gives_the_recorded_decision(name):
    d = _module().decide(name)
    assert (d["decision"], d["broke"]) == (RECORD[name]["decision"], RECORD[name]["broke"])
    assert [f["fold"] for f in d["folds"]] == [f["fold"] for f in RECORD[name]["folds"]]


def recorded(folder):
    """``measure``'s stand-in: the bundle, the floor and guard it recorded when the rule was
    applied, and (for the NAIP model) the sample's validation image to cut its check sample from."""
    from bandbridge.data.datamodule import PairedDataModule
    from bandbridge.evaluation.evaluate import with_data
    b = load_bundle(folder)
    meta = read_meta(folder / "model.yaml")
    gen = meta["config"]["model"]["generator"]
    floor = dict(meta.get("floor") or gen["floor"])
    guard = floor.pop("ranges", None) or gen.get("guard")
    for k in ("decision", "broke"):
        floor.pop(k, None)
    val = []
    if folder.name == "rgb2nir-naip":
        val = PairedDataModule(with_data(b.config, str(SAMPLE), ["naip_opengeos"])).load_split("val")
    return b, floor, guard, val


def test_apply_writes_the_decision_into_a_copy_of_the_zoo(tmp_path, monkeypatch):
    sr = _module()
    names = ["rgb2nir-naip", "rgb2thermal"]
    zoo = zoo_copies(tmp_path, *names)
    before = {n: (zoo / n / "MODEL_CARD.md").read_text() for n in names}
    real = {p: p.stat().st_mtime_ns for p in zoo_dir().rglob("*") if p.is_file()}
    monkeypatch.setattr(sr, "measure", lambda folder, data: recorded(folder))
    out = tmp_path / "ship_rule.json"
    sr.main(["--apply", "--zoo", str(zoo), "--record", str(out), *names])
    assert {p: p.stat().st_mtime_ns for p in zoo_dir().rglob("*") if p.is_file()} == real
    rec = json.loads(out.read_text())
    assert set(rec) == set(names)
    for n in names:
        assert (rec[n]["decision"], rec[n]["broke"]) == (RECORD[n]["decision"], RECORD[n]["broke"])
        assert rec[n]["floor"] == RECORD[n]["floor"]
        assert rec[n]["command"] == f"python scripts/ship_rule.py --apply {n}"
        card = (zoo / n / "MODEL_CARD.md").read_text()
        assert card.count(SECTION) == 1
        section = card.split(SECTION)[1]
        for f in RECORD[n]["folds"]:
            assert f"\n| {f['fold']} | {f['with']} | {f['model']:.4g} | {f['floor']:.4g} |" in section, f["fold"]

    # the model ships: its weights untouched, the fallback and the floor bundle given, hashes tied
    naip = zoo / "rgb2nir-naip"
    b = load_bundle(naip)
    old = read_meta(zoo_dir() / "rgb2nir-naip" / "model.yaml")
    meta = read_meta(naip / "model.yaml")
    assert meta["weights_sha256"] == old["weights_sha256"]
    g = b.config.model.generator
    assert g.floor["kind"] == RECORD["rgb2nir-naip"]["floor"]["kind"] and g.floor["ranges"]["sources"]
    floor = load_bundle(naip / FLOOR_DIR)
    assert floor.config.model.generator.name == "learner"
    assert meta["floor_sha256"] == read_meta(naip / FLOOR_DIR / "model.yaml")["generator_sha256"]
    card = (naip / "MODEL_CARD.md").read_text()
    assert "**It passed: the model ships**" in card
    assert card.split(SECTION)[0] == before["rgb2nir-naip"].split(SECTION)[0]

    # the floor ships in the model's place: a linear learner saying why, its card says so on top
    thermal = zoo / "rgb2thermal"
    b = load_bundle(thermal)
    assert b.config.model.generator.name == "learner"
    assert b.info["floor"]["broke"] == RECORD["rgb2thermal"]["broke"] == ["tno"]
    assert b.info["floor"]["decision"] == rec["rgb2thermal"]["rule"]
    assert b.info["floor"]["kind"] == RECORD["rgb2thermal"]["floor"]["kind"]
    card = (thermal / "MODEL_CARD.md").read_text()
    assert card.split("\n")[2].startswith(sr.BANNER) and card.count(sr.BANNER) == 1
    assert "**It broke on tno;" in card
    assert not list(zoo.glob(".*.old"))  # the replaced bundle is gone, not left beside
