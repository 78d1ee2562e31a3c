from pathlib import Path
import pytest
import torch

from bandbridge.config import load_config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.data.datasets import EpochSampler, RandomCropDataset, grid_windows
from bandbridge.data.items import SPLITS, Item, assign_split, check_disjoint, discover, group_keys
from bandbridge.config import SplitSpec
from bandbridge.errors import BandbridgeError
from conftest import SAMPLE, SHARED, needs_shared


def _ids(by_split):
    return {s: {i.id for i in items} for s, items in by_split.items()}


def test_sample_split_by_date():
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE))
    ids = _ids(discover(cfg.data))
    assert [len(ids[s]) for s in SPLITS] == [2, 1, 1]
    assert all("2018" in i for i in ids["val"]) and all("2020" in i for i in ids["test"])


def test_overlap_between_splits_is_refused():
    a = Item("a", "/x/a.tif", "/x/a.tif", 0)
    with pytest.raises(BandbridgeError, match="both the 'train' and 'val' splits"):
        check_disjoint({"train": [a], "val": [Item("a2", "/x/a.tif", "/x/a.tif", 0)], "test": []})


def test_group_split_keeps_sites_together():
    spec = SplitSpec(val_fraction=0.3, test_fraction=0.3, group=r"([^/]+)_\d{8}\.tif$")
    names = [f"{d}/SITE{k}_2020010{d[-1]}.tif" for k in range(40) for d in ("pre1", "post2")]
    keys = group_keys(names, spec, Path("."), "test")
    got = {}
    for n in names:
        got.setdefault(n.split("/")[1][:-13], set()).add(assign_split(n, spec, None, keys[n]))
    assert all(len(s) == 1 for s in got.values())  # pre and post of a site: one split
    assert {x for s in got.values() for x in s} == set(SPLITS)



def test_frame_number_blocks_keep_neighbouring_frames_in_one_split():  # frame_blocks: the old rule
    # a video's frames (every 3rd of 600) and a second camera's: neighbours must not straddle
    ids = [f"cam_{k:05d}" for k in range(0, 600, 3)] + [f"cam_video_{k:05d}" for k in range(40)]
    spec = SplitSpec(val_fraction=0.2, test_fraction=0.2, frame_blocks=20)
    keys = group_keys(ids, spec, Path("."), "test")
    assert len({keys[i] for i in ids}) == 40  # 20 runs of consecutive numbers per prefix
    split = {i: assign_split(i, spec, None, keys[i]) for i in ids}
    frames = [i for i in ids if "video" not in i]
    changes = sum(split[a] != split[b] for a, b in zip(frames, frames[1:]))
    assert changes <= 19 and set(split.values()) == set(SPLITS)  # only at block boundaries
    runs = [split[i] for i in frames]
    assert all(len(set(runs[k:k + 10])) == 1 for k in range(0, 200, 10))  # blocks of 10 frames
    loose = group_keys(ids, SplitSpec(val_fraction=0.2, frame_blocks=0), Path("."), "test")
    assert all(loose[i] == i for i in ids)  # frame_blocks 0: each item its own group


def test_groups_csv_keeps_a_scene_together_and_bad_files_say_what_to_fix(tmp_path):
    (tmp_path / "g.csv").write_text("file,group\na_1.png,house\na_2.png,house\nb.png,lake\n")
    spec = SplitSpec(val_fraction=0.5, groups_file="g.csv")
    keys = group_keys(["a_1", "a_2", "b", "c"], spec, tmp_path, "src")
    assert keys == {"a_1": "house", "a_2": "house", "b": "lake", "c": "c"}
    with pytest.raises(BandbridgeError, match="groups_file .*not found; give a CSV"):
        group_keys(["a"], SplitSpec(groups_file="nope.csv"), tmp_path, "src")
    (tmp_path / "bad.csv").write_text("name,scene\na.png,x\n")
    with pytest.raises(BandbridgeError, match="columns 'file' and 'group'"):
        group_keys(["a"], SplitSpec(groups_file="bad.csv"), tmp_path, "src")
    # a FIFO hung the run (issue 58): refused before it is opened, as is the split file's
    import os
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(BandbridgeError, match="split.groups_file .*fifo: not a regular file"):
        group_keys(["a"], SplitSpec(groups_file="fifo"), tmp_path, "src")
    from bandbridge.data.splits import read_split_file
    with pytest.raises(BandbridgeError, match="split.file .*fifo: not a regular file"):
        read_split_file("fifo", tmp_path)


def test_a_group_that_is_not_a_regex_is_refused_naming_the_key(run_cli, tmp_path):
    """split.group '([a-z' ended in a re.error traceback that named no key (issue 58)."""
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="group\n.*not a regular expression"):
        SplitSpec(group="([a-z")
    code, _, err = run_cli("train", "--preset", "rgb2nir-pix2pix-cpu", "--set", "data.sources.0.split.group=([a-z",
                           "--runs", str(tmp_path / "runs"))
    assert code == 2 and "split.group" in err and "not a regular expression" in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


@needs_shared
def test_real_video_and_night_sets_split_by_sequence():
    cfg = load_config("rgb2thermal-cpu", data_root=str(SHARED))
    by = discover(cfg.data)
    import csv
    rows = list(csv.DictReader(open(SHARED / "thermal_tno" / "groups.csv")))
    group = {Path(r["file"]).stem: r["group"] for r in rows}
    where: dict[str, set] = {}
    for s, items in by.items():
        for it in items:
            if it.id in group:
                where.setdefault(group[it.id], set()).add(s)
    assert all(len(v) == 1 for v in where.values())  # a TNO scene or sequence: one split
    assert {s for v in where.values() for s in v} == set(SPLITS)
    flir = sorted((int(i.id[-5:]), s) for s, items in by.items() for i in items
                  if i.id.startswith("FLIR_0"))
    changes = sum(a[1] != b[1] for a, b in zip(flir, flir[1:]))
    assert changes < 20 and len({s for _, s in flir}) == 3  # RoadScene: frame blocks, not frames

@needs_shared
@pytest.mark.parametrize("preset", ["rgb2nir-wgangp-cpu", "rgb2nir-pix2pix-cpu", "rgb2nir-nirgan-cpu", "sar2optical-cpu",
                                    "rgb2thermal-cpu", "rgb2nir-photo-cpu", "sr-x2-cpu", "sr-x3-cpu", "sr-x4-cpu"])
def test_every_preset_finds_disjoint_real_splits(preset):
    cfg = load_config(preset, data_root=str(SHARED))
    by = discover(cfg.data)
    assert by["train"] and by["val"] and by["test"]
    files = [{f for i in by[s] for f in (i.input_path, i.target_path)} for s in SPLITS]
    assert not (files[0] & files[1]) and not (files[0] & files[2]) and not (files[1] & files[2])


def test_crops_are_paired_augmented_and_reproducible():
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE),
                      overrides=["data.patch_size=64", "data.augment={}"])  # geometry only
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    ds = RandomCropDataset(dm.pairs["train"], cfg.data, 1, 16, seed=3)
    a, b = ds[5], ds[5]
    assert torch.equal(a["input"], b["input"]) and a["meta"] == b["meta"]
    assert a["input"].shape == (3, 64, 64) and a["target"].shape == (1, 64, 64)
    assert a["mask"].shape == (1, 64, 64) and a["mask"].dtype == torch.bool
    # The same flips/rotation hit input and target: undo them and compare with the source crop.
    pair = next(p for p in dm.pairs["train"] if p.item.id == a["meta"]["id"])
    r, c = a["meta"]["row"], a["meta"]["col"]
    src_x, src_y = pair.x[:, r:r + 64, c:c + 64], pair.y[:, r:r + 64, c:c + 64]
    for k in range(4):
        for fx in (False, True):
            for fy in (False, True):
                t = lambda z: torch.rot90(z.flip(-1) if fx else z, k, (-2, -1))
                t2 = lambda z: t(z.flip(-2) if fy else z)
                if torch.equal(t2(src_x), a["input"]):
                    assert torch.equal(t2(src_y), a["target"])
                    return
    pytest.fail("crop is not a flipped/rotated window of its source")


def test_epoch_sampler_indices_differ_by_epoch_and_rank():
    s0, s1 = EpochSampler(4, 0, 2), EpochSampler(4, 1, 2)
    first = list(s0) + list(s1)
    s0.set_epoch(1)
    assert len(set(first)) == 8 and not set(first) & set(s0)


def test_grid_windows_cover_the_image():
    wins = grid_windows(100, 70, 32)
    cover = torch.zeros(100, 70, dtype=torch.bool)
    for r, c in wins:
        cover[r:r + 32, c:c + 32] = True
        assert r + 32 <= 100 and c + 32 <= 70
    assert cover.all()


@needs_shared
def test_super_resolution_pairs_are_scaled():
    cfg = load_config("sr-x4-cpu", data_root=str(SHARED))
    dm = PairedDataModule(cfg)
    dm.setup("validate")
    p = dm.pairs["val"][0]
    assert p.y.shape[1:] == (p.x.shape[1] * 4, p.x.shape[2] * 4)
    tile = dm.val_dataloader().dataset[0]
    assert tile["input"].shape == (3, 48, 48) and tile["target"].shape == (3, 192, 192)


def _png(path, shape, value):
    import numpy as np
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)


def _paired_cfg(root, **src):
    from bandbridge.config import build_config
    base = {"layout": "paired", "input": {"bands": ["red", "green", "blue"], "scaling": "uint8"},
            "target": {"bands": [0], "scaling": "uint8"}}
    return build_config({"name": "t", "data": {"root": str(root), "sources": [{**base, **src}]}})


def test_pix2pix_folder_layout_gives_the_split(tmp_path):
    for split, n in (("train", 3), ("val", 2), ("test", 1)):
        for i in range(n):
            _png(tmp_path / f"{split}_A" / f"{split}{i}.png", (32, 32, 3), 10 * i)
            _png(tmp_path / f"{split}_B" / f"{split}{i}.png", (32, 32), 20 * i)
    cfg = _paired_cfg(tmp_path, input_dir="{split}_A", target_dir="{split}_B")
    by = discover(cfg.data)
    assert {s: len(v) for s, v in by.items()} == {"train": 3, "val": 2, "test": 1}
    assert all(it.input_path.endswith(f"{it.id}.png") and "_A" in it.input_path for it in by["val"])


def test_split_file_assigns_ids(tmp_path):
    import json
    for i in range(5):
        _png(tmp_path / "A" / f"s{i}.png", (32, 32, 3), i)
        _png(tmp_path / "B" / f"s{i}.png", (32, 32), i)
    (tmp_path / "split.json").write_text(json.dumps({"train": ["s0", "s1"], "val": ["s2"], "test": ["s3", "s4"]}))
    cfg = _paired_cfg(tmp_path, input_dir="A", target_dir="B", split={"file": "split.json"})
    ids = _ids(discover(cfg.data))
    assert ids == {"train": {"s0", "s1"}, "val": {"s2"}, "test": {"s3", "s4"}}


def test_multiscale_crops_average_down_and_scale_gsd():
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE),
                      overrides=["data.patch_size=32", "data.resample=[4]", "data.flip=false", "data.augment={}",
                                 "data.rot90=false"])
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    ds = RandomCropDataset(dm.pairs["train"], cfg.data, 1, 4, seed=0)
    s = ds[0]
    assert s["input"].shape == (3, 32, 32) and s["meta"]["gsd"] == 4 * 5.0
    pair = next(p for p in dm.pairs["train"] if p.item.id == s["meta"]["id"])
    r, c = s["meta"]["row"], s["meta"]["col"]
    block = pair.x[:, r:r + 4, c:c + 4].mean((1, 2))  # the first output pixel = mean of 4×4
    assert torch.allclose(s["input"][:, 0, 0], block, atol=1e-6)


@needs_shared
def test_multi_sensor_batches_keep_each_sources_scaling():
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SHARED),
                      overrides=["data.sources=[naip_opengeos, s2_eolearn]", "data.patch_size=64"])
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    ds = RandomCropDataset(dm.pairs["train"], cfg.data, 1, 64, seed=0)
    seen = {}
    for i in range(64):
        s = ds[i]
        seen.setdefault(s["meta"]["source"], []).append(s)
    assert set(seen) == {"naip_opengeos", "s2_eolearn"}
    naip = next(p for p in dm.pairs["train"] if p.source.name == "naip_opengeos")
    s2 = next(p for p in dm.pairs["train"] if p.source.name == "s2_eolearn")
    # Each source through its own scaling: NAIP DN/255 on a 1/255 lattice, S2 reflectance as is.
    assert torch.allclose(naip.x * 255, (naip.x * 255).round(), atol=1e-3)
    import numpy as np
    raw = np.load(SHARED / "nir_s2_eolearn" / "REFERENCE_SCENES.npy", mmap_mode="r")
    k = int(s2.item.id.split("[")[1][:-1])
    assert torch.allclose(s2.x[0], torch.from_numpy(np.array(raw[k, :, :, 3])), atol=1e-6)


@pytest.mark.parametrize("sources,says", [
    ("[{recipe: naip_opengeos, name: ../../../x}]", "never a path"),
    ("[naip_opengeos,{recipe: naip_stactools, name: naip_opengeos}]", "two sources named 'naip_opengeos'"),
])
def test_a_sources_name_is_plain_and_its_own(run_cli, tmp_path, sources, says):
    """Two sources of one name were merged (turning off leave-one-source-out), and a name like
    ../../../x was accepted (issue 58): both refused naming the key."""
    code, _, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--set", f"data.sources={sources}",
                           "--runs", str(tmp_path / "runs"))
    assert code == 2 and "data.sources" in err and says in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()
