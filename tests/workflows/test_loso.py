"""Leave-one-source-out folds, and one name that routes to the model fitting the input."""

import json

import numpy as np
import pytest
import rasterio

from bandbridge.errors import BandbridgeError
from bandbridge.workflows.loso import held_out_source, parse_folds, train_source
from bandbridge.inference.core.look import look_at
from bandbridge.inference.core.route import route_model
from conftest import SAMPLE, SHARED, TINY, needs_shared

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def test_folds_hold_out_each_source_or_the_given_groups():
    names = ["s2_wildfire", "s2_eolearn", "s2_majortom"]
    f = parse_folds([], names)
    assert [x.test for x in f] == [[n] for n in names]
    assert all(set(x.train) == set(names) - set(x.test) for x in f)
    f = parse_folds(["l2a->l1c=s2_wildfire,s2_majortom>s2_eolearn,s2_sen12mscr"], names)[0]
    assert (f.name, f.train, f.test) == ("l2a->l1c", ["s2_wildfire", "s2_majortom"], ["s2_eolearn", "s2_sen12mscr"])
    f = parse_folds(["noeo=s2_eolearn"], names)[0]
    assert f.train == ["s2_wildfire", "s2_majortom"]
    for bad in ("nofold", "x=s2_eolearn>s2_eolearn", "x=unknown_recipe", "x=s2_eolearn,s2_wildfire,s2_majortom>"):
        with pytest.raises(BandbridgeError, match="--fold"):
            parse_folds([bad], names)


def test_never_worse_line_compares_each_fold_with_its_better_baseline_by_hand():
    from bandbridge.workflows.loso import never_worse
    m = lambda model, lin, mean: {"model": {"mae": model}, "linear": {"mae": lin}, "mean": {"mae": mean}}
    folds = [{"fold": "a", "methods": m(0.9, 1.0, 2.0)},    # 0.9 / 1.0: 10 % better
             {"fold": "b", "methods": m(1.05, 2.0, 1.0)},   # 1.05 / 1.0 (the constant): 5 % worse
             {"fold": "c", "methods": m(1.005, 1.0, 1.0)}]  # within 1 %
    line = never_worse(folds)
    assert "worst b +5.0%" in line and "more than 1 % worse on 1 of 3 folds" in line
    assert "mean ratio 0.985" in line  # (0.9 + 1.05 + 1.005) / 3
    assert never_worse([{"fold": "a", "methods": {"model": {"mae": 1}, "bicubic": {"mae": 2}}}]) == ""


def test_a_written_table_reads_back_as_printed(tmp_path):
    """loso.md is the record merged with new folds when a fold's loso.json is gone."""
    from bandbridge.workflows.loso import read_markdown, write_tables
    row = lambda model, lin: {"model": {"mae": model, "rmse": 0.123456, "psnr": 21.345, "ssim": 0.5},
                              "linear": {"mae": lin, "rmse": 0.2, "psnr": 20.0, "ssim": 0.4}}
    folds = [{"fold": "a", "test": ["s2_a"], "images": 3, "methods": row(0.0123456, 0.02)},
             {"fold": "l2a->l1c", "test": ["x", "y"], "images": 7, "methods": row(0.05, 0.04)}]
    write_tables(tmp_path, "rgb2nir-pix2pix-cpu", folds, ["train.max_epochs=6", "train.threads=1"])
    back = read_markdown((tmp_path / "loso.md").read_text())
    assert back["preset"] == "rgb2nir-pix2pix-cpu"
    assert back["overrides"] == ["train.max_epochs=6", "train.threads=1"]
    assert [(f["fold"], f["test"], f["images"]) for f in back["folds"]] == [
        ("a", ["s2_a"], 3), ("l2a->l1c", ["x", "y"], 7)]
    a = back["folds"][0]["methods"]
    assert a["model"] == {"mae": 0.01235, "rmse": 0.1235, "psnr": 21.34}  # 4 significant digits
    assert a["linear"]["mae"] == 0.02 and "ssim" not in a["model"]         # headline metrics only


def test_image_like_folds_show_realism_beside_error(tmp_path):
    """A thermal or SAR→optical loso (evaluate adds swd for image-like targets) shows SWD,
    contrast and r beside the error columns; an NIR loso keeps the error columns (issue 60)."""
    from bandbridge.workflows.loso import write_tables
    real = lambda swd, c, r: {"mae": 40.0, "rmse": 50.0, "psnr": 14.0, "swd": swd, "contrast": c, "pearson_r": r}
    folds = [{"fold": "roadscene", "test": ["roadscene"], "images": 39,
              "methods": {"model": real(0.5, 0.23, 0.26), "flat (own mean)": real(0.59, 0.0, float("nan"))}}]
    md = write_tables(tmp_path / "thermal", "rgb2thermal-cpu", folds) and (tmp_path / "thermal" / "loso.md").read_text()
    head = md.splitlines()[2]
    assert "model swd" in head and "model contrast" in head and "flat (own mean) pearson_r" in head
    nir = [{"fold": "a", "test": ["a"], "images": 3, "methods": {"model": {"mae": 1.0, "pearson_r": 0.9}}}]
    write_tables(tmp_path / "nir", "rgb2nir-pix2pix-cpu", nir)
    assert "pearson_r" not in (tmp_path / "nir" / "loso.md").read_text()


def test_training_sources_keep_only_their_val_items_out_and_held_out_sources_are_all_test():
    from bandbridge.data.items import assign_split
    from bandbridge.config import SplitSpec
    t = SplitSpec(**train_source("s2_eolearn")["split"])
    assert assign_split("nir_s2_eolearn/REFERENCE_SCENES.npy[3]", t) == "val"
    assert assign_split("nir_s2_eolearn/REFERENCE_SCENES.npy[4]", t) == "train"  # its test scene trains
    assert SplitSpec(**train_source("s2_majortom")["split"]).default == "train"
    h = SplitSpec(**held_out_source("s2_eolearn")["split"])
    assert {assign_split(f"nir_s2_eolearn/REFERENCE_SCENES.npy[{k}]", h) for k in range(5)} == {"test"}


@needs_shared
def test_loso_command_trains_each_fold_and_scores_against_baselines(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr("bandbridge.cli.progress.DELAY", 0.0)  # progress lines at once
    out = tmp_path / "loso"
    args = ["loso", "--preset", "rgb2nir-pix2pix-cpu", "--recipes", "s2_eolearn,s2_sen12mscr,s2_riotilerpds",
            "--fold", "eo=s2_eolearn", "--fold", "l1c->l2a=s2_eolearn,s2_sen12mscr>s2_riotilerpds",
            "--data", str(SHARED), "-o", str(out),
            *sum([["--set", s] for s in [*TINY[:1], "model.generator.args.n_blocks=1", *TINY[2:],
                                         "train.max_epochs=1"]], [])]
    code, stdout, err = run_cli(*args[:7], *args[9:])  # the first fold only: a run cut short
    assert code == 0, err
    code, stdout, err = run_cli(*args)                 # the same command again resumes
    assert code == 0, err
    assert "fold eo: kept from" in stdout and "fold l1c->l2a: kept" not in stdout
    assert "leave-one-source-out, 2 folds (each trains, then scores): 0/2" in err, err  # progress (issue 48)
    assert "leave-one-source-out, 2 folds (each trains, then scores): 2/2 done in" in err, err
    assert len(list((out / "runs").glob("*-loso-eo/*"))) == 1  # the finished fold is not re-trained
    s = json.loads((out / "loso.json").read_text())
    assert [f["fold"] for f in s["folds"]] == ["eo", "l1c->l2a"]
    assert s["folds"][0]["images"] == 5 and s["folds"][1]["images"] == 1  # every held-out image
    for f in s["folds"]:
        assert set(f["methods"]) == {"model", "linear", "floor", "ridge-context", "gbm-context", "learner", "mlp", "mean"}
        for m in f["methods"].values():
            assert 0 < m["mae"] < 0.5 and np.isfinite(m["ndvi_mae"])
    cfg = (next((out / "runs").glob("*-loso-eo/*")) / "config.yaml").read_text()
    assert "s2_eolearn" not in cfg.split("sources:")[1].split("patch_size")[0]  # never trained on
    assert "mean" in (out / "loso.md").read_text() and "| eo (s2_eolearn)" in stdout
    assert "vs the better of linear and mean, per fold: worst " in (out / "loso.md").read_text()
    assert "vs the better of floor and linear, per fold: worst " in (out / "loso.md").read_text()


def test_look_at_reads_dtype_and_values(tmp_path):
    assert look_at(NAIP).scaling == "uint8"
    rng = np.random.default_rng(0)

    def raster(name: str, values: np.ndarray):
        f = tmp_path / name
        with rasterio.open(f, "w", driver="GTiff", height=64, width=64, count=3, dtype=values.dtype) as d:
            d.write(values)
        return f

    f = raster("refl.tif", rng.integers(200, 4000, (3, 64, 64)).astype("uint16"))
    assert (look_at(f).scaling, look_at(f).family) == ("reflectance_10000", "reflectance")
    g = raster("float.tif", rng.random((3, 64, 64), dtype=np.float32) * 0.4)
    assert look_at(g).scaling == "reflectance"
    h = raster("dn.tif", rng.integers(20000, 60000, (3, 64, 64)).astype("uint16"))
    assert (look_at(h).scaling, look_at(h).family) == ("uint16", "8-bit imagery")
    k = raster("odd.tif", rng.random((3, 64, 64), dtype=np.float32) * 1e6)
    with pytest.raises(BandbridgeError, match="--scaling minmax"):
        look_at(k)


def test_rgb2nir_routes_by_input_and_says_so(tmp_path):
    folder, note = route_model("rgb2nir", NAIP)
    assert folder.name == "rgb2nir-naip" and "rgb2nir → rgb2nir-naip" in note
    f = tmp_path / "refl.tif"
    with rasterio.open(f, "w", driver="GTiff", height=32, width=32, count=3, dtype="uint16") as d:
        d.write(np.full((3, 32, 32), 900, "uint16"))
    folder, note = route_model("rgb2nir", f)
    assert folder.name == "rgb2nir-s2" and "reflectance" in note
    # a model named directly is not routed to another model; a file of another sensor (uint16
    # where its pairs were uint8) gets its own floor, and the note says so
    folder, note = route_model("rgb2nir-naip", f)
    assert folder.parent.name == "rgb2nir-naip" and folder.name == "floor"
    assert note.startswith("rgb2nir-naip → its zero-shot floor") and "rgb2nir →" not in note
    from PIL import Image
    photo = tmp_path / "phone.jpg"  # 8-bit values, no georeference: an ordinary photo
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(photo)
    folder, note = route_model("rgb2nir", photo)
    assert folder.name == "rgb2nir-photo" and "8-bit values, no georeference: a photo" in note
    png8 = tmp_path / "aerial.tif"  # the same values with a CRS: aerial imagery
    with rasterio.open(png8, "w", driver="GTiff", height=32, width=32, count=3, dtype="uint8",
                       crs="EPSG:32614", transform=rasterio.transform.from_origin(5e5, 5e6, 1, 1)) as d:
        d.write(np.full((3, 32, 32), 90, "uint8"))
    assert route_model("rgb2nir", png8)[0].name == "rgb2nir-naip"


def test_a_reflectance_file_named_top_of_atmosphere_gets_that_level_s_floor(tmp_path, run_cli):
    """rgb2nir picks rgb2nir-s2-toa where the file's name (or its folder's) states top of
    atmosphere (issue 49), says so, and predicts that floor's map; surface reflectance or a name
    that says nothing keeps rgb2nir-s2; a model named directly is not switched."""
    import yaml
    from bandbridge.bands import level_in_name
    assert level_in_name("S2B_MSIL1C_20230101T000000_T31UFU.tif") == ("toa", "msil1c")
    assert level_in_name("LC08_L1TP_044034_20200101_toa.tif") == ("toa", "l1tp")
    assert level_in_name("S2A_29RKH_20200219_L2A_100m") == ("surface", "l2a")
    assert level_in_name("tsrtoall.tif") is None and level_in_name("x_L1C_L2A.tif") is None  # no whole token; both
    base = np.linspace(800, 2500, 32 * 32).reshape(32, 32)  # a vegetation-like gradient, red > green > blue
    data = np.stack([base, base * 0.9, base * 0.8]).astype("uint16")
    names = {"S2B_MSIL1C_T31UFU.tif": "rgb2nir-s2-toa", "S2B_MSIL2A_T31UFU.tif": "rgb2nir-s2",
             "scene.tif": "rgb2nir-s2"}
    for name, want in names.items():
        with rasterio.open(tmp_path / name, "w", driver="GTiff", height=32, width=32, count=3, dtype="uint16") as d:
            d.write(data)
        folder, note = route_model("rgb2nir", tmp_path / name)
        assert folder.name == want, (name, note)
    folder, note = route_model("rgb2nir", tmp_path / "S2B_MSIL1C_T31UFU.tif")
    assert "top-of-atmosphere reflectance: the file's name says 'msil1c'" in note
    (tmp_path / "L1C").mkdir()
    (tmp_path / "S2B_MSIL1C_T31UFU.tif").rename(tmp_path / "L1C" / "B.tif")
    folder, note = route_model("rgb2nir", tmp_path / "L1C" / "B.tif")
    assert folder.name == "rgb2nir-s2-toa" and "its folder's name says 'l1c'" in note
    assert route_model("rgb2nir-s2", tmp_path / "L1C" / "B.tif")[0].name == "rgb2nir-s2"
    code, out, err = run_cli("predict", str(tmp_path / "L1C" / "B.tif"), "-m", "rgb2nir", "-o",
                             str(tmp_path / "nir.tif"))
    assert code == 0 and "rgb2nir → rgb2nir-s2-toa" in out, err
    W = np.array(yaml.safe_load((folder.parent / "rgb2nir-s2-toa" / "model.yaml").read_text())["floor"]["linear"])
    want = np.clip((data / 10000).transpose(1, 2, 0) @ W[:3, 0] + W[3, 0], 0, 1)  # reflectance
    assert 0.05 < want.min() and want.max() < 0.95  # inside the range: nothing clipped
    with rasterio.open(tmp_path / "nir.tif") as o:
        got = o.read(1).astype(float)
    assert np.abs(got - want).max() < 1e-5  # the level's floor


def test_web_demo_routes_rgb2nir_by_the_upload(tmp_path):
    pytest.importorskip("gradio")
    from bandbridge.demo.translate import Translator
    from bandbridge.spec import zoo_models
    res = Translator(zoo_models())(str(NAIP), "rgb2nir", tmp_path)
    assert res.shown.image.shape == (256, 256, 3) and res.output.image is not None
    assert res.ndvi.image is not None
    assert "rgb2nir → rgb2nir-naip" in res.status and res.files[0].endswith(".tif")
