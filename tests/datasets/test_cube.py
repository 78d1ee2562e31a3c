"""Datacubes (NetCDF through xarray + rioxarray) on the real WorldCereal and openEO-gfmap files."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bandbridge.bands import get_scaling
from bandbridge.config import build_config
from bandbridge.data import cube_dataset, cube_ref
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.data.datasets import load_pair
from bandbridge.data.items import SPLITS, discover
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.errors import BandbridgeError
from conftest import SHARED, needs_shared

xr = pytest.importorskip("xarray", reason="xarray not installed: pip install 'bandbridge[cube]'")
pytest.importorskip("rioxarray", reason="rioxarray not installed: pip install 'bandbridge[cube]'")
pytestmark = [needs_shared,  # rioxarray multiplies Affines with `*`, which affine 3 warns about
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

SITE = SHARED / "worldcereal" / "sample_00002806639B424A"
S2 = SITE / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S2_20 = "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S1 = SITE / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
GFMAP = SHARED / "openeo_gfmap"
CLOUDY = "2017-08-27"  # 88 % clear by SCL: partly cloudy, still a kept item at min_clear 0.9


def _cfg(recipe: str, **data):
    return build_config({"name": "t", "data": {"root": str(SHARED), "sources": [recipe], **data}})


def _time(ref: str) -> np.datetime64:
    r = cube_ref.parse_ref(ref)
    with xr.open_dataset(r.path) as ds:
        t = [v for v in ds["timestamp"].values if str(v).startswith(r.date)]
    assert len(t) == 1
    return t[0]


def test_time_step_shape_bands_scaling_and_scl_mask():
    r = read_raster(f"{S2}@{CLOUDY}#scl={S2_20}", get_scaling("reflectance"), ["B04", "B03", "B02"])
    assert r.data.shape == (3, 64, 64) and r.data.dtype == np.float32
    assert r.bands == ["B04", "B03", "B02"] and r.crs.to_epsg() == 32631
    assert tuple(r.transform)[:6] == (10.0, 0.0, 501360.0, 0.0, -10.0, 5629680.0)
    assert 0.0 <= r.data.min() and r.data.max() <= 1.0 and r.data[:, r.mask].mean() > 0.02
    with xr.open_dataset(SITE / S2_20, mask_and_scale=False) as ds:  # SCL at 20 m, ×2 by hand
        scl = ds["SCL"].sel(timestamp=_time(f"{S2}@{CLOUDY}")).values
    clear = np.isin(np.repeat(np.repeat(scl, 2, 0), 2, 1), [4, 5, 6, 11])
    assert 0.5 < clear.mean() < 0.95 and np.array_equal(r.mask, clear)
    assert not r.data[:, ~r.mask].any()
    assert read_raster(f"{S2}@{CLOUDY}", get_scaling("reflectance"), ["B08"]).mask.all()
    # openEO names drop the collection prefix; a 'bands' dimension gives one band per label
    assert raster_info(GFMAP / "site_s1_s2_2022_2023" / "bap_quintad_cdse.nc").bands == \
        ["B04", "B03", "B02", "B08", "SCL"]
    c = read_raster(GFMAP / "s2_rgbn_2018_256px" / "temp.nc", get_scaling("reflectance_10000"),
                    ["B04", "B03", "B02", "B08"])
    assert c.data.shape == (4, 256, 256) and c.crs is None and c.mask.all()


def test_windowed_boundless_read_equals_the_slice():
    for ref, scaling, bands in [(f"{S2}@{CLOUDY}#scl={S2_20}", "reflectance", ["B04", "B08"]),
                                (f"{S1}@2017-08-25#grid={S2.name}", "sar_db", ["VV", "VH"])]:
        whole = read_raster(ref, get_scaling(scaling), bands)
        win = read_raster(ref, get_scaling(scaling), bands, window=(-5, 40, 32, 32))
        assert win.data.shape == (2, 32, 32)
        assert np.array_equal(win.data[:, 5:, :24], whole.data[:, :27, 40:])
        assert np.array_equal(win.mask[5:, :24], whole.mask[:27, 40:])
        assert not win.mask[:5].any() and not win.mask[:, 24:].any() and not win.data[:, :5].any()
        assert (win.transform.c, win.transform.f) == (whole.transform.c + 400,
                                                      whole.transform.f + 50)


def test_s1_units_become_db_before_sar_scaling():
    # WorldCereal: int32 × 1e-4 dB, decoded by xarray; ×2 nearest onto the S2 grid
    r = read_raster(f"{S1}@2017-08-25#grid={S2.name}", get_scaling("sar_db"), ["VV"])
    with xr.open_dataset(S1) as ds:
        db = ds["VV"].sel(timestamp=_time(f"{S1}@2017-08-25")).values
    assert r.data.shape == (1, 64, 64) and -20 < np.median(db) < -3
    assert np.allclose(r.data[0], (np.clip(np.repeat(np.repeat(db, 2, 0), 2, 1), -30, 5) + 30) / 35,
                       atol=1e-6)
    # openEO-gfmap: uint16 DN with dB = 20·log10(DN) − 83 (scaling sar_db_dn)
    f = GFMAP / "site_s1_s2_2022_2023" / "cdse_sentinel1_grd.nc"
    s = get_scaling("sar_db_dn")
    g = read_raster(f"{f}@2023-04-05", s, ["VV"])
    with xr.open_dataset(f) as ds:
        dn = ds["S1-SIGMA0-VV"].sel(t="2023-04-05").values.astype(np.float64)
    want = np.clip(20 * np.log10(dn) - 83, -30, 5)
    assert np.allclose(g.data[0] * s.physical[0] + s.physical[1], want, atol=1e-4)
    assert -20 < np.median(want) < -5 and np.allclose(s.decode(s.encode(np.float32([3437]))), 3437)


def test_s1s2_pairs_are_within_pair_days_on_one_grid():
    cfg = _cfg("worldcereal_s1s2")
    items = [i for s in SPLITS for i in discover(cfg.data)[s]]
    assert 40 <= len(items) <= 60  # 52 at min_clear 0.9 (43 at 0.95)
    for it in items:
        dt = abs(_time(it.input_path) - _time(it.target_path)) / np.timedelta64(1, "D")
        assert dt <= cfg.data.sources[0].pair_days
        assert re.search(r"sample_\w+/S2_L2A_10m_.*\.nc@\d{4}-\d\d-\d\d$", it.id)
    p = load_pair(items[0], cfg.data.sources[0])
    assert p.x.shape == (2, 64, 64) and p.y.shape == (3, 64, 64) and p.mask.shape == (1, 64, 64)
    assert p.mask.float().mean() > 0.8  # both sides ≥ min_clear usable


@pytest.mark.parametrize("recipe", ["worldcereal_s2", "worldcereal_s1s2"])
def test_recipe_split_by_site_never_straddles(recipe):
    for split in ({}, {"split": {"val_fraction": 0.5, "group": r"(sample_\w+)/"}}):
        cfg = build_config({"name": "t", "data": {"root": str(SHARED),
                                                  "sources": [{"recipe": recipe, **split}]}})
        where: dict[str, set] = {}
        for s, items in discover(cfg.data).items():
            for it in items:
                where.setdefault(re.search(r"sample_(\w+)/", it.id).group(1), set()).add(s)
        assert len(where) == 2 and all(len(s) == 1 for s in where.values())


def test_datamodule_yields_a_training_batch():
    cfg = _cfg("worldcereal_s1s2", patch_size=32, batch_size=4, samples_per_epoch=4)
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    assert len(dm.pairs["train"]) > len(dm.pairs["val"]) > 0
    b = next(iter(dm.train_dataloader()))
    assert b["input"].shape == (4, 2, 32, 32) and b["target"].shape == (4, 3, 32, 32)
    assert b["mask"].dtype == torch.bool and b["mask"].any()
    assert torch.isfinite(b["input"]).all() and 0 <= b["target"].min() <= b["target"].max() <= 1
    assert all(abs(lat - 50.8) < 0.2 for lat in b["meta"]["lat"].tolist())  # georeferenced


def test_cube_mistakes_are_one_line_errors(monkeypatch):
    with pytest.raises(BandbridgeError, match="118 time steps.*@YYYY-MM-DD"):
        read_raster(S2, get_scaling("reflectance"), ["B04"])
    with pytest.raises(BandbridgeError, match="no time step at '2019-01-01'"):
        read_raster(f"{S2}@2019-01-01", get_scaling("reflectance"), ["B04"])
    with pytest.raises(BandbridgeError, match="no SCL band"):
        read_raster(f"{S2}@{CLOUDY}#scl", get_scaling("reflectance"), ["B04"])
    with pytest.raises(BandbridgeError, match="unknown cube option"):
        read_raster(f"{S2}@{CLOUDY}#clouds", get_scaling("reflectance"), ["B04"])
    with pytest.raises(BandbridgeError, match="no band named 'B05'"):
        read_raster(f"{S2}@{CLOUDY}", get_scaling("reflectance"), ["B05"])
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(BandbridgeError, match=r"pip install 'bandbridge\[cube\]'"):
        cube_dataset._xarray(Path("x.nc"))


def test_zarr_store_reads_like_netcdf(tmp_path):
    # zarr is in the `cube` extra `make install` installs (issue 98): no skip, a missing zarr fails here
    import tomllib
    extras = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert any(r.startswith("zarr") for r in extras["project"]["optional-dependencies"]["cube"])
    with xr.open_dataset(S2, decode_coords="all") as ds:
        ds.isel(timestamp=slice(0, 3)).to_zarr(tmp_path / "s2.zarr")
    a = read_raster(f"{tmp_path / 's2.zarr'}@2017-08-04", get_scaling("reflectance"), ["B08"])
    b = read_raster(f"{S2}@2017-08-04", get_scaling("reflectance"), ["B08"])
    assert np.array_equal(a.data, b.data) and a.crs == b.crs


def test_a_cube_reference_is_an_input_and_a_missing_or_unreadable_one_is_one_line(tmp_path, monkeypatch):
    import importlib.util
    ref = f"{S2}@2018-05-01"
    assert cube_ref.input_ref(ref) == Path(ref) and raster_info(cube_ref.input_ref(ref)).height > 0
    assert cube_ref.input_ref(str(tmp_path / "scene.tif")) is None
    with pytest.raises(BandbridgeError, match=r"gone\.nc: no such datacube file \(for '.*gone\.nc@2018-05-01'\)"):
        cube_ref.input_ref(str(tmp_path / "gone.nc@2018-05-01"))
    (tmp_path / "store.zarr").mkdir()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "zarr" else real(n, *a))
    with pytest.raises(BandbridgeError, match=r"store\.zarr: reading Zarr stores needs zarr: pip install zarr"):
        cube_ref.input_ref(str(tmp_path / "store.zarr"))


@needs_shared
def test_a_packed_cube_step_is_judged_by_its_decoded_values_and_a_missing_date_names_the_nearest(run_cli, tmp_path):
    """WorldCereal's S2 cube stores uint16 with a scale factor: read, its values are reflectance
    (not "uint16 holding 8-bit values", whose advice then gave a flat raster); a date the cube
    lacks is refused naming the nearest steps."""
    from bandbridge.inference.core.look import look_at
    f = next((SHARED / "worldcereal").glob("sample_00002806639B424A/S2_L2A_10m_*.nc"))
    look = look_at(f"{f}@2018-06-03")
    assert look.scaling == "reflectance" and look.family == "reflectance", look.why
    code, _, err = run_cli("predict", f"{f}@2018-06-01", "-m", "rgb2nir-s2", "-o", str(tmp_path / "o.tif"))
    assert code == 2 and "the nearest 2018-05-31 and 2018-06-03" in err, err
    code, _, err = run_cli("predict", f"{f}@2018-06-03", "-m", "rgb2nir-s2", "-o", str(tmp_path / "o.tif"))
    assert code == 0, err
    import rasterio
    with rasterio.open(tmp_path / "o.tif") as o:
        nir = o.read(1, masked=True) * o.scales[0]
    assert float(nir.std()) > 0.02 and 0.05 < float(nir.mean()) < 0.6  # a real NIR band, not flat
