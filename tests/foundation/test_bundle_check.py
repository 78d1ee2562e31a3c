"""A bundle's floor is checked in one place, on every read of a bundle (spec.check_floor; issue
69): a bundle whose floor is gone, linked or incomplete is refused by every command that loads it
— one line naming the bundle and the fix, exit code 2, nothing written. Where this tool itself
takes the floor away (adapt's copy, the floor moved to model/best) the bundle is untied from it
and loads; an export carries the floor."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio

from conftest import SAMPLE

DATE = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def _break(model, case: str, zoo: dict) -> None:
    floor = model / "floor"
    if case == "deleted":
        shutil.rmtree(floor)
    elif case == "linked out":
        shutil.rmtree(floor)
        floor.symlink_to("/etc", target_is_directory=True)
    elif case == "linked to another bundle's":
        shutil.rmtree(floor)
        floor.symlink_to(zoo["rgb2nir-photo"] / "floor", target_is_directory=True)
    elif case == "a file inside linked":
        outside = model.parent / "elsewhere.yaml"
        shutil.move(floor / "model.yaml", outside)
        (floor / "model.yaml").symlink_to(outside)
    elif case == "weights missing":
        (floor / "generator.safetensors").unlink()
    elif case == "a file":
        shutil.rmtree(floor)
        floor.write_text("not a floor")


def _u16(path) -> None:
    """The sample stored as 11-bit DN in uint16: another sensor, so the floor would be asked."""
    with rasterio.open(DATE) as src:
        prof, data = src.profile, src.read()
    with rasterio.open(path, "w", **(prof | {"dtype": "uint16"})) as dst:
        dst.write(data.astype(np.uint16) * 8)


COMMANDS = {
    "predict": lambda m, o, u16: ["predict", str(u16), "-m", m, "-o", str(o / "p.tif"),
                                  "--scaling", "minmax", "--vmin", "0", "--vmax", "2040"],
    "export": lambda m, o, u16: ["export", "-m", m, "-o", str(o / "x")],
    "adapt": lambda m, o, u16: ["adapt", "-m", m, str(DATE), "-o", str(o / "a"), "--minutes", "0.1"],
    "compare": lambda m, o, u16: ["compare", str(DATE), "-m", m, "-o", str(o / "c")],
    "evaluate": lambda m, o, u16: ["evaluate", "-m", m, "--data", str(SAMPLE), "-o", str(o / "e")],
    "report": lambda m, o, u16: ["report", "-m", m, "--data", str(SAMPLE), "-o", str(o / "r")],
    "timeseries": lambda m, o, u16: ["timeseries", str(DATE), "-m", m, "-o", str(o / "t")],
    "loso": lambda m, o, u16: ["loso", "--shots", "1", "-m", m, "--recipes", "naip_opengeos",
                               "--data", str(SAMPLE), "-o", str(o / "l")],
    "demo": lambda m, o, u16: ["demo", "-m", m],
}
CASES = ["deleted", "linked out", "linked to another bundle's", "a file inside linked",
         "weights missing", "a file"]


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Copies of rgb2nir-naip, one per way of breaking its floor."""
    from bandbridge.spec import zoo_models
    zoo, root = zoo_models(), tmp_path_factory.mktemp("broken")
    for i, case in enumerate(CASES):
        model = root / f"m{i}" / "bundle"
        shutil.copytree(zoo["rgb2nir-naip"], model)
        _break(model, case, zoo)
    _u16(root / "u16.tif")
    return root


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", CASES)
def test_every_command_refuses_a_bundle_whose_floor_is_broken(run_cli, broken, tmp_path, monkeypatch,
                                                              case, command):
    # past the bundle, the demo would serve and loso adapt for minutes: neither may be reached
    monkeypatch.setattr("bandbridge.demo.app.build_app", lambda *a, **k: pytest.fail("demo served it"))
    monkeypatch.setattr("bandbridge.workflows.shots._fold", lambda *a, **k: pytest.fail("loso adapted it"))
    model = broken / f"m{CASES.index(case)}" / "bundle"
    out = tmp_path / "out"
    code, stdout, err = run_cli(*COMMANDS[command](str(model), out, broken / "u16.tif"))
    assert code == 2, (code, stdout[-500:], err[-1500:])
    assert err.strip().count("\n") == 0 and "Traceback" not in err, err
    assert str(model) in err and ("copy the bundle again" in err), err
    assert not out.exists()


def test_a_floor_this_tool_takes_away_is_untied_and_the_bundle_loads(tmp_path):
    from bandbridge.bundle import load_bundle, untie_floor
    from bandbridge.workflows.best import copy_without_floor
    from bandbridge.spec import FLOOR_HASH_KEY, read_meta, read_spec, zoo_models
    naip = zoo_models()["rgb2nir-naip"]
    # adapt's copy for the user's own pairs: no floor, no tie, its hashes whole
    copy = tmp_path / "copy"
    copy_without_floor(naip, copy)
    assert not (copy / "floor").exists() and FLOOR_HASH_KEY not in read_meta(copy / "model.yaml")
    assert read_spec(copy).floor is not None  # the fallback inside the model stays
    load_bundle(copy)
    # the floor moved to model/best (workflows/best.py): model/network loads without it
    network = tmp_path / "network"
    shutil.copytree(naip, network)
    (network / "floor").rename(tmp_path / "best")
    untie_floor(network)
    load_bundle(network)
    assert read_spec(tmp_path / "best").config.model.generator.args["kind"] == "linear"


def test_an_export_carries_its_floor_and_gives_it_files_of_another_sensor(run_cli, tmp_path):
    from bandbridge.spec import read_spec
    exp = tmp_path / "exp"
    code, _, err = run_cli("export", "-m", "rgb2nir-naip", "-o", str(exp))
    assert code == 0, err
    assert {"model.onnx", "model.yaml"} <= {p.name for p in (exp / "floor").iterdir()}
    read_spec(exp)  # whole: its floor is the one it was saved with
    _u16(tmp_path / "u16.tif")
    outs = {}
    for name, model in (("export", exp), ("bundle", "rgb2nir-naip")):
        outs[name] = tmp_path / f"{name}.tif"
        code, stdout, err = run_cli("predict", str(tmp_path / "u16.tif"), "-m", str(model), "-o", str(outs[name]),
                                    "--scaling", "minmax", "--vmin", "0", "--vmax", "2040")
        assert code == 0 and "its zero-shot floor" in stdout, err
    with rasterio.open(outs["export"]) as a, rasterio.open(outs["bundle"]) as b:
        np.testing.assert_array_equal(a.read(), b.read())
