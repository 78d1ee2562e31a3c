"""scripts/confidence_table.py ``--add`` writes an expected-error model into a bundle (the fix
the package's ``--confidence`` errors name): run here on a copy of ``rgb2nir-naip`` narrowed to
the sample's NAIP source, whose error model is removed first."""

from __future__ import annotations

import shutil
import sys

from bandbridge.bundle import edit_meta, load_bundle
from bandbridge.spec import read_meta, zoo_dir
from tests.conftest import REPO, SAMPLE, load_file


def test_add_writes_an_error_model_fitted_on_the_bundles_validation_split(tmp_path, monkeypatch):
    ct = load_file(REPO / "scripts" / "confidence_table.py", "confidence_table")
    folder = tmp_path / "rgb2nir-naip"
    shutil.copytree(zoo_dir() / "rgb2nir-naip", folder)

    def narrow(m):
        m["config"]["data"]["sources"] = m["config"]["data"]["sources"][:1]
        m.pop("confidence")
    edit_meta(folder, narrow)
    monkeypatch.setattr(sys, "argv", ["confidence_table.py", "--add", str(folder), "--data", str(SAMPLE)])
    ct.main()
    conf = read_meta(folder / "model.yaml")["confidence"]
    assert "val" in conf["fitted_on"] and {"spearman", "top10_share"} <= set(conf["validation"])
    assert load_bundle(folder).info["confidence"] == conf
    assert read_meta(zoo_dir() / "rgb2nir-naip" / "model.yaml")["confidence"] != conf
