"""What prediction needs to know about a model, read from its YAML without torch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from bandbridge.config import BandSel, Config, build_config
from bandbridge.errors import BandbridgeError
from bandbridge.learners.saved import parts
from bandbridge.machine import BACKENDS
from bandbridge.presets import parse_yaml
from bandbridge.radiometry import STATS_MAX_SIDE, STATS_PERCENTILES

BUNDLE_META = "model.yaml"
ONNX_FILE = "model.onnx"
WEIGHTS = "generator.safetensors"
GEN_HASH_KEY = "generator_sha256"  # what builds the generator, hashed (bundle.generator_digest)
# of the bundle's own floor (floor/model.yaml's generator_sha256), inside the parent's generator
# hash: it ties the bundle to the floor it was saved with (check_floor)
FLOOR_HASH_KEY = "floor_sha256"
# Every file a bundle folder may hold (save_bundle, the check sample, the card, an export):
# what `adapt --overwrite` may replace in a folder whose model.yaml is a bundle's.
BUNDLE_FILES = frozenset({BUNDLE_META, WEIGHTS, "check.safetensors", "MODEL_CARD.md",
                          ONNX_FILE, "metadata.json"})


@dataclass
class ModelSpec:
    """A model's interface: bands and scalings in and out, scale, preferred tiling."""

    config: Config
    in_channels: int
    out_channels: int
    folder: Path
    size_multiple: int = 1
    baseline: dict | None = None  # the linear fit an anchored generator started from
    confidence: dict | None = None  # the expected-error model (inference/core/confidence.py)
    limited: dict | None = None  # model.yaml's runs_on: {kind: what its graph runs on}, if recorded
    seen: dict | None = None  # model.yaml's inputs_seen: the values its training inputs held (data/seen.py)

    def linear_baseline(self, x):
        """The bundle's linear baseline on ``x (Ci, H, W)`` model values → ``(Ct, H, W)`` in
        [0, 1] (numpy), or None when the bundle carries none."""
        return apply_linear(self.baseline, x)

    @property
    def input(self) -> BandSel:
        return self.config.data.sources[0].input

    @property
    def name(self) -> str:
        """What a user calls the model: a bundled model's name, else the run's preset name."""
        if self.folder.parent == zoo_dir():
            return self.folder.name
        if self.folder.name == FLOOR_DIR and self.folder.parent.parent == zoo_dir():
            return f"{self.folder.parent.name}-{FLOOR_DIR}"  # a bundled model's floor
        return self.config.name

    @property
    def target(self) -> BandSel:
        return self.config.data.sources[0].target

    @property
    def halo(self) -> int:
        """Pixels at a tile's edge whose output depends on pixels past it through the anchor's
        context windows (models/anchor.py): blending gives them almost no weight."""
        g = self.config.model.generator
        return generator_halo(g.name, g.args, g.learner)

    @property
    def runs_on(self) -> dict[str, list[str]]:
        """The learner kinds the model holds whose graph cannot run on every backend and
        precision, with the backends and precisions each runs on (``{}``: anything runs it).
        ``model.yaml: runs_on`` records it; for a bundle saved before it did, the learner
        registry tells (which imports torch)."""
        if self.limited is not None:
            return self.limited
        from bandbridge.learners.registry import runs_on
        g = self.config.model.generator
        return runs_on(g.name, g.args, g.learner)

    @property
    def holds(self) -> str:
        """The kinds the model computes with, in words: ``its gbm learner``, ``its constant and
        unet parts`` (a network and the learner its residual is added to)."""
        g = self.config.model.generator
        network = g.name not in ("learner", "blend")
        kinds = [a.get("kind", "linear") for a in parts(g.name, g.args, g.learner)] + ([g.name] if network else [])
        names = sorted(set(kinds), key=kinds.index)
        return "its " + " and ".join(names) + (" parts" if len(names) > 1 else " network" if network else " learner")

    def refusal(self, backend: str, precision: str) -> str | None:
        """Why ``backend`` at ``precision`` cannot run the model (one clause naming the learner
        kind), or None."""
        for kind, on in self.runs_on.items():
            if not {backend, precision} <= set(on):
                return (f"{self.name} holds a {kind} learner, whose graph runs on "
                        f"{' or '.join(b for b in BACKENDS if b in on)} at "
                        f"{' or '.join(p for p in on if p not in BACKENDS)} only")
        return None

    @property
    def uses_context(self) -> bool:
        """Whether the generator takes a context (location prior or sensor/GSD conditioning)."""
        a = self.config.model.generator.args
        return (a.get("location") is not None or a.get("conditioning") is not None
                or self.n_stats > 0)

    @property
    def input_norm(self) -> str:
        """The generator's per-image input normalisation (models/anchor.py)."""
        return str(self.config.model.generator.args.get("input_norm", "none"))

    @property
    def sensors(self) -> list[str]:
        return self.config.sensors

    @property
    def scale(self) -> int:
        return self.config.task.scale

    @property
    def target_names(self) -> list[str]:
        names = [str(b) for b in (self.target.bands or [])]
        return names if len(names) == self.out_channels else [f"band{i + 1}" for i in range(self.out_channels)]

    @property
    def input_names(self) -> list[str]:
        names = [str(b) for b in (self.input.bands or [])]
        return names if len(names) == self.in_channels else [f"band{i + 1}" for i in range(self.in_channels)]

    @property
    def fallback_ranges(self) -> dict | None:
        """The floor's ranges of training statistics (``floor.ranges``, one a source) outside
        which the whole output falls back to the floor (models/fallback.py), if any."""
        return self.config.model.generator.fallback_ranges

    @property
    def residual_guard(self) -> dict | None:
        """The residual's guard: the range of training statistics outside which the network's
        residual fades toward its learner (models/anchored.py, data/domain.py), if any."""
        g = self.config.model.generator
        return g.guard if g.learner and g.guard else None

    @property
    def floor(self) -> dict | None:
        """The zero-shot floor the output falls back to on images unlike training's, if any
        (models/fallback.py)."""
        g = self.config.model.generator
        return g.floor if g.fallback_ranges else None

    @property
    def n_stats(self) -> int:
        """Image-statistics entries at the end of a context row: each input band's low and high
        percentile for a generator that normalises per image, guards its residual or falls back to
        its floor, else none."""
        fades = self.fallback_ranges or self.residual_guard
        return 2 * self.in_channels if self.input_norm != "none" or fades else 0

    @property
    def min_side(self) -> int:
        """The fewest rows and columns an input (and a tile) may have: :data:`MIN_SIDE`."""
        return MIN_SIDE.get(self.config.model.generator.name, 1)

    def check_size(self, src: str | Path, height: int, width: int, tile: int | None = None) -> None:
        """Refuse an input (or ``--tile``) smaller than :attr:`min_side` in one line."""
        m = self.min_side
        if min(height, width) < m:
            raise BandbridgeError(f"{src}: {height}×{width} pixels; {self.name} needs at least "
                                  f"{m}×{m} pixels (its generator cannot run on less): use a larger "
                                  "image or pad it")
        if tile is not None and tile < m:
            raise BandbridgeError(f"--tile {tile}: {self.name} needs tiles of at least {m} pixels")

    def metadata(self) -> dict:
        """The JSON a non-Python runtime needs to feed and read the exported network."""
        i, t, c = self.input, self.target, self.in_channels
        context = (f"context (B, {4 + 2 * c}): tile-centre lat, lon (degrees), GSD (m), sensor index in "
                   f"{self.sensors} (NaN/−1 = unknown), then the whole image's per-band "
                   f"{STATS_PERCENTILES[0]:g}th percentiles of the {c} input bands and their "
                   f"{STATS_PERCENTILES[1]:g}th percentiles (model values, from one view of the whole "
                   f"image at most {STATS_MAX_SIDE} px a side; never per tile)")
        return {"format": "bandbridge-onnx/1", "input": {"name": "input", "bands": self.input_names,
                "scaling": i.scaling, "vmin": i.vmin, "vmax": i.vmax, "channels": self.in_channels},
                "output": {"name": "output", "bands": self.target_names, "scaling": t.scaling,
                           "vmin": t.vmin, "vmax": t.vmax, "channels": self.out_channels},
                "value_range": [0.0, 1.0], "scale": self.scale, "size_multiple": self.size_multiple,
                "tile": self.config.inference.tile, "overlap": self.config.inference.overlap,
                "layout": "NCHW float32",
                "input_norm": self.input_norm,
                "context_input": context if self.uses_context else None}


def generator_halo(name: str, args: dict, learner=None) -> int:
    """Half the largest context window of a generator (``model.generator``'s name, args and
    learner): a learner's, a blend's parts', or the learner a network's residual is added to (0
    without windows)."""
    return max((w for a in parts(name, args, learner) for w in a.get("windows") or []), default=0) // 2


def apply_linear(baseline: dict | None, x):
    """A bundle's linear baseline (``model.yaml: baseline``) on ``x (Ci, H, W)`` model values →
    ``(Ct, H, W)`` in [0, 1] (numpy), or None when it carries none."""
    if not baseline or "linear" not in baseline:
        return None
    import numpy as np
    coef = np.asarray(baseline["linear"], np.float64)  # (Ci + 1, Ct)
    c, h, w = x.shape
    y = np.tensordot(coef[:-1].T, x.reshape(c, -1).astype(np.float64), 1) + coef[-1][:, None]
    return np.clip(y, 0, 1).reshape(-1, h, w).astype(np.float32)


# Generators that cannot run below a size: RLFN's ESA block convolves with stride 2 (no padding)
# and max-pools 7×7, so it needs 15 rows and columns. Other generators run on any size (tiles are
# padded to their size multiple).
MIN_SIDE = {"rlfn": 15}


def size_multiple(cfg: Config) -> int:
    """Input sizes the generator handles without internal padding (tiles are padded to it)."""
    g = cfg.model.generator
    if g.name == "unet":
        return 2 ** g.depth
    if g.name == "resnet":
        return 2 ** int(g.args.get("n_down", 2))
    return 1


def read_meta(path: Path) -> dict:
    """A bundle's ``model.yaml`` as a mapping with its config and channels, or one clear error."""
    fix = "the bundle is damaged: copy it again or re-export it (bandbridge export / training's model/best)"
    try:
        meta = parse_yaml(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BandbridgeError(f"{path}: not valid YAML ({first}); {fix}") from None
    except OSError as e:
        raise BandbridgeError(f"{path}: cannot read it ({e.strerror}); {fix}") from None
    if not isinstance(meta, dict):
        raise BandbridgeError(f"{path}: expected a mapping (config:, in_channels:, …), found "
                              f"{type(meta).__name__}; {fix}")
    missing = [k for k in ("config", "in_channels", "out_channels") if k not in meta]
    if missing:
        raise BandbridgeError(f"{path}: lacks {', '.join(missing)}; {fix}")
    if not all(isinstance(meta[k], int) and meta[k] > 0 for k in ("in_channels", "out_channels")):
        raise BandbridgeError(f"{path}: in_channels/out_channels must be positive integers; {fix}")
    if not isinstance(meta["config"], dict):
        raise BandbridgeError(f"{path}: its config is not a mapping; {fix}")
    return meta


def read_spec(folder: str | Path) -> ModelSpec:
    """The spec of the bundle (or export) in ``folder``, its floor checked (:func:`check_floor`):
    every command that reads a bundle reads it here."""
    d = Path(folder)
    p = d / BUNDLE_META
    if not p.exists():
        raise BandbridgeError(f"{d}: no {BUNDLE_META}; pass a run folder, model bundle or export")
    meta = read_meta(p)
    spec = _spec(d, meta)
    check_floor(d, meta, spec)
    return spec


def _spec(d: Path, meta: dict) -> ModelSpec:
    """The spec ``meta`` (``d``'s ``model.yaml``, read) states, its sizes checked."""
    p = d / BUNDLE_META
    try:
        cfg = build_config(meta["config"])
    except BandbridgeError as e:
        raise BandbridgeError(f"{p}: {e}") from None
    src = cfg.data.sources[0] if cfg.data.sources else None
    for side, key in (("input", "in_channels"), ("target", "out_channels")):
        named = getattr(src, side).bands if src is not None else None
        if named and cfg.task.kind == "translation" and len(named) != meta[key]:
            raise BandbridgeError(f"{p}: {key} is {meta[key]} but its {side} bands are "
                                  f"{', '.join(map(str, named))}; the bundle was edited or damaged: "
                                  "copy it again or re-export it")
    limited = meta.get("runs_on")
    if limited is not None and not (isinstance(limited, dict) and all(
            isinstance(v, list) and all(isinstance(b, str) for b in v) for v in limited.values())):
        raise BandbridgeError(f"{p}: runs_on must map learner kinds to lists of backends and "
                              "precisions; the bundle was edited or damaged: copy it again or "
                              "re-export it")
    return ModelSpec(cfg, meta["in_channels"], meta["out_channels"], d, size_multiple(cfg),
                     meta.get("baseline"), meta.get("confidence"), limited, meta.get("inputs_seen"))


def check_floor(folder: Path, meta: dict, spec: ModelSpec) -> None:
    """A bundle's floor (issue 69): where its ``model.yaml`` (``meta``) is tied to one
    (``floor_sha256``) or it holds a ``floor/``, that is a real folder of its own inside it — no
    link in or to it, its ``model.yaml`` and weights there, the very floor it was saved with,
    mapping the bundle's bands — else one line naming the bundle and the fix. Without it a file of
    another sensor would silently get the model instead (inference/core/route.floor_instead)."""
    sub = folder / FLOOR_DIR
    tied = meta.get(FLOOR_HASH_KEY)
    there = sub.is_symlink() or sub.exists()
    if tied is None and not there:
        return
    again = f"copy the bundle again whole, its {FLOOR_DIR}/ folder included"
    if not there:
        raise BandbridgeError(f"{folder}: its {BUNDLE_META} names a zero-shot floor ({FLOOR_HASH_KEY}) "
                              f"but {FLOOR_DIR}/ is missing; {again}")
    inner = sub.rglob("*") if sub.is_dir() and not sub.is_symlink() else ()  # never walked through a link
    link = next((q for q in (sub, *inner) if q.is_symlink()), None)
    if link is not None:  # to another bundle's floor, or out of the bundle altogether
        raise BandbridgeError(f"{folder}: its {FLOOR_DIR}/ is or holds a link ({link}); a bundle's "
                              f"floor is a folder of its own: {again}")
    held = {n for n in (BUNDLE_META, WEIGHTS, ONNX_FILE) if (sub / n).is_file()}
    if BUNDLE_META not in held or not held & {WEIGHTS, ONNX_FILE}:  # an export's floor is its graph
        what = ("is a file, not a folder" if not sub.is_dir() else f"lacks {BUNDLE_META}"
                if BUNDLE_META not in held else f"lacks its weights ({WEIGHTS}, or an export's {ONNX_FILE})")
        raise BandbridgeError(f"{folder}: its {FLOOR_DIR}/ {what}; {again}")
    floor_meta = read_meta(sub / BUNDLE_META)
    if tied is not None and floor_meta.get(GEN_HASH_KEY) != tied:
        raise BandbridgeError(f"{sub}: not the floor {folder.name} was saved with (its {GEN_HASH_KEY} "
                              f"differs from the bundle's {FLOOR_HASH_KEY}); {again}")
    floor = _spec(sub, floor_meta)
    check_floor(sub, floor_meta, floor)
    if (floor.input_names, floor.target_names) != (spec.input_names, spec.target_names):
        raise BandbridgeError(f"{sub}: the floor maps {', '.join(floor.input_names)} → "
                              f"{', '.join(floor.target_names)} but its bundle {', '.join(spec.input_names)} → "
                              f"{', '.join(spec.target_names)}; it is not this bundle's floor: {again}")


def zoo_dir() -> Path:
    from importlib import resources
    return Path(str(resources.files("bandbridge") / "zoo"))


# Short names for the bundled models a newcomer reaches for first, the one table of them:
# name → {family of input values: bundled model}. predict, compare and the web page pick the model
# by the file's values (inference/core/route.py); where no file is given (adapt, evaluate, export,
# `models`) the name is its first model.
ZOO_ROUTES: dict[str, dict[str, str]] = {
    "rgb2nir": {"8-bit imagery": "rgb2nir-naip", "photo": "rgb2nir-photo",
                "reflectance": "rgb2nir-s2"}}
ZOO_ALIASES = {name: next(iter(routes.values())) for name, routes in ZOO_ROUTES.items()}
# The folder inside a bundle that holds its zero-shot floor as a bundle of its own (a linear
# learner): what files of another sensor get (inference/core/route.py, data/seen.another_sensor).
FLOOR_DIR = "floor"
# A routed bundle's floor of one processing level, picked where the file's name states that level
# (bands.level_in_name; issue 49): the level's floor carried to its sources held out, the
# bundle's own did not as well.
LEVEL_FLOORS: dict[str, dict[str, str]] = {"rgb2nir-s2": {"toa": "rgb2nir-s2-toa"}}


def zoo_models() -> dict[str, Path]:
    """The bundled models shipped with bandbridge, by name (aliases included)."""
    d = zoo_dir()
    found = {p.name: p for p in sorted(d.iterdir()) if (p / BUNDLE_META).exists()} if d.is_dir() else {}
    return found | {a: found[t] for a, t in ZOO_ALIASES.items() if t in found}


def resolve_model_folder(model: str | Path) -> Path:
    """Bundled model name → its folder (``NAME/floor``: its zero-shot floor); run folder → its
    model/best (or last); bundle or export folder → itself."""
    p = Path(model)
    if not p.exists():  # a bundled name: the zoo folder is listed once
        zoo, (name, _, part) = zoo_models(), str(model).partition("/")
        if str(model) in zoo:
            return zoo[str(model)]
        if part == FLOOR_DIR and name in zoo and (zoo[name] / FLOOR_DIR / BUNDLE_META).exists():
            return zoo[name] / FLOOR_DIR
    for sub in ("model/best", "model/last", ""):
        q = p / sub if sub else p
        if (q / BUNDLE_META).exists():
            return q
    if p.is_file() and p.name in (BUNDLE_META, ONNX_FILE, "generator.safetensors"):
        return p.parent
    ckpts = sorted(p.glob("*.ckpt")) if p.is_dir() else ([p] if p.suffix == ".ckpt" else [])
    if ckpts:
        run = next((q for q in (p.parent, p.parent.parent) if (q / "model" / "best" / BUNDLE_META).exists()), None)
        raise BandbridgeError(f"{p}: a training checkpoint ({ckpts[0].name}) is not a model bundle; "
                              + (f"pass the run folder {run} (its model/best)" if run else
                                 "pass the run folder (runs/<name>/<time>, whose model/best holds "
                                 "the bundle)") + " — checkpoints also hold the critic and optimizer")
    from bandbridge.presets import closest  # a typo: the nearest bundled name first (issue 69)
    near = closest(str(model), zoo_models()) if not p.exists() else None
    raise BandbridgeError(f"{p}: {f'did you mean {near}? It is n' if near else 'n'}ot a run folder, model bundle "
                          f"or ONNX export (no {BUNDLE_META} found), nor a bundled model ({', '.join(zoo_models()) or 'none'})")


def write_metadata_json(spec: ModelSpec, path: Path) -> None:
    from bandbridge.fileio import atomic_write_bytes
    atomic_write_bytes(path, json.dumps(spec.metadata(), indent=1).encode())
