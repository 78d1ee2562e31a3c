"""A file of another sensor — a radiometric depth none of the model's training files had — goes
to the zero-shot floor the bundle holds, wholly (issue 49: the per-image fallback's "another
sensor"), in predict and in evaluate alike; a file of the model's own depth gets the model."""

from types import SimpleNamespace

import numpy as np
import rasterio
import yaml

from conftest import SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def test_another_sensor_is_a_depth_no_training_file_had():
    from bandbridge.data.seen import another_sensor, depth
    assert depth("uint8") == "8-bit integer" and depth("int16") == depth("uint16") == "16-bit integer"
    assert depth("float64") == depth("float32") == "float"
    seen = {"dtypes": ["uint8"]}
    assert another_sensor(seen, "uint16", "rgb2nir-naip") == \
        "stored as uint16 where rgb2nir-naip's pairs were uint8: another sensor"
    assert another_sensor(seen, "uint8", "m") is None
    # Sentinel-2 in int16 or uint16 is one sensor; float reflectance of either width is one
    assert another_sensor({"dtypes": ["uint16", "float32"]}, "int16", "m") is None
    assert another_sensor({"dtypes": ["uint16", "float32"]}, "float64", "m") is None
    assert another_sensor({"dtypes": ["float32"]}, "uint8", "m") is not None
    # a bundle that records no types, or a damaged record, says nothing
    for seen in (None, {}, {"dtypes": []}, {"dtypes": "uint8"}, {"dtypes": [3]}, {"dtypes": ["nonsense"]}):
        assert another_sensor(seen, "uint16", "m") is None


def _deeper(tmp_path, factor: int = 8):
    """The NAIP sample stored as uint16 at ``factor`` × its values (11-bit DN for 8)."""
    with rasterio.open(NAIP) as src:
        prof, data = src.profile, src.read()
    path = tmp_path / "deep.tif"
    with rasterio.open(path, "w", **(prof | {"dtype": "uint16"})) as dst:
        dst.write(data.astype(np.uint16) * factor)
    return path


def test_a_run_gives_files_of_another_sensor_to_its_floor_wholly(run_cli, trained_run, tmp_path):
    best = trained_run / "model" / "best"
    meta = yaml.safe_load((best / "floor" / "model.yaml").read_text())
    parent = yaml.safe_load((best / "model.yaml").read_text())["config"]["model"]["generator"]
    # the floor as a bundle of its own: a linear learner, the very map the fallback leans on
    assert meta["config"]["model"]["generator"]["name"] == "learner"
    assert meta["config"]["model"]["generator"]["args"]["kind"] == "linear"
    assert meta["floor"]["linear"] == parent["floor"]["linear"]
    assert meta["inputs_seen"]["dtypes"] == ["uint8"] and "confidence" in meta
    assert (best / "floor" / "check.safetensors").exists()
    # tied to its parent: the parent's floor_sha256 (inside its own generator hash) is the floor's
    top = yaml.safe_load((best / "model.yaml").read_text())
    assert top["floor_sha256"] == meta["generator_sha256"]

    deep = _deeper(tmp_path)  # the same light, read as 0–2040: the model values are the sample's
    code, stdout, err = run_cli("predict", str(deep), "-m", str(trained_run), "-o", str(tmp_path / "deep_nir.tif"),
                                "--scaling", "minmax", "--vmin", "0", "--vmax", "2040")
    assert code == 0, err
    assert "its zero-shot floor, the balanced linear map (stored as uint16 where" in stdout, stdout[-800:]
    assert "pairs were uint8: another sensor" in stdout
    # the floor named directly on the 8-bit sample gives the same raster, and the model another
    code, _, err = run_cli("predict", str(NAIP), "-m", str(best / "floor"), "-o", str(tmp_path / "floor_nir.tif"))
    assert code == 0, err
    code, stdout, err = run_cli("predict", str(NAIP), "-m", str(trained_run), "-o", str(tmp_path / "model_nir.tif"))
    assert code == 0, err
    assert "zero-shot floor" not in stdout  # the model's own depth: the model (inside its range)
    with rasterio.open(tmp_path / "deep_nir.tif") as a, rasterio.open(tmp_path / "floor_nir.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
        assert a.tags()["bandbridge_model"] == b.tags()["bandbridge_model"]


def test_evaluate_scores_a_source_of_another_sensor_with_the_floor(trained_run, tmp_path):
    from bandbridge.evaluation.evaluate import floors_for
    deep = _deeper(tmp_path)
    pairs = [SimpleNamespace(item=SimpleNamespace(input_path=deep), source=SimpleNamespace(name="deep")),
             SimpleNamespace(item=SimpleNamespace(input_path=NAIP), source=SimpleNamespace(name="naip"))]
    floor, notes = floors_for(trained_run, pairs)
    assert list(notes) == ["deep"] and "another sensor" in notes["deep"]
    assert floor is not None and floor.config.model.generator.args["kind"] == "linear"
    assert floors_for(trained_run, pairs[1:]) == (None, {})
    # a checkpoint has no bundle folder: nothing is switched
    assert floors_for(tmp_path / "last.ckpt", pairs) == (None, {})


def test_the_bundled_naip_model_gives_deeper_files_to_the_floor_it_ships():
    from bandbridge.inference.core.route import floor_instead, route_model
    from bandbridge.spec import read_spec, resolve_model_folder, zoo_models
    naip = zoo_models()["rgb2nir-naip"]
    floor = resolve_model_folder("rgb2nir-naip/floor")  # what a user names to run it on any file
    assert floor == naip / "floor" and read_spec(floor).name == "rgb2nir-naip-floor"
    assert read_spec(floor).config.model.generator.args["kind"] == "linear"
    # the very map the student's per-image fallback leans on
    assert read_spec(floor).config.model_dump()["model"]["generator"]["name"] == "learner"
    assert yaml.safe_load((floor / "model.yaml").read_text())["floor"]["linear"] == \
        read_spec(naip).config.model.generator.floor["linear"]
    sub, note = floor_instead(naip, "uint16")
    assert sub == floor and note.startswith("rgb2nir-naip → its zero-shot floor, the minimax linear map")
    assert floor_instead(naip, "uint8") is None
    assert route_model("rgb2nir-naip", NAIP)[0] == naip  # its own depth: the student
    # the photo model ships its floor too; the Sentinel-2 floor is a floor already: nothing inside
    assert floor_instead(zoo_models()["rgb2nir-photo"], "uint16") is not None
    assert floor_instead(zoo_models()["rgb2nir-s2"], "uint8") is None
