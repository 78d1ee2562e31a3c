"""The page's handlers as Gradio calls them (issue 69): they take only files the page itself
received — one check for every file box and the preview —, say nothing that names a server path,
and name the model they ran alike in status, text and downloads after a calibration."""

from pathlib import Path

import numpy as np
import pytest
import rasterio

from bandbridge.demo.page import _message
from bandbridge.errors import BandbridgeError
from bandbridge.spec import zoo_models
from conftest import SAMPLE

pytest.importorskip("gradio")
NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
CTL = ("", "", "auto", None, None)  # the band controls left to detection
SECRET = 77  # the value of every pixel of the server's own raster the page must never read


@pytest.fixture(scope="module")
def page():
    from bandbridge.demo.page import Page
    return Page(zoo_models())


@pytest.fixture
def received(tmp_path, monkeypatch):
    """Gradio's upload folder of this test and the server's temporary folder beside it (its
    request folders go there): ``put(name)`` writes a 128×96 crop of the NAIP sample (R, G, B
    and the real NIR) as an upload would land, in a folder of its own."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    with rasterio.open(NAIP) as f:
        a, prof = f.read(window=((0, 96), (0, 128))), f.profile
        prof.update(height=96, width=128, transform=f.window_transform(((0, 96), (0, 128))))

    def put(name: str, folder: str = "a1b2") -> str:
        path = tmp_path / "gradio" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", **prof) as o:
            o.write(a)
        return str(path)
    return put


def _refused(out, name: str, why: str) -> None:
    """A handler's outputs refusing ``name``: one line, no image, no download, no request folder."""
    status = out[6]
    assert status.startswith("**error:**") and (f"{name}: " if name else "") + why in status
    assert "\n" not in status
    assert all(u["value"] is None for u in out[:5]) and out[5] is None and out[-1] is None


def test_the_page_takes_only_files_it_received(page, received, tmp_path, monkeypatch):
    """Every handler that takes a file (image, pair, pair's real band, reference, the fill's five
    boxes, the sharpener's two, preview) goes through one check: a raster on the server outside Gradio's upload folder
    is refused, and nothing of it is read or returned — neither by path, by a link in the upload folder, nor by
    an upload whose content is a VRT naming it (GDAL opens by content, not name)."""
    import os

    from bandbridge.workflows import adapt
    monkeypatch.setattr(adapt, "adapt", lambda *a, **k: pytest.fail("adapt ran"))
    ok = received("field.tif")
    secret = tmp_path / "secret.tif"  # the server's own raster, outside the upload folder
    with rasterio.open(ok) as f:
        prof = f.profile
    with rasterio.open(secret, "w", **prof) as o:
        o.write(np.full((4, 96, 128), SECRET, np.uint8))
    link = tmp_path / "gradio" / "c3d4" / "link.tif"
    link.parent.mkdir()
    os.symlink(secret, link)
    vrt = tmp_path / "gradio" / "e5f6" / "vrt.tif"
    vrt.parent.mkdir()
    vrt.write_text('<VRTDataset rasterXSize="128" rasterYSize="96">' + "".join(
        f'<VRTRasterBand dataType="Byte" band="{b}"><SimpleSource><SourceFilename relativeToVRT="0">'
        f"{secret}</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
        for b in (1, 2, 3)) + "</VRTDataset>")
    with rasterio.open(vrt) as s:  # what the check stands between: GDAL reads the secret through it
        assert s.driver == "VRT" and s.read(1).max() == SECRET
    outside = "not a file uploaded to this page"
    for bad, why in ((str(secret), outside), (str(link), outside),
                     (str(tmp_path / "gradio" / ".." / "secret.tif"), outside),
                     (str(vrt), "cannot read this file as a raster")):
        name = os.path.basename(bad)
        _refused(page.handle(bad, "rgb2nir-naip", *CTL), name, why)
        _refused(page.handle_pair(bad, "rgb2nir-naip", ok, None, False, *CTL), name, why)
        _refused(page.handle_pair(ok, "rgb2nir-naip", bad, None, False, *CTL), name, why)
        _refused(page.handle_pair(ok, "rgb2nir-naip", ok, bad, False, *CTL), name, why)
        _refused(page.handle_reference(ok, "rgb2nir", bad, *CTL), name, why)
        for k in range(5):  # each box of "Fill a cloud gap"
            _refused(page.handle_fill(*[bad if i == k else ok for i in range(5)]), name, why)
        for args in (([bad], ok), ([ok, bad], ok), (bad, ok), ([ok], bad)):  # "Sharpen": either box
            _refused(page.handle_sharpen(*args, ""), name, why)
        shown, plan = page.preview(bad, "rgb2nir-naip", *CTL)
        assert shown["value"] is None and plan.startswith("**error:**") and f"{name}: {why}" in plan
        for text in (plan, page.handle(bad, "rgb2nir-naip", *CTL)[6]):
            assert str(tmp_path) not in text and "\n" not in text
    # a model is one of the page's, never a folder on the server
    _refused(page.handle_reference(ok, str(zoo_models()["rgb2nir-naip"]), ok, *CTL), "", "unknown model")
    assert not list((tmp_path / "tmp").iterdir())  # no request folder left behind
    out = page.handle(ok, "rgb2nir-naip", *CTL)  # what the page received runs
    assert out[6].startswith("**rgb2nir-naip**: field.tif,") and out[0]["value"] is not None
    page.dirs.remove(out[-1])


def test_nothing_the_page_says_names_a_server_path(page, received, tmp_path):
    """Statuses, plans, labels, score and calibration texts and errors name the files the user
    gave, never where the server keeps them (the reference run's status named the download's
    path in the request folder)."""
    from bandbridge.data.grids import Grid
    from bandbridge.demo.files import no_paths
    from bandbridge.evaluation.wald import make_reference
    up = received("my field.tif")
    with rasterio.open(up) as f:
        nir, fine = f.read(4).astype(np.float32), Grid(f.crs, f.transform, f.height, f.width)
    (tmp_path / "gradio" / "r9").mkdir()
    ref = make_reference(nir, fine, 4, tmp_path / "gradio" / "r9" / "coarse nir.tif")
    said = []
    for out in (page.handle(up, "rgb2nir", *CTL), page.handle_reference(up, "rgb2nir", str(ref), *CTL)):
        assert out[0]["value"] is not None, out[6]
        said += [out[6], out[7], out[8], *(u["label"] for u in out[:5])]
        page.dirs.remove(out[-1])
    said += [page.preview(up, "rgb2nir", *CTL)[1]]
    assert "my field.tif" in said[0] and "coarse nir.tif" in said[8]
    assert "my field_rgb2nir_reference.tif" in said[8]  # the download, by its name alone
    for text in said:
        assert str(tmp_path) not in text and "bandbridge-demo-" not in text, text
    # an error naming a request folder's file or any other server path says the name alone
    work = tmp_path / "tmp" / "bandbridge-demo-x1" / "calibrated" / "out put.tif"
    line = _message(BandbridgeError(f"cannot write {work}: disk full (/srv/models/m1/model.yaml)"), up)
    assert line == "cannot write out put.tif: disk full (model.yaml)"
    assert no_paths(f"at {tmp_path / 'a b' / 'c.tif'} 1.5 MPix/s, DN/10000, https://x.org/a/b",
                    [tmp_path / "a b"]) == "at c.tif 1.5 MPix/s, DN/10000, https://x.org/a/b"


@pytest.mark.parametrize("kept", ["zero-shot", "linear"])
def test_after_calibrating_the_page_names_the_model_it_ran(page, received, monkeypatch, kept):
    """adapt hands back a bundle of its own name even when it keeps the model as it was (a copy,
    without the floor it was scored without); the page runs that bundle and names it alike in
    the status, the calibration text and the downloads (the text named the model it started
    from). adapt is stood in for by a copy of the model named as adapt names what it writes."""
    import shutil

    from bandbridge.workflows import adapt as adapt_mod

    def fake_adapt(model, pairs, output, **_):
        folder = zoo_models()["rgb2nir-naip"]
        shutil.copytree(folder, output)
        name = adapt_mod.name_by_content(Path(output), "rgb2nir-naip-adapted")
        summary = {"kept": kept, "chosen": kept, "name": name, "model": "rgb2nir-naip",
                   "methods": {"zero-shot": {"mae": 20.0}, "linear": {"mae": 25.0}},
                   "target_units": "DN (8-bit)", "worse_than_zero_shot": False, "note": None,
                   "folds": ["block 1/4"], "images": 1, "groups": 1, "skipped": [],
                   "pixels": 100, "valid_pixels": 100}
        return {"summary": summary, "card": adapt_mod.adapt_card("adapt", name, summary)}
    monkeypatch.setattr(adapt_mod, "adapt", fake_adapt)
    up = received("field.tif")
    out = page.handle_pair(up, "rgb2nir-naip", up, None, False, *CTL)
    status, calib, files = out[6], out[8], out[5]
    assert not status.startswith("**error:**"), status
    ran = status.split("**")[1]
    assert ran.startswith("rgb2nir-naip-adapted-") and len(ran) == len("rgb2nir-naip-adapted-") + 8
    assert f"**{ran}**" in calib and "translates your image" in calib.split(f"**{ran}**")[1]
    assert all(Path(f).name.startswith(f"field_{ran}") for f in files)
    if kept == "zero-shot":
        assert "rgb2nir-naip as it was scored better" in calib and "without the fallback to its floor" in calib
        assert "before" not in out[7]  # the model as it was ran: no before/after
    else:
        assert "model as it was (before)" in out[7]
    page.dirs.remove(out[-1])


def test_each_button_leaves_its_own_plan_in_the_plan_box(tmp_path, monkeypatch):
    """Issue 77: after *Calibrate and translate* the plan box still showed *Translate*'s plan. Each
    button that runs something other than the plain plan ends its chain by saying, in the plan
    box, what it ran: the last thing written there is its own."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    from bandbridge.demo.app import build_app
    app = build_app()

    def elem(block) -> str | None:
        return getattr(app.blocks.get(block), "elem_id", None) if isinstance(block, int) else None

    def chain(button: str) -> list:
        """The functions a click on ``button`` runs, in order (each ``.then`` after the one before)."""
        fns = [next(f for f in app.fns.values() if any(elem(t[0]) == button and t[1] == "click" for t in f.targets))]
        while (nxt := next((f for f in app.fns.values() if f.trigger_after == fns[-1]._id), None)) is not None:
            fns.append(nxt)
        return fns
    for button, words in (("run_pair", ("*Calibrate and translate*", "`bandbridge adapt`")),
                          ("run_reference", ("*Translate with the reference*", "`bandbridge predict --reference`")),
                          ("run_fill", ("*Fill the gap*", "`bandbridge fill`")),
                          ("run_sharpen", ("*Sharpen*", "`bandbridge sharpen`"))):
        fns = chain(button)
        planned = [f for f in fns if [getattr(o, "elem_id", None) for o in f.outputs] == ["plan"]]
        assert len(planned) == 1 and planned[0] is fns[-1], button
        text = planned[0].fn()
        assert text.startswith("**Plan:**") and all(w in text for w in words), (button, text)
    assert not any([getattr(o, "elem_id", None) for o in f.outputs] == ["plan"] for f in chain("run")[1:])
