"""Issue 77: "a reference whose values cannot be the band (… another physical quantity) must be
refused, with the line saying why". A thermal band in kelvin given as the NIR reference is refused
in one line naming the flag, the cause and the fix, exit 2, nothing written; the references that
are the band in other units (float DN, 0–1 reflectance, a ×1000 reflectance whose scale the file
states) pass. Tiny rasters made here: no shared data."""

from __future__ import annotations

import numpy as np
import pytest

from bandbridge.errors import BandbridgeError
from tests.inference.test_reference_cases import _field, _k4, _plan, _rgb


def _kelvin() -> np.ndarray:
    """A summer field's brightness temperature: 296–312 K, warmer where the NIR field is darker."""
    return 312.0 - 80.0 * (_field() - 0.2)


def test_a_nir_reference_in_kelvin_is_refused_naming_the_cause_and_the_fix(run_cli, tmp_path):
    rgb = _rgb(tmp_path / "in.tif", 256, 256)
    ref = _k4(tmp_path, "lst.tif", _kelvin())
    out = tmp_path / "o.tif"
    code, _, err = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(ref), "-o", str(out))
    assert code == 2 and err.strip().count("\n") == 0 and "Traceback" not in err, err
    text = " ".join(err.split())
    assert text.startswith(f"error: --reference {ref}: its nir values over the input read as a temperature in "
                           "kelvin, not a nir band ("), text
    assert text.endswith("give the nir band itself, not a thermal one; if it is the nir band in other units "
                         "(reflectance ×1000), write its scale into the file: gdal_edit.py -scale 0.001 lst.tif"), text
    assert not out.exists() and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("case", ["reflectance 0-1", "float DN", "bright float DN", "uint16 DN", "x1000 uint16",
                                  "x1000 with its scale tag"])
def test_the_band_in_other_units_is_accepted(tmp_path, case):
    """The same field as 0–1 reflectance, as 8-bit DN written as float32 (as tests here write DN;
    bright ground at 8 bits reads 170–255, the numbers of a temperature), as Sentinel-2's ×10000 in
    uint16, and as a dense field's ×1000 reflectance (280–340 stored: a temperature's numbers) in
    uint16, an integer code, and in float with its scale stated: each is planned, none refused."""
    import rasterio
    v = _field()
    rgb = _rgb(tmp_path / "in.tif", 256, 256)
    if case == "reflectance 0-1":
        ref = _k4(tmp_path, "nir.tif", v)
    elif case == "float DN":
        ref = _k4(tmp_path, "nir.tif", np.round(v * 400))  # 80–160 DN
    elif case == "bright float DN":
        ref = _k4(tmp_path, "nir.tif", np.round(190 + (v - 0.2) * 300))  # 190–250 DN
    elif case == "uint16 DN":
        ref = _k4(tmp_path, "nir.tif", v * 10000, dtype="uint16")
    elif case == "x1000 uint16":
        ref = _k4(tmp_path, "nir.tif", 280 + (v - 0.2) * 300, dtype="uint16")
    else:
        ref = _k4(tmp_path, "nir.tif", 280 + (v - 0.2) * 300)
        with rasterio.open(ref, "r+") as f:
            f.scales = (0.001,)
    plan, _ = _plan(rgb, ref, tmp_path / "o.tif")
    assert plan.references[0].ref.names == ["NIR"] and plan.references[0].ref.clear_cells > 0


def test_the_same_x1000_field_in_float_without_its_scale_is_refused_and_a_thermal_reference_is_not():
    """The ×1000 field above in float without its scale reads as kelvin (the line's fix says how to
    state it), in uint16 it is an integer code and not judged; the kelvin field named as a thermal
    band is that band."""
    from bandbridge.data.reference import check_quantity, looks_like_kelvin
    dense = 280 + (_field() - 0.2) * 300
    assert looks_like_kelvin(dense) and looks_like_kelvin(_kelvin())
    with pytest.raises(BandbridgeError, match=r"^--reference f.tif: its nir values over the input read as a "
                                              r"temperature in kelvin"):
        check_quantity(dense.ravel(), "nir", "--reference f.tif", "f.tif")
    check_quantity(dense.ravel(), "nir", "--reference f.tif", "f.tif", physical=False)  # an integer code
    check_quantity(_kelvin().ravel(), "thermal", "--reference f.tif")  # a temperature is the thermal band
    check_quantity(_kelvin().ravel(), "other", "--reference f.tif")  # an unknown role may be anything
    assert not looks_like_kelvin(_field() * 1000)  # a field of 200–400 spans more than a temperature
    assert not looks_like_kelvin(190 + (_field() - 0.2) * 300)  # 8 bits: 190–250
    assert not looks_like_kelvin(np.array([300.0]))
