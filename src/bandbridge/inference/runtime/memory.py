"""How much memory a backend's forward takes per input pixel, measured once per model, backend
and machine, and cached: what lets a large job run larger tiles where memory allows.

The measure: the process's peak resident size is reset (``/proc/self/clear_refs``), one
``MEASURE_TILE``² tile is run, and the rise of the peak over the resident size before it is
divided by the tile's pixels. A forward's memory is its activations, which grow with the tile's
area (measured here on rgb2thermal at 1792² and 2816²: OpenVINO bf16 120 and 117 B/px, fp32 201
and 198, onnxruntime fp32 218 and 224, torch fp32 262 and 252), so one tile measures every size.
Where the peak cannot be reset (not Linux), nothing is measured and the model's tile is kept.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bandbridge.inference.runtime.backends import Backend
from bandbridge.inference.runtime.cache import read_json, record_path, write_json
from bandbridge.spec import ModelSpec

MEASURE_TILE = 1024  # input pixels a side of the measuring forward (about 70–270 MB here)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def resident_bytes() -> int | None:
    """This process's resident size now (bytes), or None where /proc is missing."""
    try:
        return _status_kb("VmRSS") * 1024
    except OSError:
        return None


def measure_bytes_per_px(be: Backend, spec: ModelSpec, tile: int = MEASURE_TILE) -> float | None:
    """Peak bytes one forward of ``be`` adds per input pixel, on one ``tile``² input (on the
    generator's stride lattice), or None where the peak cannot be reset here."""
    m = spec.size_multiple
    t = -(-tile // m) * m
    x = np.random.default_rng(0).random((1, spec.in_channels, t, t), dtype=np.float32)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # peak resident size := resident size now
        before = _status_kb("VmRSS")
        be(x)
        peak = _status_kb("VmHWM")
    except OSError:
        return None
    finally:
        forget = getattr(be, "forget", None)  # a graph runtime keeps a request per shape: not this one
        if forget is not None:
            forget(x.shape)
    return max(peak - before, 0) * 1024 / (t * t)


def memory_path(spec: ModelSpec, be: Backend, threads: int | None) -> Path:
    return record_path("memory", spec.folder, threads, be.name, be.precision)


def bytes_per_px(spec: ModelSpec, be: Backend, threads: int | None = None) -> float | None:
    """The cached measure of ``be`` on this model and machine, measured now if there is none
    (one forward of ``MEASURE_TILE``², about a second at most); None where it cannot be measured."""
    path = memory_path(spec, be, threads)
    record = read_json(path)
    if record is not None and isinstance(record.get("bytes_per_px"), (int, float)):
        return float(record["bytes_per_px"])
    bpp = measure_bytes_per_px(be, spec)
    if bpp is not None:
        write_json(path, {"model": spec.name, "backend": be.name, "precision": be.precision,
                          "bytes_per_px": round(bpp, 1), "tile": MEASURE_TILE,
                          "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return bpp


def available_bytes() -> int | None:
    """Memory the system can give without swapping (``MemAvailable``), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
