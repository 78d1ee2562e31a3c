"""``bandbridge sharpen``: every band of a coarse reference from every band of fine guides, a route
per band, on the one engine — on tiny real-like rasters made here (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy.ndimage import gaussian_filter

from bandbridge.policy import FALLBACK_UPSAMPLING

K = 2  # guide pixels per reference pixel
SIZE = 160  # guide pixels a side
ORIGIN = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
SCALE, OFFSET = 1e-4, -0.1  # the reference's stored → reflectance (Sentinel-2 L2A's)


def _field(rng, sigma: float) -> np.ndarray:
    f = gaussian_filter(rng.normal(size=(SIZE, SIZE)), sigma)
    return (f - f.min()) / np.ptp(f)


def _write(path: Path, bands: np.ndarray, names: list[str], transform: Affine, dtype: str, nodata=None,
           scale: float = 1.0, offset: float = 0.0) -> Path:
    prof = {"driver": "GTiff", "height": bands.shape[1], "width": bands.shape[2], "count": len(bands),
            "dtype": dtype, "crs": "EPSG:32631", "transform": transform, "nodata": nodata}
    with rasterio.open(path, "w", **prof) as d:
        d.write(bands.astype(dtype))
        d.descriptions = tuple(names)
        d.scales, d.offsets = [scale] * len(bands), [offset] * len(bands)
    return path


def scene(tmp_path: Path, guides: np.ndarray | None = None, shift: float = 0.0, moved: int = 0) -> dict:
    """Four guide bands (reflectance × 10 000, uint16) and a reference of three bands averaged
    ``K``× (uint16, L2A's scale and offset, nodata 0): ``fit`` a map of the guides with detail at
    every scale, ``none`` noise the guides carry nothing of, ``mix`` a product of two guides;
    the truth at the guides' scale beside them. ``shift``: the reference moved by that many
    guide pixels (a pan and an MS on two lattices); ``moved``: the reference's content moved by that
    many guide pixels down and right while its file states it in place (a misregistered pair)."""
    rng = np.random.default_rng(7)
    g = guides if guides is not None else np.stack([_field(rng, s) for s in (1.0, 1.5, 2.5, 1.2)])
    truth = np.stack([0.6 * g[0] + 0.3 * g[3] - 0.2 * g[1] + 0.3,
                      0.2 + 0.6 * np.random.default_rng(99).random((SIZE, SIZE)),
                      0.2 + 0.8 * g[2] * g[3]])
    dn = lambda r: np.round((r - OFFSET) / SCALE)  # noqa: E731
    h = SIZE // K
    ref = np.roll(dn(truth), (moved, moved), (1, 2)).reshape(3, h, K, h, K).mean((2, 4))
    paths = {"guides": _write(tmp_path / "guides.tif", np.round(g * 8000 + 500), ["B02", "B03", "B04", "B08"],
                              ORIGIN, "uint16"),
             "ref": _write(tmp_path / "ref.tif", np.round(ref), ["FIT", "NONE", "MIX"],
                           ORIGIN @ Affine.translation(shift, shift) @ Affine.scale(K), "uint16", 0, SCALE, OFFSET),
             "truth": dn(truth)}
    return paths


def _read(path: Path):
    with rasterio.open(path) as s:
        return s.read().astype(np.float64), s


def _cubic(ref: Path) -> np.ndarray:
    from rasterio.warp import Resampling, reproject
    out = np.zeros((3, SIZE, SIZE), np.float32)
    with rasterio.open(ref) as s:
        reproject(s.read().astype(np.float32), out, src_transform=s.transform, src_crs=s.crs,
                  dst_transform=ORIGIN, dst_crs=s.crs, resampling=Resampling.cubic)
    return out


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    m = np.s_[4:-4, 4:-4]
    return float(np.sqrt(np.mean((a[m] - b[m]) ** 2)))


@pytest.fixture(scope="module")
def sharpened(tmp_path_factory):
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    tmp = tmp_path_factory.mktemp("sharpen")
    p = scene(tmp)
    lines: list[str] = []
    res = sharpen([str(p["guides"])], str(p["ref"]), str(tmp / "out.tif"), engine=Engine(threads=1),
                  say=lines.append)
    return p, res, lines, tmp


def test_each_band_takes_its_own_route(sharpened):
    """The band the guides make takes the fit and beats cubic upsampling against the truth; the band
    they carry nothing of keeps the upsampled reference and says why."""
    p, res, lines, _ = sharpened
    routes = {b.band: b for b in res.decisions}
    assert routes["FIT"].route.startswith("fit") and routes["MIX"].route.startswith("fit")
    assert not routes["NONE"].route.startswith("fit")
    assert "do not carry" in routes["NONE"].why or "would not carry" in routes["NONE"].why
    assert any(line.startswith("NONE: ") and routes["NONE"].route in line for line in lines)
    out, _ = _read(res.output)
    cubic = _cubic(p["ref"])
    for i in (0, 2):
        assert _rmse(out[i], p["truth"][i]) < 0.7 * _rmse(cubic[i], p["truth"][i])
    assert _rmse(out[1], p["truth"][1]) <= 1.05 * _rmse(cubic[1], p["truth"][1])


def test_the_output_keeps_the_reference_units_and_says_where_each_band_came_from(sharpened):
    from bandbridge.inference.place.contract import BandDecision, Outcome
    p, res, _, _ = sharpened
    assert isinstance(res, Outcome) and all(isinstance(b, BandDecision) for b in res.decisions)
    with rasterio.open(res.output) as d:
        assert d.count == 3 and d.dtypes[0] == "uint16" and d.nodata == 0
        assert d.descriptions == ("FIT", "NONE", "MIX")
        assert d.scales == (SCALE,) * 3 and d.offsets == (OFFSET,) * 3
        assert (d.height, d.width) == (SIZE, SIZE) and d.transform == ORIGIN
        for i, b in enumerate(res.decisions, 1):
            tags = d.tags(i)
            assert tags["bandbridge_route"] == b.route and tags["bandbridge_route_words"]  # the bare word, its words
            assert float(tags["bandbridge_heldout_error"]) == pytest.approx(b.heldout, rel=1e-5)
        assert d.tags()["bandbridge_shift"].startswith("no shift corrected: measured X +0.00, Y +0.00")


def test_a_corrected_band_averages_back_to_the_reference(sharpened):
    """Every band whose route is made consistent (or is nearest upsampling) averages back to the
    reference over each of its cells, to the stored type's rounding (edge cells too)."""
    p, res, _, _ = sharpened
    out, _ = _read(res.output)
    ref, _ = _read(p["ref"])
    h = SIZE // K
    checked = 0
    for i, b in enumerate(res.decisions):
        if b.route.endswith("+correction") or b.route == "nearest":
            means = out[i].reshape(h, K, h, K).mean((1, 3))
            assert np.abs(means - ref[i]).max() <= 0.5, b.band  # the stored type's rounding
            checked += 1
    assert checked


def test_two_workers_give_the_local_output(sharpened):
    """``--workers 2``: the fit's bundle predicted on a LocalCluster gives the local output, byte
    for byte, and the summary CSV lies beside it."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.jobs.predict import Cluster
    from bandbridge.inference.place.sharpen import sharpen
    p, res, _, tmp = sharpened
    (tmp / "d").mkdir()
    there = sharpen([str(p["guides"])], str(p["ref"]), str(tmp / "d" / "there.tif"),
                    engine=Engine(threads=1, cluster=Cluster(workers=2)))
    assert np.array_equal(_read(res.output)[0], _read(there.output)[0])
    assert sorted(q.name for q in (tmp / "d").iterdir()) == ["bandbridge-summary.csv", "there.tif"]


def test_plan_prints_each_band_and_writes_nothing(tmp_path, run_cli):
    """The route rule is said once, the bands it covers listed (issue 98: the same 400-character line a band)."""
    p = scene(tmp_path)
    code, out, err = run_cli("sharpen", str(p["guides"]), "--reference", str(p["ref"]), "-o",
                             str(tmp_path / "o.tif"), "--bands", "FIT,NONE", "--plan")
    assert code == 0, err
    lines = out.splitlines()
    said = [x for x in lines if "nearest/bilinear/cubic" in x]
    assert len(said) == 1 and said[0].startswith("each of FIT, NONE: from B02, B03, B04, B08"), said
    assert "then the test at the output's scale: each guide from the others" in said[0]  # issue 95: the plan says it
    assert not any("MIX" in x for x in lines)
    assert not (tmp_path / "o.tif").exists()


def _refused(run_cli, tmp_path: Path, guides: Path, ref: Path, *extra: str) -> str:
    before = sorted(q.name for q in tmp_path.iterdir())
    code, out, err = run_cli("sharpen", str(guides), "--reference", str(ref), "-o", str(tmp_path / "o.tif"), *extra)
    assert code == 2
    said = [x for x in err.splitlines() if x.strip()]
    assert len(said) == 1 and "Traceback" not in err
    assert sorted(q.name for q in tmp_path.iterdir()) == before
    return said[0]


def test_refusals_say_one_line_and_write_nothing(tmp_path, run_cli):
    p = scene(tmp_path)
    far = _write(tmp_path / "far.tif", np.ones((3, 40, 40)) * 900, ["FIT", "NONE", "MIX"],
                 ORIGIN @ Affine.translation(5_000, 0) @ Affine.scale(K), "uint16", 0)
    assert "does not overlap" in _refused(run_cli, tmp_path, p["guides"], far)
    assert "no such band" in _refused(run_cli, tmp_path, p["guides"], p["ref"], "--bands", "B99")


def test_a_guide_band_of_one_value_is_refused(tmp_path, run_cli):
    g = np.stack([_field(np.random.default_rng(s), 1.5) for s in range(4)])
    g[2] = 0.5
    p = scene(tmp_path, guides=g)
    assert "B04 is one value" in _refused(run_cli, tmp_path, p["guides"], p["ref"])


def test_a_pan_not_aligned_with_its_ms_is_refused(tmp_path, run_cli):
    p = scene(tmp_path, shift=0.5)  # the reference's cells start half a guide pixel off
    assert "pixel edges fall 0.50 guide pixels off" in _refused(run_cli, tmp_path, p["guides"], p["ref"])


def test_guides_on_another_grid_are_warped_onto_the_finest(tmp_path, run_cli):
    """A guide file on a coarser grid joins the guides, warped onto the finest (the plan says so)."""
    p = scene(tmp_path)
    coarse = _write(tmp_path / "B11.tif", np.full((1, SIZE // 4, SIZE // 4), 3000.0) +
                    np.random.default_rng(3).random((1, SIZE // 4, SIZE // 4)) * 500, ["B11"],
                    ORIGIN @ Affine.scale(4), "uint16")
    code, out, err = run_cli("sharpen", str(p["guides"]), str(coarse), "--reference", str(p["ref"]), "-o",
                             str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert f"guides: B02, B03, B04, B08, B11 on a {SIZE}×{SIZE} grid (B11 warped onto it, bilinear)" in out


def test_cells_the_reference_cannot_see_are_nodata(tmp_path):
    """A block of the reference's cells at nodata (a cloud, a fill): the output holds nodata under it
    and the bands everywhere else."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    p = scene(tmp_path)
    with rasterio.open(p["ref"], "r+") as d:
        v = d.read()
        v[:, 30:40, 30:40] = 0
        d.write(v)
    res = sharpen([str(p["guides"])], str(p["ref"]), str(tmp_path / "o.tif"), engine=Engine(threads=1))
    out, _ = _read(res.output)
    assert (out[:, 60:80, 60:80] == 0).all()
    assert (out[:, :50] > 0).all() and (out[:, 90:] > 0).all()


def _few_cells(tmp_path: Path, made: bool) -> tuple[Path, Path, np.ndarray]:
    """48² guides and a one-band reference averaged 6× (8 × 8 cells, a 60 m band of a small scene):
    ``made``, a line of the guides (B02's values), else noise they carry nothing of; and the truth."""
    rng = np.random.default_rng(5)
    g = np.stack([_field(rng, 1.0) for _ in range(4)])[:, :48, :48]
    truth = g[0] * 5000 + 1000 if made else rng.random((48, 48)) * 5000 + 1000
    guides = _write(tmp_path / "g.tif", np.round(g * 8000 + 500), ["B02", "B03", "B04", "B08"], ORIGIN, "uint16")
    ref = _write(tmp_path / "r.tif", np.round(truth.reshape(1, 8, 6, 8, 6).mean((2, 4))), ["B09"],
                 ORIGIN @ Affine.scale(6), "uint16", 0, SCALE, OFFSET)
    return guides, ref, truth


def test_a_reference_of_a_few_cells_takes_the_rules_upsampling(tmp_path):
    """Under ``policy.FIT_DEGRADED_MIN`` cells once averaged by k and by 2 (a 60 m band of a small scene:
    64 cells) no fit is made and no upsampling chosen by so few cells: where the guides' line does not
    carry the band either, ``policy.FALLBACK_UPSAMPLING`` (Lanczos, set on half A of the floor's sources),
    and the line says why."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    guides, ref, _ = _few_cells(tmp_path, made=False)
    lines: list[str] = []
    res = sharpen([str(guides)], str(ref), str(tmp_path / "o.tif"), engine=Engine(threads=1), say=lines.append)
    assert res.decisions[0].route == FALLBACK_UPSAMPLING and "too few to fit on or to choose" in res.decisions[0].why
    assert any(x.startswith("B09: from B02") and f"{FALLBACK_UPSAMPLING} upsampling" in x for x in lines)


def test_a_band_the_guides_make_takes_their_line_with_few_cells(tmp_path):
    """The same few cells of a band the guides make: its route is the guides' line (no bundle is
    served), written from the guides' own rows, closer to the truth than cubic upsampling."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    guides, ref, truth = _few_cells(tmp_path, made=True)
    res = sharpen([str(guides)], str(ref), str(tmp_path / "o.tif"), engine=Engine(threads=1))
    assert res.decisions[0].route.startswith("regression") and not any(b.learner for b in res.decisions)
    out, _ = _read(res.output)
    from rasterio.warp import Resampling, reproject
    cubic = np.zeros((1, 48, 48), np.float32)
    with rasterio.open(ref) as s:
        reproject(s.read().astype(np.float32), cubic, src_transform=s.transform, src_crs=s.crs, dst_transform=ORIGIN,
                  dst_crs=s.crs, resampling=Resampling.cubic)
    assert _rmse(out[0], truth) < 0.5 * _rmse(cubic[0], truth)


def test_a_misregistered_reference_keeps_its_upsampling_and_says_so(tmp_path):
    """The reference's content one guide pixel (half a cell) off the guides, as its file states it in
    place, kept so (``--reference-shift none``; ``auto`` corrects half a cell: test_sharpen_grids.py): the
    shift is found, not corrected, and no band takes a fit that would carry it."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    p = scene(tmp_path, moved=1)
    res = sharpen([str(p["guides"])], str(p["ref"]), str(tmp_path / "o.tif"), engine=Engine(threads=1),
                  reference_shift="none")
    fit = {b.band: b for b in res.decisions}["FIT"]
    assert not fit.route.startswith("fit") and "look shifted by" in fit.why
    assert not any(b.learner for b in res.decisions)


@pytest.mark.parametrize("k, margin", [(2, 1), (3, 0), (6, 1)])
def test_the_lattice_interpolates_and_averages_as_the_warper_and_the_fit_do(k, margin):
    """On a reference whose cells lie on the guides' pixels (a whole k, a margin of cells round the
    guides as ``open_targets`` reads it): nearest, bilinear and the B-spline are GDAL's, cubic, the
    B-spline and Lanczos ``padded_up``'s (the fit's own anchor), cell means are GDAL's sums, and an interpolated field's cell means, made
    without a pass, are those of the interpolated field itself (NaN in the margin's cells)."""
    from bandbridge.data.grids import Grid
    from bandbridge.inference.place.fields import Lattice, Warped
    from bandbridge.learners.upsampling import padded_up
    hf, wf = 61, 47
    fine = Grid("EPSG:32631", ORIGIN, hf, wf)
    grid = Grid("EPSG:32631", ORIGIN @ Affine.translation(-k * margin, -k * margin) @ Affine.scale(k),
                -(-hf // k) + 2 * margin, -(-wf // k) + 2 * margin)
    lat, warp = Lattice.of(fine, grid), Warped(fine, grid)
    assert isinstance(lat, Lattice)
    rng = np.random.default_rng(k)
    field = rng.random((2, grid.height, grid.width)).astype(np.float32)
    for how in ("nearest", "bilinear", "bspline"):  # the B-spline on coefficients two cells beyond the edge
        assert np.abs(lat.up(field, 3, hf - 2, how) - warp.up(field, 3, hf - 2, how)).max() < 1e-5
    for how in ("cubic", "bspline") + (("lanczos",) if margin else ()):  # Lanczos reaches 3 cells: past PAD's 2
        assert np.abs(lat.up(field, 0, hf, how) - padded_up(field, grid, fine, how)).max() < 1e-5
    v, ok = rng.random((2, hf, wf)).astype(np.float32), rng.random((hf, wf)) > 0.2
    (m1, s1), (m2, s2) = (x.means(lambda a, b: (v[:, a:b], ok[a:b])) for x in (lat, warp))
    assert np.array_equal(np.isnan(m1), np.isnan(m2)) and np.nanmax(np.abs(m1 - m2)) < 1e-5
    assert np.abs(s1 - s2).max() < 1e-5
    for how in ("nearest", "bilinear", "cubic", "bspline", "lanczos"):
        passed, _ = lat.means(lambda a, b: (lat.up(field, a, b, how), np.ones((b - a, wf), bool)))
        made = lat.up_means(field, how)
        assert np.array_equal(np.isnan(made), np.isnan(passed)) and np.nanmax(np.abs(made - passed)) < 1e-5


def test_the_correction_of_lines_needs_no_first_pass(tmp_path, monkeypatch):
    """A band on its line with the correction, on a lattice, every guide known: each cell's mean of
    the uncorrected output is made without a pass over the guides (the line of their cell means, the
    low-pass's exact cubic means), and the output is the one the first pass gives (to a unit)."""
    from bandbridge.inference.place import sharpen_finish
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    guides, ref, _ = _few_cells(tmp_path, made=True)
    made, own = [], sharpen_finish.Rows.cell_means
    monkeypatch.setattr(sharpen_finish.Rows, "cell_means", lambda self, c: made.append(own(self, c)) or made[-1])
    res = sharpen([str(guides)], str(ref), str(tmp_path / "o.tif"), engine=Engine(threads=1))
    assert res.decisions[0].route == "regression+correction" and made and made[0] is not None
    monkeypatch.setattr(sharpen_finish.Rows, "cell_means", lambda self, c: None)  # the first pass
    passed = sharpen([str(guides)], str(ref), str(tmp_path / "p.tif"), engine=Engine(threads=1))
    (a, _), (b, _) = _read(res.output), _read(passed.output)
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01


def test_the_lattice_means_strips_that_split_cells(monkeypatch):
    """Strips of 7 rows on cells of 3 (the fine grid starting 1 row and 2 columns into its first cell):
    a cell split between strips is summed in both, its mean and cover GDAL's."""
    from bandbridge.data.grids import Grid
    from bandbridge.inference.place import fields
    hf, wf, k = 29, 20, 3
    fine = Grid("EPSG:32631", ORIGIN, hf, wf)
    grid = Grid("EPSG:32631", ORIGIN @ Affine.translation(-5, -4) @ Affine.scale(k), 13, 10)
    lat = fields.Lattice.of(fine, grid)
    assert isinstance(lat, fields.Lattice) and lat.off == (4, 5)
    rng = np.random.default_rng(7)
    v, ok = rng.random((2, hf, wf)).astype(np.float32), rng.random((hf, wf)) > 0.2
    whole = lat.means(lambda a, b: (v[:, a:b], ok[a:b]))
    monkeypatch.setattr(fields, "ROWS", 7)
    (m, s), (m2, s2) = lat.means(lambda a, b: (v[:, a:b], ok[a:b])), fields.Warped(fine, grid).means(
        lambda a, b: (v[:, a:b], ok[a:b]))
    assert np.array_equal(np.isnan(m), np.isnan(whole[0])) and np.nanmax(np.abs(m - whole[0])) < 1e-6
    assert np.array_equal(np.isnan(m), np.isnan(m2)) and np.nanmax(np.abs(m - m2)) < 1e-5
    assert np.abs(s - s2).max() < 1e-5
    part = (slice(5, 8), slice(1, 4))  # the cell (3, 2): fine rows 5-7, split between the strips [0, 7) and [7, 14)
    assert np.isclose(m[0, 3, 2], v[0][part][ok[part]].mean()) and np.isclose(s[3, 2], ok[part].sum() / 9)


def test_a_grid_off_the_lattice_is_warped():
    """A reference at a k that is not whole, or with cells off the pixels' edges: GDAL's warper."""
    from bandbridge.data.grids import Grid
    from bandbridge.inference.place.fields import Lattice
    fine = Grid("EPSG:32631", ORIGIN, 60, 60)
    for tr in (ORIGIN @ Affine.scale(2.5), ORIGIN @ Affine.translation(0.5, 0) @ Affine.scale(2)):
        assert type(Lattice.of(fine, Grid("EPSG:32631", tr, 30, 30))).__name__ == "Warped"


def test_the_plan_states_its_memory(tmp_path, run_cli):
    """``--plan`` says the peak the run is planned under, more for a larger reference."""
    from bandbridge.inference.place.sharpen import plan_sharpen
    p = scene(tmp_path)
    code, out, err = run_cli("sharpen", str(p["guides"]), "--reference", str(p["ref"]), "-o",
                             str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert any(x.startswith("memory: planned under ") and " GB peak" in x for x in out.splitlines())
    plan = plan_sharpen([str(p["guides"])], str(p["ref"]), str(tmp_path / "o.tif"))
    small = plan.memory().peak()
    plan.targets.grid = type(plan.targets.grid)(plan.targets.grid.crs, plan.targets.grid.transform, 5000, 5000)
    assert plan.memory().peak() > small + 1e9  # 25 M cells of 3 targets and 4 guides


def test_a_plan_made_first_is_the_one_that_runs(sharpened):
    """``sharpen(plan=...)``: a plan made before (its targets read once, its refusals said first) is the
    one the run follows: the same output as a run that plans for itself."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import plan_sharpen, sharpen
    p, res, _, tmp = sharpened
    engine = Engine(threads=1)
    plan = plan_sharpen([str(p["guides"])], str(p["ref"]), str(tmp / "planned.tif"), engine=engine)
    again = sharpen([], "", "", engine=engine, plan=plan)
    assert again.output == tmp / "planned.tif"
    assert np.array_equal(_read(res.output)[0], _read(again.output)[0])


def test_cog_makes_the_output_a_cog(tmp_path):
    """``cog=True``: the output is a Cloud-Optimized GeoTIFF (the one writer's conversion), the plan says so."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import plan_sharpen, sharpen
    guides, ref, _ = _few_cells(tmp_path, made=False)
    out = tmp_path / "o.tif"
    assert any("a COG" in x for x in plan_sharpen([str(guides)], str(ref), str(out), cog=True).lines())
    sharpen([str(guides)], str(ref), str(out), engine=Engine(threads=1), cog=True)
    with rasterio.open(out) as d:
        assert d.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


@pytest.mark.parametrize("kinds", [("sharpen",), ()])
def test_the_fit_learns_area_to_point_where_its_rule_says(tmp_path, monkeypatch, kinds):
    """``policy.AREA_FIT`` names the kinds whose fit learns on the fine window (``area.Fine``, read before the
    decision); without ``sharpen`` in it the decision is given none and learns on the guides averaged onto the cells."""
    from bandbridge import policy
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.sharpen import sharpen
    from bandbridge.learners import area, sharpen as learn
    monkeypatch.setattr(policy, "AREA_FIT", kinds)
    given, decide = [], learn.decide
    monkeypatch.setattr(learn, "decide", lambda *a, **k: given.append(k.get("fine")) or decide(*a, **k))
    p = scene(tmp_path)
    res = sharpen([str(p["guides"])], str(p["ref"]), str(tmp_path / "out.tif"), engine=Engine(threads=1))
    assert len(given) == 1 and isinstance(given[0], area.Fine) == bool(kinds), given
    chosen = {b.learner for b in res.decisions if b.route.startswith("fit")}
    assert chosen and (chosen <= set(area.LINEAR) or not kinds), chosen  # on the window: a learner that commutes


@pytest.mark.parametrize("k, rows, off", [(2, 1024, (0, 0)), (3, 7, (1, 2)), (3, 2, (2, 0)), (5, 3, (4, 1)),
                                          (4, 1, (0, 3))])
def test_the_lattice_means_hold_no_float64_field_and_are_the_whole_fields_sums_bit_for_bit(monkeypatch, k, rows, off):
    """The strip pass divides each strip's cells as it goes, carrying only a row of cells the next strip also holds
    (strips shorter than a cell: carried on through several): each mean and cover is, bit for bit, that of float64
    sums of every strip added into whole fields and divided once; NaN and 0 where no pixel lies."""
    from bandbridge.data.grids import Grid, block_sums
    from bandbridge.inference.place import fields
    hf, wf = 31, 23
    fine = Grid("EPSG:32631", ORIGIN, hf, wf)
    grid = Grid("EPSG:32631", ORIGIN @ Affine.translation(-off[1], -off[0]) @ Affine.scale(k),
                -(-(hf + off[0]) // k) + 1, -(-(wf + off[1]) // k) + 2)  # a row and two columns of cells past the image
    lat = fields.Lattice.of(fine, grid)
    assert isinstance(lat, fields.Lattice) and lat.off == off
    rng = np.random.default_rng(k * rows)
    v, ok = (rng.random((3, hf, wf)) * 1e4).astype(np.float32), rng.random((hf, wf)) > 0.3
    ok[:, :k + 1] = False  # a column of cells with no valid pixel
    monkeypatch.setattr(fields, "ROWS", rows)
    m, s = lat.means(lambda a, b: (v[:, a:b], ok[a:b]))
    total, count = np.zeros((3, grid.height, grid.width)), np.zeros((grid.height, grid.width))
    for a in range(0, hf, rows):  # the whole fields' way
        sums, n = block_sums(v[:, a:a + rows], k, ok[a:a + rows], ((a + off[0]) % k, off[1] % k))
        at = (slice((a + off[0]) // k, (a + off[0]) // k + n.shape[0]), slice(off[1] // k, off[1] // k + n.shape[1]))
        total[(slice(None), *at)] += sums
        count[at] += n
    with np.errstate(invalid="ignore", divide="ignore"):
        want = (total / count).astype(np.float32)
    assert np.array_equal(m, want, equal_nan=True) and np.array_equal(s, (count / k ** 2).astype(np.float32))
    assert np.isnan(m[:, -1]).all() and not s[-1].any() and np.isnan(m[:, :, 0]).all()
