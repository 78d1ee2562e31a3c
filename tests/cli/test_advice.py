"""An error's advice works (issue 58): each refusal that advises a model or a flag is run again
with that advice, and the advised command succeeds."""

from __future__ import annotations

import re

import pytest

from conftest import SAMPLE, SHARED

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def _sar():
    return next((SHARED / "sar_sen1floods11" / "S1").glob("*.tif"))


def _photo():
    return next((SHARED / "thermal_roadscene" / "crop_LR_visible").glob("*.jpg"))


def _gray(tmp_path):
    import rasterio
    with rasterio.open(NAIP) as s:
        band, prof = s.read(1), s.profile
    prof.update(count=1)
    with rasterio.open(tmp_path / "gray.tif", "w", **prof) as o:
        o.write(band, 1)
    return tmp_path / "gray.tif"


CASES = [  # (input, model refused, what the advice must name)
    ("naip", "rgb2nir-s2", "-m rgb2nir-naip"),
    ("photo", "rgb2nir-s2", "-m rgb2nir-photo"),
    ("sar", "rgb2nir", "-m sar2optical"),
    ("gray", "rgb2nir-naip", "--bands 0,0,0"),
    ("gray", "sr-x2", "--bands 0,0,0"),
]


@pytest.mark.parametrize("what,model,advice", CASES, ids=[f"{w}-{m}" for w, m, _ in CASES])
def test_the_advised_command_succeeds(run_cli, tmp_path, what, model, advice):
    src = {"naip": lambda: NAIP, "photo": _photo, "sar": _sar, "gray": lambda: _gray(tmp_path)}[what]
    if what in ("photo", "sar") and not SHARED.is_dir():
        pytest.skip("needs ../shared/data (a RoadScene photo, a Sen1Floods11 SAR scene)")
    f = src()
    code, _, err = run_cli("predict", str(f), "-m", model, "-o", str(tmp_path / "refused.tif"))
    assert code == 2 and advice in err, err
    flag, value = re.search(r"(-m|--bands) (\S+?)[,)]?(?:\s|$)", err[err.index(advice):]).groups()
    args = ["-m", value] if flag == "-m" else ["-m", model, "--bands", value]
    code, _, err = run_cli("predict", str(f), *args, "-o", str(tmp_path / "advised.tif"))
    assert code == 0 and (tmp_path / "advised.tif").exists(), err
