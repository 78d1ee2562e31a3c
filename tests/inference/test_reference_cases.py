"""`predict --reference` cases of issue 77's trial, each refused in one line or said as it is, on
tiny rasters made here (no shared data): a reference whose values cannot be the band, a VRT named
.tif whose source is not a raster, a reference padded past the input at k = 200, a disk's file-size
limit, and the held-out figure printed and tagged in one unit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

UTM = CRS.from_epsg(32614)
X0, Y0 = 500_000.0, 5_200_000.0


def _rgb(path, h: int, w: int, seed: int = 0):
    """A smooth uint8 RGB field of ``h × w`` 1 m pixels at (X0, Y0)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 60 + 80 * (np.sin(6 * xx) * np.cos(4 * yy) + 1) / 2
    a = np.stack([base + 10 * i + rng.normal(0, 3, (h, w)) for i in range(3)])
    prof = dict(driver="GTiff", height=h, width=w, count=3, dtype="uint8", crs=UTM,
                transform=Affine(1.0, 0, X0, 0, -1.0, Y0))
    with rasterio.open(path, "w", **prof) as o:
        o.write(np.clip(a, 1, 255).astype(np.uint8))
        o.descriptions = ("red", "green", "blue")
    return path


def _nir(path, values: np.ndarray, k: float, x0: float = X0, y0: float = Y0, dtype: str = "float32"):
    """A one-band NIR reference of ``values`` on ``k`` m pixels from (x0, y0)."""
    prof = dict(driver="GTiff", height=values.shape[0], width=values.shape[1], count=1, dtype=dtype, crs=UTM,
                transform=Affine(k, 0, x0, 0, -k, y0))
    with rasterio.open(path, "w", **prof) as o:
        o.write(values[None].astype(dtype))
        o.descriptions = ("nir",)
    return path


def _plan(rgb, ref, out):
    from bandbridge.inference.core.interpret import Overrides
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.jobs.predict import Engine
    from bandbridge.inference.place.reference import KIND, ReferenceOptions, Request
    said = []
    plan = KIND.plan(Request([str(rgb)], "rgb2nir", str(out), PredictOptions(), Overrides(),
                             ReferenceOptions(source=str(ref))), Engine(), said.append)
    return plan, said


def test_at_k_200_a_reference_over_every_cell_is_not_called_cloudy(tmp_path):
    """The window read is padded one pixel past the input (the interpolation's neighbours): those
    margin cells are no cloud. The plan's clear cells are the ones the fit is made on."""
    from bandbridge.inference.place.reference_fit import coarse_inputs
    from bandbridge.policy import MIN_COVER
    rgb = _rgb(tmp_path / "in.tif", 800, 1000)
    # the reference covers the input exactly: 4 × 5 cells of 200 m (the trial's "only 48 % clear": 20 of 6 × 7)
    ref = _nir(tmp_path / "nir.tif", np.full((4, 5), 0.3) + np.arange(5) * 0.01, 200.0)
    plan, said = _plan(rgb, ref, tmp_path / "o.tif")
    assert not [s for s in said if "are clear" in s], said  # every cell the input touches is clear
    r = plan.references[0]
    cover = coarse_inputs(plan.model.jobs[0], r.ref.grid, r.fine)[1]
    seen = int((r.ref.valid & (cover >= MIN_COVER)).sum())  # what the fit counts (reference_fit.measure)
    assert r.ref.clear_cells == seen and f"{seen:,} clear cells the input covers whole" in r.line(rgb), r.line(rgb)
    assert seen == 20
    # a reference clear over the western two columns only: 8 of the 20 cells the input covers, said so
    west = np.full((4, 5), 0.3) + np.arange(5) * 0.01
    west[:, 2:] = np.nan
    plan, said = _plan(rgb, _nir(tmp_path / "west.tif", west, 200.0), tmp_path / "o.tif")
    (warn,) = [s for s in said if "are clear" in s]
    assert "only 40 % of the reference's pixels over the input are clear" in warn, warn


def _k4(tmp_path, name: str, values: np.ndarray, dtype: str = "float32"):
    return _nir(tmp_path / name, values, 4.0, dtype=dtype)


def _field() -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64] / 64
    return 0.2 + 0.2 * (np.sin(6 * xx) * np.cos(4 * yy) + 1) / 2  # reflectance, 0.2–0.4


@pytest.mark.parametrize("case", ["negated", "west half negated", "one value"])
def test_a_reference_that_cannot_be_the_band_is_refused_in_one_line(run_cli, tmp_path, case):
    """Issue 77: every value negated wrote NIR 0 on 99.99 % of the pixels, the western half negated a
    zero output there, a constant the constant; each exit 0, nothing said."""
    rgb = _rgb(tmp_path / "in.tif", 256, 256)
    v = _field()
    if case == "negated":
        v = -v
    elif case == "west half negated":
        v[:, :32] *= -1
    else:
        v = np.full_like(v, 0.3)
    ref = _k4(tmp_path, "nir.tif", v)
    out = tmp_path / "o.tif"
    code, _, err = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(ref), "-o", str(out))
    assert code == 2 and err.strip().count("\n") == 0, err
    text = " ".join(err.split())
    if case == "one value":
        assert f"--reference {ref}: its nir is one value (0.3) on all 4,096 clear cells over the input" in text, text
    else:
        share = "100 %" if case == "negated" else "50 %"
        assert f"--reference {ref}: {share} of its clear nir values over the input are negative" in text, text
        assert "is never negative" in text
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_a_vrt_named_tif_whose_source_is_no_raster_is_one_line(run_cli, tmp_path):
    """Issue 77: `--reference` a VRT named .tif whose source is /etc/passwd gave RasterioIOError."""
    rgb = _rgb(tmp_path / "in.tif", 256, 256)
    evil = tmp_path / "nir.tif"
    evil.write_text(f"""<VRTDataset rasterXSize="64" rasterYSize="64"><SRS>EPSG:32614</SRS>
<GeoTransform>{X0}, 4, 0, {Y0}, 0, -4</GeoTransform><VRTRasterBand dataType="Byte" band="1">
<Description>nir</Description><SimpleSource><SourceFilename relativeToVRT="0">/etc/passwd</SourceFilename>
<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>""")
    out = tmp_path / "o.tif"
    code, _, err = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(evil), "-o", str(out))
    assert code == 2 and err.strip().count("\n") == 0, err
    assert f"--reference {evil}: its pixels cannot be read" in " ".join(err.split()), err
    assert "a VRT must name rasters that exist" in " ".join(err.split()) and "Traceback" not in err
    assert not out.exists()


def test_the_held_out_figure_is_one_figure_in_one_unit_on_the_line_and_the_tags(tmp_path):
    """Issue 77: the line printed the fit's held-out 15.32 and the tags the corrected 13.12 (both the
    reference's stored units): what is written is the corrected fit, so both give 13.12."""
    from types import SimpleNamespace

    from bandbridge.data.grids import Grid
    from bandbridge.data.reference import Reference
    from bandbridge.inference.place.reference import Plan
    from bandbridge.inference.place.reference_finish import decision, fit_lines
    from bandbridge.inference.place.tags import band_tags
    g = SimpleNamespace(route="fit", chosen="linear", cells=5000, fit_mae=0.1532, corrected_mae=0.1312,
                        upsampled_mae=0.2, correct=True, why="applied: held out at the reference's scale it lowered "
                        "the error", filled_from="", stored_error=lambda e: 100 * e, upsampling="bspline",
                        octaves={"one_step_down": 0.5, "octave_coarser": 0.6, "output_scale": 0.5}, carried={},
                        share=1.0, scale="")
    grid = Grid(UTM, Affine(4.0, 0, X0, 0, -4.0, Y0), 64, 64)
    ref = Reference(np.zeros((1, 64, 64), np.float32), np.ones((64, 64), bool), grid, ["nir"], str(tmp_path / "r.tif"),
                    4.0, "uint16")
    plan = Plan(ref, "nir", grid, 0, ("2020-08-31", "2020-08-31"))
    f = SimpleNamespace(fit=g, shift=(0.0, 0.0, 1.0), shift_note="below 0.25 reference pixels: none to correct")
    job = SimpleNamespace(src=tmp_path / "in.tif")
    line = next(s for s in fit_lines(job, plan, f) if "route:" in s)
    tags = band_tags(decision(plan, f))
    assert tags["bandbridge_heldout_error"] == "13.12" and "it errs 13.12 against 20 " in line, (line, tags)
    assert "(15.32 without it)" in line  # what the correction did, said once, beside


def test_a_file_size_limit_is_said_not_the_disk(tmp_path):
    """Issue 77: under `ulimit -f` a reference run said "check the disk … 75 GB free": the disk had room,
    the shell's file-size limit stopped the file. A real write under a lowered limit (this process's soft
    limit, restored after; Python ignores SIGXFSZ, so the write fails with EFBIG)."""
    resource = pytest.importorskip("resource")
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.core.outputs import opened
    from bandbridge.inference.core.writer import output_profile
    from rasterio.windows import Window
    prof = output_profile(None, None, 512, 512, 1, "float32", creation={"COMPRESS": "NONE"})
    out = tmp_path / "o.tif"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    with pytest.raises(BandbridgeError) as e:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with opened([out], prof, {}, True) as r:
                    r.write(Window(0, 0, 512, 512), np.random.default_rng(0).random((1, 512, 512), np.float32), [],
                            np.ones((512, 512), bool))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    said = str(e.value)
    assert "a file may be at most 0.0655 MB here (this shell's file-size limit, ulimit -f 64)" in said, said
    assert "MB free on that disk" not in said and not out.exists()


def test_an_input_and_reference_swapped_get_the_swap_said(run_cli, tmp_path):
    """Issue 77's newcomer: `predict NIR.tif --reference RGB.tif` got the advice `--bands 0,0,0`."""
    rgb = _rgb(tmp_path / "rgb.tif", 256, 256)
    nir = _k4(tmp_path, "nir.tif", _field())
    code, _, err = run_cli("predict", str(nir), "-m", "rgb2nir", "--reference", str(rgb), "-o", str(tmp_path / "o.tif"))
    text = " ".join(err.split())
    assert code == 2 and "did you swap the input and the reference?" in text, err
    assert "--bands 0,0,0" not in text and not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("which", ["reference", "mask"])
def test_the_reference_and_its_mask_are_never_the_output(run_cli, tmp_path, which):
    """Issue 77: every file a run reads is refused as -o, with or without --overwrite."""
    rgb = _rgb(tmp_path / "rgb.tif", 256, 256)
    ref = _k4(tmp_path, "nir.tif", _field())
    scl = _nir(tmp_path / "scl.tif", np.full((64, 64), 4.0), 4.0, dtype="uint8")
    target = ref if which == "reference" else scl
    before = target.read_bytes()
    code, _, err = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(ref), "--reference-mask", str(scl),
                           "-o", str(target), "--overwrite")
    assert code == 2 and "destroy the input" in err and target.read_bytes() == before, err


def test_an_output_named_for_another_format_is_refused_before_any_work(run_cli, tmp_path):
    rgb = _rgb(tmp_path / "rgb.tif", 256, 256)
    code, _, err = run_cli("predict", str(rgb), "-m", "rgb2nir", "-o", str(tmp_path / "o.vrt"))
    text = " ".join(err.split())
    assert code == 2 and "predict writes GeoTIFF (.tif, .tiff)" in text and "name it o.tif" in text, err
