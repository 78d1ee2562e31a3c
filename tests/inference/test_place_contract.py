"""The contract's types (issue 97): each kind's request is frozen and built by its command, the command
runs the registered kind (``place/kinds.KINDS``) on the one runner, and no kind takes an untyped request."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bandbridge.inference.place import kinds
from bandbridge.inference.place.contract import BandDecision, FillRequest, SharpenRequest

PLACE = Path(__file__).parents[2] / "src" / "bandbridge" / "inference" / "place"


def test_the_requests_and_decisions_are_frozen():
    fill = FillRequest("s.tif", "o.tif", ["e.tif"], sar_later=["l.tif"])
    assert fill.earlier == ("e.tif",) and fill.sar_later == ("l.tif",)  # a command's lists held as tuples
    sharpen = SharpenRequest(["g.tif"], "r.tif", "o.tif", bands=["B05"])
    d = BandDecision("B05", "fit", "fitted", 1.0, 2.0, "lanczos", "DN", "why")
    for frozen in (fill, sharpen, d):
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.seed = 1  # type: ignore[misc]


def test_no_kind_takes_an_untyped_request():
    assert not [p.name for p in PLACE.glob("*.py") if "SimpleNamespace" in p.read_text()]


def test_bandbridge_fill_runs_the_registered_kind_on_its_request(run_cli, monkeypatch, tmp_path):
    got = []

    class Fake:
        name = "fill"

        def plan(self, request, engine, say):
            got.append(request)
            return None  # nothing to do: nothing written

    monkeypatch.setitem(kinds.KINDS, "fill", Fake())
    code, _, err = run_cli("fill", "scene.tif", "-e", "a.tif", "-e", "b.tif", "--sar", "s1.tif", "--dilate", "2",
                           "--no-cog", "-o", str(tmp_path / "o.tif"))
    assert code == 0, err
    (r,) = got
    assert isinstance(r, FillRequest) and r.earlier == ("a.tif", "b.tif") and r.sar == "s1.tif"
    assert r.dilate == 2 and r.cog is False and r.out == str(tmp_path / "o.tif")
