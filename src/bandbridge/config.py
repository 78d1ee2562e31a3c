"""Configuration: pydantic models, YAML presets with inheritance, dotted ``key=value`` overrides.
A run's resolved config is written beside its checkpoints and in every bundle: a model file
always says how it was made and how to feed it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bandbridge.errors import BandbridgeError
from bandbridge.overrides import apply_overrides, deep_merge  # apply_overrides: re-exported
from bandbridge.presets import expand_sources, load_yaml, preset_dict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class BandSel(_Strict):
    """Which bands of a file feed one side of a pair, and how their values are scaled."""

    bands: list[str | int] | None = None  # names ('B04', 'red') or 0-based indices; None = all
    scaling: str = "uint8"
    vmin: float | None = None  # for 'minmax' (required) and 'sar_db' (clip range, optional)
    vmax: float | None = None
    sensor: str | None = None  # names the file's bands when it has no descriptions
    band_names: list[str] | None = None


class SplitSpec(_Strict):
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


class Source(_Strict):
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


class AugmentConfig(_Strict):
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


class DegradeConfig(_Strict):
    """Real-world degradations of the on-the-fly super-resolution input (layout 'hr'), each
    applied with probability ``p`` per crop; ranges are U(lo, hi). Off by default (the
    PSNR-oriented recipes use pure bicubic, as the benchmarks do)."""

    blur: tuple[float, float] = (0.0, 0.0)  # Gaussian σ in HR pixels, before downscaling
    noise: tuple[float, float] = (0.0, 0.0)  # Gaussian σ in [0, 1] units, after downscaling
    jpeg: tuple[float, float] = (0.0, 0.0)  # JPEG quality (e.g. [30, 95]), 1- or 3-band inputs
    p: float = Field(0.5, ge=0, le=1)


class DataConfig(_Strict):
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


class NetConfig(_Strict):
    name: str
    args: dict[str, Any] = {}  # the network's constructor arguments, as the YAML writes them


class GeneratorConfig(NetConfig):
    """A generator. The arguments that runs, adapt and the saved model read or set are typed
    here; :meth:`with_args` sets them (the YAML keeps its one ``args`` mapping)."""

    @property
    def anchor(self) -> bool | str | dict | None:
        """The anchor the residual is added to: ``true`` (the linear map), ``learner`` (the core's
        choice, fitted at the start), a ridge's ``{"windows": …}``, a fitted learner or blend; falsy: none."""
        return self.args.get("anchor")

    @property
    def guard(self) -> dict | bool | None:
        """The never-worse guard: the training statistics' range, ``False`` (off) or None (unset)."""
        return self.args.get("guard")

    @property
    def depth(self) -> int:
        """A U-Net's downsamplings (inputs are padded to a multiple of 2**depth)."""
        return int(self.args.get("depth", 8))

    @property
    def learner(self) -> bool:
        """Whether the anchor is the learner chosen at the start of training (``anchor: learner``)."""
        return self.anchor == "learner"

    def with_args(self, **args: Any) -> GeneratorConfig:
        return self.model_copy(update={"args": {**self.args, **args}})


class ModelConfig(_Strict):
    # conditional: one generator and critic on registered pairs (training/paired.py); cyclegan: two of
    # each on unpaired images (training/cyclegan.py), the A→B generator bundled as any other
    kind: Literal["conditional", "cyclegan"] = "conditional"
    generator: GeneratorConfig = GeneratorConfig(name="unet")
    critic: NetConfig = NetConfig(name="patchgan")


class LossConfig(_Strict):
    adversarial: Literal["vanilla", "lsgan", "hinge", "wgan-gp"] = "wgan-gp"
    lambda_adv: float = Field(1.0, ge=0)
    lambda_l1: float = Field(100.0, ge=0)
    lambda_gp: float = Field(10.0, ge=0)
    n_critic: int | None = Field(None, ge=1)  # None: 5 for wgan-gp, 1 otherwise
    lambda_emd: float = Field(0.0, ge=0)  # histogram Earth Mover's distance (losses/spectral.py)
    emd_bins: int = Field(64, ge=8)
    lambda_index: float = Field(0.0, ge=0)  # L1 on spectral indices (NIR targets)
    indices: list[Literal["ndvi", "ndwi", "evi"]] = ["ndvi", "ndwi", "evi"]
    lambda_cycle: float = Field(10.0, ge=0)  # cyclegan: ‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁
    lambda_identity: float = Field(5.0, ge=0)  # cyclegan: ‖G(y) − y‖₁ + ‖F(x) − x‖₁ (½ λ_cycle)
    pool_size: int = Field(50, ge=0)  # cyclegan: past fakes the critics draw from (0 = none)

    @property
    def critic_steps(self) -> int:
        return self.n_critic or (5 if self.adversarial == "wgan-gp" else 1)


class ScheduleConfig(_Strict):
    kind: Literal["constant", "linear", "plateau", "cosine"] = "linear"
    n_epochs: int = Field(100, ge=0)  # linear: epochs at the initial LR ...; cosine: its period
    n_epochs_decay: int = Field(100, ge=0)  # ... then linear decay to 0 over these
    patience: int = Field(5, ge=0)  # plateau
    factor: float = Field(0.5, gt=0, lt=1)


class OptimConfig(_Strict):
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    betas: tuple[float, float] | None = None  # None: (0, 0.9) for wgan-gp, (0.5, 0.999) otherwise
    schedule: ScheduleConfig = ScheduleConfig()


class TrainConfig(_Strict):
    max_epochs: int = Field(200, ge=1)
    max_steps: int = -1  # generator+critic iterations (batches); -1 = no limit
    max_minutes: float | None = Field(None, gt=0)  # wall-clock bound of fit (Lightning max_time)
    seed: int = 0
    precision: Literal["32", "bf16-mixed", "auto"] = "32"
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    monitor: str = "val/psnr"
    monitor_mode: Literal["min", "max"] = "max"
    # What an anchored run's validation is scored apart by, `best` being the epoch whose worst
    # one gained most: two or more validation sources always; with one source, `group` takes its
    # split's groups (scenes, sites, sequences, categories) when it has two or more, `source`
    # keeps `monitor` (workflows/groups.py; the README measures both).
    group_by: Literal["source", "group"] = "source"
    # After fit, the learner-selection core's choice competes with the network for model/best
    # on the validation split (workflows/learner_best.py); its search is bounded by these
    # minutes (the constant and linear map always run). 0 = no learner candidate.
    learner_minutes: float = Field(2.0, ge=0)
    # False: when validation cannot see other scenes, model/best is the constant or linear map
    within_scene: bool = False
    log_every_n_steps: int = Field(10, ge=1)
    val_every_n_epochs: int = Field(1, ge=1)
    image_samples: int = Field(4, ge=0)
    keep_checkpoints: int = Field(-1, ge=-1)  # per-epoch checkpoints kept (newest); -1 = all
    threads: int | None = None

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_str(cls, v):
        return str(v)  # YAML reads `32` as an int


class TaskConfig(_Strict):
    kind: Literal["translation", "super_resolution"] = "translation"
    scale: int = Field(1, ge=1, le=8)


class InferenceConfig(_Strict):
    tile: int = Field(256, ge=16)
    overlap: int = Field(32, ge=0)


class Config(_Strict):
    # one path component: it names folders and files under --runs and -o, never `../x` or `/abs`
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
    description: str = ""
    task: TaskConfig = TaskConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    inference: InferenceConfig = InferenceConfig()

    @model_validator(mode="after")
    def _check(self) -> "Config":
        norm = self.model.critic.args.get("norm", "instance")
        if self.loss.adversarial == "wgan-gp" and norm == "batch":
            raise ValueError("model.critic.args.norm=batch cannot be used with wgan-gp: the "
                             "gradient penalty is per sample; use 'instance', 'layer' or 'none'")
        if self.task.kind == "super_resolution" and self.task.scale < 2:
            raise ValueError("task.scale must be >= 2 for super_resolution")
        if self.data.patch_size % max(self.task.scale, 1):
            raise ValueError("data.patch_size must be a multiple of task.scale")
        if self.model.kind == "cyclegan":
            _check_cyclegan(self)
        elif any(s.layout == "unpaired" for s in self.data.sources):
            raise ValueError("data.sources: layout 'unpaired' has no pairs to train a conditional "
                             "GAN on; set model.kind=cyclegan")
        return self

    @property
    def sensors(self) -> list[str]:
        """Sensor names of the generator's sensor/GSD conditioning (index = embedding row)."""
        return list((self.model.generator.args.get("conditioning") or {}).get("sensors") or [])

    @property
    def betas(self) -> tuple[float, float]:
        if self.optim.betas is not None:
            return tuple(self.optim.betas)
        return (0.0, 0.9) if self.loss.adversarial == "wgan-gp" else (0.5, 0.999)


def _check_cyclegan(cfg: Config) -> None:
    """What a CycleGAN cannot use: an anchor (a least-squares fit on pairs), super-resolution,
    and the paired losses (L1 against a registered target, EMD, spectral indices)."""
    lc = cfg.loss
    if cfg.model.generator.anchor:
        raise ValueError("model.generator.args.anchor: the anchor is a fit on registered pairs, "
                         "which cyclegan has not; set it to false")
    if cfg.task.kind != "translation" or cfg.task.scale != 1:
        raise ValueError("model.kind cyclegan translates on one grid (task.kind=translation, "
                         "task.scale=1); it does not super-resolve")
    paired = [k for k in ("lambda_l1", "lambda_emd", "lambda_index") if getattr(lc, k)]
    if paired:
        raise ValueError(f"loss.{paired[0]} needs registered pairs, which cyclegan has not; "
                         "set it to 0")


def build_config(d: dict) -> Config:
    """Validate a config dict; errors name the key and the problem."""
    try:
        return Config.model_validate(expand_sources(copy.deepcopy(d)))
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith(("function-",)))
            kind = err["type"]
            hint = "unknown key (check spelling; `bandbridge presets` shows valid presets)" \
                if kind == "extra_forbidden" else err["msg"]
            msgs.append(f"{loc}: {hint}")
        raise BandbridgeError("invalid config: " + "; ".join(msgs)) from None


def load_config(preset: str | None = None, config_file: str | None = None,
                overrides: list[str] | None = None, data_root: str | None = None) -> Config:
    """Resolve preset → config file → ``--data`` → ``--set`` overrides into a validated Config."""
    d: dict = preset_dict(preset) if preset else {}
    if preset:
        d["name"] = preset
    if config_file:
        f = load_yaml(Path(config_file), "config")
        f.setdefault("name", d.get("name", Path(config_file).stem))
        base = f.pop("base", None)
        if base:
            d = deep_merge(d or preset_dict(base), f)
        else:
            d = deep_merge(d, f)
    if not d:
        raise BandbridgeError("give --preset NAME or --config FILE.yaml "
                              "(`bandbridge presets` lists the presets)")
    d = expand_sources(d)  # so that overrides can reach into sources: data.sources.0.input...
    if data_root:
        d = apply_overrides(d, [f"data.root={data_root}"])
    d = apply_overrides(d, overrides or [])
    return build_config(d)


def config_to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
