"""``bandbridge fill`` on the one engine (issue 75 point 1): the fit saved as a bundle and predicted
by the engine only on the tiles that hold pixels to fill, the scene read and written by strips, the
plan's backend and tile what the run records, a LocalCluster's output the local run's. Tiny rasters
made here (no shared data); the fit's search cut to the constant and the linear map (seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy.ndimage import binary_dilation

from bandbridge.bands import clear as clear_of
from bandbridge.inference.place.contract import Outcome
from bandbridge.inference.place.engine import tile_for
from bandbridge.learners import fill_fit
from bandbridge.policy import FILL_DILATE
from bandbridge.inference.place.tags import band as band_tags

NAMES = ["B02", "B03", "B04", "B08", "SCL"]


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(fill_fit, "FIT_CANDIDATES", ("constant", "linear"))


def _write(path, data, names, date, dtype="uint16"):
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=dtype, crs="EPSG:32631",
                       transform=from_origin(500000, 4000000, 10, 10)) as d:
        d.write(data.astype(dtype))
        d.descriptions = tuple(names)
        d.update_tags(DATE=date)
    return str(path)


def scene(tmp_path, h: int, w: int, cloud: tuple[slice, slice]):
    """A scene and its earlier date (four bands and SCL each) and SAR at both dates; the scene is
    its earlier date mapped per band plus a part SAR explains (so the fit beats the map)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w] / 25.0
    e = np.stack([np.sin(xx + b) + np.cos(yy * (b + 1)) for b in range(4)]) * 1000 + 3000
    vv, vh = np.sin(xx * 1.7) * 3 - 10, np.cos(yy * 1.3) * 3 - 17
    y = e * 1.1 + 200 + 150 * (vv + 10) + rng.normal(0, 20, e.shape)
    scl = np.full((h, w), 4.0)
    scl[cloud] = 9
    escl = np.full((h, w), 4.0)
    escl[:6, :6] = 9
    return (_write(tmp_path / "S2_20200610.tif", np.concatenate([np.clip(y, 1, 60000), scl[None]]), NAMES,
                   "2020-06-10"),
            _write(tmp_path / "S2_20200601.tif", np.concatenate([np.clip(e, 1, 60000), escl[None]]), NAMES,
                   "2020-06-01"),
            _write(tmp_path / "S1_20200610.tif", np.stack([vv, vh]), ["VV", "VH"], "2020-06-10", "float32"),
            _write(tmp_path / "S1_20200601.tif", np.stack([vv, vh]) - 0.5, ["VV", "VH"], "2020-06-01", "float32"))


def _read(p):
    with rasterio.open(p) as s:
        return s.read().astype(np.float32), s.tags()


def run(paths, out, lines=None, **kw):
    from bandbridge.inference.place.fill import run_fill
    s, e, now, then = paths
    return run_fill(s, str(out), [e], now, then, say=(lines.append if lines is not None else lambda x: None), **kw)


def _engine(done) -> tuple[str, int]:
    """The backend and tile the engine ran the fill's bundle with (its first row)."""
    return done.rows[0].get("backend", ""), int(done.rows[0].get("tile") or 0)


def test_the_engine_fills_the_dilated_gap_and_copies_the_observed(tmp_path):
    """The bundle the engine predicts is the decision's module: the fit fills every pixel of the
    scene's gap (its SCL's cloud dilated by FILL_DILATE), counted in the tags, and the observed
    pixels are copied as they are (``bandbridge gaps`` scores this output itself: issue 83)."""
    paths = scene(tmp_path, 160, 180, (slice(40, 90), slice(30, 100)))
    done = run(paths, tmp_path / "out.tif")
    out, tags = _read(tmp_path / "out.tif")
    y, _ = _read(paths[0])
    gap = binary_dilation(~clear_of(y[4], "SCL"), iterations=FILL_DILATE)
    assert isinstance(done, Outcome) and done.output == tmp_path / "out.tif" and len(done.decisions) == 4
    d = done.decisions[0]
    assert d.route == "fit" and d.learner and all(b.route == d.route and b.checks == d.checks for b in done.decisions)
    maes = {f"bandbridge_fill_mae_{k.replace('-', '_')}": f"{v:.6g}" for k, v in d.checks.items()}
    assert "fit" in d.checks and maes.items() <= tags.items()  # every route's MAE, as the tags say it
    f = out[4] == 2
    assert np.array_equal(f, gap) and f.sum() == int(tags["bandbridge_fill_pixels"])
    assert np.array_equal(out[:4][:, out[4] == 1], y[:4][:, out[4] == 1])
    assert band_tags(tmp_path / "out.tif", 0)["bandbridge_route"] == "fit" and not any(k.startswith("BANDBRIDGE_FILL") for k in tags)


def test_only_tiles_holding_the_gap_are_predicted(tmp_path, monkeypatch):
    """A gap in the west of a scene three tiles wide: the engine runs the tiles that hold it (and
    the ring round it), not the others — counted by the predictor — and the plan said so."""
    from bandbridge.inference.core import predictor
    ran, plain = [], predictor.predict_file

    def counted(*a, **k):
        st = plain(*a, **k)
        ran.append(st.tiles)
        return st
    monkeypatch.setattr(predictor, "predict_file", counted)
    monkeypatch.setattr("bandbridge.inference.jobs.job.predict_file", counted)
    paths = scene(tmp_path, 120, 2600, (slice(30, 80), slice(40, 300)))
    lines: list[str] = []
    run(paths, tmp_path / "p.tif", lines, plan_only=True)
    tile = tile_for(120, 2600)  # the one tile rule: three equal tiles of 896², not 1024² ones
    said = next(line for line in lines if line.startswith("tiles: "))
    assert said.startswith(f"tiles: {tile}² overlapping by ") and "; 1 of 3 tile(s) hold gap pixels" in said, said
    done = run(paths, tmp_path / "out.tif")
    assert done.decisions[0].route == "fit" and ran == [1] and int(done.rows[0]["tile"]) == tile == 896
    out, tags = _read(tmp_path / "out.tif")
    assert (out[4] == 2).sum() == int(tags["bandbridge_fill_pixels"]) > 0


def test_the_plan_names_the_backend_and_tile_the_run_records(tmp_path):
    paths = scene(tmp_path, 100, 100, (slice(30, 60), slice(30, 70)))
    lines: list[str] = []
    assert run(paths, tmp_path / "out.tif", lines, plan_only=True) is None
    assert not (tmp_path / "out.tif").exists()
    said = next(line for line in lines if line.startswith("backend: "))
    tiles = next(line for line in lines if line.startswith("tiles: "))
    backend, tile = _engine(run(paths, tmp_path / "out.tif"))
    assert backend and said.startswith(f"backend: where a band takes the fit, its bundle runs on {backend}: ")
    assert tiles.startswith(f"tiles: {tile}² overlapping by ")
    assert any(line.startswith("memory: planned under ") for line in lines)


def test_two_workers_give_the_local_output(tmp_path):
    """``fill --workers 2``: the fit's bundle predicted on a LocalCluster gives the local run's
    output, byte for byte; the summary CSV records the backend and tile."""
    from bandbridge.inference.jobs.predict import Cluster, Engine
    paths = scene(tmp_path, 100, 120, (slice(20, 60), slice(30, 80)))
    # one thread each, here and on the workers: sums in one order (two threads here moved values
    # by up to 12 DN through the fitted map)
    run(paths, tmp_path / "here.tif", engine=Engine(threads=1))
    (tmp_path / "d").mkdir()
    done = run(paths, tmp_path / "d" / "there.tif", engine=Engine(threads=1, cluster=Cluster(workers=2)))
    assert np.array_equal(_read(tmp_path / "here.tif")[0], _read(tmp_path / "d" / "there.tif")[0])
    backend, tile = _engine(done)
    assert backend and tile == tile_for(100, 120)
    summary = (tmp_path / "d" / "bandbridge-summary.csv").read_text()
    assert f"{backend},{tile}" in summary
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["bandbridge-summary.csv", "there.tif"]


def test_a_later_date_gives_the_interpolation_where_the_scene_lies_between(tmp_path):
    """``--later``: the scene half-way between an earlier and a later date that differ — the
    interpolation in time holds out best, fills the gap (far better than the earlier date alone),
    and the line and tags say which dates filled how much."""
    from bandbridge.inference.place.fill import run_fill
    h, w = 120, 140
    yy, xx = np.mgrid[:h, :w] / 20.0
    base = np.stack([np.sin(xx + b) + np.cos(yy * (b + 1)) for b in range(4)]) * 800 + 3000
    trend = np.stack([np.cos(xx * 2 + b) * np.sin(yy) for b in range(4)]) * 600
    y = base + np.random.default_rng(0).normal(0, 15, base.shape)
    scl = np.full((h, w), 4.0)
    scl[30:80, 40:110] = 9
    clear4 = np.full((1, h, w), 4.0)
    for d in ("e", "l"):  # each date in its own folder: no SCL file beside to be taken for its mask
        (tmp_path / d).mkdir()
    s = _write(tmp_path / "S2_20200610.tif", np.concatenate([y, scl[None]]), NAMES, "2020-06-10")
    e = _write(tmp_path / "e" / "S2_20200531.tif", np.concatenate([base - trend, clear4]), NAMES, "2020-05-31")
    later = _write(tmp_path / "l" / "S2_20200620.tif", np.concatenate([base + trend, clear4]), NAMES, "2020-06-20")
    lines: list[str] = []
    alone = run_fill(s, str(tmp_path / "one.tif"), [e], say=lambda x: None)
    both = run_fill(s, str(tmp_path / "two.tif"), [e], say=lines.append, later=[later])
    assert alone.decisions[0].route != "interpolated" and both.decisions[0].route == "interpolated"
    assert both.decisions[0].checks["interpolated"] < 0.5 * min(alone.decisions[0].checks.values())
    gap = _read(tmp_path / "two.tif")[0][4] == 2
    err = [float(np.abs(_read(tmp_path / f)[0][:4][:, gap] - y[:, gap]).mean()) for f in ("one.tif", "two.tif")]
    assert err[1] < 0.5 * err[0]
    said = next(x for x in lines if x.startswith("the gap filled from: "))
    assert "the dates before and after interpolated 100%" in said, said
    tags = _read(tmp_path / "two.tif")[1]
    assert tags["bandbridge_fill_later_days"] == "10" and "interpolated" in tags["bandbridge_fill_sources"]


def test_the_scan_dilates_the_gap_as_scipy():
    """The scan's dilation by shifted ORs (fill_strips.grow) is scipy's binary_dilation of the
    cross, iterated, pixel for pixel: at the edges too (nothing past them)."""
    from bandbridge.inference.place.fill_strips import grow
    m = np.random.default_rng(1).random((67, 45)) < 0.02
    m[0, 5] = m[-1, -1] = m[30, 0] = True
    for n in (0, 1, FILL_DILATE):
        assert np.array_equal(grow(m.copy(), n), binary_dilation(m, iterations=n) if n else m)


def test_the_sar_fit_runs_on_the_window_of_its_pixels(tmp_path, monkeypatch):
    """The pixels no date is clear at (the earlier date's cloud in the corner, under the scene's):
    the SAR-alone fit's engine job is the window holding them and the context windows' margin
    (fill_stack.bounds), not the scene — its input is counted by the predictor — and they are filled."""
    from bandbridge.inference.core import predictor
    from bandbridge.inference.place.engine import OVERLAP
    sizes, plain = [], predictor.predict_file

    def counted(backend, spec, src, *a, **k):
        with rasterio.open(src) as s:
            sizes.append((s.height, s.width))
        return plain(backend, spec, src, *a, **k)
    monkeypatch.setattr(predictor, "predict_file", counted)
    monkeypatch.setattr("bandbridge.inference.jobs.job.predict_file", counted)
    paths = scene(tmp_path, 120, 2600, (slice(0, 60), slice(0, 300)))
    run(paths, tmp_path / "out.tif")
    out, tags = _read(tmp_path / "out.tif")
    assert tags.get("bandbridge_fill_sar_alone") and len(sizes) == 2, (tags.get("bandbridge_fill_sar_alone"), sizes)
    holes = 6 + FILL_DILATE  # the earlier date's corner cloud, as the scene's gap is dilated round it
    assert sizes[1][0] <= holes + OVERLAP and sizes[1][1] <= holes + OVERLAP, sizes
    assert (out[4][:6, :6] == 2).all()


def test_the_engine_takes_a_route_per_gap_region(tmp_path):
    """Issue 75's route per gap region through the files and the engine: a later
    date clear on the left half only, the scene halfway between it and the earlier date. The left
    part of the gap takes the interpolation, the right the earlier date mapped (or the fit on it),
    said and tagged; the gap is filled closer than from the earlier date alone."""
    from scipy.ndimage import gaussian_filter

    from bandbridge.inference.place.fill import run_fill
    rng = np.random.default_rng(1)

    def field(mean):
        f = np.stack([gaussian_filter(rng.normal(size=(64, 64)), 2) for _ in range(4)])
        return mean + 0.05 * f / np.abs(f).max()
    before, after = field(0.2), field(0.4)
    truth = 0.5 * (before + after) + rng.normal(0, 0.001, before.shape)
    yy, xx = np.mgrid[:64, :64]
    gap = (yy - 32) ** 2 + (xx - 32) ** 2 <= 12 ** 2
    clear, cloud = np.full((1, 64, 64), 4.0), np.where(gap, 9.0, 4.0)[None]
    s = _write(tmp_path / "S2_20200610.tif", np.concatenate([truth * 10000, cloud]), NAMES, "2020-06-10")
    e = _write(tmp_path / "S2_20200605.tif", np.concatenate([before * 10000, clear]), NAMES, "2020-06-05")
    la = _write(tmp_path / "S2_20200615.tif", np.concatenate([after * 10000, np.where(xx < 32, 4.0, 9.0)[None]]),
                NAMES, "2020-06-15")
    lines: list[str] = []
    both = run_fill(s, str(tmp_path / "both.tif"), [e], later=[la], say=lines.append)
    alone = run_fill(s, str(tmp_path / "alone.tif"), [e], say=lambda x: None)
    assert any(line.startswith("by region: ") and "dates before and after: interpolated" in line
               for line in lines), lines
    out, tags = _read(tmp_path / "both.tif")
    assert "interpolated" in tags["bandbridge_fill_regions"]
    err = float(np.abs(out[:4][:, gap] / 10000 - truth[:, gap]).mean())
    err_alone = float(np.abs(_read(tmp_path / "alone.tif")[0][:4][:, gap] / 10000 - truth[:, gap]).mean())
    assert err < 0.8 * err_alone, (err, err_alone, alone.decisions[0].route)


def sar_later_scene(tmp_path, h: int = 96, w: int = 96):
    """A scene whose change since its earlier date is carried by SAR at the later date only (issue 75
    point 2: SAR of every date): the later optical date is the earlier one again (clear everywhere),
    SAR now and then are alike and unrelated to the change, SAR later's VV is the change. Returns
    the paths (scene, earlier, later, SAR now, then, later), the scene's values and its gap."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:h, :w] / 15.0
    e = np.stack([np.sin(xx + b) + np.cos(yy * (b + 1)) for b in range(4)]) * 800 + 3000
    change = gaussian_filter(rng.normal(size=(h, w)), 3)
    change /= np.abs(change).max()
    now = np.stack([np.sin(yy * 1.3) * 3 - 10, np.cos(xx * 1.7) * 3 - 17])
    later_vv = now[0] + 4 * change
    y = e + 600 * change[None] + rng.normal(0, 10, e.shape)
    gap = np.zeros((h, w), bool)
    gap[30:66, 30:66] = True
    clear = np.full((1, h, w), 4.0)
    for d in ("e", "l"):  # each date in its own folder: no SCL file beside to be taken for its mask
        (tmp_path / d).mkdir()
    paths = (_write(tmp_path / "S2_20200610.tif", np.concatenate([y, np.where(gap, 9.0, 4.0)[None]]), NAMES,
                    "2020-06-10"),
             _write(tmp_path / "e" / "S2_20200601.tif", np.concatenate([e, clear]), NAMES, "2020-06-01"),
             _write(tmp_path / "l" / "S2_20200620.tif", np.concatenate([e + rng.normal(0, 10, e.shape), clear]),
                    NAMES, "2020-06-20"),
             _write(tmp_path / "S1_20200610.tif", now, ["VV", "VH"], "2020-06-10", "float32"),
             _write(tmp_path / "S1_20200601.tif", now - 0.5, ["VV", "VH"], "2020-06-01", "float32"),
             _write(tmp_path / "S1_20200620.tif", np.stack([later_vv, now[1]]), ["VV", "VH"], "2020-06-20", "float32"))
    return paths, y, binary_dilation(gap, iterations=FILL_DILATE)


def test_sar_at_the_later_date_carries_a_change_no_other_input_holds(tmp_path):
    """``--sar-later``: SAR at the later date and its change since the scene are features with the
    later dates, kept by the held-out check where they help: here they carry the change, so the
    fit with them fills the gap far closer than without (the engine's output, read back)."""
    from bandbridge.inference.place.fill import run_fill
    (s, e, la, now, then, sl), y, gap = sar_later_scene(tmp_path)
    lines: list[str] = []
    without = run_fill(s, str(tmp_path / "without.tif"), [e], now, then, later=[la], say=lambda x: None)
    with_it = run_fill(s, str(tmp_path / "with.tif"), [e], now, then, later=[la], sar_later=[sl], say=lines.append)
    err = [float(np.abs(_read(tmp_path / f)[0][:4][:, gap] - y[:, gap]).mean()) for f in ("without.tif", "with.tif")]
    learner = [_read(tmp_path / f)[1].get("bandbridge_fill_learner", "") for f in ("without.tif", "with.tif")]
    assert "SAR later" in learner[1] and "SAR later" not in learner[0], learner
    print("gap MAE (DN) without / with --sar-later:", err)
    assert err[1] < 0.5 * err[0], (err, without.decisions[0].route, with_it.decisions[0].route)
    assert _read(tmp_path / "with.tif")[1]["bandbridge_fill_sar"] == "now, then and later"


@pytest.mark.parametrize("case", ["no-later", "more-than-later", "no-sar", "output-is-sar-later"])
def test_sar_later_refusals_are_one_line_and_write_nothing(run_cli, tmp_path, case):
    (s, e, la, now, then, sl), _, _ = sar_later_scene(tmp_path, 32, 32)
    out = {"output-is-sar-later": sl}.get(case, str(tmp_path / "f.tif"))
    args = {"no-later": ["-e", e, "--sar", now, "--sar-later", sl],
            "more-than-later": ["-e", e, "--later", la, "--sar", now, "--sar-later", sl, "--sar-later", then],
            "no-sar": ["-e", e, "--later", la, "--sar-later", sl],
            "output-is-sar-later": ["-e", e, "--later", la, "--sar", now, "--sar-later", sl, "--overwrite"]}[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    stamp = (tmp_path / "S1_20200620.tif").stat().st_mtime_ns
    code, _, err = run_cli("fill", s, *args, "-o", out)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    said = " ".join(err.split())
    want = {"no-later": "given without --later", "more-than-later": "2 --sar-later for 1 --later",
            "no-sar": "given without --sar", "output-is-sar-later": "S1_20200620.tif"}[case]
    assert "--sar-later" in said or case == "output-is-sar-later", said
    assert want in said, said
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "S1_20200620.tif").stat().st_mtime_ns == stamp


def test_a_sar_cube_gives_its_step_nearest_the_nearest_later_date():
    """``--sar`` a time-series cube (every date in it): SAR at the nearest ``--later`` date is its
    step nearest that date, no flag needed; ``--sar-later`` pairs with ``--later`` in order. Headers
    only (the development data's WorldCereal site)."""
    from conftest import SHARED
    from bandbridge.inference.place.fill_inputs import open_inputs
    site = SHARED / "worldcereal" / "sample_00002806639B424A"
    s1 = site / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
    if not s1.exists():
        pytest.skip(f"needs the development data ({s1}): the cube case reads a real SAR cube's dates")
    s10 = site / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
    step = lambda d: f"{s10}@{d}#scl=S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"  # noqa: E731
    cube = open_inputs(step("2018-06-03"), [step("2018-05-26")], str(s1), None, None,
                       later=[step("2018-06-20"), step("2018-06-15")])
    assert str(cube.sar[0].layer.when) == "2018-06-03" and str(cube.sar[2].layer.when) == "2018-06-15"
    paired = open_inputs(step("2018-06-03"), [step("2018-05-26")], str(s1), None, None,
                         later=[step("2018-06-20"), step("2018-06-15")],
                         sar_later=[f"{s1}@2018-06-21", f"{s1}@2018-06-14"])
    assert str(paired.sar[2].layer.when) == "2018-06-14" and paired.sar[2].flag == "--sar-later"
