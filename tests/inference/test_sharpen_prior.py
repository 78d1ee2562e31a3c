"""``sharpen -m s2-prior`` (issue 84): the bundled Sentinel-2 prior found by name, run on a product's
10 m bands stacked, its eight bands guides the fit weighs; and not a model predict serves."""

from __future__ import annotations

from test_sharpen_read import s2_safe, sharpened

from bandbridge.inference.place.sharpen_model import guide_model_folder, prior_models
from bandbridge.workflows.s2_prior import OUTPUTS


def test_the_prior_is_bundled_and_found_by_name():
    assert "s2-prior" in prior_models()
    assert guide_model_folder("s2-prior") == prior_models()["s2-prior"]


def test_a_product_sharpened_with_the_prior_as_guides(tmp_path, run_cli):
    """FINE a SAFE: the prior runs on its 10 m bands stacked in reflectance; each run takes the prior's
    bands of its own targets as guides (the 20 m run B05 and B11, whose guides the output's tags name; the
    60 m run B01 and B09), named by the prior; the output's bands are the product's."""
    safe, _ = s2_safe(tmp_path, jp2=False)
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(safe), "-m", "s2-prior", "--reference", str(safe))
    assert "the model's guide: s2-prior on model_input.tif" in out
    code, plan, err = run_cli("sharpen", str(safe), "-m", "s2-prior", "--reference", str(safe), "-o",
                              str(tmp_path / "p.tif"), "--plan")
    assert code == 0 and "  its work: 77,216 multiply-adds a pixel, " in plan and "without -m the prior is left out" in plan
    assert said["tags"]["bandbridge_guides"] == "B02,B03,B04,B08,s2-prior_B05,s2-prior_B11"
    assert {"B01", "B05", "B09", "B11"} <= set(OUTPUTS)
    assert said["names"] == ("B01", "B05", "B09", "B11") and v.shape[0] == 4


def test_predict_does_not_serve_the_prior(tmp_path, run_cli):
    """The prior's levels are not a band a user is given: predict does not know its name."""
    safe, _ = s2_safe(tmp_path, jp2=False)
    code, _, err = run_cli("predict", str(next(safe.rglob("*B02_10m.tif"))), "-m", "s2-prior", "-o",
                           str(tmp_path / "p.tif"))
    assert code == 2 and "Traceback" not in err and "s2-prior" in err and "not a run folder, model bundle" in err
    assert not (tmp_path / "p.tif").exists()
