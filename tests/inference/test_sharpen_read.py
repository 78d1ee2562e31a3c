"""``bandbridge sharpen`` on product folders read as they are (Landsat by its MTL in kelvin, Sentinel-2
at each band's native resolution with its scale and offset), the refusal of a band of another
physical kind than it is said to be, the other bad inputs, and a model's output as one more guide:
tiny folders made here, and the real dev scenes where present."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy.ndimage import gaussian_filter

from conftest import REPO, SHARED, needs_shared

ORIGIN = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_000_000.0)
MULT, ADD, K1, K2 = 3.342e-4, 0.1, 774.8853, 1321.0789  # Landsat-8 B10's radiance map and Planck constants
MTL = f"""GROUP = L1_METADATA_FILE
  GROUP = RADIOMETRIC_RESCALING
{''.join(f'    RADIANCE_MULT_BAND_{n} = {MULT}{chr(10)}    RADIANCE_ADD_BAND_{n} = {ADD}{chr(10)}' for n in (10, 11))}\
{''.join(f'    REFLECTANCE_MULT_BAND_{n} = 2.0E-05{chr(10)}    REFLECTANCE_ADD_BAND_{n} = -0.1{chr(10)}' for n in range(2, 8))}\
  END_GROUP = RADIOMETRIC_RESCALING
  GROUP = TIRS_THERMAL_CONSTANTS
    K1_CONSTANT_BAND_10 = {K1}
    K2_CONSTANT_BAND_10 = {K2}
    K1_CONSTANT_BAND_11 = 480.8883
    K2_CONSTANT_BAND_11 = 1201.1442
  END_GROUP = TIRS_THERMAL_CONSTANTS
END_GROUP = L1_METADATA_FILE
END
"""


def smooth_field(rng, shape, sigma: float) -> np.ndarray:
    f = gaussian_filter(rng.normal(size=shape), sigma)
    return (f - f.min()) / np.ptp(f)


def write_raster(path: Path, values: np.ndarray, transform: Affine, dtype: str = "uint16", names=None, units=None,
                 scale=None, driver: str = "GTiff", **kw) -> Path:
    values = np.asarray(values).reshape(-1, *np.shape(values)[-2:])
    with rasterio.open(path, "w", driver=driver, height=values.shape[1], width=values.shape[2], count=len(values),
                       dtype=dtype, crs="EPSG:32617", transform=transform, **kw) as d:
        d.write(values.astype(dtype))
        if names:
            d.descriptions = tuple(names)
        if units:
            d.units = tuple(units)
        if scale:
            d.scales, d.offsets = [scale[0]] * len(values), [scale[1]] * len(values)
    return path


def _kelvin_dn(kelvin: np.ndarray, k1: float = K1, k2: float = K2) -> np.ndarray:
    """Kelvin → Level-1 DN by the MTL's map (Planck's law inverted)."""
    return np.round((k1 / np.expm1(k2 / kelvin) - ADD) / MULT)


def landsat_folder(tmp: Path, side: int = 96, seed: int = 3) -> Path:
    """A Landsat-8 Level-1 folder on a 30 m grid: B2–B7 as DN of a reflectance field, B10/B11 as the DN
    of a temperature made of B5 and B4 (290–310 K), the MTL beside them; its fill (DN 0) in a corner."""
    rng = np.random.default_rng(seed)
    refl = np.stack([0.05 + 0.4 * smooth_field(rng, (side, side), s) for s in (1.0, 1.3, 1.6, 2.0, 1.2, 1.8)])
    kelvin = 290 + 12 * refl[3] - 8 * refl[2] + 2 * smooth_field(rng, (side, side), 4.0)
    tmp.mkdir(parents=True, exist_ok=True)
    for n, r in zip(range(2, 8), refl):
        dn = np.round((r + 0.1) / 2e-5)
        dn[:3, :3] = 0
        write_raster(tmp / f"LC08_L1TP_016037_20170813_20170814_01_T1_B{n}.TIF", dn, ORIGIN)
    for n, (k1, k2) in ((10, (K1, K2)), (11, (480.8883, 1201.1442))):
        dn = _kelvin_dn(kelvin, k1, k2)
        dn[:3, :3] = 0
        write_raster(tmp / f"LC08_L1TP_016037_20170813_20170814_01_T1_B{n}.TIF", dn, ORIGIN)
    (tmp / "LC08_L1TP_016037_20170813_20170814_01_T1_MTL.txt").write_text(MTL)
    return tmp


def refused(run_cli, tmp_path: Path, *args: str) -> str:
    """The command's one line on stderr (exit 2, no traceback, nothing new in ``tmp_path``)."""
    before = sorted(q.name for q in tmp_path.rglob("*"))
    code, out, err = run_cli("sharpen", *args)
    said = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(said) == 1 and "Traceback" not in err, (code, err)
    assert sorted(q.name for q in tmp_path.rglob("*")) == before
    return said[0]


def sharpened(run_cli, dst: Path, *args: str) -> tuple[str, np.ndarray, dict]:
    """``bandbridge sharpen ARGS -o DST`` run (exit 0): its printed lines, the output's values and what its
    file says (type, units, scales, offsets, descriptions, each band's route, the file's tags)."""
    code, out, err = run_cli("sharpen", *args, "-o", str(dst), "--threads", "1")
    assert code == 0, err
    with rasterio.open(dst) as d:
        said = {"dtype": d.dtypes[0], "units": d.units, "scales": d.scales, "offsets": d.offsets,
                "names": d.descriptions, "size": (d.height, d.width), "tags": d.tags(),
                "routes": [d.tags(i)["bandbridge_route"].split(":")[0] for i in range(1, d.count + 1)]}
        return out, d.read().astype(np.float64), said


def block_means(v: np.ndarray, k: int) -> np.ndarray:
    c, h, w = v.shape
    return v[:, :h // k * k, :w // k * k].reshape(c, h // k, k, w // k, k).mean((2, 4), dtype=np.float64)


# --- Landsat: one folder, its OLI bands the guides, its thermal bands the targets, in kelvin -------------

def test_a_landsat_folder_sharpens_its_thermal_bands_in_kelvin(tmp_path, run_cli):
    """``sharpen FOLDER --reference FOLDER``: the OLI bands (reflectance by the MTL) guide B10 and B11
    read in K (Planck's law) and, on a 30 m grid, averaged 3 × 3 (TIRS's 100 m); the output is float32
    in K, tagged, and averages back to the reference's kelvin."""
    folder = landsat_folder(tmp_path / "LC08")
    out, v, said = sharpened(run_cli, tmp_path / "t.tif", str(folder), "--reference", str(folder))
    assert "guides: B2, B3, B4, B5, B6, B7 on a 96×96 grid" in out
    assert "2 band(s) B10, B11 (float32, in K)" in out and "k = 3.00" in out
    assert said["names"] == ("B10", "B11") and said["dtype"] == "float32" and said["scales"] == (1.0, 1.0)
    assert said["tags"]["bandbridge_guides"] == "B2,B3,B4,B5,B6,B7" and said["units"] == ("K", "K")
    exact = said["routes"][0].endswith("+correction")
    with rasterio.open(next(folder.glob("*_B10.TIF"))) as s:
        dn = s.read(1).astype(np.float64)
    kelvin = np.where(dn > 0, K2 / np.log(K1 / (dn * MULT + ADD) + 1), np.nan)
    ref = block_means(kelvin[None], 3)[0]
    ok = np.isfinite(ref)
    assert 170 < np.nanmin(v[0]) and np.nanmax(v[0]) < 350
    gap = np.abs(block_means(v, 3)[0][ok] - ref[ok])
    assert gap.max() < 0.01 if exact else gap.mean() < 0.5  # K: the correction makes it exact


def test_a_collection2_level2_folder_writes_surface_temperature_in_its_own_dn_and_scale(tmp_path, run_cli):
    """Collection 2 Level-2: SR_B2–SR_B7 guide ST_B10 (surface temperature, a linear map of its DN), read
    3 × 3 on the 30 m grid; the output keeps the product's uint16 DN with its scale and offset (K when
    read through them), tagged K, and averages back to the reference's cells to the DN's rounding."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "LC09_L2SP"
    folder.mkdir()
    refl = np.stack([0.05 + 0.4 * smooth_field(rng, (96, 96), s) for s in (1.0, 1.3, 1.6, 2.0, 1.2, 1.8)])
    for n, r in zip(range(2, 8), refl):
        write_raster(folder / f"LC09_L2SP_016037_20220813_20220815_02_T1_SR_B{n}.TIF", np.round((r + 0.2) / 2.75e-5),
                     ORIGIN)
    kelvin = 295 + 15 * refl[3] - 10 * refl[2]
    write_raster(folder / "LC09_L2SP_016037_20220813_20220815_02_T1_ST_B10.TIF", np.round((kelvin - 149) / 0.00341802),
                 ORIGIN)
    (folder / "LC09_L2SP_016037_20220813_20220815_02_T1_MTL.txt").write_text(
        "GROUP = LEVEL2_SURFACE_TEMPERATURE_PARAMETERS\n  TEMPERATURE_MULT_BAND_ST_B10 = 0.00341802\n"
        "  TEMPERATURE_ADD_BAND_ST_B10 = 149.0\nEND_GROUP = LEVEL2_SURFACE_TEMPERATURE_PARAMETERS\n"
        + "".join(f"REFLECTANCE_MULT_BAND_{n} = 2.75e-05\nREFLECTANCE_ADD_BAND_{n} = -0.2\n" for n in range(2, 8)))
    out, v, said = sharpened(run_cli, tmp_path / "st.tif", str(folder), "--reference", str(folder))
    assert "guides: SR_B2, SR_B3, SR_B4, SR_B5, SR_B6, SR_B7" in out and "1 band(s) ST_B10 (uint16, in K)" in out
    assert said["dtype"] == "uint16" and said["units"] == ("K",)
    assert said["scales"] == pytest.approx((0.00341802,)) and said["offsets"] == pytest.approx((149.0,))
    with rasterio.open(next(folder.glob("*_ST_B10.TIF"))) as s:
        ref = block_means(s.read().astype(np.float64), 3)
    kelvin_out = v * 0.00341802 + 149
    assert 280 < kelvin_out.min() and kelvin_out.max() < 320
    if said["routes"][0].endswith("+correction"):
        assert np.abs(block_means(v, 3) - ref).max() <= 0.5  # the stored type's rounding


def test_a_landsat_folder_without_its_mtl_is_refused(tmp_path, run_cli):
    folder = landsat_folder(tmp_path / "LC08")
    next(folder.glob("*_MTL.txt")).unlink()
    said = refused(run_cli, tmp_path, str(folder), "--reference", str(folder), "-o", str(tmp_path / "o.tif"))
    assert said.startswith("error: FINE ") and "no *_MTL.txt beside the bands" in said


def test_a_coarse_landsat_reference_on_another_grid_reads_in_kelvin(tmp_path, run_cli):
    """The thermal bands in a folder of their own at 90 m (not the OLI grid: read as they are), with the
    MTL: the plan reads them as float32 K at k = 3."""
    fine = landsat_folder(tmp_path / "fine")
    coarse = tmp_path / "coarse"
    coarse.mkdir()
    shutil.copy(next(fine.glob("*_MTL.txt")), coarse)
    with rasterio.open(next(fine.glob("*_B10.TIF"))) as s:
        dn = s.read(1).astype(np.float64)
    write_raster(coarse / "LC08_X_B10.TIF", np.round(block_means(dn[None], 3)), ORIGIN @ Affine.scale(3))
    code, out, err = run_cli("sharpen", str(fine), "--guides", "B4,B5", "--reference", str(coarse), "-o",
                             str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert "guides: B4, B5 on a 96×96 grid" in out and "1 band(s) B10 (float32, in K)" in out and "k = 3.00" in out


# --- Sentinel-2: one SAFE, its 10 m bands the guides, its 20 m bands the targets ----------------------

def s2_safe(tmp: Path, side: int = 96, jp2: bool = True) -> tuple[Path, np.ndarray]:
    """An L2A-like SAFE: R10m (B02, B03, B04, B08), R20m (B05, B11 and a resampled B02 copy to leave
    out), R60m (B01, B09), baseline-04 DN (reflectance × 10 000 + 1000), its MTD stating the offset."""
    rng = np.random.default_rng(11)
    g = np.stack([0.05 + 0.3 * smooth_field(rng, (side, side), s) for s in (1.0, 1.4, 1.8, 1.2)])
    b05 = 0.5 * g[2] + 0.4 * g[3]
    b11 = 0.2 + 0.5 * g[0] * g[3] / g[3].max()
    dn = lambda r: np.round(r * 10_000 + 1000)  # noqa: E731
    safe = tmp / "S2B_MSIL2A_20220601T100559_N0400_R022_T33TWM_20220601T120000.SAFE"
    img = safe / "GRANULE" / "L2A_T33TWM_A000000_20220601T100559" / "IMG_DATA"
    ext, driver = (".jp2", "JP2OpenJPEG") if jp2 else (".tif", "GTiff")
    opts = {"QUALITY": "100", "REVERSIBLE": "YES"} if jp2 else {}
    for res, bands in {10: {"B02": g[0], "B03": g[1], "B04": g[2], "B08": g[3]},
                       20: {"B05": block_means(b05[None], 2)[0], "B11": block_means(b11[None], 2)[0],
                            "B02": block_means(g[:1], 2)[0]},
                       60: {"B01": block_means(g[:1], 6)[0], "B09": block_means(0.1 + 0.6 * g[3:], 6)[0]}}.items():
        (img / f"R{res}m").mkdir(parents=True)
        for name, r in bands.items():
            write_raster(img / f"R{res}m" / f"T33TWM_20220601T100559_{name}_{res}m{ext}", dn(r),
                         ORIGIN @ Affine.scale(res / 30), driver=driver, **opts)
    (safe / "MTD_MSIL2A.xml").write_text('<x><BOA_ADD_OFFSET band_id="0">-1000</BOA_ADD_OFFSET></x>')
    return safe, np.stack([b05, b11])


def test_a_sentinel2_safe_sharpens_its_20m_bands_from_its_10m_bands(tmp_path, run_cli):
    """``sharpen SAFE --reference SAFE --bands B05,B11`` (one grid: one run, as ever; every set in one
    run is tests/inference/test_sharpen_sets.py's): the 10 m bands guide the native 20 m bands (the R20m
    copy of B02 left out); the output is on the 10 m grid in the product's DN with the baseline-04
    scale and offset tagged, and averages back to the reference."""
    safe, _ = s2_safe(tmp_path)
    out, v, said = sharpened(run_cli, tmp_path / "s.tif", str(safe), "--reference", str(safe), "--bands", "B05,B11")
    assert "guides: B02, B03, B04, B08 on a 96×96 grid" in out and "2 band(s) B05, B11 (uint16, in reflectance)" in out
    assert said["names"] == ("B05", "B11") and said["dtype"] == "uint16" and said["size"] == (96, 96)
    assert said["scales"] == (1e-4, 1e-4) and said["offsets"] == (-0.1, -0.1) and said["units"] == ("reflectance",) * 2
    with rasterio.open(next(safe.rglob("*_B05_20m.jp2"))) as s:
        ref = s.read(1).astype(np.float64)
    if said["routes"][0].endswith("+correction") or said["routes"][0] == "nearest":
        assert np.abs(block_means(v[:1], 2)[0] - ref).max() <= 0.5  # the stored type's rounding
    refl = v[0] * 1e-4 - 0.1
    assert 0.0 < refl.min() and refl.max() < 1.0


def test_the_60m_bands_run_alone_with_a_20m_guide(tmp_path, run_cli):
    safe, _ = s2_safe(tmp_path, jp2=False)
    code, out, err = run_cli("sharpen", str(safe), "--guides", "B02,B04,B08,B11", "--reference", str(safe),
                             "--bands", "B01", "-o", str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert "guides: B02, B04, B08, B11 on a 96×96 grid (B11 warped onto it, bilinear)" in out
    assert "1 band(s) B01 (uint16, in reflectance)" in out and "k = 6.00" in out


def test_a_cog_folder_named_by_stac_assets_reads_with_its_own_scale(tmp_path, run_cli):
    """A band-per-file folder named as Earth Search names its assets (``red.tif``, ``rededge1.tif``),
    the files' own scale and offset: guides its 10 m bands, targets its 20 m bands, in its units."""
    rng = np.random.default_rng(2)
    folder = tmp_path / "bands"  # the output beside the folder, not in it (the output guard refuses that)
    folder.mkdir()
    for name in ("blue", "green", "red", "nir"):
        write_raster(folder / f"{name}.tif", np.round(2000 + 3000 * smooth_field(rng, (64, 64), 1.5)), ORIGIN,
                     scale=(1e-4, -0.1))
    for name in ("rededge1", "swir16"):
        write_raster(folder / f"{name}.tif", np.round(2000 + 3000 * smooth_field(rng, (32, 32), 1.0)),
                     ORIGIN @ Affine.scale(2), scale=(1e-4, -0.1))
    code, out, err = run_cli("sharpen", str(folder), "--reference", str(folder), "-o", str(tmp_path / "o.tif"),
                             "--plan")
    assert code == 0, err
    assert "guides: B02, B03, B04, B08 on a 64×64 grid" in out and "2 band(s) B05, B11 (uint16, in reflectance)" in out


def test_an_aerial_image_takes_a_sentinel2_folders_finest_bands_as_targets(tmp_path, run_cli):
    """Guides five times finer than the 10 m bands (a 2 m aerial image in a CRS counted in feet: 6.6 units
    a pixel, more than half the product's 10): the S2 folder's sets coarser than the guides by two are
    all three, the 10 m set first, judged in the guides' coordinates, not by the numbers of two CRSs'
    units."""
    from rasterio.warp import calculate_default_transform, reproject
    safe, _ = s2_safe(tmp_path, jp2=False)
    rng = np.random.default_rng(8)
    utm = Affine(2.0, 0.0, 500_000.0, 0.0, -2.0, 4_000_000.0)
    v = np.round(255 * np.stack([smooth_field(rng, (200, 200), 2.0) for _ in range(3)])).astype("uint8")
    tr, w, h = calculate_default_transform("EPSG:32617", "EPSG:2264", 200, 200, 500_000, 3_999_600, 500_400,
                                           4_000_000)
    with rasterio.open(tmp_path / "aerial.tif", "w", driver="GTiff", height=h, width=w, count=3, dtype="uint8",
                       crs="EPSG:2264", transform=tr) as d:  # North Carolina State Plane, US feet
        for i in range(3):
            reproject(v[i], rasterio.band(d, i + 1), src_transform=utm, src_crs="EPSG:32617")
        d.descriptions = ("red", "green", "blue")
    assert 6 < abs(tr.a) < 7
    code, out, err = run_cli("sharpen", str(tmp_path / "aerial.tif"), "--reference", str(safe), "-o",
                             str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert "4 band(s) B02, B03, B04, B08 (uint16, in reflectance)" in out
    assert "set 1 of 3: B02, B03, B04, B08 on a" in out


# --- a band of another physical kind than it is said to be --------------------------------------------

def _pair(tmp: Path, values: np.ndarray, dtype: str = "float32", name: str = "B11", units=None, scale=None):
    """Guides (4 bands, 40² at 30 m) and a one-band reference at 60 m holding ``values`` (20²)."""
    rng = np.random.default_rng(4)
    guides = write_raster(tmp / "g.tif", np.round(1000 + 4000 * np.stack([smooth_field(rng, (40, 40), 1.5)
                                                                           for _ in range(4)])),
                          ORIGIN, names=["B02", "B03", "B04", "B08"])
    ref = write_raster(tmp / "r.tif", values, ORIGIN @ Affine.scale(2), dtype, names=[name],
                       units=[units] if units else None, scale=scale)
    return guides, ref


KELVIN = 285 + 20 * smooth_field(np.random.default_rng(9), (20, 20), 2.0)  # a thermal band in K
REFLECT = 0.05 + 0.3 * smooth_field(np.random.default_rng(9), (20, 20), 2.0)  # a SWIR band in reflectance


@pytest.mark.parametrize("case, values, dtype, units, scale, said", [
    ("a B11 in K without units: its name says SWIR", KELVIN, "float32", None, None, "by its name (B11)"),
    ("a B11 in K tagged reflectance", KELVIN, "float32", "reflectance", None, "by its units tag (reflectance)"),
    ("S2's SWIR scale tags on values in K", np.round(KELVIN / 0.01), "uint16", None, (0.01, 0.0), "by its name (B11)"),
    ("a band tagged K holding reflectance", REFLECT, "float32", "K", None, "lie outside Earth's surface temperatures"),
])
def test_a_band_of_another_kind_than_it_is_said_to_be_is_refused(tmp_path, run_cli, case, values, dtype, units,
                                                                  scale, said):
    guides, ref = _pair(tmp_path, values, dtype, units=units, scale=scale)
    line = refused(run_cli, tmp_path, str(guides), "--reference", str(ref), "-o", str(tmp_path / "o.tif"))
    assert line.startswith(f"error: --reference {ref}: its band B11 is a") and said in line


@pytest.mark.parametrize("case, values, dtype, units, scale", [
    ("a B11 in K tagged K: a temperature", KELVIN, "float32", "K", None),
    ("a B11 in reflectance", REFLECT, "float32", None, None),
    ("a B11 of DN without a scale: not judged", np.round(KELVIN), "uint16", None, None),
    ("a B11 of DN with S2's scale", np.round(REFLECT * 1e4 + 1000), "uint16", None, (1e-4, -0.1)),
])
def test_the_kinds_that_agree_are_accepted(tmp_path, run_cli, case, values, dtype, units, scale):
    guides, ref = _pair(tmp_path, values, dtype, units=units, scale=scale)
    code, out, err = run_cli("sharpen", str(guides), "--reference", str(ref), "-o", str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err


def test_landsat_b11_is_a_temperature_by_its_mtl_and_sentinel2_b11_a_reflectance(tmp_path):
    """The name B11 says nothing alone: the Landsat folder's is brightness temperature (its MTL), the
    Sentinel-2 product's SWIR reflectance."""
    from bandbridge.inference.place.sharpen_read import bands_of
    landsat = {b.name: b for b in bands_of(str(landsat_folder(tmp_path / "L")), "--reference")}
    s2 = {b.name: b for b in bands_of(str(s2_safe(tmp_path / "S", jp2=False)[0]), "--reference")}
    assert (landsat["B11"].kind, landsat["B11"].units) == ("temperature", "K")
    assert (s2["B11"].kind, s2["B11"].linear) == ("reflectance", (1e-4, -0.1))
    dn = _kelvin_dn(np.array([300.0]))
    assert landsat["B10"].physical(dn)[0] == pytest.approx(300.0, abs=0.01)


# --- the other bad inputs, on product folders --------------------------------------------------------

def test_a_product_reference_that_does_not_overlap_is_refused(tmp_path, run_cli):
    safe, _ = s2_safe(tmp_path, jp2=False)
    far = landsat_folder(tmp_path / "far")
    for f in far.glob("*.TIF"):  # moved 100 km east
        with rasterio.open(f, "r+") as d:
            d.transform = ORIGIN @ Affine.translation(4000, 0)
    said = refused(run_cli, tmp_path, str(safe), "--reference", str(far), "-o", str(tmp_path / "o.tif"))
    assert "does not overlap" in said


def test_a_product_guide_band_of_one_value_is_refused(tmp_path, run_cli):
    folder = landsat_folder(tmp_path / "LC08")
    f = next(folder.glob("*_B6.TIF"))
    with rasterio.open(f, "r+") as d:
        d.write(np.full((1, 96, 96), 20000, np.uint16))
    said = refused(run_cli, tmp_path, str(folder), "--reference", str(folder), "-o", str(tmp_path / "o.tif"))
    assert "its band B6 is one value" in said


# --- a model's output as one more guide --------------------------------------------------------------

NAIP = REPO / "data" / "sample" / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def _naip_pair(tmp: Path) -> tuple[Path, Path]:
    """The bundled NAIP crop's RGB as the fine raster, its NIR averaged 4 × 4 as the reference."""
    with rasterio.open(NAIP) as s:
        v, prof = s.read().astype(np.float64), s.profile
    prof.update(count=3)
    with rasterio.open(tmp / "rgb.tif", "w", **prof) as d:
        d.write(v[:3].astype("uint8"))
        d.descriptions = ("red", "green", "blue")
    prof.update(count=1, height=64, width=64, transform=prof["transform"] @ Affine.scale(4))
    with rasterio.open(tmp / "nir.tif", "w", **prof) as d:
        d.write(np.round(block_means(v[3:], 4)).astype("uint8"))
        d.descriptions = ("nir",)
    return tmp / "rgb.tif", tmp / "nir.tif"


def test_a_models_output_is_one_more_guide(tmp_path, run_cli):
    """``-m rgb2nir``: the plan names the model's guide and how it runs, the run serves it through the
    runner, writes it into the output's tags and leaves no work file beside the output."""
    rgb, nir = _naip_pair(tmp_path)
    code, out, err = run_cli("sharpen", str(rgb), "-m", "rgb2nir", "--reference", str(nir), "-o",
                             str(tmp_path / "p.tif"), "--plan")
    assert code == 0, err
    assert "guides: RED, GREEN, BLUE, rgb2nir on a 256×256 grid" in out
    # the model planned as plain predict plans it (its routing, tiles and backend), before the block
    assert "the model's guide: rgb2nir → rgb2nir-naip" in out and "  its backend: rgb2nir-naip: " in out
    assert out.index("its backend: ") < out.index("route: per band")
    _, v, said = sharpened(run_cli, tmp_path / "o.tif", str(rgb), "-m", "rgb2nir", "--reference", str(nir))
    assert said["tags"]["bandbridge_guides"] == "RED,GREEN,BLUE,rgb2nir" and len(v) == 1
    assert sorted(q.name for q in tmp_path.iterdir()) == ["nir.tif", "o.tif", "rgb.tif"]


def test_a_models_guide_runs_on_dask_like_any_job(tmp_path, run_cli):
    """``-m rgb2nir --workers 2``: the model's guide is a job the runner serves on the cluster too, and the
    output is the local run's."""
    pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'bandbridge[dist]')")
    rgb, nir = _naip_pair(tmp_path)
    args = (str(rgb), "-m", "rgb2nir", "--reference", str(nir))
    _, here, _ = sharpened(run_cli, tmp_path / "here.tif", *args)
    out, there, _ = sharpened(run_cli, tmp_path / "d" / "there.tif", *args, "--workers", "2")
    assert "rgb.tif, the model's guide" in out
    assert np.abs(here - there).max() <= 1  # one stored unit of rounding at most


def test_a_models_guide_from_a_product_folder_runs_on_its_guides_stacked(tmp_path, run_cli):
    """FINE a SAFE (not one raster): the model runs on the 10 m bands stacked in reflectance, described
    by their names (rgb2nir picks its reflectance model), and a model of several bands names each."""
    from bandbridge.inference.place.sharpen_model import guide_names
    safe, _ = s2_safe(tmp_path, jp2=False)
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(safe), "-m", "rgb2nir", "--reference", str(safe))
    assert "the model's guide: rgb2nir on model_input.tif" in out and "rgb2nir-s2" in out
    assert said["tags"]["bandbridge_guides"] == "B02,B03,B04,B08,rgb2nir"
    assert said["names"] == ("B01", "B05", "B09", "B11")  # every set: each run takes the model's guide
    assert guide_names("sar2optical", ["B04", "B03", "B02"]) == ["sar2optical_B04", "sar2optical_B03",
                                                                  "sar2optical_B02"]


@pytest.mark.parametrize("model, said", [("no-such-model", "-m no-such-model: "), ("sr-x2", "super-resolution")])
def test_a_model_that_cannot_guide_is_refused_in_one_line(tmp_path, run_cli, model, said):
    rgb, nir = _naip_pair(tmp_path)
    assert said in refused(run_cli, tmp_path, str(rgb), "-m", model, "--reference", str(nir), "-o",
                            str(tmp_path / "o.tif"))


# --- the real dev scene --------------------------------------------------------------------------------

SCENE = SHARED / "multisensor_riotilerpds" / "landsat8_l1tp_016037_20170813"


@needs_shared
def test_the_dev_landsat_scene_sharpens_b10_in_kelvin(tmp_path, run_cli):
    """The dev scene's OLI bands guide its B10/B11 averaged 3 × 3 (a folder of their own with the
    scene's MTL): the output is in K and averages back to the reference's kelvin."""
    if not SCENE.is_dir():
        pytest.skip(f"{SCENE} is absent")
    from bandbridge.data.landsat import read_landsat
    coarse = tmp_path / "coarse"
    coarse.mkdir()
    for band in ("B10", "B11"):
        f = next(SCENE.glob(f"*_{band}.TIF"))
        with rasterio.open(f) as s:
            dn, prof = s.read(1).astype(np.float64), s.profile
        h, w = dn.shape[0] // 3, dn.shape[1] // 3
        blocks = dn[:3 * h, :3 * w].reshape(h, 3, w, 3)
        prof.update(height=h, width=w, transform=prof["transform"] @ Affine.scale(3))
        with rasterio.open(coarse / f.name, "w", **prof) as d:
            d.write(np.where((blocks == 0).any((1, 3)), 0, np.round(blocks.mean((1, 3)))).astype("uint16"), 1)
    shutil.copy(next(SCENE.glob("*_MTL.txt")), coarse)  # after the bands: GDAL deletes a TIFF's *_MTL.txt sibling
    # when it replaces the TIFF
    _, v, said = sharpened(run_cli, tmp_path / "t.tif", str(SCENE), "--reference", str(coarse), "--bands",
                            "B10,B11", "--guides", "B2,B3,B4,B5,B6,B7")
    ref = read_landsat(coarse, ["B10", "B11"])
    exact = [r.endswith("+correction") for r in said["routes"]]
    ok = ref.valid & np.isfinite(block_means(v, 3)).all(0)
    assert 170 < np.nanmin(v) and np.nanmax(v) < 350 and ok.sum() > 1000
    for i in (0, 1):  # K: exact where the band's route is made consistent, close where not
        gap = np.abs(block_means(v, 3)[i][ok] - ref.data[i][ok])
        assert gap.max() < 0.01 if exact[i] else gap.mean() < 0.5
    assert math.isclose(np.nanmean(v[0]), float(ref.data[0][ref.valid].mean()), abs_tol=1.0)


@needs_shared
def test_the_dev_scene_as_its_own_reference_says_nothing_is_coarser(tmp_path, run_cli):
    """The dev scene lies on one 900 m grid (an overview): its thermal bands are not coarser than its OLI
    bands, and the line says so rather than advise a pair."""
    if not SCENE.is_dir():
        pytest.skip(f"{SCENE} is absent")
    said = refused(run_cli, tmp_path, str(SCENE), "--reference", str(SCENE), "-o", str(tmp_path / "o.tif"))
    assert "its bands B10, B11 lie on a grid as fine as the guides' (900 against 900)" in said
