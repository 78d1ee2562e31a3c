"""benchmarks/bundle_results.py (the README's verdict table and the models page,
``docs/results/bundles.json``): its core — ``bandbridge evaluate`` of a bundle on its test split,
kept as one record entry — on the bundled ``rgb2nir-naip`` narrowed to the sample's one source,
with the closed-form baselines only (the learned ones take a minute to fit: no training here)."""

from __future__ import annotations

import json
import shutil

from bandbridge.bundle import edit_meta
from bandbridge.spec import zoo_dir
from tests.conftest import REPO, SAMPLE, load_file


def _module(name: str):
    return load_file(REPO / "benchmarks" / f"{name}.py", name)


def sample_bundle(tmp_path):
    """A copy of the bundled ``rgb2nir-naip`` whose data is the sample's NAIP source alone (its
    second source, naip_stactools, is not in the sample): train 2009/2012, val 2018, test 2020."""
    folder = tmp_path / "rgb2nir-naip"
    shutil.copytree(zoo_dir() / "rgb2nir-naip", folder)
    edit_meta(folder, lambda m: m["config"]["data"].update(sources=m["config"]["data"]["sources"][:1]))
    return folder


def closed_form(task, scale, train, val=None):
    """evaluate's baselines without the learned ones (learner, boosting, MLP, context ridge)."""
    from bandbridge.learners.baselines import FloorBaseline, LinearBaseline, MeanBaseline, sample_pixels
    X, Y = sample_pixels(train)
    return [LinearBaseline().fit(X, Y), FloorBaseline().fit_pairs(train), MeanBaseline().fit(X, Y)]


def test_a_bundle_is_evaluated_and_recorded_as_the_docs_read_it(tmp_path, monkeypatch):
    import bandbridge.evaluation.evaluate as ev
    monkeypatch.setattr(ev, "fit_baselines", closed_form)
    br = _module("bundle_results")
    folder = sample_bundle(tmp_path)
    out = tmp_path / "bundles.json"
    out.write_text(json.dumps({"models": {"kept": {"measured": "earlier"}}}))
    br.main([str(SAMPLE), str(folder)], out=out, work=tmp_path / "work")
    rec = json.loads(out.read_text())
    assert rec["models"]["kept"] == {"measured": "earlier"}  # names not given keep their record
    assert rec["command"] == f"python benchmarks/bundle_results.py {SAMPLE} {folder}"
    got = rec["models"]["rgb2nir-naip"]
    assert set(got) == {"command", "measured", "protocol", "methods"}
    assert got["command"] == f"bandbridge evaluate --model {folder} --data {SAMPLE} --split test"
    p = got["protocol"]
    assert set(p) == set(br.PROTOCOL)
    assert (p["split"], p["images"], p["sources"], p["task"]) == ("test", 1, ["naip_opengeos"], "translation")
    ms = got["methods"]
    assert set(ms) == {"model", "linear", "floor", "mean"}
    for m, vals in ms.items():
        assert set(vals) <= set(br.KEEP) and vals["mae"] > 0, m
    # what the docs render from it: the README's verdict cell and the models page's row
    hook = _module_hook()
    assert hook.verdict_cell("rgb2nir-naip", rec).startswith(f"{ms['model']['mae']:.4g} ")
    assert "`rgb2nir-naip` | 1 image(s) of naip_opengeos" in hook.bundles_table(
        {"models": {"rgb2nir-naip": got}})


def _module_hook():
    return load_file(REPO / "docs" / "hooks" / "results.py", "docs_hook_results")
