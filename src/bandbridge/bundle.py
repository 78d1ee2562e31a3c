"""Model bundles: generator weights (safetensors) + the YAML config they were trained with.

Loading never unpickles code: the YAML says which generator class and arguments to build, and
safetensors holds only tensors. Predict, evaluate, export and the demo need nothing else.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file
from torch import nn

from bandbridge.config import Config, build_config
from bandbridge.errors import BandbridgeError
from bandbridge.models import build_generator

WEIGHTS = "generator.safetensors"
META = "model.yaml"


@dataclass
class Bundle:
    generator: nn.Module
    config: Config
    in_channels: int
    out_channels: int
    info: dict  # everything else in model.yaml (bands, epoch, step, metrics)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_bundle(directory: str | Path, generator: nn.Module, cfg: Config, in_channels: int,
                out_channels: int, weights_dtype: torch.dtype = torch.float32, **info) -> Path:
    """Write ``generator.safetensors`` and ``model.yaml`` into ``directory`` (each atomically).
    ``weights_dtype`` float16 halves the file (bundled models); loading casts back to fp32."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", weights_dtype if v.is_floating_point() else v.dtype)
             .contiguous() for k, v in generator.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".weights.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp)
        os.replace(tmp, d / WEIGHTS)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    meta = {"bandbridge_bundle": 1, "in_channels": in_channels, "out_channels": out_channels,
            **info, "config": cfg.model_dump(mode="json")}
    atomic_write_bytes(d / META, yaml.safe_dump(meta, sort_keys=False).encode())
    return d


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle from its folder (or its ``model.yaml``/``generator.safetensors``)."""
    p = Path(path)
    d = p.parent if p.suffix in (".yaml", ".safetensors") else p
    if not (d / META).exists() or not (d / WEIGHTS).exists():
        raise BandbridgeError(f"{d}: not a model bundle (needs {META} and {WEIGHTS}); pass a "
                              "run's model/best folder or an exported model")
    meta = yaml.safe_load((d / META).read_text())
    cfg = build_config(meta["config"])
    g = cfg.model.generator
    gen = build_generator(g.name, meta["in_channels"], meta["out_channels"], g.args, cfg.task.scale)
    try:
        gen.load_state_dict(load_file(d / WEIGHTS))
    except RuntimeError as e:
        raise BandbridgeError(f"{d / WEIGHTS}: weights do not match {META} ({e})") from None
    gen.eval()
    info = {k: v for k, v in meta.items() if k != "config"}
    return Bundle(gen, cfg, meta["in_channels"], meta["out_channels"], info)


def load_model(path: str | Path) -> Bundle:
    """A generator from a bundled model name, a run folder (its ``model/best``), a bundle
    folder, or a Lightning ``.ckpt`` (its generator weights and saved config; tensors only)."""
    from bandbridge.inference.spec import resolve_model_folder
    p = Path(path)
    if p.suffix == ".ckpt":
        if not p.is_file():
            raise BandbridgeError(f"{p}: checkpoint not found")
        try:
            ck = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise BandbridgeError(f"{p}: cannot read checkpoint ({e})") from None
        hp = ck["hyper_parameters"]
        cfg = build_config(hp["config"])
        g = cfg.model.generator
        gen = build_generator(g.name, hp["in_channels"], hp["out_channels"], g.args, cfg.task.scale)
        gen.load_state_dict({k[2:]: v for k, v in ck["state_dict"].items() if k.startswith("G.")})
        return Bundle(gen.eval(), cfg, hp["in_channels"], hp["out_channels"],
                      {"epoch": ck.get("epoch"), "global_step": ck.get("global_step")})
    return load_bundle(resolve_model_folder(p))
