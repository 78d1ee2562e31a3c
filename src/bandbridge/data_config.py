"""What a run reads, as configuration: band selections, sources and how each is split, the
radiometric augmentation and degradation of the inputs, and the data loader's sizes
(``Config.data``; config.py holds the rest and re-exports these)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    """A config section that refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class BandSel(Strict):
    """Which bands of a file feed one side of a pair, and how their values are scaled."""

    bands: list[str | int] | None = None  # names ('B04', 'red') or 0-based indices; None = all
    scaling: str = "uint8"
    vmin: float | None = None  # for 'minmax' (required) and 'sar_db' (clip range, optional)
    vmax: float | None = None
    sensor: str | None = None  # names the file's bands when it has no descriptions
    band_names: list[str] | None = None


class SplitSpec(Strict):
    """How a source's items are assigned to splits: never two crops of one item in two splits.

    Id patterns (glob or substring) per split, a split JSON file ``{"train": [ids], ...}``, or
    fractions dealt by group, the group being ``groups_file`` (a CSV with columns ``file`` and
    ``group``), else ``group`` (a regex whose first group names the scene/site/sequence), else
    ``frame_blocks`` runs of consecutive frame numbers per prefix (0: each item its own group),
    else (None) the groups of near-copies found in names, images and footprints
    (data/found_groups.py). Unlisted items go to ``default``. Or ``regions``: each item goes to
    every named split with that band of its rows (or columns, ``region_axis``), e.g.
    ``{train: [0, 0.6], val: [0.6, 0.75], test: [0.75, 1]}``.
    """

    train: list[str] = []
    val: list[str] = []
    test: list[str] = []
    val_fraction: float = Field(0.0, ge=0, le=1)
    test_fraction: float = Field(0.0, ge=0, le=1)
    group: str | None = None
    groups_file: str | None = None
    frame_blocks: int | None = Field(None, ge=0)
    file: str | None = None
    default: Literal["train", "val", "test", "skip"] = "train"
    regions: dict[Literal["train", "val", "test"], tuple[float, float]] = {}
    region_axis: Literal["rows", "cols"] = "rows"  # checked by data/items.py: check_regions

    @field_validator("group")
    @classmethod
    def _a_regex(cls, v: str | None) -> str | None:
        import re
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a regular expression ({e}); e.g. '^([a-z]+)_' names the group by a prefix") from None
        return v


class Source(Strict):
    """One dataset: files and how to pair them.

    layout 'multiband': each file (glob ``files``; ``x.npy[*]`` expands a 4-D stack's scenes; a folder
    of single-band files counts as one raster) holds both input and target bands.
    layout 'paired': input and target are separate files in ``input_dir``/``target_dir`` matched by
    ``pair_key`` (a regex whose first group is the shared id; default: the file stem). A directory
    containing ``{split}`` (pix2pix ``train_A``/``train_B``) takes the split from the folder.
    Or ``pairs: [[input file, target file], …]`` lists them one by one.
    layout 'hr': high-resolution images only (``files``, globs), for super-resolution: the input is
    made from the target by ``data/degrade.py`` (MATLAB bicubic ↓scale, rounded to 8 bits), per
    random crop in training (with ``data.degrade``'s optional blur/noise/JPEG) and once per image,
    cropped to a multiple of the scale, for validation and evaluation.
    layout 'datacube': NetCDF/Zarr time series (data/cube.py), one item per usable time step
    (id ``<cube path>@<date>``): ``files`` (cubes with input and target bands) or
    ``input_files``/``target_files`` paired by ``pair_key`` and dates within ``pair_days``;
    ``min_clear``, ``cloud_mask: SCL`` and ``cloud_mask_file`` decide which steps and pixels
    count — data/cube.py says how.
    layout 'unpaired' (``model.kind: cyclegan``): the input images (``input_dir`` + ``input_glob``,
    or globs ``input_files``) and the target images (``target_dir``/``target_glob`` or
    ``target_files``) are listed and read apart, each side with its own bands and scaling; no file
    is matched to another. Each file goes to a split by its stem, as a pair would.
    """

    name: str = ""
    layout: Literal["multiband", "paired", "datacube", "hr", "unpaired"] = "multiband"

    @field_validator("name")
    @classmethod
    def _a_plain_name(cls, v: str) -> str:
        if any(c in v for c in "/\\\0") or ".." in v or v.startswith((".", "~")):
            raise ValueError(f"{v!r}: a source's name names its runs and folds, never a path; give a "
                             "plain name (no '/', '\\', '..', nor a leading '.' or '~')")
        return v
    files: list[str] = []
    input_files: list[str] = []  # datacube: input cubes (globs), paired with target_files
    target_files: list[str] = []
    cloud_mask: Literal["SCL"] | None = None  # datacube: mask/skip non-clear pixels by S2 SCL
    cloud_mask_file: str | None = None  # datacube: glob of the cube holding SCL, beside the target
    min_clear: float = Field(0.9, ge=0, le=1)  # datacube: least usable fraction of a time step
    pair_days: float = Field(3.0, ge=0)  # datacube: most days between input and target dates
    input_dir: str | None = None
    target_dir: str | None = None
    input_glob: str = "*"
    target_glob: str = "*"
    pair_key: str | None = None
    pairs: list[tuple[str, str]] = []  # paired: explicit (input file, target file) pairs
    input: BandSel
    target: BandSel
    split: SplitSpec = SplitSpec()
    sensor_name: str = ""  # free text for reports and sensor conditioning
    gsd: float | None = None  # metres per pixel
    locations: str | None = None  # CSV (id,lat,lon) or JSON for files without a georeference
    weight: float = Field(1.0, gt=0)


class AugmentConfig(Strict):
    """Radiometric training augmentation (see radiometry.py; ranges in model values). Off by
    default; the translation presets turn it on."""

    gain: float = Field(0.0, ge=0, lt=1)  # per input band ×U(1 − gain, 1 + gain)
    haze: tuple[float, float] = (0.0, 0.0)  # additive U(lo, hi) at blue, λ⁻⁴ profile, in and out
    gamma: float = Field(0.0, ge=0, le=1)  # ln γ ~ U(−gamma, gamma) on the input
    # one factor for all input bands, log-uniform in [lo, hi] (night, over-exposure); the target
    # stays: thermal does not depend on the light
    exposure: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (1.0, 1.0)
    noise: float = Field(0.0, ge=0, le=0.2)  # Gaussian σ on the input
    quantize: float = Field(0.0, ge=0, le=1)  # probability of 8-bit rounding of the input

    @property
    def active(self) -> bool:
        return bool(self.gain or self.haze[1] > self.haze[0] or self.gamma or self.noise
                    or self.quantize or self.exposure[1] > self.exposure[0])


class DegradeConfig(Strict):
    """Real-world degradations of the on-the-fly super-resolution input (layout 'hr'), each
    applied with probability ``p`` per crop; ranges are U(lo, hi). Off by default (the
    PSNR-oriented recipes use pure bicubic, as the benchmarks do)."""

    blur: tuple[float, float] = (0.0, 0.0)  # Gaussian σ in HR pixels, before downscaling
    noise: tuple[float, float] = (0.0, 0.0)  # Gaussian σ in [0, 1] units, after downscaling
    jpeg: tuple[float, float] = (0.0, 0.0)  # JPEG quality (e.g. [30, 95]), 1- or 3-band inputs
    p: float = Field(0.5, ge=0, le=1)


class DataConfig(Strict):
    root: str = "../shared/data"
    sources: list[Source] = []
    patch_size: int = Field(256, ge=16)
    batch_size: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    samples_per_epoch: int = Field(200, ge=1)
    max_eval_tiles: int = Field(64, ge=1)
    flip: bool = True
    rot90: bool = True
    resample: list[Annotated[int, Field(ge=1)]] = Field([1], min_length=1)  # GSD factors per crop
    augment: AugmentConfig = AugmentConfig()
    degrade: DegradeConfig = DegradeConfig()

    @field_validator("sources")
    @classmethod
    def _one_name_each(cls, v: list[Source]) -> list[Source]:
        names = [s.name for s in v if s.name]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"two sources named {twice[0]!r}: leave-one-source-out holds a source out by its "
                             "name, so two under one name would be merged; give each its own name")
        return v
