"""Every registered kind of a fit at the place (``inference/place/kinds.KINDS``) keeps the contract
(issue 83): its ``--plan`` prints the one block (route, backend, tiles, memory) and the run does what
the block says (the engine's line: the same backend and tile); nodata stays nodata; the output
carries the one tag schema on each band; ``--workers 2`` writes the local run's values; a refused
input writes nothing. Run through the command line, as a user runs it, on small rasters made here
(the reference's from the repository's NAIP sample); a fourth kind fails here until it has a case."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy.ndimage import gaussian_filter

from bandbridge.inference.place.kinds import KINDS
from bandbridge.inference.place.tags import BAND_KEYS, read as read_tags


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """The fits cut to what decides in seconds (each kind's own tests run the full candidates)."""
    from bandbridge.learners import fill_fit, student
    monkeypatch.setattr(fill_fit, "FIT_CANDIDATES", ("constant", "linear"))
    monkeypatch.setattr(student, "STEPS", 800)


def _tif(path, a, names, dtype, res=10.0, nodata=None, date=None):
    c, h, w = a.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=dtype, nodata=nodata,
                       crs="EPSG:32631", transform=from_origin(500000, 4000000, res, res)) as d:
        d.write(a.astype(dtype))
        d.descriptions = tuple(names)
        if date:
            d.update_tags(DATE=date)
    return str(path)


def _fields(rng, n: int, h: int, w: int, sigma: float = 3.0) -> np.ndarray:
    return np.stack([gaussian_filter(rng.normal(size=(h, w)), sigma) for _ in range(n)]) * 20


def sharpen_case(d):
    """Four 10 m guides; a 20 m reference of two bands, a mix of them averaged, its first 8 × 8 cells nodata.
    The fields vary at 1.5 px: at 3 px no band took the fit once Lanczos and the B-spline were candidates."""
    rng = np.random.default_rng(1)
    g = _fields(rng, 4, 192, 192, 1.5) + 1000
    fine = np.stack([0.6 * g[0] + 0.4 * g[3], 0.3 * g[1] + 0.7 * g[2]])
    ref = fine.reshape(2, 96, 2, 96, 2).mean((2, 4))
    ref[:, :8, :8] = 0
    return (["sharpen", _tif(d / "guides.tif", g, ["B02", "B03", "B04", "B08"], "uint16"),
             "--reference", _tif(d / "ref.tif", ref, ["B05", "B06"], "uint16", 20.0, nodata=0)],
            (slice(0, 16), slice(0, 16)))


def fill_case(d):
    """A scene with a cloud and its first 10 rows nodata, an earlier clear date, Sentinel-1 at both."""
    yy, xx = np.mgrid[:160, :180] / 25.0
    e = np.stack([np.sin(xx + b) + np.cos(yy * (b + 1)) for b in range(4)]) * 1000 + 3000
    vv, vh = np.sin(xx * 1.7) * 3 - 10, np.cos(yy * 1.3) * 3 - 17
    y = e * 1.1 + 200 + 150 * (vv + 10)
    scl = np.full((1, 160, 180), 4.0)
    scl[0, 40:90, 30:100] = 9
    y[:, :10], scl[:, :10] = 0, 0
    names = ["B02", "B03", "B04", "B08", "SCL"]
    return (["fill", _tif(d / "S2_20200610.tif", np.concatenate([y, scl]), names, "uint16", nodata=0, date="2020-06-10"),
             "-e", _tif(d / "S2_20200601.tif", np.concatenate([e, np.full_like(scl, 4)]), names, "uint16",
                        date="2020-06-01"),
             "--sar", _tif(d / "S1_20200610.tif", np.stack([vv, vh]), ["VV", "VH"], "float32", date="2020-06-10"),
             "--sar-earlier", _tif(d / "S1_20200601.tif", np.stack([vv, vh]) - 0.5, ["VV", "VH"], "float32",
                                   date="2020-06-01")],
            (slice(0, 10), slice(None)))


def reference_case(d):
    """The NAIP sample's RGB (its first 16 × 16 pixels nodata) and its own NIR averaged 4 × 4 as the reference."""
    from bandbridge.data.reference import raster_grid
    from bandbridge.evaluation.wald import make_reference
    from tests.inference.test_reference import aerial
    _, rgb, truth, prof = aerial(d)
    with rasterio.open(rgb, "r+") as s:
        a = s.read()
        a[:, :16, :16] = 0
        s.write(a)
        s.nodata = 0
    ref = make_reference(truth, raster_grid(rgb), 4, d / "nir_k4.tif")
    return ["predict", str(rgb), "-m", "rgb2nir", "--reference", str(ref)], (slice(0, 16), slice(0, 16))


CASES = {"reference": reference_case, "fill": fill_case, "sharpen": sharpen_case}


def test_every_registered_kind_has_a_case():
    assert set(KINDS) == set(CASES)


def _block(out: str) -> tuple[str, int]:
    """The plan block's backend and tile, after checking its shape: its four lines, in order, once."""
    keys = [line.split(":")[0] for line in out.splitlines() if re.match(r"^(route|backend|tiles|memory): ", line)]
    assert keys == ["route", "backend", "tiles", "memory"], out
    backend = re.search(r"^backend: .* runs on (\w+ \w+):", out, re.M).group(1)
    return backend, int(re.search(r"^tiles: (\d+)²", out, re.M).group(1))


def _values(path):
    with rasterio.open(path) as s:
        return s.read(), s.read_masks(1) == 0


@pytest.fixture(scope="module", params=sorted(CASES))
def ran(request, tmp_path_factory):
    """One kind's case: ``(kind, its command line less -o, the output's nodata window, its folder)``."""
    d = tmp_path_factory.mktemp(request.param)
    argv, nodata = CASES[request.param](d)
    return request.param, argv, nodata, d


def test_the_plan_block_is_what_the_run_does(ran, run_cli):
    kind, argv, _, d = ran
    code, plan, err = run_cli(*argv, "-o", str(d / "plan.tif"), "--plan")
    assert code == 0, err
    assert not (d / "plan.tif").exists()
    backend, tile = _block(plan)
    code, out, err = run_cli(*argv, "-o", str(d / "out.tif"), "--threads", "1")  # the local run the cluster's is held to
    assert code == 0, err
    assert _block(out) == (backend, tile)  # the run says the plan it runs
    ran_line = re.search(r"^engine: (\w+ \w+), (\d+)² tiles", out, re.M)
    assert ran_line, f"{kind}: no band took the fit, so the engine never ran: the case must exercise it\n{out}"
    assert (ran_line.group(1), int(ran_line.group(2))) == (backend, tile)


def test_nodata_stays_nodata_and_every_band_carries_the_tags(ran, run_cli):
    kind, argv, nodata, d = ran
    out = d / "out.tif"
    if not out.exists():
        assert run_cli(*argv, "-o", str(out), "--threads", "1")[0] == 0
    values, missing = _values(out)
    assert missing[nodata].all(), f"{kind}: a nodata pixel of the input was written as a value"
    assert not missing.all()
    name, bands = read_tags(out)
    assert name == kind
    with rasterio.open(out) as s:  # every band the kind wrote, none dropped before the check (read() leaves
        untagged = [i for i in s.indexes if not {"bandbridge_route", "bandbridge_codes"} & set(s.tags(i))]  # out
    # untagged bands): a band of values its decision's tags, a band of codes (the fill's FILLED) what they mean
    assert bands and not untagged, f"{kind}: bands {untagged} carry no tag schema"
    for t in bands:
        assert set(t) == set(BAND_KEYS) and t["bandbridge_route"], t
        assert ":" not in t["bandbridge_route"] and t["bandbridge_route_words"], t  # the bare word; its words apart
        assert math.isfinite(float(t["bandbridge_heldout_error"])), t


def test_two_workers_write_the_local_run(ran, run_cli):
    pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'bandbridge[dist]')")
    kind, argv, _, d = ran
    here, there = d / "out.tif", d / "dask" / "there.tif"
    if not here.exists():
        assert run_cli(*argv, "-o", str(here), "--threads", "1")[0] == 0
    code, _, err = run_cli(*argv, "-o", str(there), "--workers", "2")
    assert code == 0, err
    a, b = _values(here)[0].astype(np.float64), _values(there)[0].astype(np.float64)
    assert a.shape == b.shape and (np.isnan(a) == np.isnan(b)).all(), kind  # a float output's nodata is NaN
    assert np.nanmax(np.abs(a - b)) <= 1, kind  # one stored unit of rounding at most


def test_a_refused_input_writes_nothing(ran, run_cli, tmp_path):
    kind, argv, _, _ = ran
    bad = [a if i != 1 else str(tmp_path / "missing.tif") for i, a in enumerate(argv)]
    code, _, err = run_cli(*bad, "-o", str(tmp_path / "o" / "out.tif"))
    assert code == 2, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert "missing.tif" in err
    assert not list(tmp_path.rglob("*")), list(tmp_path.rglob("*"))  # no output, folder or temporary file


def test_a_large_scene_takes_the_ranked_backend_and_runs_what_the_plan_said(ran, run_cli, monkeypatch):
    """A scene past ``EVERYWHERE_MPIX`` (the bound lowered to this case's size: the same rule, seconds not minutes):
    the plan ranks the backends every learner it may choose runs on, the fit keeps to those learners, and the
    engine runs the plan's backend, or torch fp32 where the graph failed its export check (``graph_agrees``, said)."""
    import bandbridge.policy as policy
    from bandbridge.learners import fill_fit, guided, sharpen
    for module in (policy, fill_fit, guided, sharpen):
        monkeypatch.setattr(module, "EVERYWHERE_MPIX", 0.001)
    kind, argv, _, d = ran
    code, out, err = run_cli(*argv, "-o", str(d / "large.tif"), "--threads", "1")
    assert code == 0, err
    assert re.search(r"^backend: .* runs on \w+ \w+: .*by this machine's record of earlier probes", out, re.M), out
    backend, tile = _block(out)
    ran_line = re.search(r"^engine: (\w+ \w+), (\d+)² tiles", out, re.M)
    assert ran_line, f"{kind}: the engine never ran\n{out}"
    fell_back = re.search(r"^backend: torch fp32 instead: .* failed the export check", out, re.M)
    assert ran_line.group(1) == ("torch fp32" if fell_back else backend) and int(ran_line.group(2)) == tile, out
