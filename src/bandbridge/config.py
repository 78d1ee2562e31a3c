"""Configuration: pydantic models, YAML presets with inheritance, dotted ``key=value`` overrides.
A run's resolved config is written beside its checkpoints and in every bundle: a model file
always says how it was made and how to feed it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from bandbridge.errors import BandbridgeError
from bandbridge.overrides import apply_overrides, deep_merge  # apply_overrides: re-exported
from bandbridge.presets import expand_sources, load_yaml, preset_dict


from bandbridge.data_config import (AugmentConfig, BandSel, DataConfig, DegradeConfig,  # noqa: F401
                                    Source, SplitSpec, Strict)


class NetConfig(Strict):
    name: str
    args: dict[str, Any] = {}  # the network's constructor arguments, as the YAML writes them


class GeneratorConfig(NetConfig):
    """A generator: a network (``name``, ``args``), a per-pixel learner alone (``name``
    ``learner`` or ``blend``), or a network's residual on a learner: ``learner:`` beside the
    network, and the never-worse ``guard:`` that fades the residual toward the learner on images
    unlike training's. ``floor:`` is the zero-shot floor the whole output falls back to, with
    its own ``ranges:`` (one range of image statistics per training source) outside which it
    does (models/fallback.py). ``guard: false`` switches off both. Older bundles are read by
    :func:`lift_floor` and :func:`lift_anchor`.

    ``learner`` (what the residual is added to; falsy: none):

    - ``select``: the selection core chooses it on the run's training split (learners/), the
      run writes the fitted learner's arguments here;
    - ``linear``, or ``{kind: ridge, windows: [5, 15, 45], products: true}``: fitted by the run
      in closed form;
    - a fitted learner's arguments, ``{kind: …}`` or ``{blend: [parts]}``."""

    learner: bool | str | dict | None = None
    guard: dict | bool | None = None  # the residual's fade toward the learner (models/anchored.py)
    floor: dict | None = None  # the zero-shot floor and its ranges (models/fallback.py)

    @model_validator(mode="before")
    @classmethod
    def _lift(cls, d: Any) -> Any:
        return lift_floor(lift_anchor(d)) if isinstance(d, dict) else d

    @property
    def fallback_ranges(self) -> dict | None:
        """The ranges outside which the output falls back to the floor, if it has any."""
        return self.floor.get("ranges") if isinstance(self.floor, dict) else None

    @property
    def depth(self) -> int:
        """A U-Net's downsamplings (inputs are padded to a multiple of 2**depth)."""
        return int(self.args.get("depth", 8))

    @property
    def selects_learner(self) -> bool:
        """Whether the learner is the one the selection core chooses at the start of training."""
        return self.learner == "select"


def lift_anchor(d: dict) -> dict:
    """A generator mapping with 0.1.0's ``args.anchor`` and ``args.guard`` moved beside the
    network: ``true`` → ``learner: linear``, ``learner`` → ``select``, ``{windows, products}`` →
    ``{kind: ridge, …}``, ``{learner: a}`` → ``a``, ``{blend: p}`` → ``{blend: p}``. The maps a
    0.1.0 run fitted itself were added to the residual unclamped: they keep ``clamp: false``."""
    args = d.get("args")
    if not isinstance(args, dict) or not ({"anchor", "guard"} & set(args)):
        return d
    d, args = dict(d), dict(args)
    if "anchor" in args:  # said last (an override of 0.1.0's key on a preset of today's): it wins
        anchor = args.pop("anchor")
        if anchor in (None, False):
            anchor = None
        elif anchor is True:
            anchor = {"kind": "linear", "clamp": False}
        elif anchor == "learner":
            anchor = "select"
        elif isinstance(anchor, dict) and "learner" in anchor:
            anchor = anchor["learner"]
        elif isinstance(anchor, dict) and "blend" not in anchor:
            anchor = {"kind": "ridge", **anchor, "clamp": False}
        d["learner"] = anchor
    if "guard" in args:
        d["guard"] = args.pop("guard")
    d["args"] = args
    return d


def lift_floor(d: dict) -> dict:
    """A generator mapping whose ``guard`` held the floor's per-source ranges beside ``floor``
    (bundles before issue 59) with them moved into ``floor.ranges``; the network inside such a
    bundle never had a guard of its own, so ``guard`` is then empty."""
    floor, guard = d.get("floor"), d.get("guard")
    if not isinstance(floor, dict) or "ranges" in floor or not isinstance(guard, dict):
        return d
    return {**d, "floor": {**floor, "ranges": guard}, "guard": None}


class ModelConfig(Strict):
    # conditional: one generator and critic on registered pairs (training/paired.py); cyclegan: two of
    # each on unpaired images (training/cyclegan.py), the A→B generator bundled as any other
    kind: Literal["conditional", "cyclegan"] = "conditional"
    generator: GeneratorConfig = GeneratorConfig(name="unet")
    critic: NetConfig = NetConfig(name="patchgan")


class LossConfig(Strict):
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


class ScheduleConfig(Strict):
    kind: Literal["constant", "linear", "plateau", "cosine"] = "linear"
    n_epochs: int = Field(100, ge=0)  # linear: epochs at the initial LR ...; cosine: its period
    n_epochs_decay: int = Field(100, ge=0)  # ... then linear decay to 0 over these
    patience: int = Field(5, ge=0)  # plateau
    factor: float = Field(0.5, gt=0, lt=1)


class OptimConfig(Strict):
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    betas: tuple[float, float] | None = None  # None: (0, 0.9) for wgan-gp, (0.5, 0.999) otherwise
    schedule: ScheduleConfig = ScheduleConfig()


class TrainConfig(Strict):
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
    # with two or more sources, a network model/best is kept only if, trained without each source
    # and scored on it, it is nowhere more than policy.WITHIN worse than the floor (workflows/held_out.py):
    # one more run per source; false skips it, and the run says the network was not held out
    network_held_out: bool = True
    # False: when validation cannot see other scenes, model/best is the constant or linear map
    within_scene: bool = False
    # auto: such a run (its rule keeps the constant or linear map) trains no network, since none
    # could be kept; always: it trains one anyway (model/network, for a look)
    network: Literal["auto", "always"] = "auto"
    log_every_n_steps: int = Field(10, ge=1)
    val_every_n_epochs: int = Field(1, ge=1)
    image_samples: int = Field(4, ge=0)
    keep_checkpoints: int = Field(-1, ge=-1)  # per-epoch checkpoints kept (newest); -1 = all
    threads: int | None = None

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_str(cls, v):
        return str(v)  # YAML reads `32` as an int


class TaskConfig(Strict):
    kind: Literal["translation", "super_resolution"] = "translation"
    scale: int = Field(1, ge=1, le=8)


class InferenceConfig(Strict):
    tile: int = Field(256, ge=16)
    overlap: int = Field(32, ge=0)


class Config(Strict):
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
        if self.task.kind != "super_resolution" and self.task.scale != 1:
            raise ValueError(f"task.scale {self.task.scale}: must be 1 for {self.task.kind} (its "
                             "output lies on the input's grid); only super_resolution enlarges")
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
    if cfg.model.generator.learner:
        raise ValueError("model.generator.learner: the learner is a fit on registered pairs, "
                         "which cyclegan has not; set it to null")
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
        d = deep_merge((d or preset_dict(base)) if base else d, f)
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
