"""How much memory a backend's forward takes per input pixel, measured once per model, backend
and machine, and cached: what lets a large job run larger tiles where memory allows.

The measure: the process's peak resident size is reset (``/proc/self/clear_refs``), one
``MEASURE_TILE``² tile is run, and the rise of the peak over the resident size before it is
divided by the tile's pixels. A forward's memory is its activations, which grow with the tile's
area (rgb2thermal at 1792² and 2816²: within 4 % a pixel on every backend), so one tile measures
every size.
Where the peak cannot be reset (not Linux), nothing is measured and the model's tile is kept.
"""

from __future__ import annotations

from contextlib import suppress
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
    with suppress(OSError):
        return _status_kb("VmRSS") * 1024
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


def cached_memory(spec: ModelSpec, backend: str, precision: str, threads: int | None = None) -> dict:
    """What is cached of ``backend`` ``precision`` on this model and machine, without building it:
    ``bytes_per_px`` (its forward, :func:`bytes_per_px`) and ``built_bytes`` (what building it
    added to a process's resident size, :func:`remember_built`), each where measured."""
    record = read_json(record_path("memory", spec.folder, threads, backend, precision)) or {}
    return {k: float(record[k]) for k in ("bytes_per_px", "built_bytes")
            if isinstance(record.get(k), (int, float))}


def remember_built(spec: ModelSpec, be: Backend, threads: int | None, rise: float) -> None:
    """Add to ``be``'s record what building it (and checking it) added to the process's resident
    size, measured once: a plan counts it before the backend exists (``jobs/tiles.py``)."""
    path = memory_path(spec, be, threads)
    record = read_json(path)
    if record is not None and isinstance(record.get("bytes_per_px"), (int, float)) and "built_bytes" not in record:
        write_json(path, record | {"built_bytes": round(max(rise, 0.0))})


def bytes_per_px(spec: ModelSpec, be: Backend, threads: int | None = None) -> float | None:
    """The cached measure of ``be`` on this model and machine, measured now if there is none
    (one forward of ``MEASURE_TILE``², about a second at most); None where it cannot be measured."""
    path = memory_path(spec, be, threads)
    if "bytes_per_px" in (known := cached_memory(spec, be.name, be.precision, threads)):
        return known["bytes_per_px"]
    bpp = measure_bytes_per_px(be, spec)
    if bpp is not None:
        write_json(path, {"model": spec.name, "backend": be.name, "precision": be.precision,
                          "bytes_per_px": round(bpp, 1), "tile": MEASURE_TILE,
                          "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return bpp


def available_bytes() -> int | None:
    """Memory this process can still take without swapping or being killed: the system's
    ``MemAvailable``, or less where a cgroup (a container's or a job scheduler's limit) allows less
    (:func:`cgroup_room`); None where neither is known."""
    system, limited = available_system(), None
    with suppress(OSError):
        limited = cgroup_room(Path("/proc/self/cgroup").read_text())
    known = [v for v in (system, limited) if v is not None]
    return min(known) if known else None


def limited() -> bool:
    """Whether a cgroup limit, not the system's free memory, bounds this process now."""
    try:
        room = cgroup_room(Path("/proc/self/cgroup").read_text())
    except OSError:
        return False
    return room is not None and room < (available_system() or NO_LIMIT)


def available_system() -> int | None:
    """The system's ``MemAvailable`` (bytes), or None where unknown."""
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a page-rounded 2^63


def _read_int(path: Path) -> int | None:
    with suppress(OSError):
        text = path.read_text().strip()
        return None if text == "max" else int(text) if text.isdigit() else None
    return None


def _stat(path: Path, key: str) -> int:
    with suppress(OSError):
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            if k == key and v.strip().isdigit():
                return int(v)
    return 0


def cgroup_room(proc_cgroup: str, fs: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes left under the tightest memory limit of this process's cgroup and its ancestors
    (``proc_cgroup``: the text of ``/proc/self/cgroup``; v2 ``memory.max`` − ``memory.current``,
    v1 ``memory.limit_in_bytes`` − ``memory.usage_in_bytes``), counting inactive file cache as
    free (the kernel drops it before it kills anything), or None when no limit is set."""
    rooms = []
    for line in proc_cgroup.splitlines():
        hid, ctrls, path = (line.split(":", 2) + ["", ""])[:3]
        if hid == "0" and ctrls == "":
            base, files = fs, ("memory.max", "memory.current", "inactive_file")
        elif "memory" in ctrls.split(","):
            base, files = fs / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes",
                                          "total_inactive_file")
        else:
            continue
        parts = [p for p in path.strip().split("/") if p and p != ".."]
        # inside a container the cgroup's own folder is often mounted as the root: try both
        for depth in range(len(parts), -1, -1):
            d = base.joinpath(*parts[:depth])
            limit, used = _read_int(d / files[0]), _read_int(d / files[1])
            if limit is None or used is None or limit >= NO_LIMIT:
                continue
            rooms.append(max(limit - used + _stat(d / "memory.stat", files[2]), 0))
    return min(rooms) if rooms else None
