"""The contract's types (issue 97): each kind's request is frozen and built by its command, the command
runs the registered kind (``place/kinds.KINDS``) on the one runner, and no kind takes an untyped request."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bandbridge.inference.place import kinds
from bandbridge.inference.place.contract import BandDecision, FillRequest, SharpenRequest

PLACE = Path(__file__).parents[2] / "src" / "bandbridge" / "inference" / "place"


def registered_fake(monkeypatch, name: str, answer=None) -> list:
    """``KINDS[name]`` swapped for a kind whose plan keeps the request it is given and returns ``answer()`` (None:
    nothing to do, nothing written); the requests it got."""
    got = []

    class Fake:
        def plan(self, request, engine, say):
            got.append(request)
            return answer() if answer else None

    fake = Fake()
    fake.name = name
    monkeypatch.setitem(kinds.KINDS, name, fake)
    return got


def test_the_requests_and_decisions_are_frozen():
    fill = FillRequest("s.tif", "o.tif", ["e.tif"], sar_later=["l.tif"])
    assert fill.earlier == ("e.tif",) and fill.sar_later == ("l.tif",)  # a command's lists held as tuples
    sharpen = SharpenRequest(["g.tif"], "r.tif", "o.tif", bands=["B05"])
    d = BandDecision("B05", "fit", "fitted", 1.0, 2.0, "lanczos", "DN", "why")
    for frozen in (fill, sharpen, d):
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.seed = 1  # type: ignore[misc]


def test_no_kind_takes_an_untyped_request_or_returns_its_own_result():
    assert not [p.name for p in PLACE.glob("*.py") if "SimpleNamespace" in p.read_text()]
    assert not [p.name for p in PLACE.glob("*.py") if re.search(r"^class (BandResult|SharpenResult|BandTags)\b",
                                                                   p.read_text(), re.M)]


def test_bandbridge_fill_runs_the_registered_kind_on_its_request(run_cli, monkeypatch, tmp_path):
    got = registered_fake(monkeypatch, "fill")
    code, _, err = run_cli("fill", "scene.tif", "-e", "a.tif", "-e", "b.tif", "--sar", "s1.tif", "--dilate", "2",
                           "--no-cog", "-o", str(tmp_path / "o.tif"))
    assert code == 0, err
    (r,) = got
    assert isinstance(r, FillRequest) and r.earlier == ("a.tif", "b.tif") and r.sar == "s1.tif"
    assert r.dilate == 2 and r.cog is False and r.out == str(tmp_path / "o.tif")


def test_the_tags_are_written_from_the_decision_alone(tmp_path):
    """Each band's tags from its BandDecision: the bare route word, its words in their own key, the baseline
    named, the test at the output's scale from the decision's ``scale``; read back by ``tags.read``."""
    import numpy as np
    import rasterio

    from bandbridge.inference.place import tags
    d = BandDecision("B05", "lanczos+correction", "the reference upsampled (Lanczos), made consistent", 1.5, 2.25,
                     "lanczos", "DN", "held out better", "", 0.5, "they carry: detail taken at share 0.50")
    path = tmp_path / "o.tif"
    with rasterio.open(path, "w", driver="GTiff", height=2, width=2, count=2, dtype="uint8") as o:
        o.write(np.zeros((2, 2, 2), np.uint8))
        tags.write(o, "sharpen", [d], first=2)
    kind, bands = tags.read(path)
    assert kind == "sharpen" and len(bands) == 1 and tags.band(path) == bands[0]
    t = bands[0]
    assert t["bandbridge_route"] == "lanczos+correction" and t["bandbridge_route_words"] == d.words
    assert (t["bandbridge_heldout_error"], t["bandbridge_baseline_error"], t["bandbridge_baseline"]) == \
        ("1.5", "2.25", "lanczos")
    assert t["bandbridge_output_scale"] == d.scale and t["bandbridge_why"] == "held out better"


def test_the_reference_kind_finishes_with_an_outcome_of_decisions(tmp_path):
    """``predict --reference`` on the runner: an Outcome whose decision is the output band's, as its tags say."""
    from bandbridge.data.reference import raster_grid
    from bandbridge.evaluation.wald import make_reference
    from bandbridge.inference.core.interpret import Overrides
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place import runner, tags
    from bandbridge.inference.place.contract import Outcome
    from bandbridge.inference.place.reference import ReferenceOptions, Request
    from tests.inference.test_reference import aerial
    _, rgb, truth, _ = aerial(tmp_path)
    ref = make_reference(truth, raster_grid(rgb), 4, tmp_path / "nir_k4.tif")
    out = tmp_path / "o.tif"
    request = Request([str(rgb)], "rgb2nir", str(out), PredictOptions(), Overrides(), ReferenceOptions(source=str(ref)))
    done = runner.run(kinds.KINDS["reference"], request, Engine(threads=1))
    assert isinstance(done, Outcome) and done.output == out and len(done.rows) == 1
    (d,) = done.decisions
    assert isinstance(d, BandDecision) and tags.band(out) == tags.band_tags(d)


def test_bandbridge_sharpen_runs_the_registered_kind_on_its_request(run_cli, monkeypatch, tmp_path):
    got = registered_fake(monkeypatch, "sharpen")
    code, _, err = run_cli("sharpen", "g.tif", "--reference", "r.tif", "--bands", "B05, B11", "--reference-shift",
                           "none", "--cog", "-o", str(tmp_path / "o.tif"))
    assert code == 0, err
    (r,) = got
    assert isinstance(r, SharpenRequest) and r.fine == ("g.tif",) and r.reference == "r.tif"
    assert r.bands == ("B05", "B11") and r.reference_shift == "none" and r.cog and r.guides is None


def test_bandbridge_predict_with_a_reference_runs_the_registered_kind(run_cli, monkeypatch, tmp_path):
    from bandbridge.errors import BandbridgeError

    def refused():
        raise BandbridgeError("the registered kind planned it")
    got = registered_fake(monkeypatch, "reference", refused)
    code, _, err = run_cli("predict", "rgb.tif", "-m", "rgb2nir", "--reference", "r.tif", "-o", str(tmp_path / "o.tif"))
    assert code == 2 and "the registered kind planned it" in err, err
    (r,) = got
    assert list(r.inputs) == ["rgb.tif"] and r.reference.source == "r.tif"
