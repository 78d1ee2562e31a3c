"""What this CPU computes natively: its model name and instruction-set flags, read once from
``/proc/cpuinfo``. Training (``precision: auto``), the backend choice and the cache key all ask
here, so no layer reaches into another's room for a machine fact."""

from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path

# what runs a model here (inference/runtime/backends.py) and at which precision; a learner kind
# names those its graph runs on (learners/base.py: runs_on)
BACKENDS, PRECISIONS = ("torch", "onnx", "openvino"), ("fp32", "bf16", "int8")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> tuple[str, frozenset[str]]:
    """(CPU model name, its flags) from /proc/cpuinfo (empty where there is none)."""
    model, flags = platform.processor(), frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = frozenset(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return model, flags


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AMX or AVX512-BF16); elsewhere bf16 is emulated
    and slower than fp32."""
    return bool(cpu_flags()[1] & {"amx_bf16", "avx512_bf16"})


_IMPORTED = time.monotonic()  # the fallback's start: this module loads with the command's first imports


def process_seconds() -> float:
    """Seconds since this process started (Linux: its start time in ``/proc``, so interpreter
    start-up and imports count, as ``time`` would count them); elsewhere since this module loaded."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - start, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED


LOAD_WINDOW = 0.25  # seconds over which other processes' CPU use is sampled


def busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (``/proc/stat``: all
    non-idle time of all cores)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def machine_load(window: float = LOAD_WINDOW) -> float:
    """How busy *other* work keeps the CPUs, per core (0–1): their CPU seconds over ``window``,
    this process's own threads excluded. The 1-minute load average would count this process's
    own probe and lag a minute behind, so a choice made right after any job would read as made
    on a busy machine; it is the fallback where ``/proc/stat`` is missing."""
    cores = os.cpu_count() or 1
    try:
        b0, own0, t0 = busy_seconds(), time.process_time(), time.perf_counter()
        time.sleep(window)
        b1, own1, t1 = busy_seconds(), time.process_time(), time.perf_counter()
        return max(0.0, (b1 - b0) - (own1 - own0)) / (cores * (t1 - t0))
    except (OSError, ValueError):
        try:
            return os.getloadavg()[0] / cores
        except (AttributeError, OSError):
            return 0.0
