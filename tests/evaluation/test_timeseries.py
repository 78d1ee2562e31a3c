"""NDVI time series over the sample's four NAIP dates."""

import csv
from datetime import date
from pathlib import Path

import pytest
import rasterio

from bandbridge.errors import BandbridgeError
from bandbridge.evaluation.timeseries import file_date
from conftest import SAMPLE

FOLDER = SAMPLE / "nir_naip_opengeos"


def test_dates_from_names():
    assert file_date(Path("m_4709963_se_14_1_20200831.tif")) == date(2020, 8, 31)
    assert file_date(Path("S2_2019-04-03_x.tif")) == date(2019, 4, 3)
    with pytest.raises(BandbridgeError, match="no date"):
        file_date(Path("scene.tif"))


def test_timeseries_csv_png_and_region(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr("bandbridge.cli.progress.DELAY", 0.0)  # progress lines at once, on tiny inputs
    code, out, err = run_cli("timeseries", str(FOLDER), "-m", "rgb2nir", "-o", str(tmp_path / "all"))
    assert code == 0, err
    assert "predicting 4 dates: 0/4" in err and "predicting 4 dates: 4/4 done in" in err, err  # progress
    rows = list(csv.DictReader((tmp_path / "all" / "ndvi_timeseries.csv").open()))
    assert [r["date"] for r in rows] == ["2009-08-18", "2012-07-31", "2018-07-16", "2020-08-31"]
    for r in rows:
        assert -1 <= float(r["ndvi_synthetic"]) <= 1 and -1 <= float(r["ndvi_real"]) <= 1
    assert (tmp_path / "all" / "ndvi_timeseries.png").stat().st_size > 10_000
    with rasterio.open(next(FOLDER.glob("*.tif"))) as src:
        b = src.bounds
    half = f"{b.left},{b.bottom},{(b.left + b.right) / 2},{b.top}"  # the western half
    code, _, err = run_cli("timeseries", str(FOLDER), "-m", "rgb2nir", "-o", str(tmp_path / "w"),
                           "--bbox", half)
    assert code == 0, err
    west = list(csv.DictReader((tmp_path / "w" / "ndvi_timeseries.csv").open()))
    assert all(int(w["pixels"]) == pytest.approx(int(a["pixels"]) / 2, rel=0.02) for w, a in zip(west, rows))
    code, _, err = run_cli("timeseries", str(FOLDER), "-o", str(tmp_path / "x"), "--bbox", "1,2,3")
    assert code == 2 and "xmin,ymin,xmax,ymax" in err
