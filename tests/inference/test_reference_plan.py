"""`predict --reference --plan` states what the run then does (issues 75, 77, 83): the fit is planned
by the reference kind (``place/reference.KIND.plan``) — one fit over the scene a folder of tiles
makes (not one per tile), its backend (``place/engine.decide``) and its tiles (``engine.tile_for``)
in the one block — and the run serves it through predict's own branches, here and on a local Dask
cluster, recording in its summary rows the backend and tile the plan printed."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import rasterio
from affine import Affine

from bandbridge.evaluation.wald import make_reference
from bandbridge.data.reference import raster_grid
from tests.inference.test_reference import TEST, aerial


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    """A folder of two tiles (west, east) of the 2020 crop's RGB and one NIR reference at k = 4."""
    d, rgb, truth, prof = aerial(tmp_path_factory.mktemp("plan"))
    folder = d / "tiles"
    folder.mkdir()
    with rasterio.open(rgb) as s:
        a = s.read()
    for name, cols in (("west", slice(0, 128)), ("east", slice(128, 256))):
        p = dict(prof, width=128, transform=prof["transform"] @ Affine.translation(cols.start, 0))
        with rasterio.open(folder / f"{name}_20200831.tif", "w", **p) as o:
            o.write(a[:, :, cols])
    return folder, make_reference(truth, raster_grid(TEST), 4, d / "nir_k4.tif")


@pytest.mark.parametrize("workers", [None, 2])
def test_the_reference_plan_is_what_the_run_records(tiles, tmp_path, workers):
    if workers:
        pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'bandbridge[dist]')")
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.core.interpret import Overrides
    from bandbridge.inference.jobs.predict import Cluster, Engine
    from bandbridge.inference.place.reference import KIND, ReferenceOptions, Request, predict_with_reference
    folder, ref = tiles
    engine, ropts = Engine(cluster=Cluster(workers=workers)), ReferenceOptions(source=str(ref))
    plan = KIND.plan(Request([str(folder)], "rgb2nir", str(tmp_path / "out"), PredictOptions(), Overrides(), ropts),
                     engine, lambda s: None)
    lines = "\n".join(plan.lines())
    # one fit over the mosaic, as the run makes it (issue 77: the plan said one per tile)
    assert lines.count("fit: one fit over the scene of 2 inputs (east_20200831.tif, west_20200831.tif)") == 2, lines
    decided = [plan.decided(j) for j in plan.model.jobs]
    assert decided[0] == decided[1] and decided[0]["backend"] and decided[0]["tile"], decided
    b, tile = decided[0]["backend"], decided[0]["tile"]
    assert lines.count(f"\nbackend: where a band takes the fit, its bundle runs on {b}: ") == 1, lines
    assert lines.count(f"\ntiles: {tile}² overlapping by") == 1, lines
    assert re.search(r"^memory: planned under [\d.]+ GB peak", lines, re.M), lines
    said = []
    out = predict_with_reference(Request([str(folder)], "rgb2nir", str(tmp_path / "out"), PredictOptions(), Overrides(),
                                         ropts), engine=engine, say=said.append)
    rows = out.rows
    if workers:  # the summary CSV holds the same
        rows = list(csv.DictReader(open(out.summary)))
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows), rows
    assert any("route: a " in line and "fit at the reference's scale" in line for line in said), said  # a fit ran
    for r in rows:
        assert (r["backend"], int(r["tile"])) == (b, tile), (r, decided)
    with rasterio.open(tmp_path / "out" / "west_20200831_rgb2nir-naip.tif") as o:
        assert np.isfinite(o.read(1)).all()
