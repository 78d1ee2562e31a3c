"""``bandbridge sharpen`` of a reference whose targets lie on several grids (a Sentinel-2 product's 20 m
and 60 m bands): one run per grid, each its own Wald protocol and routes, written into one output in
the reference's band order; the same output band by band as the runs of one grid each; the refusals
unchanged (one line, exit 2, nothing written, no work folder left). Tiny SAFEs made here, and the
Major-TOM cell's 10/20/60 m band folder where present."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import rasterio
from affine import Affine

from conftest import SHARED, needs_shared
from test_sharpen_read import ORIGIN, block_means, refused, s2_safe, sharpened, smooth_field, write_raster


def test_one_run_writes_every_20m_and_60m_band_in_order_with_their_tags(tmp_path, run_cli):
    """``sharpen SAFE --reference SAFE``: B05/B11 (20 m, k = 2) and B01/B09 (60 m, k = 6) each by the
    run of its grid, in the product's band order, each with its route, held-out error, set and ``k``,
    in the product's DN, scale and offset; the lines name each band's set; nothing left beside."""
    safe, _ = s2_safe(tmp_path, jp2=False)
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(safe), "--reference", str(safe))
    assert "the reference's targets lie on 2 grids" in out
    assert "set 1 of 2: B05, B11 on a 50×50 grid of 20 m pixels, k = 2.00" in out
    assert "set 2 of 2: B01, B09 on a 18×18 grid of 60 m pixels, k = 6.00" in out
    assert "in this order: B01, B05, B09, B11" in out
    for band, k in (("B05", "2.00"), ("B11", "2.00"), ("B01", "6.00"), ("B09", "6.00")):
        assert f"set {1 if k == '2.00' else 2} (k = {k}): {band}: " in out  # the band's route line, by its set
    assert said["names"] == ("B01", "B05", "B09", "B11") and said["dtype"] == "uint16" and said["size"] == (96, 96)
    assert said["scales"] == (1e-4,) * 4 and said["offsets"] == (-0.1,) * 4 and said["units"] == ("reflectance",) * 4
    with rasterio.open(tmp_path / "o.tif") as d:
        tags = [d.tags(i) for i in range(1, 5)]
    assert [t["bandbridge_k"] for t in tags] == ["6.000", "2.000", "6.000", "2.000"]
    assert tags[0]["bandbridge_set"].startswith("2 of 2: B01,B09 at k = 6.000")
    assert all(t["bandbridge_route"] and float(t["bandbridge_heldout_error"]) >= 0 for t in tags)
    assert said["tags"]["bandbridge_reference_bands"] == "B01,B05,B09,B11" and said["tags"]["bandbridge_sets"] == "2"
    assert said["tags"]["bandbridge_k"] == "B05,B11: 2.000; B01,B09: 6.000"
    for i, (name, k) in enumerate((("B01", 6), ("B05", 2), ("B09", 6), ("B11", 2))):
        with rasterio.open(next(safe.rglob(f"*_{name}_{k * 10}m.tif"))) as s:
            ref = s.read(1).astype(np.float64)
        if said["routes"][i].endswith("+correction"):  # averages back to its own reference
            assert np.abs(block_means(v[i:i + 1], k)[0] - ref).max() <= 0.5, name
    assert sorted(q.name for q in tmp_path.iterdir()) == sorted(["o.tif", safe.name])


def test_the_one_output_equals_each_grids_own_run_band_by_band(tmp_path, run_cli):
    """The one run's bands are exactly those of ``--bands B05,B11`` and ``--bands B01,B09`` run alone
    (each a run of one grid, as before), values and route tags."""
    safe, _ = s2_safe(tmp_path, jp2=False)
    _, v, said = sharpened(run_cli, tmp_path / "all.tif", str(safe), "--reference", str(safe))
    _, v20, said20 = sharpened(run_cli, tmp_path / "20.tif", str(safe), "--reference", str(safe), "--bands", "B05,B11")
    _, v60, said60 = sharpened(run_cli, tmp_path / "60.tif", str(safe), "--reference", str(safe), "--bands", "B01,B09")
    assert np.array_equal(v[[1, 3]], v20) and np.array_equal(v[[0, 2]], v60)
    assert [said["routes"][i] for i in (1, 3)] == said20["routes"]
    assert [said["routes"][i] for i in (0, 2)] == said60["routes"]
    with rasterio.open(tmp_path / "all.tif") as a, rasterio.open(tmp_path / "60.tif") as b:
        assert a.tags(1)["bandbridge_why"] == b.tags(1)["bandbridge_why"]
        assert a.read_masks(1).tolist() == b.read_masks(1).tolist()


def test_bands_pick_across_the_sets_in_their_order(tmp_path, run_cli):
    """``--bands B05,B09`` takes one band of each grid into one output (``--cog``: a COG, as predict's);
    ``--bands B09,B05`` writes them in that order."""
    safe, _ = s2_safe(tmp_path, jp2=False)
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(safe), "--reference", str(safe), "--bands", "B05,B09",
                             "--cog")
    assert said["names"] == ("B05", "B09") and v.shape == (2, 96, 96) and "(a COG, 2 band(s)" in out
    with rasterio.open(tmp_path / "o.tif") as d:
        assert d.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert "set 1 of 2: B05 on a" in out and "set 2 of 2: B09 on a" in out
    code, out, err = run_cli("sharpen", str(safe), "--reference", str(safe), "--bands", "B09,B05", "-o",
                             str(tmp_path / "p.tif"), "--plan")
    assert code == 0, err
    assert "in this order: B09, B05" in out and "set 2: B09: from B02, B03, B04, B08" in out
    assert not (tmp_path / "p.tif").exists()


def test_a_coarse_band_named_among_the_guides_is_no_target(tmp_path, run_cli):
    """``--guides B02,B03,B04,B08,B05``: B05 (warped onto the 10 m grid) guides both sets and is not
    sharpened itself; the other coarse bands are, each set by the same five guides."""
    safe, _ = s2_safe(tmp_path, jp2=False)
    code, out, err = run_cli("sharpen", str(safe), "--guides", "B02,B03,B04,B08,B05", "--reference", str(safe), "-o",
                             str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert "set 1 of 2: B11 on a" in out and "set 2 of 2: B01, B09 on a" in out
    assert "in this order: B01, B09, B11" in out
    assert "set 2: each of B01, B09: from B02, B03, B04, B08, B05;" in out  # one line for the set's bands (issue 98)


def test_a_folder_of_bands_on_two_grids_of_two_types(tmp_path, run_cli):
    """No product: a folder of band files at 60 m (float32, k = 2) and 90 m (uint16, k = 3) under 30 m
    guides, in the folder's order; the one output is float32 (NaN its nodata: the types differ), each
    band the value its own grid's run wrote, its scale kept."""
    rng = np.random.default_rng(6)
    g = np.stack([smooth_field(rng, (48, 48), s) for s in (1.0, 1.5, 2.0)])
    guides = write_raster(tmp_path / "g.tif", np.round(1000 + 4000 * g), ORIGIN, names=["u", "v", "w"])
    ref = tmp_path / "ref"
    ref.mkdir()
    write_raster(ref / "alpha.tif", block_means(0.2 + 0.5 * g[:1] * g[1:2], 2), ORIGIN @ Affine.scale(2), "float32")
    write_raster(ref / "beta.tif", np.round(block_means(3000 + 2000 * g[2:], 3)), ORIGIN @ Affine.scale(3),
                 scale=(1e-4, 0.0))
    write_raster(ref / "gamma.tif", block_means(0.1 + 0.3 * g[1:2], 2), ORIGIN @ Affine.scale(2), "float32")
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(guides), "--reference", str(ref))
    assert "the reference's targets lie on 2 grids" in out and said["dtype"] == "float32"
    names = [n.lower() for n in said["names"]]
    assert names == ["alpha", "beta", "gamma"] and said["scales"] == (1.0, 1e-4, 1.0)
    _, v60, _ = sharpened(run_cli, tmp_path / "60.tif", str(guides), "--reference", str(ref), "--bands",
                          f"{said['names'][0]},{said['names'][2]}")
    _, v90, s90 = sharpened(run_cli, tmp_path / "90.tif", str(guides), "--reference", str(ref), "--bands",
                            said["names"][1])
    assert s90["dtype"] == "uint16"
    assert np.array_equal(v[[0, 2]], v60, equal_nan=True)
    assert np.array_equal(np.where(np.isnan(v[1]), 0, v[1]), v90[0])  # uint16's nodata 0 is NaN in float32


def test_on_a_cluster_each_set_keeps_its_summary_beside_the_output(tmp_path):
    """``--workers``: a set's engine pass on Dask writes its summary CSV beside the output, named by
    its set (the default beside its work file would go with the work folder); the values are the
    local run's."""
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.jobs.predict import Cluster
    from bandbridge.inference.place.sharpen import sharpen
    safe, _ = s2_safe(tmp_path, jp2=False)
    (tmp_path / "here").mkdir()
    (tmp_path / "there").mkdir()
    here = sharpen([str(safe)], str(safe), str(tmp_path / "here" / "o.tif"), engine=Engine(threads=1))
    there = sharpen([str(safe)], str(safe), str(tmp_path / "there" / "o.tif"),
                         engine=Engine(threads=1, cluster=Cluster(workers=1)))
    fitted = sorted(f"bandbridge-summary-set{i}.csv" for i, bands in ((1, here.decisions[1::2]), (2, here.decisions[::2]))
                    if any(b.route.startswith("fit") for b in bands))
    assert fitted and sorted(q.name for q in (tmp_path / "there").iterdir()) == sorted(["o.tif", *fitted])
    with rasterio.open(here.output) as a, rasterio.open(there.output) as b:
        assert np.array_equal(a.read(), b.read())


def _one_value(safe, band: str) -> None:
    f = next(safe.rglob(f"*_{band}_10m.tif"))
    with rasterio.open(f, "r+") as d:
        d.write(np.full((1, d.height, d.width), 3000, np.uint16))


def _no_clear_60m(safe, band: str) -> None:
    f = next(safe.rglob(f"*_{band}_60m.tif"))
    with rasterio.open(f, "r+") as d:
        d.write(np.zeros((1, d.height, d.width), np.uint16))  # DN 0: Sentinel-2's fill


@pytest.mark.parametrize("case, spoil, extra, said", [
    ("an output that exists, without --overwrite", None, [], "exists; add --overwrite"),
    ("a --bands name no band has", None, ["--bands", "B05,B77"], "--bands B77: no such band"),
    ("the 60 m set holds no clear cell (its plan, after the 20 m set's)", lambda s: _no_clear_60m(s, "B09"), [],
     "no clear pixel over the guides"),
    ("a guide of one value (refused inside the first set's run: its work folder goes)",
     lambda s: _one_value(s, "B03"), [], "its band B03 is one value"),
])
def test_the_refusals_hold_for_several_sets(tmp_path, run_cli, case, spoil, extra, said):
    safe, _ = s2_safe(tmp_path, jp2=False)
    if spoil:
        spoil(safe)
    if "exists" in said:
        (tmp_path / "o.tif").write_bytes(b"mine")
    line = refused(run_cli, tmp_path, str(safe), "--reference", str(safe), *extra, "-o", str(tmp_path / "o.tif"))
    assert said in line
    if "exists" in said:
        assert (tmp_path / "o.tif").read_bytes() == b"mine"


# --- the real dev data -----------------------------------------------------------------------------------

MAJORTOM = SHARED / "nir_s2_majortom"
CROP = 360  # 10 m pixels a side (3.6 km; 180² 20 m and 60² 60 m cells): seconds, not the whole 1068² cell


@needs_shared
def test_the_majortom_cells_20m_and_60m_bands_in_one_run(tmp_path, run_cli):
    """Major-TOM's band folder (10 m B02–B08, 20 m B05–B12, 60 m B01/B09; one origin), cropped: one run
    writes its eight coarse bands at 10 m in the product's order, B01/B09 at k = 6 and the rest at k = 2,
    each in the DN it holds, the 20 m set's grid moved half a cell (its files' corner/centre convention
    error; the row and column it no longer covers nodata), a band whose route keeps the correction averaging back
    to its reference on the moved cells (to the stored rounding; a cell holding the floor aside)."""
    if not (MAJORTOM / "B09.tif").exists():
        pytest.skip(f"{MAJORTOM} holds no 60 m band (B09.tif)")
    folder = tmp_path / "majortom"
    folder.mkdir()
    refs = {}
    for f in sorted(MAJORTOM.glob("B*.tif")):
        with rasterio.open(f) as s:
            cell = round(s.transform.a / 10)
            n = CROP // cell
            v, prof = s.read(window=((0, n), (0, n))), s.profile
        prof.update(height=n, width=n, transform=s.transform)
        with rasterio.open(folder / f.name, "w", **prof) as d:
            d.write(v)
        refs[f.stem] = (v[0].astype(np.float64), cell)
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(folder), "--reference", str(folder))
    names = ("B01", "B05", "B06", "B07", "B8A", "B09", "B11", "B12")
    assert said["names"] == names and said["size"] == (CROP, CROP) and said["dtype"] == "uint16"
    assert said["tags"]["bandbridge_k"] == "B05,B06,B07,B8A,B11,B12: 2.000; B01,B09: 6.000"
    with rasterio.open(tmp_path / "o.tif") as d:  # each set's grid moved half a cell (issue 85: a corner/centre
        # convention error), each band kept above its floor
        moves = [re.search(r"moved by X \+([\d.]+), Y \+([\d.]+)", d.tags(i)["bandbridge_shift"]) for i in
                 range(1, d.count + 1)]
        floors = [float(d.tags(i)["bandbridge_range"].split()[0]) for i in range(1, d.count + 1)]
    for i, name in enumerate(names):
        ref, k = refs[name]
        dx, dy = (round(float(q) * k) for q in moves[i].groups()) if moves[i] else (0, 0)  # the moved cells
        # start dy, dx pixels in (the crop's 60 m set reads X +0.50, Y +0.20: no half pixel, not moved)
        band = v[i:i + 1, dy:, dx:]  # the row and column before them: no cell of the reference (nodata)
        assert (v[i, :dy] == 0).all() and (v[i, :, :dx] == 0).all(), name
        assert 0 < band.min() and band.max() < 20_000, name
        if said["routes"][i].endswith("+correction"):  # but where a pixel holds the floor (the reservoir's dark
            # water), whose cell mean the correction cannot reach there
            means = block_means(band, k)[0]
            free = block_means((band > max(np.ceil(floors[i]), 1)).astype(float), k)[0] == 1  # 0: nodata, so 1
            assert np.abs(means - ref[:means.shape[0], :means.shape[1]])[free].max() <= 0.5, name
    shutil.rmtree(folder)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["o.tif"]
