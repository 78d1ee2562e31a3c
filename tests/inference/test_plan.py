"""`predict --plan` (issue 59): every decision — model and route, reading and scaling, outputs,
fallback, reference, tiles, backend — printed before any work, nothing written; and the run then
does what the plan said (the same route, backend and tiles): one object drives both."""

from __future__ import annotations

import re

import numpy as np
import pytest
import rasterio
from PIL import Image

from bandbridge.data.grids import Grid
from bandbridge.evaluation.wald import make_reference
from conftest import SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The sample as each kind of input the plan must speak for: a NAIP file, the same light
    stored as uint16 (another sensor: the floor), a photo, a Sentinel-2 L1C band folder, and an
    RGB file with a coarse reference of its NIR."""
    d = tmp_path_factory.mktemp("plan")
    with rasterio.open(NAIP) as s:
        prof, a = s.profile, s.read()
        grid = Grid(s.crs, s.transform, s.height, s.width)
    deep = d / "deep.tif"
    with rasterio.open(deep, "w", **(prof | {"dtype": "uint16", "count": 3})) as o:
        o.write(a[:3].astype(np.uint16) * 8)
    photo = d / "street.jpg"
    Image.fromarray(np.moveaxis(a[:3], 0, -1)).save(photo)
    l1c = d / "S2A_MSIL1C_20200831T172901_N0209_R055_T14TNT_20200831T211218"
    l1c.mkdir()
    for name, i in (("B04", 0), ("B03", 1), ("B02", 2)):
        with rasterio.open(l1c / f"{name}.tif", "w", **(prof | {"count": 1, "dtype": "uint16"})) as o:
            o.write(a[i:i + 1].astype(np.uint16) * 20 + 1000)
    rgb = d / "aerial_20200831.tif"
    with rasterio.open(rgb, "w", **(prof | {"count": 3})) as o:
        o.write(a[:3])
    ref = make_reference(a[3].astype(np.float32), grid, 2, d / "s2_nir_20200831.tif")
    return {"naip": (NAIP, ["-m", "rgb2nir"], "rgb2nir → rgb2nir-naip"),
            "uint16": (deep, ["-m", "rgb2nir-naip", "--scaling", "minmax", "--vmin", "0", "--vmax", "2040"],
                       "zero-shot floor"),
            "photo": (photo, ["-m", "rgb2nir"], "rgb2nir → rgb2nir-photo"),
            "s2-l1c-folder": (l1c, ["-m", "rgb2nir"], "rgb2nir → rgb2nir-s2-toa"),
            "reference": (rgb, ["-m", "rgb2nir", "--reference", str(ref)], "rgb2nir → rgb2nir-naip")}


def _block(out: str, key: str) -> str:
    """A line of the fit's block (``place/plan.Block``: unindented, after the inputs')."""
    m = re.findall(rf"^{key}: (.*)$", out, re.M)
    assert m, (key, out)
    return m[-1]


def _field(out: str, key: str) -> str:
    m = re.search(rf"^  {key}: (.*)$", out, re.M)
    assert m, (key, out)
    return m.group(1)


@pytest.mark.parametrize("kind", ["naip", "uint16", "photo", "s2-l1c-folder", "reference"])
def test_the_plan_says_every_decision_and_the_run_does_what_it_said(inputs, run_cli, tmp_path, kind):
    src, flags, route = inputs[kind]
    dst = tmp_path / "out.tif"
    code, plan, err = run_cli("predict", str(src), *flags, "-o", str(dst), "--plan")
    assert code == 0, err
    assert not dst.exists() and not list(tmp_path.iterdir())  # nothing written
    assert plan.startswith("plan: 1 input(s); nothing is written with --plan")
    assert f"{src} → {dst}" in plan
    reading = _field(plan, "model and reading")
    assert route in reading and "scaling" in reading
    fallback, tiles = _field(plan, "fallback"), _field(plan, "tiles")
    assert fallback.startswith(("images unlike every training source", "none"))
    backend = re.search(r"^backend: [^:]+: (.*)$", plan, re.M)
    if kind == "reference":  # the fit's bundle runs, its backend and tiles decided in the plan's block, before
        # the fit; the model's own output (a pass of the fit where a route needs it) decided as plain predict decides
        tile = int(re.match(r"(\d+)² overlapping by \d+ px \(the fit's own", _block(plan, "tiles")).group(1))
        fit_backend = re.match(r"where a band takes the fit, its bundle runs on (\w+ \w+): ", _block(plan, "backend"))
        own = re.search(r"^the model's own output's backend: rgb2nir-naip: (\w+ \w+)", plan, re.M)
        assert own and fit_backend and re.findall(r"^backend: ", plan, re.M) == ["backend: "], plan
        assert _block(plan, "route").startswith("16,384 clear cells: a fit at the reference's scale")
        assert re.search(r"^memory: planned under [\d.]+ GB peak", plan, re.M), plan
        code, run, err = run_cli("predict", str(src), *flags, "-o", str(dst))
        assert code == 0, err
        assert reading in run and _field(plan, "reference") in run  # the same reference, read alike
        assert re.search(r"route: a \S+ fit at the reference's scale", run), run
        ran = re.search(rf"^{src.name}, the fit  (\d+) tiles, .*; (\w+ \w+)\)$", run, re.M)
        assert ran and ran.group(2) == fit_backend.group(1), run  # the backend the plan said
        assert int(ran.group(1)) == 1 and tile >= 256  # one tile of the plan's size holds the 256² input
        return
    n_tiles = int(re.match(r"(\d+) tile\(s\) of \d+²", tiles).group(1))
    code, run, err = run_cli("predict", str(src), *flags, "-o", str(dst))
    assert code == 0, err
    assert reading in run  # the same route and reading
    assert f"backend: {backend.group(1)}" in run  # the same backend, for the same reason
    assert re.search(rf"^{re.escape(str(dst))}  {n_tiles} tiles", run, re.M), run  # the same tiles


def test_the_plan_refuses_what_the_run_would_refuse(run_cli, tmp_path):
    """A plan is the run's own checks: an output there without --overwrite is refused alike."""
    dst = tmp_path / "there.tif"
    dst.write_bytes(b"not ours")
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir", "-o", str(dst), "--plan")
    assert code == 2 and "there.tif" in err and dst.read_bytes() == b"not ours"


def test_the_backend_decision_is_made_before_anything_is_built(monkeypatch, tmp_path):
    """The plan's backend: as asked; fp32 unmeasured for a small job; a probe announced for a
    large one; an earlier probe's choice from the cache — decided from the cache alone."""
    from bandbridge.inference.runtime import select
    from bandbridge.inference.runtime.cache import write_json
    from bandbridge.spec import read_spec, resolve_model_folder
    spec = read_spec(resolve_model_folder("rgb2nir-photo"))
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path))  # its own cache: the choice written stays here
    monkeypatch.setattr(select, "build_backend", lambda *a, **k: pytest.fail("built while deciding"))
    assert select.decide_backend(spec, "onnx", "fp32").how == "asked"
    small = select.decide_backend(spec, measure=False)
    assert (small.how, small.backend, small.precision) == ("unmeasured", "torch", "fp32")
    cands = select.candidates(spec)
    if len(cands) > 1:  # a probe would run first: the plan says so, and what it starts from
        large = select.decide_backend(spec, measure=True)
        assert large.how == "measure" and "will be measured once" in large.line("rgb2nir-photo")
    pick = cands[-1]
    write_json(select.choice_path(spec, "auto", "auto", None), {
        "backend": pick[0], "precision": pick[1], "measured": "2026-11-26T10:00:00+00:00", "seconds": 3.0,
        "candidates": [{"backend": b, "precision": p, "status": "accepted", "mpix_s": 1.0} for b, p in cands]})
    cached = select.decide_backend(spec, measure=True)
    assert (cached.how, cached.backend, cached.precision) == ("cached", *pick)
    assert "cached (`bandbridge cache clear` measures again" in cached.line("rgb2nir-photo")


def _cut(d, *windows):
    """A folder of the NAIP sample's ``windows`` (col, row, width, height), one GeoTIFF each."""
    d.mkdir()
    with rasterio.open(NAIP) as s:
        for i, w in enumerate(rasterio.windows.Window(*w) for w in windows):
            with rasterio.open(d / f"t{i}.tif", "w", **(s.profile | {"width": w.width, "height": w.height,
                                                                     "transform": s.window_transform(w)})) as o:
                o.write(s.read(window=w))
    return d


@pytest.mark.parametrize("workers", [None, 2])
def test_the_plan_is_what_the_run_records_here_and_on_a_cluster(monkeypatch, tmp_path, workers):
    """`predict FOLDER --plan --workers 2` (issue 69): the plan names where it runs and each file's
    outputs, and each file's summary row records the backend and tile the plan decided; each file's
    layout (predictor.plan_file) is computed once, by the plan, and handed on."""
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.jobs.plan import make_plan
    from bandbridge.inference.jobs.predict import Cluster, predict
    d = _cut(tmp_path / "tiles", (0, 0, 200, 150), (200, 150, 180, 160))
    cluster = Cluster(workers=workers)
    opts = PredictOptions(indices=("ndvi",))
    plan = make_plan([str(d)], "rgb2nir", str(tmp_path / "out"), opts, cluster=cluster)
    lines = "\n".join(plan.lines())
    assert ("run: on a local Dask cluster of 2 worker(s)" if workers else "run: here, file by file") in lines
    assert f"{d / 't0.tif'} → {tmp_path / 'out' / 't0_rgb2nir-naip.tif'} (and t0_rgb2nir-naip_ndvi.tif beside it)" in lines
    assert "the model's own: a small run" in lines  # under PROBE_MPIX: nothing grows
    if workers:  # a cluster's run against its plan: the next test, on tiles that grow
        return
    from bandbridge.inference.core import predictor
    from bandbridge.inference.jobs import job as job_module
    from bandbridge.inference.jobs import plan as plan_module
    from bandbridge.inference.jobs import tiles
    laid = []
    real = predictor.plan_file
    for m in (predictor, job_module, plan_module, tiles):
        monkeypatch.setattr(m, "plan_file", lambda spec, src, o: laid.append(src) or real(spec, src, o))
    out = predict([str(d)], "rgb2nir", str(tmp_path / "out"), opts, cluster=cluster)
    assert sorted(laid) == sorted(j.src for j in plan.jobs), laid  # once a file (twice before: the progress bar and the prediction)
    rows = out.rows
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    for job in plan.jobs:
        row = next(r for r in rows if r["file"] == str(job.src))
        decided = plan.decided(job)
        assert decided["backend"] is not None and decided["tile"] is not None  # small files: nothing measured first
        assert (row["backend"], int(row["tile"])) == (decided["backend"], decided["tile"]), (row, decided)


@pytest.mark.parametrize("workers", [None, 2])
def test_a_large_jobs_grown_tiles_are_decided_in_the_plan_and_run_here_and_on_a_cluster(
        run_cli, monkeypatch, tmp_path, workers):
    """`predict FOLDER -m rgb2nir --plan --workers 2` on a run large enough that tiles grow (issue 69:
    a Dask worker ran the model's own while the plan printed grown ones): the plan prints the tile
    the run then records in its summary, here and on a cluster. Large by policy.PROBE_MPIX lowered;
    the memory pinned and the backend's measures cached, as an earlier run on this machine leaves them."""
    import csv

    from bandbridge import policy
    from bandbridge.inference.runtime import memory, select
    from bandbridge.inference.runtime.cache import record_path, write_json
    from bandbridge.spec import read_spec, resolve_model_folder
    d = _cut(tmp_path / "tiles", (0, 0, 300, 200), (100, 150, 260, 240))
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(policy, "PROBE_MPIX", 0.1)  # 0.12 MPix in all: a large run
    monkeypatch.setattr(memory, "resident_bytes", lambda: 400_000_000)
    monkeypatch.setattr(memory, "available_bytes", lambda: 4_000_000_000)
    spec = read_spec(resolve_model_folder("rgb2nir-naip"))
    write_json(select.choice_path(spec, "auto", "auto", None), {  # an earlier probe chose torch fp32
        "backend": "torch", "precision": "fp32", "measured": "2026-11-26T10:00:00+00:00", "seconds": 3.0,
        "candidates": [{"backend": "torch", "precision": "fp32", "status": "accepted", "mpix_s": 1.0}]})
    write_json(record_path("memory", spec.folder, None, "torch", "fp32"),
               {"bytes_per_px": 200.0, "built_bytes": 200_000_000})
    out = tmp_path / "out"
    flags = ["predict", str(d), "-m", "rgb2nir", "-o", str(out), *(["--workers", str(workers)] if workers else [])]
    code, plan, err = run_cli(*flags, "--plan")
    assert code == 0, err
    said = re.findall(r"^  tiles: (\d+) tile\(s\) of (\d+)² overlapping by 64 px \(the largest that fits the memory: "
                      r"tiles up to (\d+)²", plan, re.M)
    assert len(said) == 2, plan
    tile = int(said[0][1])
    assert all(int(t) == int(u) == tile for _, t, u in said) and tile != spec.config.inference.tile, said
    if workers:  # two workers share the memory: each plans under its half
        assert f"on each of {workers} workers" in plan
    grown = re.search(r"\(the largest that fits the memory: (tiles up to .*)\)$", plan, re.M).group(1)
    code, run, err = run_cli(*flags)
    assert code == 0, err
    assert grown in run  # the same decision said, not made again
    rows = list(csv.DictReader(open(out / "bandbridge-summary.csv"))) if workers else None
    for i in range(2):
        dst = out / f"t{i}_rgb2nir-naip.tif"
        if workers:
            row = next(r for r in rows if r["output"] == str(dst))
            assert (row["status"], row["backend"], int(row["tile"])) == ("ok", "torch fp32", tile), row
        else:
            assert re.search(rf"^{re.escape(str(dst))}  1 tiles", run, re.M), run
        with rasterio.open(dst) as o:
            assert o.tags()["bandbridge_model"]


def test_the_workers_of_a_local_cluster_share_the_memory_a_tile_is_planned_in(tmp_path):
    """jobs/tiles.fit_memory: one process may reach what it holds and half the memory available;
    two workers each half of that half, so their tiles are smaller, and where even the smallest
    does not fit the refusal names the workers."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.jobs.job import Job
    from bandbridge.inference.jobs.tiles import fit_memory
    from bandbridge.spec import read_spec, resolve_model_folder
    spec = read_spec(resolve_model_folder("rgb2nir-photo"))
    jobs = [Job(tmp_path / "in.tif", tmp_path / "out.tif", spec, None, PredictOptions(), "", (8192, 8192))]
    here = fit_memory(spec, jobs, "torch fp32", 127.0, 5e8, 2e9)
    two = fit_memory(spec, jobs, "torch fp32", 127.0, 5e8, 2e9, workers=2)
    assert here.planned == pytest.approx(1.5e9) and two.planned == pytest.approx(5e8 + 2e9 / 4)
    assert two.tile < here.tile and "on each of 2 workers" in two.line and "workers" not in here.line
    with pytest.raises(BandbridgeError, match=r"each of 8 workers may take .*run fewer workers"):
        fit_memory(spec, jobs, "torch fp32", 127.0, 5e8, 2e8, workers=8)
