"""Bands, sensors and scalings: the one place that knows what stored values mean.

Every raster the tool reads goes through a :class:`Scaling` that maps stored values (DN, dB, ...)
to float32 *model values* in a stated range, and back again for writing. Spectral indices find
their bands by *role* (red, nir, ...), never by position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from bandbridge.errors import BandbridgeError

# Known band names → role. Sentinel-2, Landsat-8/9 (as 'L8_Bn'), NAIP/aerial generic names, SAR.
_ROLE_BY_NAME: dict[str, str] = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge",
    "B06": "rededge", "B07": "rededge", "B08": "nir", "B8A": "nir", "B09": "vapour",
    "B10": "cirrus", "B11": "swir", "B12": "swir",
    "RED": "red", "R": "red", "GREEN": "green", "G": "green", "BLUE": "blue", "B": "blue",
    "NIR": "nir", "N": "nir", "VV": "vv", "VH": "vh", "HH": "hh", "HV": "hv",
    "THERMAL": "thermal", "TIR": "thermal", "LWIR": "thermal", "T": "thermal",
    "GRAY": "gray", "GREY": "gray", "L": "gray", "Y": "gray",
}


def canonical_band_name(name: str) -> str:
    """Upper-case and zero-pad Sentinel-2 style names: 'b2' → 'B02', 'b8a' → 'B8A'."""
    n = str(name).strip().upper()
    m = re.fullmatch(r"B(\d)", n)
    return f"B0{m.group(1)}" if m else n


# Words products write in band descriptions ('B02 blue', 'Band 4 - Red', 'Red Edge 1', 'NIR_narrow',
# 'SWIR 2', 'Coastal aerosol'), matched on the lower-cased name with separators as single spaces.
# Order matters: 'red edge' before 'red', 'near infrared' before anything with 'red'.
_ROLE_WORDS: tuple[tuple[str, str], ...] = (
    (r"red ?edge|\bre\d?\b|\bvre\d?\b", "rededge"),
    (r"near ?infra ?red|\bnir\d*\b|\bnir ?narrow\b|\bnnir\b", "nir"),
    (r"short ?wave|\bswir\d*\b", "swir"),
    (r"\b(?:lwir|tirs?\d*|thermal)\b", "thermal"),
    (r"\b(?:coastal|aerosol|ultra ?blue)\b", "coastal"),
    (r"\bwater ?vapou?r\b|\bvapou?r\b", "vapour"),
    (r"\bcirrus\b", "cirrus"),
    (r"\bred\b", "red"), (r"\bgreen\b", "green"), (r"\bblue\b", "blue"),
    (r"\b(?:gray|grey)\b", "gray"),
    (r"\bvv\b", "vv"), (r"\bvh\b", "vh"), (r"\bhh\b", "hh"), (r"\bhv\b", "hv"),
)
# Landsat Collection 2 names (SR_B5, ST_B10): the band number means another colour per mission
# (B4 is NIR on Landsat 4–7, red on 8–9), so they give no role by themselves.
_AMBIGUOUS_CODE = re.compile(r"\b(?:sr|st|toa) b\d+\b")


def band_role(name: str) -> str:
    """The role of a band from its name or description as products write it: a known name
    ('B04', 'NIR', 'VV'), a colour word anywhere in it ('B02 blue', 'Band 4 (Red)', 'Red Edge 1',
    'near infrared'), or a Sentinel-2 band code inside it ('S2_B8A'); 'other' when none applies."""
    known = _ROLE_BY_NAME.get(canonical_band_name(name))
    if known:
        return known
    text = " ".join(re.split(r"[^a-z0-9]+", str(name).lower())).strip()
    for pattern, role in _ROLE_WORDS:
        if re.search(pattern, text):
            return role
    if _AMBIGUOUS_CODE.search(text):
        return "other"
    for token in text.split():
        role = _ROLE_BY_NAME.get(canonical_band_name(token))
        if role and re.fullmatch(r"b\d{1,2}a?", token):
            return role
    return "other"


# Band names of whole files of known sensors, in file order (used when a file carries no
# band descriptions). Users name a sensor in the source config: `sensor: naip`.
SENSOR_BANDS: dict[str, list[str]] = {
    "naip": ["red", "green", "blue", "nir"],
    "rgb": ["red", "green", "blue"],
    "gray": ["gray"],
    "thermal": ["thermal"],
    "s2_l1c": ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
               "B11", "B12"],
    "s2_l2a_12": ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09",
                  "B11", "B12"],
    "s2_rgbn": ["B02", "B03", "B04", "B08"],
    "s1": ["VV", "VH"],
}

# Band folders whose files end in a sensor's band number (``LC08_…_B5.TIF``): the suffix → band.
FOLDER_BANDS: dict[str, dict[str, str]] = {
    "landsat8": {"B1": "coastal", "B2": "blue", "B3": "green", "B4": "red", "B5": "nir",
                 "PIXEL": "QA_PIXEL"},  # Collection 2's QA band masks non-clear pixels
    "modis": {"B01": "red", "B02": "nir", "B03": "blue", "B04": "green"},  # MCD43A4/MOD09 order
    "cbers_mux": {"BAND5": "blue", "BAND6": "green", "BAND7": "red", "BAND8": "nir"},
    "cbers_wfi": {"BAND13": "blue", "BAND14": "green", "BAND15": "red", "BAND16": "nir"},
    "cbers_wpm": {"BAND0": "pan", "BAND1": "blue", "BAND2": "green", "BAND3": "red", "BAND4": "nir"},
}


@dataclass(frozen=True)
class Scaling:
    """An invertible map from stored values to float32 model values.

    ``encode(raw) -> model`` and ``decode(model) -> raw`` are affine after an optional clip;
    ``lo``/``hi`` is the model-value range (the generator's output is squashed into it).
    ``zero_is_nodata`` marks sources where a stored 0 means "no data" (Sentinel-2 DN).
    """

    name: str
    offset: float  # raw value that maps to lo
    scale: float  # raw units per model unit
    lo: float = 0.0
    hi: float = 1.0
    clip: tuple[float, float] | None = None  # clip in raw units before scaling
    zero_is_nodata: bool = False
    units: str = ""
    raw_dtype: str = "float32"
    doc: str = field(default="", compare=False)

    def encode(self, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Stored → model values; ``out`` (float32, may be ``raw``) avoids copies."""
        x = raw.astype(np.float32, copy=False)
        out = np.empty_like(x, dtype=np.float32) if out is None else out
        if self.clip is not None:
            np.clip(x, *self.clip, out=out)
        elif out is not x:
            out[...] = x
        out -= self.offset
        out /= self.scale
        return out

    def decode(self, model: np.ndarray) -> np.ndarray:
        return (np.asarray(model, np.float32) * self.scale + self.offset).astype(np.float32)

    @property
    def physical(self) -> tuple[float, float, str]:
        """``(scale, offset, units)`` of the physical values metrics are reported in:
        reflectance for reflectance scalings, stored units (DN, dB) otherwise. The data range
        of a metric is ``scale``."""
        if self.name.startswith("reflectance") or self.name.startswith("landsat"):
            return 1.0, 0.0, "reflectance"
        return self.scale, self.offset, self.units


SCALINGS: dict[str, Scaling] = {
    "reflectance_10000": Scaling(
        "reflectance_10000", 0.0, 10000.0, clip=(0.0, 10000.0), zero_is_nodata=True,
        units="surface/TOA reflectance", raw_dtype="uint16",
        doc="Sentinel-2/Landsat DN = reflectance × 10000; 0 is nodata; clipped to [0, 1]."),
    "reflectance_1000": Scaling(
        "reflectance_1000", 0.0, 1000.0, clip=(0.0, 1000.0), zero_is_nodata=True,
        units="surface reflectance", raw_dtype="uint16",
        doc="ARCSI (rsgislib) DN = reflectance × 1000; 0 is nodata; clipped to [0, 1]."),
    "landsat_c2": Scaling(
        "landsat_c2", 0.2 / 2.75e-5, 1 / 2.75e-5, clip=(0.2 / 2.75e-5, 1.2 / 2.75e-5),
        zero_is_nodata=True, units="surface reflectance", raw_dtype="uint16",
        doc="Landsat Collection 2 Level-2 surface reflectance: DN × 2.75e-5 − 0.2; 0 = nodata."),
    "reflectance_10000_offset": Scaling(
        "reflectance_10000_offset", 1000.0, 10000.0, clip=(1000.0, 11000.0), zero_is_nodata=True,
        units="surface/TOA reflectance", raw_dtype="uint16",
        doc="Sentinel-2 from processing baseline 04.00 (L1C and L2A since 25 January 2022): "
            "reflectance = DN × 0.0001 − 0.1 (the products' ADD_OFFSET −1000, the GeoTIFF's scale "
            "0.0001 and offset −0.1); 0 is nodata; clipped to [0, 1]."),
    "reflectance": Scaling(
        "reflectance", 0.0, 1.0, clip=(0.0, 1.0), units="reflectance", raw_dtype="float32",
        doc="Values already in reflectance units [0, 1] (e.g. eo-learn arrays); clipped."),
    "landsat_l1_toa": Scaling(
        "landsat_l1_toa", 0.1 / 2e-5, 1 / 2e-5, clip=(0.1 / 2e-5, 1.1 / 2e-5), zero_is_nodata=True,
        units="TOA reflectance", raw_dtype="uint16",
        doc="Landsat 8/9 Level-1 DN: TOA reflectance = DN × 2e-5 − 0.1 (MTL; no sun-angle "
            "correction); 0 = fill."),
    "uint8": Scaling("uint8", 0.0, 255.0, clip=(0.0, 255.0), units="DN (8-bit)", raw_dtype="uint8",
                     doc="8-bit imagery (NAIP, PNG/JPEG): DN / 255."),
    "uint16": Scaling("uint16", 0.0, 65535.0, clip=(0.0, 65535.0), units="DN (16-bit)",
                      raw_dtype="uint16", doc="16-bit imagery: DN / 65535."),
    "sar_db": Scaling(
        "sar_db", -30.0, 35.0, clip=(-30.0, 5.0), units="backscatter dB", raw_dtype="float32",
        doc="SAR backscatter in dB, clipped to [-30, +5] dB and mapped linearly to [0, 1]."),
}


@dataclass(frozen=True)
class SarDnScaling(Scaling):
    """SAR backscatter stored as DN with σ0 dB = 20·log10(DN) − 83 (openEO-gfmap/WorldCereal
    compressed uint16): ``encode`` converts to dB, then maps like ``sar_db``; ``decode`` gives DN.
    ``offset``/``scale``/``clip`` are in dB, so :attr:`physical` reports metrics in dB."""

    def encode(self, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        x = raw.astype(np.float32, copy=False)
        out = np.empty_like(x, dtype=np.float32) if out is None else out
        with np.errstate(divide="ignore", invalid="ignore"):
            np.log10(x, out=out)  # DN 0 → −inf, clipped to the dB floor (and masked as nodata)
        out *= 20.0
        out -= 83.0
        return super().encode(out, out=out)

    def decode(self, model: np.ndarray) -> np.ndarray:
        db = super().decode(model)
        return np.power(10.0, (db + 83.0) / 20.0).astype(np.float32)


SCALINGS["sar_db_dn"] = SarDnScaling(
    "sar_db_dn", -30.0, 35.0, clip=(-30.0, 5.0), zero_is_nodata=True, units="backscatter dB",
    raw_dtype="uint16", doc="SAR DN with dB = 20·log10(DN) − 83 (openEO-gfmap); dB clipped to [-30, 5] → "
                            "[0, 1]; DN 0 is nodata.")


def minmax_scaling(vmin: float, vmax: float) -> Scaling:
    """A linear scaling of a stated raw range [vmin, vmax] to [0, 1] (clipped)."""
    if not math.isfinite(vmin) or not math.isfinite(vmax) or vmax <= vmin:
        raise BandbridgeError(f"minmax scaling needs vmin < vmax, got [{vmin}, {vmax}]")
    return Scaling(f"minmax[{vmin},{vmax}]", vmin, vmax - vmin, clip=(vmin, vmax),
                   units=f"linear [{vmin}, {vmax}]", raw_dtype="float32",
                   doc="Linear map of a stated raw range to [0, 1].")


def get_scaling(name: str, vmin: float | None = None, vmax: float | None = None) -> Scaling:
    """Look a scaling up by name; ``minmax`` needs ``vmin``/``vmax``; ``sar_db``/``sar_db_dn``
    accept them (the dB clip range)."""
    if name == "minmax":
        if vmin is None or vmax is None:
            raise BandbridgeError("scaling 'minmax' needs 'vmin' and 'vmax' (raw units)")
        return minmax_scaling(vmin, vmax)
    if name not in SCALINGS:
        raise BandbridgeError(
            f"unknown scaling '{name}'; choose one of {sorted([*SCALINGS, 'minmax'])}")
    s = SCALINGS[name]
    if name in ("sar_db", "sar_db_dn") and (vmin is not None or vmax is not None):
        lo, hi = vmin if vmin is not None else -30.0, vmax if vmax is not None else 5.0
        return replace(s, offset=lo, scale=hi - lo, clip=(lo, hi), doc=f"dB clipped to [{lo}, {hi}]")
    return s


# ---------------------------------------------------------------- spectral indices
EPS = 1e-6


def _safe_ratio(num, den):
    """num/den with the denominator kept away from zero, sign preserved (works on numpy/torch)."""
    sign = (den >= 0) * 2.0 - 1.0
    return num / (sign * (abs(den) + EPS))


def ndvi(red, nir):
    """NDVI = (NIR − red) / (NIR + red); reflectances in [0, 1]."""
    return _safe_ratio(nir - red, nir + red)


def ndwi(green, nir):
    """McFeeters NDWI = (green − NIR) / (green + NIR)."""
    return _safe_ratio(green - nir, green + nir)


def evi(blue, red, nir):
    """EVI = 2.5 (NIR − red) / (NIR + 6 red − 7.5 blue + 1); reflectances in [0, 1]."""
    return 2.5 * _safe_ratio(nir - red, nir + 6.0 * red - 7.5 * blue + 1.0)


INDICES = {"ndvi": (ndvi, ("red", "nir")), "ndwi": (ndwi, ("green", "nir")),
           "evi": (evi, ("blue", "red", "nir"))}


def is_single_nir(bands) -> bool:
    """True when ``bands`` (names) is exactly one NIR band: the targets indices are made for."""
    names = [str(b) for b in (bands or [])]
    return len(names) == 1 and band_role(names[0]) == "nir"


IMAGE_ROLES = ("thermal", "gray")  # targets that are pictures (display brightness), not physics
SAR_ROLES = ("vv", "vh", "hh", "hv")


def judged_by_realism(input_bands, target_bands) -> bool:
    """Whether a translation's output is an image for people and detectors — thermal or grey
    brightness, or optical from SAR — judged by realism beside error (evaluate, compare, loso);
    a physical band (NIR for indices) is judged by error alone. Names, not indices: a band given
    by position (``0``) has no role and is judged by error."""
    ins = [band_role(str(b)) for b in (input_bands or [])]
    outs = [band_role(str(b)) for b in (target_bands or [])]
    return any(r in IMAGE_ROLES for r in outs) or (
        any(r in SAR_ROLES for r in ins) and bool(outs) and not any(r in SAR_ROLES for r in outs))


def find_role(bands: list[str], role: str) -> int | None:
    """Index of the first band with ``role`` in ``bands`` (names), or None."""
    for i, b in enumerate(bands):
        if band_role(b) == role:
            return i
    return None


# What the stored values of a scaling mean: display-referred imagery, reflectance, SAR backscatter
# (input detection refuses feeding one kind to a model of another).
FAMILY = {"uint8": "8-bit imagery", "uint16": "8-bit imagery", "reflectance_10000": "reflectance",
          "reflectance_1000": "reflectance", "reflectance_10000_offset": "reflectance", "reflectance": "reflectance", "sar_db": "SAR backscatter (dB)"}
# Band roles of a file that names none, by its band count (NAIP's order for four).
ROLES_BY_COUNT = {1: ("gray",), 3: ("red", "green", "blue"), 4: ("red", "green", "blue", "nir")}


def same_family(a: str, b: str) -> bool:
    """Whether two scalings read the same kind of values (one file can feed both)."""
    return a == b or (FAMILY.get(a) is not None and FAMILY.get(a) == FAMILY.get(b))


# Processing levels a file's name may state, by the tokens products carry (Sentinel-2 MSIL1C/L1C,
# Landsat Collection L1TP/L1GT/L1GS, "TOA"; MSIL2A/L2A, Landsat L2SP, "BOA", "SR", MODIS NBAR):
# what picks a floor of that level (issue 49). Matched as whole tokens of the name, any case.
LEVEL_TOKENS = {"toa": ("msil1c", "l1c", "l1tp", "l1gt", "l1gs", "toa"),
                "surface": ("msil2a", "l2a", "l2sp", "boa", "sr", "sref", "nbar")}
LEVEL_NAMES = {"toa": "top-of-atmosphere reflectance", "surface": "surface reflectance"}


def level_in_name(name: str) -> tuple[str, str] | None:
    """``(level, token)`` when the file name ``name`` states one processing level (a token of
    :data:`LEVEL_TOKENS`, whole, any case); None when it states none or both."""
    tokens = [t.lower() for t in re.split(r"[^A-Za-z0-9]+", name) if t]
    found = {lv: next((t for t in tokens if t in toks), None) for lv, toks in LEVEL_TOKENS.items()}
    said = {lv: t for lv, t in found.items() if t}
    return next(iter(said.items())) if len(said) == 1 else None


# ---------------------------------------------------------------- cloud masks (one rule a product)
CLEAR_SCL = (4, 5, 6, 11)  # Sentinel-2 scene classes that are clear: vegetation, bare, water, snow
QA_CLOUD_BITS = (1, 2, 3, 4)  # Landsat C2 QA_PIXEL: dilated cloud, cirrus, cloud, cloud shadow
QA_FILL_BIT = 0


def clear(layer, kind: str):
    """Clear pixels of a Sentinel-2 ``SCL`` layer (:data:`CLEAR_SCL`) or a Landsat ``QA_PIXEL``
    one (no fill, cloud, cirrus or shadow bit, :data:`QA_CLOUD_BITS`); NaN is never clear."""
    f = np.asarray(layer, dtype=np.float64)
    v = np.nan_to_num(f).astype(np.int64)
    if kind == "SCL":
        return np.isin(v, CLEAR_SCL)
    bad = sum(1 << b for b in (QA_FILL_BIT, *QA_CLOUD_BITS))
    return ((v & bad) == 0) & np.isfinite(f)  # NaN reads 0, no bit set: not clear all the same
