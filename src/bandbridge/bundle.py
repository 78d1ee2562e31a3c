"""Model bundles: generator weights (safetensors) + the YAML config they were trained with.

Loading never unpickles code: the YAML says which generator class and arguments to build, and
safetensors holds only tensors. Predict, evaluate, export and the demo need nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import yaml
from safetensors.torch import load_file, save_file
from torch import nn

from bandbridge.config import Config, build_config
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_paths, atomic_write_bytes, sha256_file
from bandbridge.spec import (BUNDLE_META, FLOOR_DIR, FLOOR_HASH_KEY, GEN_HASH_KEY, WEIGHTS, read_meta,
                             read_spec, resolve_model_folder)
from bandbridge.generators import build_from
from bandbridge.learners.registry import runs_on
from bandbridge.presets import parse_yaml
from bandbridge.models.anchored import Anchored, legacy_keys

HASH_KEY = "weights_sha256"  # of generator.safetensors' bytes; checked on every load
# GEN_HASH_KEY (spec.py): of what builds the generator in model.yaml (sizes, task, the model block
# with the learner's arguments) and the weights' hash: a learner block or size edited after saving
# is refused. FLOOR_HASH_KEY: the floor's, inside it (spec.check_floor).


def generator_digest(meta: dict) -> str:
    """The hash of everything in ``meta`` (a ``model.yaml`` mapping) that decides which code runs
    on the weights: the channels, ``config.task``, ``config.model`` (generator, its learner's
    arguments — kinds, windows, tree sizes —, guard) and ``weights_sha256``."""
    import hashlib
    import json
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    weights = meta.get(HASH_KEY)
    part = {k: meta.get(k) for k in ("in_channels", "out_channels")} | {
        HASH_KEY: weights.lower() if isinstance(weights, str) else weights,  # hex in either case
        "task": cfg.get("task"), "model": cfg.get("model")}
    if FLOOR_HASH_KEY in meta:  # bundles saved before the key existed keep their digest
        part["floor"] = meta[FLOOR_HASH_KEY]
    text = json.dumps(part, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_hashes(path: Path, meta: dict) -> None:
    """Refuse a ``model.yaml`` whose ``weights_sha256`` is not 64 hex digits, or whose generator
    block or sizes changed since it was saved (bundles saved before a key existed load unchecked)."""
    weights, want = meta.get(HASH_KEY), meta.get(GEN_HASH_KEY)
    if weights is not None and not _hex64(weights):
        raise BandbridgeError(f"{path}: {HASH_KEY} must be 64 hex digits; the bundle is damaged: "
                              "copy it again or re-export it")
    if want is not None and (not _hex64(want) or generator_digest(meta) != want.lower()):
        raise BandbridgeError(f"{path}: its generator block, learner arguments or sizes do not match "
                              f"{GEN_HASH_KEY} (edited or damaged since it was saved); copy the bundle "
                              "again or re-export it")


@dataclass
class Bundle:
    generator: nn.Module
    config: Config
    in_channels: int
    out_channels: int
    info: dict  # everything else in model.yaml (bands, epoch, step, metrics)

    def carried(self) -> dict:
        """``info`` without what :func:`save_bundle` writes itself: the ``**info`` to save a new
        generator with this bundle's metadata (baseline, guard, metrics, error model)."""
        return {k: v for k, v in self.info.items()
                if k not in ("bandbridge_bundle", "in_channels", "out_channels", HASH_KEY, GEN_HASH_KEY, "runs_on")}


def save_bundle(directory: str | Path, generator: nn.Module, cfg: Config, in_channels: int,
                out_channels: int, weights_dtype: torch.dtype = torch.float32, **info) -> Path:
    """Write ``generator.safetensors`` and ``model.yaml`` into ``directory`` (each atomically).
    ``weights_dtype`` float16 halves the file (bundled models); loading casts back to fp32."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", weights_dtype if v.is_floating_point() else v.dtype)
             .contiguous() for k, v in generator.state_dict().items()}
    with atomic_paths([d / WEIGHTS]) as (tmp,):
        save_file(state, str(tmp))
        digest = sha256_file(tmp)
    g = cfg.model.generator
    # the learner kinds whose graph cannot run everywhere ({}: none), so that prediction knows
    # without torch
    limited = runs_on(g.name, g.args, g.learner)
    meta = {"bandbridge_bundle": 1, "in_channels": in_channels, "out_channels": out_channels,
            HASH_KEY: digest, **{k: v for k, v in info.items() if k != GEN_HASH_KEY},
            "runs_on": limited, "config": cfg.model_dump(mode="json")}
    text = yaml.safe_dump(meta, sort_keys=False)
    meta = {GEN_HASH_KEY: generator_digest(parse_yaml(text)), **meta}  # of what loading reads
    atomic_write_bytes(d / BUNDLE_META, yaml.safe_dump(meta, sort_keys=False).encode())
    return d


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle from its folder (or its ``model.yaml``/``generator.safetensors``)."""
    p = Path(path)
    d = p.parent if p.suffix in (".yaml", ".safetensors") else p
    if not (d / BUNDLE_META).exists() or not (d / WEIGHTS).exists():
        raise BandbridgeError(f"{d}: not a model bundle (needs {BUNDLE_META} and {WEIGHTS}); pass a "
                              "run's model/best folder or an exported model")
    meta = read_meta(d / BUNDLE_META)
    check_hashes(d / BUNDLE_META, meta)  # before any module is built from it
    cfg = read_spec(d).config
    g = cfg.model.generator
    try:
        gen = build_from(g, meta["in_channels"], meta["out_channels"], cfg.task.scale)
    except BandbridgeError as e:  # a damaged learner block: said in the bundle's name, with the fix
        raise BandbridgeError(f"{d / BUNDLE_META}: {e}; the bundle is damaged: copy it again") from None
    load_weights(gen, d / WEIGHTS)  # unreadable or misfit weights are named first
    want = meta.get(HASH_KEY)  # absent: saved before the key existed, loads unchecked
    if want is not None and sha256_file(d / WEIGHTS) != want.lower():  # hex is hex in either case
        raise BandbridgeError(f"{d / WEIGHTS}: its bytes do not match {HASH_KEY} in {BUNDLE_META} (damaged or "
                              "altered since it was saved); copy the bundle again or re-export it")
    for m in gen.modules():  # parts that reach native code (tree text) are checked as data
        check = getattr(m, "check_data", None)
        if check is not None:
            check(str(d / WEIGHTS))
    gen.eval()
    info = {k: v for k, v in meta.items() if k != "config"}
    return Bundle(gen, cfg, meta["in_channels"], meta["out_channels"], info)


def _hex64(v: object) -> bool:
    """Whether ``v`` is a SHA-256 written as 64 hex digits (either case)."""
    return isinstance(v, str) and re.fullmatch(r"[0-9a-fA-F]{64}", v) is not None


def edit_meta(folder: str | Path, edit: Callable[[dict], None]) -> None:
    """Change ``folder``'s ``model.yaml`` in place: read, ``edit(meta)``, written whole again
    (weights untouched)."""
    path = Path(folder) / BUNDLE_META
    meta = read_meta(path)
    edit(meta)
    if GEN_HASH_KEY in meta:  # this tool's own edit (a guard, a name): the hash follows it
        meta[GEN_HASH_KEY] = generator_digest(meta)
    atomic_write_bytes(path, yaml.safe_dump(meta, sort_keys=False).encode())


def tie_floor(folder: str | Path) -> None:
    """Record ``folder/floor``'s generator hash in ``folder``'s ``model.yaml`` (``floor_sha256``,
    covered by the parent's own generator hash): the floor is this bundle's, not any other's."""
    want = read_meta(Path(folder) / FLOOR_DIR / BUNDLE_META).get(GEN_HASH_KEY)
    edit_meta(folder, lambda meta: meta.update({FLOOR_HASH_KEY: want}))


def untie_floor(folder: str | Path) -> None:
    """Drop ``folder``'s tie to a floor where this tool took its ``floor/`` away on purpose (the
    floor moved to ``model/best``, a copy kept for the user's own pairs): without it a missing
    floor is damage, refused by ``spec.check_floor``."""
    edit_meta(folder, lambda meta: meta.pop(FLOOR_HASH_KEY, None))


def rename_bundle(folder: str | Path, name: str) -> None:
    """Set the name in ``folder``'s ``model.yaml`` (its config's ``name``; weights untouched)."""
    edit_meta(folder, lambda meta: meta["config"].update(name=name))


def stamp_weights_hash(folder: str | Path) -> str:
    """Write the hash of ``folder``'s weights and of its generator block (``generator_sha256``)
    into its ``model.yaml`` (lines after ``bandbridge_bundle:``, replacing earlier ones; the rest
    of the file and the weights are untouched). For bundles saved before the hashes existed."""
    d = Path(folder)
    digest = sha256_file(d / WEIGHTS)
    lines = [ln for ln in (d / BUNDLE_META).read_text().splitlines(keepends=True)
             if not ln.startswith((f"{HASH_KEY}:", f"{GEN_HASH_KEY}:"))]
    at = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("bandbridge_bundle:")), 0)
    lines.insert(at, f"{HASH_KEY}: {digest}\n")
    meta = parse_yaml("".join(lines))
    lines.insert(at + 1, f"{GEN_HASH_KEY}: {generator_digest(meta)}\n")
    atomic_write_bytes(d / BUNDLE_META, "".join(lines).encode())
    back = read_meta(d / BUNDLE_META)
    if back.get(HASH_KEY) != digest or back.get(GEN_HASH_KEY) != generator_digest(back):
        raise BandbridgeError(f"{d / BUNDLE_META}: the hash lines did not read back; check the file")
    return digest


def load_weights(gen: nn.Module, path: Path) -> None:
    """Load ``generator.safetensors`` into ``gen``; a damaged file or weights of another model
    are one line naming the file (never a pickle: safetensors holds tensors only)."""
    fix = "copy the bundle again or re-export it"
    if path.stat().st_size == 0:
        raise BandbridgeError(f"{path}: empty file; {fix}")
    try:
        state = load_file(path)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own types for bad headers
        raise BandbridgeError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0][:120]}; "
                              f"truncated, or another format such as a pickle); {fix}") from None
    if isinstance(getattr(gen, "model", gen), Anchored):  # weights 0.1.0 saved with the anchor inside the network
        legacy_keys(state, "")
    own = gen.state_dict()
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if wrong or missing or extra:
        k = (wrong or missing or extra)[0]
        first = (f"'{k}' is {tuple(state[k].shape)}, the generator expects {tuple(own[k].shape)}"
                 if wrong else f"'{k}' is {'missing' if missing else 'unexpected'}")
        raise BandbridgeError(f"{path}: the weights do not fit {BUNDLE_META}'s generator ({len(wrong)} "
                              f"tensors of another shape, {len(missing)} missing, {len(extra)} "
                              f"unexpected; e.g. {first}); the weights and model.yaml come from "
                              f"different models: {fix}")
    gen.load_state_dict(state)


def load_model(path: str | Path) -> Bundle:
    """A generator from a bundled model name, a run folder (its ``model/best``), a bundle
    folder, or a Lightning ``.ckpt`` (its generator weights and saved config; tensors only)."""
    p = Path(path)
    if p.suffix == ".ckpt":
        if not p.is_file():
            raise BandbridgeError(f"{p}: checkpoint not found")
        try:
            ck = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise BandbridgeError(f"{p}: cannot read checkpoint ({e})") from None
        hp = ck.get("hyper_parameters") if isinstance(ck, dict) else None
        if not (isinstance(hp, dict) and {"config", "in_channels", "out_channels"} <= set(hp)
                and isinstance(ck.get("state_dict"), dict)):
            raise BandbridgeError(f"{p}: not a bandbridge training checkpoint (no hyper_parameters "
                                  "with config, or no state_dict); pass a run folder, model bundle "
                                  "or a checkpoint written by `bandbridge train`")
        cfg = build_config(hp["config"])
        g = cfg.model.generator
        gen = build_from(g, hp["in_channels"], hp["out_channels"], cfg.task.scale)
        gen.load_state_dict({k[2:]: v for k, v in ck["state_dict"].items() if k.startswith("G.")})
        return Bundle(gen.eval(), cfg, hp["in_channels"], hp["out_channels"],
                      {"epoch": ck.get("epoch"), "global_step": ck.get("global_step")})
    return load_bundle(resolve_model_folder(p))
