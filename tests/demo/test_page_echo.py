"""The page echoes no long form value back (issue 98: a 10 kB value in a text box came back whole in the
status): every text box and the model menu, longer than `policy.DEMO_TEXT_CHARS`, is refused in one line
that does not hold it; a value within the bound is refused as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from bandbridge.policy import DEMO_TEXT_CHARS
from conftest import SAMPLE

pytest.importorskip("gradio")
NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
BIG = "x" * 10_000


@pytest.fixture
def upload(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    path = tmp_path / "gradio" / "a1b2" / "scene.tif"
    path.parent.mkdir(parents=True)
    path.write_bytes(NAIP.read_bytes())
    return str(path)


def _said(text: str, box: str) -> None:
    assert box in text and f"{len(BIG):,} characters" in text and "xxxxxxxxxx" not in text, text[:300]
    assert len(text) < 400 and "\n" not in text


@pytest.mark.parametrize("which", ["bands", "band names", "sharpen", "model"])
def test_a_long_form_value_is_refused_without_echoing_it(upload, which):
    from bandbridge.demo.page import Page
    from bandbridge.spec import zoo_models
    page = Page(zoo_models())
    ctl = {"bands": (BIG, "", "auto", None, None), "band names": ("", BIG, "auto", None, None)}.get(
        which, ("", "", "auto", None, None))
    if which == "sharpen":
        status = page.handle_sharpen([upload], upload, BIG)[6]
    elif which == "model":
        status = page.handle_reference(upload, BIG, upload, *ctl)[6]
    else:
        status = page.handle(upload, "rgb2nir", *ctl)[6]
        _said(page.preview(upload, "rgb2nir", *ctl)[1], {"bands": "input bands", "band names": "band names"}[which])
    _said(status, {"bands": "**input bands** box", "band names": "**band names** box",
                   "sharpen": "**bands to sharpen** box", "model": "**model** menu"}[which])


def test_a_value_within_the_bound_is_read_as_before(upload):
    from bandbridge.demo.page import Page
    from bandbridge.spec import zoo_models
    status = Page(zoo_models()).handle(upload, "rgb2nir", "", "a" * DEMO_TEXT_CHARS, "auto", None, None)[6]
    assert "band names" in status and "names but" in status and Path(upload).name in status, status
