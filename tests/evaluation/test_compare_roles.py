"""`compare IN TARGET` scores the model's output against the band the target file states (issue
69): a target whose band is described as another band is refused in one line, an undescribed
one-band target is taken as the real band; no raw rasterio warning reaches the user."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from conftest import SAMPLE

DATE = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"  # R, G, B, NIR, described


def _split(tmp_path, describe: str | None = None, bands=(4,)) -> tuple:
    """The sample's RGB and its ``bands`` as a second file (described as ``describe``)."""
    with rasterio.open(DATE) as src:
        prof, data = src.profile, src.read()
    rgb, target = tmp_path / "rgb.tif", tmp_path / "target.tif"
    with rasterio.open(rgb, "w", **(prof | {"count": 3})) as dst:
        dst.write(data[:3])
    with rasterio.open(target, "w", **(prof | {"count": len(bands)})) as dst:
        dst.write(data[[b - 1 for b in bands]])
        for i in range(len(bands)):
            dst.set_band_description(i + 1, describe or "")
    return rgb, target


def test_a_target_described_as_another_band_is_refused(run_cli, tmp_path):
    rgb, red = _split(tmp_path, "red", bands=(1,))  # the red band, said so: no real NIR to score
    out = tmp_path / "out"
    code, stdout, err = run_cli("compare", str(rgb), str(red), "-m", "rgb2nir-naip", "-o", str(out))
    assert code == 2, stdout[-600:]
    assert err.strip().count("\n") == 0 and "Traceback" not in err, err
    assert f"{red}: its band 1 is described as red, but rgb2nir-naip makes nir" in err, err
    assert not out.exists()
    # three bands described R, G, B: refused by role as before
    (tmp_path / "three").mkdir()
    rgb3, target3 = _split(tmp_path / "three", bands=(1, 2, 3))
    code, _, err = run_cli("compare", str(rgb3), str(target3), "-m", "rgb2nir-naip", "-o", str(out))
    assert code == 2 and "the target file must hold the real target band (nir)" in err, err
    assert not out.exists()


def printed(stdout: str) -> dict[str, list[float]]:
    """compare's metric rows: ``{metric: [model, linear]}``."""
    rows = [ln.split() for ln in stdout.splitlines() if ln.startswith("  ")]
    return {r[0]: [float(v) for v in r[1:]] for r in rows if len(r) > 1 and r[0] != "metric"
            and r[1][0] in "-0123456789"}


def test_an_undescribed_or_nir_target_is_scored(run_cli, tmp_path):
    """The printed MAE and RMSE are those of the written synthetic band against the target file's
    band, computed here by hand (DN; the sample has no nodata pixel)."""
    with rasterio.open(DATE) as src:
        nir = src.read(4).astype(np.float64)
    for describe in (None, "nir"):
        d = tmp_path / str(describe)
        d.mkdir()
        rgb, target = _split(d, describe)
        code, stdout, err = run_cli("compare", str(rgb), str(target), "-m", "rgb2nir-naip", "-o", str(d / "out"))
        assert code == 0, err
        with rasterio.open(d / "out" / "rgb_synthetic.tif") as f:
            synth = f.read(1).astype(np.float64)
        got = printed(stdout)
        assert got["mae"][0] == pytest.approx(np.abs(synth - nir).mean(), abs=1e-3), got
        assert got["rmse"][0] == pytest.approx(np.sqrt(((synth - nir) ** 2).mean()), abs=1e-3), got


def test_a_jpeg_pair_prints_no_rasterio_warning(run_cli, tmp_path, monkeypatch):
    """No NotGeoreferencedWarning reaches the user, not even from a read without its own filter
    (a raw ``rasterio.open`` stands in for one): the command filters it for the whole process
    (cli/app.main); what the pair lacks is said in the route's plain words."""
    with rasterio.open(DATE) as src:
        data = src.read()
    jpeg = dict(driver="JPEG", height=data.shape[1], width=data.shape[2], dtype="uint8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tmp_path / "rgb.jpg", "w", count=3, **jpeg) as dst:
            dst.write(data[:3])
        with rasterio.open(tmp_path / "nir.jpg", "w", count=1, **jpeg) as dst:
            dst.write(data[3:])
    monkeypatch.setattr("bandbridge.evaluation.compare.open_raster", rasterio.open)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        code, stdout, err = run_cli("compare", str(tmp_path / "rgb.jpg"), str(tmp_path / "nir.jpg"),
                                    "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert "Warning" not in err and not [w for w in said if w.category is NotGeoreferencedWarning], \
        [str(w.message) for w in said]
    assert "no georeference: a photo" in stdout  # what the pair lacks, said once in plain words
    assert np.isfinite(float(next(ln.split()[1] for ln in stdout.splitlines() if ln.split()[:1] == ["mae"])))
