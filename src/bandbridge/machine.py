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
