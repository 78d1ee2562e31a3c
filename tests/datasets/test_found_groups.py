"""Groups of near-copies found when the user names none (data/found_groups.py), the splits dealt
by them, and the one-group rule: validation that cannot see other scenes is a warning, not a
validation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from conftest import SAMPLE, SHARED, TINY, needs_shared

from bandbridge.config import SplitSpec
from bandbridge.data.found_groups import (blind_validation, find_groups, image_links, name_links,
                                          place_links)
from bandbridge.data.items import discover
from bandbridge.data.splits import fraction_splits, group_keys


def _n_groups(g: dict[str, str]) -> int:
    return len(set(g.values()))


def test_consecutive_frames_of_one_sequence_are_one_group():
    frames = [f"night_{k:04d}" for k in range(100, 132)]  # 32 frames of one video
    assert _n_groups(find_groups(frames)) == 1
    every_third = [f"night_{k:04d}" for k in range(0, 96, 3)]
    assert _n_groups(find_groups(every_third)) == 1


def test_a_sparse_counter_is_cut_where_it_jumps():
    # three drives of one camera counter, frames every ~20 numbers, drives thousands apart
    ids = [f"FLIR_{d + 20 * k:05d}" for d in (100, 4000, 9000) for k in range(10)]
    g = find_groups(ids)
    assert _n_groups(g) == 3
    assert len({g[f"FLIR_{100 + 20 * k:05d}"] for k in range(10)}) == 1
    assert g["FLIR_00100"] != g["FLIR_04000"] != g["FLIR_09000"]


def test_names_that_differ_in_more_than_numbers_never_link():
    ids = ["country_0000", "country_0005", "mountain_0000", "mountain_0003", "lake"]
    g = find_groups(ids)
    assert g["country_0000"] == g["country_0005"] != g["mountain_0000"] == g["mountain_0003"]
    assert g["lake"] == "lake"
    # an earlier counter that steps by one continues the sequence (part1 → part2)
    assert name_links(["fire_part1_0026", "fire_part2_0000"]) == [(0, 1)]


def test_near_copy_images_and_overlapping_footprints_link():
    a, b, c = 0b1011 << 40, (0b1011 << 40) ^ 0b111, ~(0b1011 << 40) & ((1 << 64) - 1)
    assert image_links([a, b, c, None]) == [(0, 1)]  # 3 bits apart; the complement is not
    places = [("EPSG:32614", (0, 0, 100, 100)), ("EPSG:32614", (40, 0, 140, 100)),
              ("EPSG:32614", (95, 0, 195, 100)), ("EPSG:4326", (0, 0, 100, 100)), None]
    # 60 % of the smaller footprint overlaps: one site; 45 %: neighbours; another CRS: apart
    assert place_links(places) == [(0, 1)]


def test_found_groups_are_dealt_whole_to_the_splits_by_their_fractions():
    sites = "alder birch cedar dune elm fen gorse heath ivy juniper kelp larch".split()
    ids = [f"{s}_{k:03d}" for d, s in enumerate(sites) for k in range(0, 20 * (d % 3 + 1), 2)]
    spec = SplitSpec(val_fraction=0.2, test_fraction=0.2)
    keys = group_keys(ids, spec, Path("."), "t")
    assert _n_groups(keys) == 12
    by_group = fraction_splits(keys, spec)
    assert set(by_group.values()) == {"train", "val", "test"}
    share = {s: sum(1 for i in ids if by_group[keys[i]] == s) / len(ids) for s in ("val", "test")}
    assert all(0.1 <= v <= 0.3 for v in share.values()), share
    # too few groups for the fractions: no dealing (the split falls back to frame blocks)
    assert fraction_splits({"a_1": "a", "a_2": "a", "b_1": "b"}, spec) is None


def test_blind_validation_says_when_validation_cannot_see_other_scenes():
    class P:
        def __init__(self, i, g):
            self.item, self.group = type("I", (), {"id": i})(), g
    assert blind_validation([P("a", "s/x"), P("b", "s/x")], [P("c", "s/x")]) == \
        "validation cannot see other scenes: 3 item(s), 1 group(s)"
    assert "every validation group also trains" in blind_validation(
        [P("a", "s/x"), P("b", "s/y")], [P("c", "s/x")])
    assert blind_validation([P("a", "s/x")], [P("c", "s/y")]) is None


def _known_vs_found(known: dict[str, str], found: dict[str, str]) -> tuple[set, list]:
    """(known groups split over several found groups, found groups that mix known groups)."""
    spans: dict[str, set] = {}
    mixes: dict[str, set] = {}
    for i, k in known.items():
        spans.setdefault(k, set()).add(found[i])
        mixes.setdefault(found[i], set()).add(k)
    return {k for k, v in spans.items() if len(v) > 1}, [v for v in mixes.values() if len(v) > 1]


def _folder(folder: Path) -> tuple[list[str], list[str]]:
    fs = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".tif"))
    return [p.stem for p in fs], [str(p) for p in fs]


@needs_shared
def test_tno_sequences_are_found_and_no_found_group_mixes_two_scenes():
    known = {r["file"].rsplit(".", 1)[0]: r["group"]
             for r in csv.DictReader(open(SHARED / "thermal_tno" / "groups.csv"))}
    ids, paths = _folder(SHARED / "thermal_tno" / "visible")
    found = find_groups(ids, paths)
    split, mixed = _known_vs_found(known, found)
    assert mixed == []  # a found group never holds two of the data's scenes
    # every numbered sequence is one found group; what stays apart are differently named shots of
    # one scene (e.g. Athena_APC_4 beside APC_1_view_1 …): the groups file exists for those
    assert not split & {"DHV_Fire_sequence", "FEL_Nato_camp_sequence", "FEL_Tree_sequence",
                        "FEL_Duine_sequence", "Triclobs_Kaptein", "Athena_soldier_behind_smoke"}
    assert split <= {"Athena_house", "Athena_APC_Fennek", "Triclobs_Marnehuizen"}


@needs_shared
def test_epfl_categories_and_roadscene_cameras_are_separated():
    ids, paths = _folder(SHARED / "nir_epfl_rgbnir_photos" / "rgb")
    found = find_groups(ids, paths)
    split, mixed = _known_vs_found({i: i.split("_")[0] for i in ids}, found)
    assert split == set() and mixed == []  # one group per category, exactly
    ids, paths = _folder(SHARED / "thermal_roadscene" / "crop_LR_visible")
    found = find_groups(ids, paths)
    assert 10 <= _n_groups(found) <= 60  # drives of one counter, cut where it jumps
    video = {found[i] for i in ids if "video" in i}
    assert not video & {found[i] for i in ids if "video" not in i}


@needs_shared
def test_naip_dates_of_one_place_are_one_group_and_never_straddle_splits(tmp_path):
    ids, paths = _folder(SHARED / "nir_naip_opengeos")
    assert _n_groups(find_groups(ids, paths)) == 1  # ten dates, one footprint
    ids, paths = _folder(SHARED / "naip_stactools")
    assert _n_groups(find_groups(ids, paths)) >= 3  # six places over the US
    # a user's source with fractions and no group rule: RoadScene's found groups, dealt whole
    from bandbridge.config import DataConfig
    cfg = DataConfig(root=str(SHARED), sources=[{
        "name": "rs", "layout": "paired", "input_dir": "thermal_roadscene/crop_LR_visible",
        "target_dir": "thermal_roadscene/cropinfrared",
        "input": {"bands": ["red", "green", "blue"], "scaling": "uint8"},
        "target": {"bands": ["gray"], "scaling": "uint8"},
        "split": {"val_fraction": 0.15, "test_fraction": 0.15}}])
    by_split = discover(cfg)
    groups = {s: {it.group for it in items} for s, items in by_split.items()}
    assert all(groups[s] for s in ("train", "val", "test"))
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    assert not (groups["val"] & groups["test"])


def _one_sequence(tmp_path: Path, n: int = 6) -> Path:
    """A user's folder of consecutive frames of one scene: crops of the sample's NAIP image."""
    import rasterio
    src = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
    with rasterio.open(src) as ds:
        a = ds.read(window=((0, 96), (0, 96 + 8 * n)))
    for k in range(n):
        for side, bands in (("rgb", a[:3]), ("nir", a[3:4])):
            (tmp_path / side).mkdir(exist_ok=True)
            with rasterio.open(tmp_path / side / f"frame_{k:04d}.tif", "w", driver="GTiff",
                               width=96, height=96, count=len(bands), dtype="uint8") as out:
                out.write(bands[:, :, 8 * k:8 * k + 96])
    cfg = tmp_path / "one.yaml"
    cfg.write_text(
        "base: rgb2nir-wgangp-cpu\nname: one-sequence\n"
        f"data:\n  root: {tmp_path}\n  sources:\n  - name: frames\n    layout: paired\n"
        "    input_dir: rgb\n    target_dir: nir\n"
        "    input: {bands: [0, 1, 2], band_names: [red, green, blue], scaling: uint8}\n"
        "    target: {bands: [0], band_names: [nir], scaling: uint8}\n"
        "    split: {val_fraction: 0.3}\n")
    return cfg


def test_a_source_of_one_sequence_triggers_the_one_group_rule(tmp_path, run_cli):
    cfg = _one_sequence(tmp_path)
    tiny = [s for o in TINY if "within_scene" not in o for s in ("--set", o)]
    code, out, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs"),
                             *tiny, "--set", "train.max_epochs=1", "--set", "data.patch_size=64")
    assert code == 0, err
    assert "groups of frames (found in names, images and footprints): train" in out
    assert "validation cannot see other scenes: 6 item(s), 1 group(s) — model/best will be " \
           "the constant or the linear map" in out
    run = next((tmp_path / "runs" / "one-sequence").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["split_groups"]["blind"].startswith("validation cannot see other scenes")
    assert summary["learner"]["kept"] == "learner"
    assert summary["learner"]["chosen"] in ("constant", "linear")
    # the rule keeps a map whatever a network scores: no network is trained (issue 58)
    assert "no network is trained" in out and summary["epochs"] == 0
    assert summary["network"].startswith("not trained") and not (run / "checkpoints" / "last.ckpt").exists()
    from bandbridge.bundle import load_bundle
    b = load_bundle(run / "model" / "best")
    assert b.config.model.generator.name == "learner"  # the linear map, not the network
    assert b.info["learner"]["blind"].startswith("validation cannot see other scenes")
    assert (run / "model" / "network" / "model.yaml").exists()
    members = json.loads((run / "groups.json").read_text())["frames"]
    assert len({g for s in members.values() for g in s}) == 1  # one group, in train and val
    card = (run / "model" / "best" / "MODEL_CARD.md").read_text()
    assert "Groups of near-copies per split (the run's groups.json): train 1, val 1." in card
    assert "Why: validation cannot see other scenes: 6 item(s), 1 group(s)" in card
    assert f"| **{summary['learner']['chosen']}** |" in card  # the kept row, bold
    code, out, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs3"),
                             *tiny, "--set", "train.max_epochs=1", "--set", "data.patch_size=64",
                             "--set", "train.network=always")  # asked: trained, kept as model/network
    assert code == 0 and "no network is trained" not in out, err
    run3 = next((tmp_path / "runs3" / "one-sequence").iterdir())
    assert json.loads((run3 / "summary.json").read_text())["epochs"] == 1
    assert load_bundle(run3 / "model" / "best").config.model.generator.name == "learner"
    # consent: the network (or any learner) may be kept
    code, out, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs2"),
                             *tiny, "--set", "train.max_epochs=1", "--set", "data.patch_size=64",
                             "--within-scene")
    assert code == 0, err
    assert "(train.within_scene: model selection within the scenes, as asked)" in out
    run = next((tmp_path / "runs2" / "one-sequence").iterdir())
    assert "blind" not in json.loads((run / "summary.json").read_text())["split_groups"]


def test_evaluation_states_how_many_groups_it_held(trained_run):
    from bandbridge.evaluation.evaluate import evaluate
    res = evaluate(trained_run, split="val")
    assert res.summary["protocol"]["groups"] == 1
    assert "val split: 1 image(s) in 1 group(s) of near-copies" in res.table
    assert np.isfinite(res.summary["methods"]["model"]["mae"])


def test_adapt_finds_two_dates_of_one_place_are_one_group_whatever_their_arguments(run_cli,
                                                                                  tmp_path):
    """Each PAIRS argument is its own source, but two NAIP dates of one quad are near-copies of
    one place: one group, so adapt keeps a simple learner and says why."""
    naip = SAMPLE / "nir_naip_opengeos"
    dates = sorted(naip.glob("*.tif"))[:2]
    out = tmp_path / "adapted"
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", *map(str, dates), "-o", str(out),
                                "--minutes", "0.2")
    assert code == 0, err
    card = (out / "MODEL_CARD.md").read_text()
    assert "on 2 image(s) in 1 group(s)" in card
    assert "Validation cannot see other scenes: 2 item(s), 1 group" in card
    kept = next(line for line in card.splitlines() if "— kept**" in line)
    assert any(k in kept for k in ("zero-shot", "linear map", "constant")), card


def test_training_on_two_one_pixel_images_is_one_line_and_leaves_no_run(tmp_path, run_cli):
    """`train` on two 1-pixel images ended in the folds' ValueError (issue 58): refused in one
    line that says how large an image must be, and no run folder is left."""
    import rasterio
    for k, name in enumerate(("alpha", "omega")):
        for side, n in (("rgb", 3), ("nir", 1)):
            (tmp_path / side).mkdir(exist_ok=True)
            with rasterio.open(tmp_path / side / f"{name}.tif", "w", driver="GTiff", width=1, height=1,
                               count=n, dtype="uint8") as o:
                o.write(np.full((n, 1, 1), 50 + 60 * k, np.uint8))
    cfg = tmp_path / "one.yaml"
    cfg.write_text(
        "base: rgb2nir-wgangp-cpu\nname: onepx\n"
        f"data:\n  root: {tmp_path}\n  sources:\n  - name: frames\n    layout: paired\n"
        "    input_dir: rgb\n    target_dir: nir\n"
        "    input: {bands: [0, 1, 2], band_names: [red, green, blue], scaling: uint8}\n"
        "    target: {bands: [0], band_names: [nir], scaling: uint8}\n"
        "    split: {val: [omega]}\n")
    code, out, err = run_cli("train", "--config", str(cfg), "--runs", str(tmp_path / "runs"),
                             "--set", "train.max_epochs=1")
    assert code == 2, (out, err)
    last = err.strip().splitlines()[-1]
    assert "too small to hold any out" in last and "Traceback" not in err
    assert not (tmp_path / "runs" / "onepx").exists()
