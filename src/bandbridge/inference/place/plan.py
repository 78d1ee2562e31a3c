"""The one plan block of a fit at the place: the route as the plan can tell it, the backend and the
tiles the fit's bundle will run on, where, and the memory the run is planned under. Every kind
(``place/kinds.py``) prints it in the same shape after its own lines, and the run records what it
decided (:meth:`Block.decided`), so ``--plan`` and the run can be held to each other."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bandbridge.inference.place.engine import tile_words


@dataclass
class Memory:
    """The one memory plan: what the process holds when the plan is made (``resident``), what the run
    then holds to its end (``held``) and what each of its stages adds at its peak, one stage after
    another (``stages``, bytes, in the order they run). The peak is the sum of the first two and
    the largest stage."""

    resident: float
    held: float
    stages: dict[str, float] = field(default_factory=dict)

    def peak(self) -> float:
        return self.resident + self.held + max(self.stages.values(), default=0.0)

    def line(self) -> str:
        big = max(self.stages, key=self.stages.get) if self.stages else "none"
        return (f"memory: planned under {self.peak() / 1e9:.2f} GB peak ({self.resident / 1e9:.2f} GB held now, "
                f"{self.held / 1e9:.2f} GB to the end, then the largest stage, {big}, of "
                f"{', '.join(self.stages)}; no input is read whole)")


@dataclass
class Disk:
    """The one disk plan of a run's work folder: each work file the kind writes there, by name, and its
    bytes (float32 model values and flag rasters on the grids the plan holds, uncompressed as written)."""

    files: dict[str, float] = field(default_factory=dict)

    def need(self) -> float:
        """Bytes the work folder needs: every file's, and :data:`~bandbridge.policy.WORK_DISK_SPARE` more."""
        from bandbridge.policy import WORK_DISK_SPARE
        return sum(self.files.values()) * (1 + WORK_DISK_SPARE)

    def words(self) -> str:
        return ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in self.files.items() if v) or "none"


def work_disk(plan) -> Disk:
    """The work files of ``plan``: its kind's own estimate (``block.disk``), else from the grids a sharpen or
    reference plan holds (``SharpenPlan``: the work file of targets and guides, the fit's output and ``-m``'s,
    float32 on the guides' grid; ``RefPlan``: per input the model's own output, the upsampled reference and
    the fit's output, float32 on the input's grid)."""
    block = getattr(plan, "block", None)
    if getattr(block, "disk", None) is not None:
        return block.disk
    if hasattr(plan, "guides") and hasattr(plan, "targets"):
        f, ct, gd = plan.guides.fine, len(plan.targets.names), len(plan.guides.names)
        px, net = 4.0 * f.height * f.width, getattr(plan, "network", None)
        nb = len(net.beside) if net is not None else 0  # the bands the network reads beside the guides
        return Disk({"the work file": px * (ct + gd + nb), "the fit's output": px * ct,
                     "the network's output": px * ct if getattr(plan, "network", None) else 0.0,
                     "the model's output": px if getattr(plan, "model", None) else 0.0})
    refs = getattr(plan, "references", None) or []
    px = sum(4.0 * p.fine.height * p.fine.width for p in refs)
    return Disk({"the model's own output": px, "the upsampled reference": px, "the fit's output": px})


@dataclass
class Block:
    """The plan's block: ``route`` in words, ``backend`` (``runtime/select.Decision``), the ``tile`` the
    fit's bundle runs on, ``tiles`` what runs of them where only some do ("" all), ``where`` the engine
    runs (``engine.where``), and the run's ``memory``."""

    route: str
    backend: object
    tile: int
    where: str
    memory: Memory
    tiles: str = ""
    disk: Disk | None = None  # the work folder's files (None: ``work_disk`` estimates them from the plan)

    def lines(self) -> list[str]:
        return [f"route: {self.route}",
                f"backend: where a band takes the fit, its bundle runs on {self.backend.note}",
                f"tiles: {tile_words(self.tile)}{'; ' + self.tiles if self.tiles else ''}, {self.where}",
                self.memory.line()]

    def decided(self) -> dict:
        """What the run must match: the backend, the tile and the planned peak (bytes)."""
        return {"backend": f"{self.backend.backend} {self.backend.precision}", "tile": self.tile,
                "planned": self.memory.peak()}


class Clock:
    """Wall and CPU seconds (this process's, every thread) of the run's stages and the process's peak
    resident memory at the end of each, in words."""

    def __init__(self) -> None:
        self.at, self.stages = (time.perf_counter(), time.process_time()), []

    def mark(self, stage: str) -> None:
        import resource
        now = (time.perf_counter(), time.process_time())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux: GB
        self.stages.append((stage, now[0] - self.at[0], now[1] - self.at[1], peak))
        self.at = now

    def __str__(self) -> str:
        return "; ".join(f"{s} {w:.1f} s ({c:.1f} CPU-s, peak {p:.2f} GB)" for s, w, c, p in self.stages)
