"""The tiles every job of ``bandbridge predict`` runs, decided once, by its plan.

A model's jobs run ``--tile`` where asked; the model's own tile in a small run (under
``policy.PROBE_MPIX``) or on a remote scheduler (its workers' memory is not known here); and in a
large run the largest tile that fits: the chosen backend's forward memory per pixel (measured once,
cached: ``runtime/memory.py``) and the strips' buffers, on top of what a process holds with the
backend built, within :data:`PEAK_BUDGET` (or half the memory available, if less: a cgroup's limit
counts), shared by the workers of a local Dask cluster. A job not even the smallest tile fits is
refused before any output is opened. Where a measure is missing from the cache, the same decision
is taken once the backend is built, before any output is opened or any task sent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from bandbridge import policy  # read at call time: tests set PROBE_MPIX
from bandbridge.errors import BandbridgeError
from bandbridge.data.reader import STREAM_CACHE_BYTES
from bandbridge.inference.core.predictor import forward_px, plan_file, strip_bytes_per_px
from bandbridge.inference.core.tiling import TILE_CAP, smallest_tile, tile_bytes, tile_for_memory
from bandbridge.policy import PEAK_BUDGET, PLAN_RESERVE
from bandbridge.spec import ModelSpec


@dataclass(frozen=True)
class Tiling:
    """How one model's jobs are tiled: ``tile`` the side every one of them runs (None while
    ``how`` is ``pending``: decided once the backend is built); ``how`` ``asked`` (``--tile``),
    ``own`` (the model's), ``grown`` (to the memory, ``planned`` bytes of peak) or ``pending``;
    ``why`` the words; ``line`` what the run says of a grown tile."""

    tile: int | None
    how: str
    why: str
    planned: float | None = None
    line: str = ""


def mpix_per_model(jobs: list) -> tuple[dict[Path, ModelSpec], dict[Path, float]]:
    """The models of the jobs and their jobs' input megapixels (what decides the probe and the
    tiles)."""
    specs: dict[Path, ModelSpec] = {}
    mpix: dict[Path, float] = {}
    for job in jobs:
        specs[job.spec.folder] = job.spec
        mpix[job.spec.folder] = mpix.get(job.spec.folder, 0.0) + job.size[0] * job.size[1] / 1e6
    return specs, mpix


def fit_memory(spec: ModelSpec, jobs: list, backend: str, bpp: float, held: float, free: float | None,
               workers: int | None = None, budget: float = PEAK_BUDGET) -> Tiling:
    """The largest tile for ``jobs`` (one model's) on ``backend`` (``"name precision"``, its
    forward ``bpp`` bytes a pixel) in a process holding ``held`` bytes with the backend built,
    ``free`` bytes available beside (None: unknown), shared by ``workers`` such processes (a local
    Dask cluster; None: this one). A process may reach ``held`` + half of its share of ``free``;
    the tiles fill :data:`PEAK_BUDGET` where that allows, else that. Raises the one-line refusal
    where not even the smallest tile fits."""
    from bandbridge.inference.runtime.memory import limited
    n = workers or 1
    limit = held + free / (2 * n) if free is not None else budget  # the peak a process may reach
    inf = spec.config.inference
    overlap = inf.overlap if jobs[0].opts.overlap is None else jobs[0].opts.overlap
    args = (overlap, spec.size_multiple, bpp, strip_bytes_per_px(spec), jobs[0].opts.strip.block_px,
            max(j.size[1] for j in jobs), forward_px)

    def fit(peak: float, cap: int) -> int | None:
        # the tiles fill the plan less a reserve for what the estimate leaves out (measured:
        # OpenVINO fp32 and onnxruntime int8 peaked 3–5 % over it at 20000², benchmarks page)
        room = peak - held - STREAM_CACHE_BYTES
        return tile_for_memory(inf.tile, overlap, spec.size_multiple, room - PLAN_RESERVE * peak, *args[2:], cap=cap)

    planned = min(budget, limit)
    tile = fit(planned, TILE_CAP)
    held_most = tile is None and limit > budget
    if held_most:  # the budget is a plan for growing tiles, not a reason to refuse what memory allows
        planned = limit
        tile = fit(planned, inf.tile)
    who = "this process" if workers is None else f"each of {n} workers"
    cgroup = ", under a cgroup limit" if limited() else ""
    if tile is None:  # not even the smallest tile fits: refused before any output is opened
        small = smallest_tile(overlap, spec.size_multiple)
        raise BandbridgeError(
            f"{jobs[0].src}: {spec.name} on {backend} needs about "
            f"{(tile_bytes(small, *args) + held + STREAM_CACHE_BYTES) / (1 - PLAN_RESERVE) / 1e9:.2f} GB "
            f"even at {small}² tiles, and {who} may take {max(planned, held) / 1e9:.2f} GB "
            f"(half of what is available{cgroup}); free memory" + (", run fewer workers" if workers else "")
            + " or raise the limit")
    how = "its own" if tile == inf.tile else "up" if tile > inf.tile else "down"
    why = (f" (no tile fits the {budget / 1e9:.2f} GB plan on top of the {held / 1e9:.2f} GB {who} holds: at "
           "most its own, in half the memory available)" if held_most else
           "" if tile >= inf.tile else f" (its own tile would not fit in half the memory available{cgroup})")
    line = (f"tiles {f'{tile}² (its own)' if how == 'its own' else f'{how} to {tile}²'} for {spec.name}{why}: "
            f"its {backend} forward takes {bpp:.0f} B a pixel here, planned under {planned / 1e9:.2f} GB peak"
            + (f" on each of {n} workers" if workers else "") + " (--tile sets one)")
    return Tiling(tile, "grown", f"the largest that fits the memory: {line}", planned, line)


def _groups(jobs: list) -> dict[Path, list]:
    out: dict[Path, list] = {}
    for j in jobs:
        out.setdefault(j.spec.folder, []).append(j)
    return out


PENDING = ("decided once its backend is built and its forward memory measured (once, cached), before any "
           "output is opened: the largest that fits half the memory available (--tile sets one)")


def decide_tiles(jobs: list, decisions: dict, threads: int | None = None, workers: int | None = None,
                 remote: bool = False) -> dict[Path, Tiling]:
    """Each model's :class:`Tiling`, from the plan's backend ``decisions`` (``runtime/select.Decision``
    per model folder) and the cache alone; ``workers``: a local Dask cluster's, ``remote``: a
    running scheduler's. Builds nothing, writes nothing."""
    from bandbridge.inference.runtime import memory
    _, mpix = mpix_per_model(jobs)
    out: dict[Path, Tiling] = {}
    for folder, mine in _groups(jobs).items():
        spec, asked = mine[0].spec, mine[0].opts.tile
        own = spec.config.inference.tile
        if asked is not None:
            out[folder] = Tiling(asked, "asked", "--tile")
            continue
        if not policy.probes(mpix[folder]):
            out[folder] = Tiling(own, "own", f"the model's own: a small run ({mpix[folder]:.1f} MPix; tiles grow "
                                 f"to what memory allows from {policy.PROBE_MPIX:g} MPix on)")
            continue
        if remote:
            out[folder] = Tiling(own, "own", "the model's own: the memory of a running scheduler's workers is not "
                                 "known here (--tile sets one)")
            continue
        d = decisions.get(folder)
        known = memory.cached_memory(spec, d.backend, d.precision, threads) if d and d.how != "measure" else {}
        held = memory.resident_bytes()
        if held is None or not {"bytes_per_px", "built_bytes"} <= known.keys():
            out[folder] = Tiling(None, "pending", PENDING)
            continue
        hold = held + known["built_bytes"]  # this process (a worker likewise) once the backend is built
        free = memory.available_bytes()
        if free is not None:
            free -= known["built_bytes"] + (workers * hold if workers else 0)
        out[folder] = fit_memory(spec, mine, f"{d.backend} {d.precision}", known["bytes_per_px"], hold, free, workers)
    return out


def settle(tiling: dict[Path, Tiling], jobs: list, runs: dict, threads: int | None = None,
           workers: int | None = None, held_before: float | None = None,
           budget: float = PEAK_BUDGET) -> dict[Path, Tiling]:
    """The pending tilings decided with the backends built (``runs``: ``Chosen`` per model folder):
    their forward measured (once, cached), what building them added since ``held_before`` (this
    process's resident size when the plan was made) remembered for later plans."""
    from bandbridge.inference.runtime import memory
    out = dict(tiling)
    groups = _groups(jobs)
    for folder, t in tiling.items():
        if t.how != "pending":
            continue
        spec, be = groups[folder][0].spec, runs[folder].backend
        bpp, held = memory.bytes_per_px(spec, be, threads), memory.resident_bytes()
        if bpp is None or held is None:  # not measurable here: the model's tile
            out[folder] = Tiling(spec.config.inference.tile, "own", "the model's own: its forward memory cannot "
                                 "be measured here")
            continue
        if held_before is not None:
            memory.remember_built(spec, be, threads, held - held_before)
        free = memory.available_bytes()
        if free is not None and workers:
            free -= workers * held
        out[folder] = fit_memory(spec, groups[folder], f"{be.name} {be.precision}", bpp, held, free, workers,
                                 budget)
    return out


def apply(tiling: dict[Path, Tiling], jobs: list, layout: bool = True) -> None:
    """Every job of a decided model carries its tile, the peak it was planned under and, with
    ``layout``, its layout (``predictor.plan_file``: computed here once, handed to the prediction)."""
    for j in jobs:
        t = tiling.get(j.spec.folder)
        if t is None or t.tile is None:
            continue
        j.opts, j.planned_bytes = dataclasses.replace(j.opts, tile=t.tile), t.planned
        j.layout = plan_file(j.spec, j.src, j.opts) if layout else None


def grow_tiles(jobs: list, backends: dict, threads: int | None = None, budget: float = PEAK_BUDGET) -> list[str]:
    """For jobs planned without ``decide_tiles`` (a benchmark row): the
    jobs of large runs that asked no ``--tile`` given the largest tile that fits, with their
    backends built (``backends``: ``Chosen`` per model folder), by :func:`settle`. Returns one line
    per model whose tile was decided."""
    _, mpix = mpix_per_model(jobs)
    mine = [j for j in jobs if j.opts.tile is None]
    pending = {f: Tiling(None, "pending", PENDING) for f in _groups(mine) if policy.probes(mpix[f])}
    grown = {f: t for f, t in settle(pending, mine, backends, threads, budget=budget).items() if t.how == "grown"}
    apply(grown, mine, layout=False)
    return [t.line for t in grown.values()]
