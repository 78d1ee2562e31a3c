"""`compare IN TARGET`: the real target in a second file (SAR and optical, RGB and thermal come as
two files), with realism beside error for image-like targets (issue 60)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from tests.conftest import SHARED, needs_shared
from tests.evaluation.test_compare_roles import printed

pytestmark = needs_shared


def test_thermal_pair_of_two_files(run_cli, tmp_path):
    rgb = SHARED / "thermal_m3svd" / "vi" / "0114_1551_0000.jpg"
    ir = SHARED / "thermal_m3svd" / "ir" / "0114_1551_0000.jpg"
    code, out, err = run_cli("compare", str(rgb), str(ir), "-m", "rgb2thermal", "-o", str(tmp_path))
    assert code == 0, err
    rows = printed(out)
    assert {"mae", "swd", "contrast", "pearson_r"} <= set(rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0114_1551_0000_comparison.png",
                                                         "0114_1551_0000_synthetic.tif"]
    # the printed error is the written synthetic band's against the IR file's, by hand (DN)
    with rasterio.open(tmp_path / "0114_1551_0000_synthetic.tif") as f, rasterio.open(ir) as t:
        synth, real = f.read(1).astype(np.float64), t.read(1).astype(np.float64)
    assert rows["mae"][0] == pytest.approx(np.abs(synth - real).mean(), abs=1e-3), rows
    assert rows["rmse"][0] == pytest.approx(np.sqrt(((synth - real) ** 2).mean()), abs=1e-3), rows
    assert rows["swd"][0] > 0


def test_sar_and_optical_of_two_files(run_cli, tmp_path):
    name = "S2A_MSIL2A_20170701T093031_63_35.tif"
    s1 = SHARED / "sar_bigearthnet_configilm" / "s1" / name
    s2 = SHARED / "sar_bigearthnet_configilm" / "s2" / name  # B02,B03,B04,B08: the model's B04,B03,B02 found by role
    code, out, err = run_cli("compare", str(s1), str(s2), "-m", "sar2optical", "-o", str(tmp_path))
    assert code == 0, err
    rows = printed(out)
    assert {"sam_deg", "swd"} <= set(rows) and "units: reflectance" in out
    # the printed error is the written B04, B03, B02's against the S2 file's, by hand (reflectance:
    # both stored × 10000); printed to four decimals
    with rasterio.open(tmp_path / name.replace(".tif", "_synthetic.tif")) as f, rasterio.open(s2) as t:
        synth, real = f.read().astype(np.float64) * 1e-4, t.read([3, 2, 1]).astype(np.float64) * 1e-4
    assert rows["mae"][0] == pytest.approx(np.abs(synth - real).mean(), abs=6e-5), rows
    assert rows["rmse"][0] == pytest.approx(np.sqrt(((synth - real) ** 2).mean()), abs=6e-5), rows


def test_a_target_on_another_grid_is_refused_before_anything_is_written(run_cli, tmp_path):
    rgb = SHARED / "thermal_m3svd" / "vi" / "0114_1551_0000.jpg"
    other = SHARED / "thermal_roadscene" / "cropinfrared" / "FLIR_00006.jpg"
    out_dir = tmp_path / "out"
    code, _, err = run_cli("compare", str(rgb), str(other), "-m", "rgb2thermal", "-o", str(out_dir))
    assert code == 2 and "on the input's grid" in err and err.strip().count("\n") == 0
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_a_target_file_without_the_target_band_is_refused(run_cli, tmp_path):
    name = "S2A_MSIL2A_20170701T093031_63_35.tif"
    s1 = SHARED / "sar_bigearthnet_configilm" / "s1" / name
    code, _, err = run_cli("compare", str(s1), str(s1), "-m", "sar2optical", "-o", str(tmp_path))
    assert code == 2 and "the target file must hold the real target" in err
