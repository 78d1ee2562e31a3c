"""The web demo's requests without a browser: plain RGB uploads for every bundled model, the display
rule, scores when the upload carries the real band, downloads as `bandbridge predict --cog` writes
them, the page's own band controls, the calibration pair's bands, limits and per-request files."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from bandbridge.demo.page import _message
from bandbridge.demo.files import MAX_MPIX
from bandbridge.demo.translate import Controls, Translator
from bandbridge.errors import BandbridgeError
from bandbridge.spec import read_spec, zoo_models
from conftest import HANG_S, SAMPLE, SHARED, needs_shared

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
S1 = SHARED / "sar_sen1floods11" / "S1" / "Spain_7370579_S1Hand.tif"


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")
    with rasterio.open(NAIP) as f:
        a, prof = f.read(), f.profile
    img = Image.fromarray(a[:3, :96, :128].transpose(1, 2, 0))
    img.save(d / "photo.jpg", quality=90)
    img.save(d / "photo.png")
    Image.fromarray(a[3, :96, :128]).save(d / "nir.png")
    prof.update(count=3, dtype="uint16", nodata=None)
    with rasterio.open(d / "refl.tif", "w", **prof) as f:
        f.write(a[:3].astype(np.uint16) * 12 + 100)
    prof.update(count=5, dtype="uint8")  # five bands without descriptions: roles unknown
    with rasterio.open(d / "five.tif", "w", **prof) as f:
        f.write(np.concatenate([a, a[:1]]))
    return d


@pytest.fixture(scope="module")
def translate():
    return Translator(zoo_models())


def _panel_ok(img: np.ndarray) -> tuple[float, float]:
    """A shown panel is neither blank nor near black: (mean, std) of its gray values."""
    g = img.astype(float).mean(-1)
    assert 40 < g.mean() < 230 and g.std() > 20 and (g < 16).mean() < 0.5, (g.mean(), g.std())
    return g.mean(), g.std()


@pytest.mark.parametrize("model", ["rgb2nir", "rgb2nir-naip", "rgb2thermal", "sr-x2", "sr-x3", "sr-x4"])
@pytest.mark.parametrize("name", ["photo.jpg", "photo.png"])
def test_plain_rgb_uploads_work_for_every_rgb_model(uploads, translate, tmp_path, model, name):
    res = translate(str(uploads / name), model, tmp_path)
    s = int(model[-1]) if model.startswith("sr-x") else 1
    # super-resolution: the input shown at the output's size, beside a bicubic enlargement
    assert res.shown.image.shape == (96 * s, 128 * s, 3)
    if s > 1:  # RGB out: the image itself; a single band is drawn with its colour bar
        assert res.output.image.shape == res.real.image.shape == (96 * s, 128 * s, 3)
        assert f"bicubic ×{s}" in res.real.label
    assert res.output.image is not None and (res.ndvi.image is not None) == model.startswith("rgb2nir")
    assert (res.real.image is None or s > 1) and res.scores == ""  # a photo carries no real band
    assert "0=red, 1=green, 2=blue" in res.status and f"128×96 px (width×height) → " in res.status
    assert "no georeference" in res.status and "keeps" not in res.status
    with rasterio.open(res.files[0]) as f:  # the CLI's stored type, no float "model units"
        assert f.dtypes[0] == "uint8" and f.crs is None
        assert f.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_the_download_is_what_predict_writes(translate, tmp_path, run_cli):
    res = translate(str(NAIP), "rgb2nir-naip", tmp_path / "page")
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "cli.tif"),
                           "--cog", "--backend", "torch", "--precision", "fp32")
    assert code == 0, err
    with rasterio.open(res.files[0]) as a, rasterio.open(tmp_path / "cli.tif") as b:
        assert (a.dtypes, a.crs, a.transform, a.nodata) == (b.dtypes, b.crs, b.transform, b.nodata)
        assert a.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert np.abs(a.read().astype(int) - b.read().astype(int)).max() <= 1
    assert "keeps the input's georeference (EPSG:26914)" in res.status
    assert "uint8 values, DN (8-bit), nodata 0" in res.status
    # the expected-error map `predict --confidence` writes, beside the output and on the page
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "c2.tif"),
                           "--cog", "--backend", "torch", "--precision", "fp32", "--confidence")
    assert code == 0, err
    page_err = next(f for f in res.files if f.endswith("_error.tif"))
    with rasterio.open(page_err) as a, rasterio.open(tmp_path / "c2_error.tif") as b:
        assert np.abs(a.read(1) - b.read(1)).max() < 0.5  # DN: the same map, within rounding
    assert "expected |error|" in res.error.label and "training data" in res.error.label
    _panel_ok(res.error.image)


def test_scores_beside_the_baseline_when_the_upload_has_the_real_band(translate, tmp_path):
    from bandbridge.evaluation.compare import compare
    res = translate(str(NAIP), "rgb2nir-naip", tmp_path / "page")
    cli = compare("rgb2nir-naip", NAIP, tmp_path / "cmp")  # the CLI's numbers on the same file
    for k in ("mae", "psnr", "pearson_r", "ndvi_mae"):
        assert f"{cli['metrics'][k]:.4g}" in res.scores and f"{cli['baseline_metrics'][k]:.4g}" in res.scores
    assert "fitted on this image" in res.scores and "DN (8-bit)" in res.scores
    # One stretch for the synthetic and the real band: the real band's, stated on both panels.
    rng = res.real.label.split("stretch: ")[1]
    assert rng in res.output.label and "(the real band's range)" in res.output.label
    _panel_ok(res.output.image), _panel_ok(res.real.image), _panel_ok(res.shown.image)


def test_super_resolution_is_shown_on_its_input_range(uploads, translate, tmp_path):
    res = translate(str(uploads / "photo.png"), "sr-x4", tmp_path)
    assert res.shown.label.split("stretch: ")[1] in res.output.label
    assert "(your image's range)" in res.output.label
    m_in, _ = _panel_ok(res.shown.image)
    m_out, _ = _panel_ok(res.output.image)
    assert abs(m_in - m_out) < 8  # not duller than its input


@needs_shared
def test_sar_to_optical_output_is_visible(translate, tmp_path):
    res = translate(str(S1), "sar2optical", tmp_path)
    assert "reflectance" in res.output.label and "backscatter dB" in res.shown.label
    mean, _ = _panel_ok(res.output.image)
    assert mean > 80  # stretched: the unstretched reflectance showed at a mean of ≈ 30/255
    with rasterio.open(res.files[0]) as f:
        assert f.dtypes[0] == "uint16" and f.crs is not None  # reflectance × 10000, as predict


def test_the_page_controls_fix_what_detection_cannot(uploads, translate, tmp_path):
    up = str(uploads / "five.tif")
    with pytest.raises(BandbridgeError) as e:
        translate(up, "rgb2nir-naip", tmp_path)
    line = _message(e.value, up)
    assert "**input bands**" in line and "--" not in line and "Band roles and scaling" in line
    res = translate(up, "rgb2nir-naip", tmp_path, Controls(bands="0,1,2"))
    assert "0=BAND1, 1=BAND2, 2=BAND3 (**input bands**)" in res.status and "--bands" not in res.status
    _panel_ok(res.shown.image)  # shown as the R, G, B the model reads them as
    res = translate(up, "rgb2nir-naip", tmp_path, Controls(band_names="red,green,blue,nir,x"))
    assert res.real.image is not None and "Against the real nir" in res.scores
    with pytest.raises(BandbridgeError) as e:
        translate(up, "rgb2nir-naip", tmp_path, Controls(bands="0,1,2", scaling="minmax"))
    line = _message(e.value, up)
    assert "**min**" in line and "**max**" in line and "--" not in line


def test_a_model_name_in_an_error_points_to_the_model_menu(uploads, translate, tmp_path):
    with pytest.raises(BandbridgeError) as e:  # 8-bit into the reflectance model
        translate(str(uploads / "photo.png"), "rgb2nir-s2", tmp_path)
    line = _message(e.value)
    assert "the **model** menu: rgb2nir-photo" in line and " -m " not in line  # a photo: the photo model
    with pytest.raises(BandbridgeError, match=r"VV, VH"):
        translate(str(uploads / "photo.png"), "sar2optical", tmp_path)


def test_reflectance_geotiff(uploads, translate, tmp_path):
    for model in ("rgb2nir", "rgb2nir-s2"):
        res = translate(str(uploads / "refl.tif"), model, tmp_path)
        assert res.ndvi.image is not None and "reflectance_10000" in res.status
        with rasterio.open(res.files[0]) as f:
            assert f.dtypes[0] == "uint16"  # reflectance × 10000, as predict writes it


def test_a_trained_run_is_served_too(trained_run, tmp_path):
    from bandbridge.spec import resolve_model_folder
    res = Translator({"mine": resolve_model_folder(trained_run)})(str(NAIP), "mine", tmp_path)
    assert res.scores and res.output.image is not None


def test_calibration_pair_bands_are_named_for_the_model(uploads):
    from bandbridge.demo.calibrate import pair_bands
    spec = read_spec(zoo_models()["rgb2nir-naip"])
    pairs, bands = pair_bands(spec, NAIP, None)  # one file: R, G, B and the real NIR
    assert pairs == [str(NAIP)] and bands["input"]["band_names"] == ["red", "green", "blue", "nir"]
    assert bands["target"]["bands"] == ["nir"] and bands["target"]["scaling"] == "uint8"
    pairs, bands = pair_bands(spec, uploads / "photo.png", uploads / "nir.png")  # two files
    assert pairs == [f"{uploads / 'photo.png'}:{uploads / 'nir.png'}"]
    assert bands["target"]["band_names"] == ["nir"] and bands["input"]["bands"] == ["red", "green", "blue"]
    with pytest.raises(BandbridgeError, match="needs the real nir beside the input.*second file"):
        pair_bands(spec, uploads / "photo.png", None)


def test_a_calibration_target_described_as_another_band_is_refused(tmp_path):
    """The real band as a second file must be the band the model makes: a one-band file
    described as red is refused in one line naming it (as `compare` refuses it); one described
    as nir, or not described at all, is taken."""
    from bandbridge.demo.calibrate import pair_bands
    spec = read_spec(zoo_models()["rgb2nir-naip"])
    with rasterio.open(NAIP) as f:
        a, prof = f.read(), f.profile
    prof.update(count=3)
    with rasterio.open(tmp_path / "rgb.tif", "w", **prof) as f:
        f.write(a[:3])
    prof.update(count=1)
    for said, band in (("red", 0), ("nir", 3), ("", 3)):
        with rasterio.open(tmp_path / f"t_{said}.tif", "w", **prof) as f:
            f.write(a[band:band + 1])
            f.set_band_description(1, said)
    with pytest.raises(BandbridgeError) as e:
        pair_bands(spec, tmp_path / "rgb.tif", tmp_path / "t_red.tif")
    assert "\n" not in str(e.value)
    assert "t_red.tif: its band 1 is described as red, but rgb2nir-naip makes nir" in str(e.value)
    assert str(tmp_path) not in str(e.value)
    for said in ("nir", ""):
        _, bands = pair_bands(spec, tmp_path / "rgb.tif", tmp_path / f"t_{said}.tif")
        assert bands["target"]["band_names"] == ["nir"]


def test_a_calibration_pair_is_limited_before_anything_runs(tmp_path, monkeypatch):
    from bandbridge.demo import calibrate
    from bandbridge.workflows import adapt
    monkeypatch.setattr(adapt, "adapt", lambda *a, **k: pytest.fail("adapt ran"))
    Image.fromarray(np.zeros((2100, 2100, 3), np.uint8)).save(tmp_path / "big.png")
    folder = zoo_models()["rgb2nir-naip"]
    with pytest.raises(BandbridgeError, match=r"2100×2100 px \(width×height\); the demo takes up to "
                                              r"4 MPix: use `bandbridge adapt`"):
        calibrate.calibrate(folder, read_spec(folder), tmp_path / "big.png", None, tmp_path)


def test_pixel_limit_counts_the_super_resolution_output(tmp_path):
    side = int((MAX_MPIX * 1e6) ** 0.5 / 4) + 8  # fine as an input, too large ×4
    Image.fromarray(np.zeros((side, side, 3), np.uint8) + 90).save(tmp_path / "big.png")
    with pytest.raises(BandbridgeError, match="MPix at ×4"):
        Translator(zoo_models())(str(tmp_path / "big.png"), "sr-x4", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_any_failure_is_one_readable_line(tmp_path):
    up = str(tmp_path / "gradio-cache" / "x1" / "photo.png")
    assert _message(BandbridgeError(f"{up}: not a raster"), up) == "photo.png: not a raster"
    line = _message(ValueError("boom"), up)
    assert line.startswith("unexpected failure (ValueError: boom)") and "\n" not in line


@pytest.mark.load
def test_request_folders_are_swept_by_age_and_all_removed_at_shutdown(tmp_path, monkeypatch):
    # ages are read on an injected clock (``files.time``, frozen) and the timer's sweep is waited
    # for as an event, not polled for a while: a slow machine neither ages a folder nor misses it
    import os
    import threading
    import time
    import types

    from bandbridge.demo import files
    from bandbridge.demo.files import TMP_PREFIX, Workdirs
    now = time.time()
    monkeypatch.setattr(files, "time", types.SimpleNamespace(time=lambda: now))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dirs = Workdirs(max_age_s=60)
    mine_old, mine_new = dirs.make(), dirs.make()
    stale, fresh = tmp_path / f"{TMP_PREFIX}stale", tmp_path / f"{TMP_PREFIX}fresh"  # another server's
    for d, age in ((mine_old, 120), (mine_new, 0), (stale, 7200), (fresh, 0)):
        d.mkdir(exist_ok=True)
        (d / "x.tif").write_bytes(b"x")
        os.utime(d, (now - age, now - age))
    (tmp_path / "other").mkdir()
    dirs.sweep()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine_new.name, fresh.name, "other"])
    os.utime(mine_new, (now - 120, now - 120))
    swept, sweep = threading.Semaphore(0), dirs.sweep
    dirs.sweep = lambda: sweep() or swept.release()  # the timer's loop calls self.sweep()
    dirs.start(every_s=0.05)  # the timer sweeps without any request
    assert swept.acquire(timeout=HANG_S)  # a hang guard, not a time limit
    assert not mine_new.exists()
    last = dirs.make()
    dirs.close()  # shutdown: every folder of this server goes, others' young ones stay
    assert not last.exists() and fresh.exists()


@pytest.mark.parametrize("user_gradio_dir", [False, True])
def test_the_server_leaves_no_users_files_in_tmpdir_when_it_stops(tmp_path, monkeypatch, user_gradio_dir):
    """Issue 77: after the server stopped, users' uploads and results stayed in TMPDIR (Gradio's
    copies in TMPDIR/gradio, shared by every Gradio app). ``serve`` gives Gradio a folder of its
    own and removes it with the request folders when the server stops — by SIGTERM here, which the
    CLI's handler raises as :class:`Terminated` in the serving thread. The Gradio app is a stand-in
    that writes where Gradio writes; a GRADIO_TEMP_DIR the user set keeps everything else in it."""
    import os
    import tempfile

    pytest.importorskip("gradio")
    from bandbridge.demo import app
    from bandbridge.fileio import Terminated
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    users = tmp_path / "users-gradio"
    if user_gradio_dir:
        users.mkdir()
        (users / "theirs.txt").write_text("not the page's")
        monkeypatch.setenv("GRADIO_TEMP_DIR", str(users))
    else:
        monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    seen = {}

    class Served:
        def launch(self, **kwargs):
            from gradio.utils import get_upload_folder  # where Gradio puts uploads and results
            up = Path(get_upload_folder()) / "0a1b2c" / "scene.tif"
            up.parent.mkdir(parents=True)
            up.write_bytes(b"II*\x00 a user's scene")
            work = seen["dirs"].make()  # a request folder, mid-request
            (work / "result.tif").write_bytes(b"II*\x00")
            seen["upload"], seen["work"] = up, work
            raise Terminated()  # SIGTERM while serving

    def build(models, dirs):
        seen["dirs"] = dirs
        return Served()
    monkeypatch.setattr(app, "build_app", build)
    with pytest.raises(Terminated):
        app.serve(None, port=0)
    assert seen["upload"].is_relative_to(users if user_gradio_dir else tmp)  # written where the user said
    assert not seen["upload"].exists() and not seen["work"].exists()
    assert list(tmp.iterdir()) == []  # nothing of the page's left in TMPDIR
    assert ([p.name for p in users.iterdir()] == ["theirs.txt"]) if user_gradio_dir else not users.exists()
    assert os.environ.get("GRADIO_TEMP_DIR") == (str(users) if user_gradio_dir else None)
    assert tempfile.gettempdir() == str(tmp)


def test_preview_and_request_refuse_huge_images_before_decoding(tmp_path, monkeypatch):
    import zlib

    from bandbridge.demo import display, translate
    from bandbridge.inference.core import look
    side = 30000  # a 900-MPix PNG of a few hundred KB: only its header may be read
    raw = zlib.compress(b"".join(b"\x00" + bytes(side) for _ in range(64)), 9)
    png = _png_header(side, side) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    decoded = []
    for mod in (display, look):
        monkeypatch.setattr(mod, "read_decimated", lambda *a, **k: decoded.append(a))
    with pytest.raises(BandbridgeError, match="the demo takes up to"):
        translate.input_preview(str(tmp_path / "bomb.png"))
    with pytest.raises(BandbridgeError, match="the demo takes up to"):
        Translator(zoo_models())(str(tmp_path / "bomb.png"), "rgb2nir", tmp_path)
    assert not decoded


def test_super_resolution_of_a_tiny_image_is_one_line(tmp_path):
    Image.fromarray(np.zeros((4, 400, 3), np.uint8) + 90).save(tmp_path / "thin.png")
    with pytest.raises(BandbridgeError, match=r"400×4 px \(width×height\); sr-x4 needs at least 15 px"):
        Translator(zoo_models())(str(tmp_path / "thin.png"), "sr-x4", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thin.png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(w: int, h: int) -> bytes:
    import struct
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))


def test_one_stretch_rule_shares_a_range_or_takes_the_union_when_panels_disagree():
    """stretch.py: the synthetic band on the real band's range — unless it mostly falls outside
    it (then a flat white or black panel), when both take the union of their ranges."""
    from bandbridge.stretch import shared_stretch, stretch
    rng = np.random.default_rng(0)
    real = rng.uniform(0.2, 0.4, (1, 50, 50))
    near = real + rng.normal(0, 0.01, real.shape)
    st = shared_stretch(near, real, "reflectance")
    assert not st.union and (st.lo, st.hi) == (stretch(real, "reflectance").lo, stretch(real, "reflectance").hi)
    bright = real + 0.5  # every synthetic value above the real range
    st = shared_stretch(bright, real, "reflectance")
    assert st.union and st.lo < 0.21 and st.hi > 0.89 and "union" in st.describe()
    real[0, :5] = np.nan  # nodata never counts
    assert np.isfinite(shared_stretch(bright, real, "reflectance").lo)


def test_use_a_reference(tmp_path):
    """The page's "Use a reference": the upload's NIR fitted to a coarse reference upload, shown on
    the real band's range with the error, titled as what it is (not the output band's name,
    ``synthetic_<the reference's band>``: issue 77), with the NDVI panel a NIR model's translation
    has, the COG download tagged; without the reference, one line."""
    from bandbridge.demo.guided import with_reference
    from bandbridge.evaluation.wald import make_reference
    from bandbridge.data.grids import Grid
    with rasterio.open(NAIP) as f:
        nir, fine = f.read(4).astype(np.float32), Grid(f.crs, f.transform, f.height, f.width)
    ref = make_reference(nir, fine, 4, tmp_path / "coarse_nir.tif")
    res = with_reference(str(NAIP), "rgb2nir", str(ref), tmp_path / "w", ndvi=True)
    _panel_ok(res.output.image)
    assert res.output.label.startswith("synthetic band fitted to the reference (coarse_nir.tif) — ")
    assert "synthetic_" not in res.output.label
    assert res.real.image is not None and "reference-guided" in res.scores
    mae = float(res.scores.split("|")[-2])
    assert mae < 6.5  # the sample at k = 4: measured 6.0 DN
    assert "k = 4.00" in res.status and res.files[0].endswith("_reference.tif")
    with rasterio.open(res.files[0]) as s:
        assert s.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and "bandbridge_reference" in s.tags()
    assert res.ndvi.image is not None and res.ndvi.label.startswith("NDVI of the reference-guided NIR")
    _panel_ok(res.ndvi.image)
    assert res.files[1].endswith("_reference_ndvi.tif") and "No NDVI" not in res.status
    with rasterio.open(res.files[1]) as s:
        v = s.read(1)
        assert -1 <= np.nanmin(v) and np.nanmax(v) <= 1 and np.nanstd(v) > 0.05
    # a reference in reflectance for an 8-bit upload: an NDVI of the two would mix units, so none,
    # and the status says why (the band itself is fitted as ever)
    refl = make_reference(nir / 255 * 0.5, fine, 4, tmp_path / "coarse_refl.tif")
    res = with_reference(str(NAIP), "rgb2nir", str(refl), tmp_path / "w3", ndvi=True)
    assert res.ndvi.image is None and len(res.files) == 1
    assert "No NDVI: the input holds" in res.status and "reflectance" in res.status.split("No NDVI")[1]
    with pytest.raises(BandbridgeError, match="upload the reference"):
        with_reference(str(NAIP), "rgb2nir", None, tmp_path / "w2")


def test_an_upload_holding_the_real_thermal_is_scored_by_realism_too(tmp_path):
    """The page scores an image-like target (thermal) by contrast and SWD beside its error
    (issue 60); an NIR target keeps error alone."""
    from bandbridge.demo.truth import find_truth, score_table
    from bandbridge.inference.core.interpret import Overrides, interpret
    from bandbridge.inference.core.look import look_at
    naip = sorted((SAMPLE / "nir_naip_opengeos").glob("*.tif"))[-1]
    with rasterio.open(naip) as s:
        prof, a = s.profile, s.read(window=((0, 128), (0, 128)))
    prof.update(width=128, height=128, transform=rasterio.Affine(0.6, 0, 0, 0, -0.6, 0))
    up = tmp_path / "rgb_and_thermal.tif"
    with rasterio.open(up, "w", **prof) as o:  # R, G, B and a grey "thermal" band beside them
        o.write(a)
        o.descriptions = ("red", "green", "blue", "gray")
    for name, realism in (("rgb2thermal", True), ("rgb2nir-naip", False)):
        spec = read_spec(zoo_models()[name])
        look = look_at(up)
        reading = interpret(up, spec, Overrides(), look)
        truth = find_truth(look, reading, spec)
        if not realism:  # the NIR model finds no NIR in this upload: nothing to score
            assert truth is None
            continue
        pred = np.full((1, 128, 128), 0.4, np.float32)  # a flat output
        table = score_table(up, spec, reading, truth, pred)
        assert "SWD (realism)" in table and "contrast (1 = real)" in table
        model_row = next(line for line in table.splitlines() if line.startswith("| model |"))
        assert model_row.split("|")[-3].strip() == "0"  # a flat output has no contrast


@pytest.mark.parametrize("name, model, route", [("photo.jpg", "rgb2nir", "rgb2nir → rgb2nir-photo"),
                                                ("refl.tif", "rgb2nir", "rgb2nir → rgb2nir-s2")])
def test_the_page_shows_the_plan_before_it_runs_and_the_run_carries_it_out(uploads, translate, tmp_path,
                                                                         name, model, route):
    """Issue 59: on upload the page states the plan `predict --plan` makes (model and route,
    reading, fallback, tiles, backend) without writing anything; Translate then runs that plan:
    the same route and reading, on the backend the plan named."""
    from bandbridge.inference.core.interpret import Overrides
    text = translate.plan_text(str(uploads / name), model, Overrides())
    assert text.startswith("**Plan** (what *Translate* will run): model and reading: ") and route in text
    assert "fallback: " in text and "tiles: " in text and "backend: " in text
    assert str(uploads) not in text  # the upload's name, never the server's path
    plan = translate.plan(uploads / name, model, Overrides(), tmp_path)
    job = plan.jobs[0]
    assert not list(tmp_path.iterdir())  # a plan writes nothing
    res = translate(str(uploads / name), model, tmp_path)
    assert job.note.split(": bands")[-1] in res.status.replace("**", "")  # the reading it planned
    d = plan.backends[job.spec.folder]
    assert f"({d.backend} {d.precision})" in res.status  # the backend it planned
    assert res.files[0] == str(job.dst)



def test_a_class_raster_is_drawn_in_one_colour_per_class_with_a_legend():
    """The fill's FILLED band holds three classes: drawn as three colours and a legend (issue 77:
    a continuous colour bar over 0…2 read as a quantity, with shades between the classes)."""
    from bandbridge.demo.display import render_classes
    from bandbridge.demo.fill import CLASSES
    codes = np.zeros((60, 90), np.float32)
    codes[:, 30:60], codes[:, 60:] = 1, 2
    img = render_classes(codes, CLASSES, "FILLED").astype(int)
    for code, _, colour in CLASSES:  # each class in its colour, and as much of it as it covers
        c = (np.array(colour) * 255).round()
        share = (np.abs(img - c).max(-1) <= 2).mean()
        assert share > 0.15, (code, share)
