"""The per-user cache: ONNX graphs of bundles and backend choices, keyed by what they depend on.

A model's key hashes its files (weights, model.yaml, check sample), so a retrained bundle in
the same folder is a new model. A machine's key hashes the CPU model and the flags that change
kernel choice, the thread count and the versions of the libraries that run the network, so a
choice measured elsewhere, or before an upgrade, is never reused. ``BANDBRIDGE_CACHE`` moves it
(default ``$XDG_CACHE_HOME/bandbridge`` or ``~/.cache/bandbridge``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path

from bandbridge.fileio import atomic_write_bytes

_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "avx_vnni", "fma")


def cache_dir() -> Path:
    env = os.environ.get("BANDBRIDGE_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bandbridge"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def model_key(folder: Path) -> str:
    """Hash of the files that define a model (weights or ONNX graph, model.yaml, check sample)."""
    names = ("generator.safetensors", "model.onnx", "model.yaml", "check.safetensors")
    return _digest([n.encode() + (folder / n).read_bytes() for n in names if (folder / n).exists()])


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "-"


def machine_key(threads: int | None) -> str:
    """Hash of the CPU (model name, kernel-relevant flags), threads and library versions."""
    model, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    libs = [f"{p}={_version(p)}" for p in ("bandbridge", "torch", "onnxruntime", "openvino")]
    have = [f for f in _FLAGS if f in flags]
    return _digest([model.encode(), " ".join(have).encode(), str(threads or os.cpu_count()).encode(),
                    " ".join(libs).encode()])


def read_json(path: Path) -> dict | None:
    """A cached JSON record, or None when absent or unreadable (a cache is never an error)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(record, indent=1).encode())
