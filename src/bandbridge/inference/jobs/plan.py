"""What ``bandbridge predict`` will do, decided before any work: :class:`PredictPlan` holds, for
every input, its model, reading, outputs and fallback; for every model, the backend and its tiles
(jobs/tiles.py; where a measure must come first, decided by the same rule once the backend is
built, before any output is opened). ``predict --plan`` prints it and stops; otherwise the same
object drives the run here or on Dask (jobs/predict.py), so what was printed is what runs.
Building a plan reads headers, a bounded look at each file's values (``policy.LOOK_READ_MPIX``)
and the backend cache; it writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bandbridge import policy  # read at call time: tests set PROBE_MPIX
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.core.predictor import plan_file
from bandbridge.inference.jobs import tiles as tiling_module
from bandbridge.inference.jobs.job import Job, make_jobs
from bandbridge.inference.jobs.tiles import Tiling, decide_tiles
from bandbridge.inference.runtime.select import Decision, decide_backend


@dataclass
class PredictPlan:
    """Every decision of one ``predict`` call, made before any output is opened."""

    jobs: list[Job]
    skipped: int  # earlier outputs of bandbridge among the inputs, left out
    backends: dict[Path, Decision]  # per model folder
    failed: list[tuple[Path, str]] = field(default_factory=list)  # files refused (a cluster run)
    threads: int | None = None  # --threads (the forward's memory is measured per thread count)
    cluster: object | None = None  # jobs/predict.Cluster: where it runs (None or unused: here)
    tiling: dict[Path, Tiling] = field(default_factory=dict)  # per model folder (jobs/tiles.py)
    resident: float | None = None  # this process's resident size when the plan was made (bytes)

    @property
    def on_cluster(self) -> bool:
        return self.cluster is not None and self.cluster.used

    @property
    def workers(self) -> int | None:
        """The workers of a local Dask cluster (None: here, or a running scheduler's)."""
        return self.cluster.workers if self.on_cluster else None

    def decided(self, job: Job) -> dict:
        """What the run of ``job`` will record (its summary row's ``backend`` and ``tile``): the
        backend as ``"name precision"`` and the tile in px; None where the run decides it from a
        measure it makes first (a probe; a forward's memory not measured yet)."""
        d = self.backends.get(job.spec.folder)
        t = self.tiling.get(job.spec.folder)
        return {"backend": f"{d.backend} {d.precision}" if d is not None and d.how != "measure" else None,
                "tile": t.tile if t is not None else job.opts.tile or job.spec.config.inference.tile}

    def tiles(self, job: Job) -> str:
        """How ``job``'s tiles are decided: their size and count and why, or, where a measure must
        come first, what decides them."""
        t = self.tiling.get(job.spec.folder)
        inf = job.spec.config.inference
        overlap = inf.overlap if job.opts.overlap is None else job.opts.overlap
        if t is not None and t.tile is None:
            now = plan_file(job.spec, job.src, job.opts)[2].n_tiles  # --plan only: the run computes it once decided
            return f"{inf.tile}² tiles as planned now ({now}), {t.why}"
        n = (job.layout or plan_file(job.spec, job.src, job.opts))[2].n_tiles
        size = t.tile if t is not None else job.opts.tile or inf.tile
        why = t.why if t is not None else "--tile" if job.opts.tile else "the model's own"
        return f"{n} tile(s) of {size}² overlapping by {overlap} px ({why})"

    def settle(self, runs: dict) -> list[str]:
        """The tiles left to the built backends (``runs``: ``Chosen`` per model folder) decided,
        before any output is opened or any task sent (jobs/tiles.settle), and every job given its
        own; returns the lines to say (one per model whose tiles grew to the memory)."""
        self.tiling = tiling_module.settle(self.tiling, self.jobs, runs, self.threads, self.workers, self.resident)
        tiling_module.apply({f: t for f, t in self.tiling.items() if any(
            j.layout is None or j.opts.tile != t.tile for j in self.jobs if j.spec.folder == f)}, self.jobs)
        return [t.line for t in self.tiling.values() if t.line]

    def where(self) -> str:
        """Where the run happens, as ``--workers``/``--scheduler``/``--strips`` asked."""
        c = self.cluster
        if not self.on_cluster:
            return "here, file by file"
        at = f"the Dask scheduler {c.scheduler}" if c.scheduler else f"a local Dask cluster of {c.workers} worker(s)"
        strips = (f"{c.strips} strip(s) a file (--strips)" if c.strips else
                  "each file split into strips where there are fewer files than workers")
        return (f"on {at}: {strips}; each model's backend and tiles decided here once and named to every worker; "
                f"a file that fails is retried {c.retries} time(s), then listed in the summary CSV")

    def lines(self, more: Callable[[int], list[str]] = lambda i: []) -> list[str]:
        """The plan as ``predict --plan`` prints it: a block per input (``more(i)``: a caller's own
        lines of input ``i``), a line per model."""
        out = [f"plan: {len(self.jobs)} input(s); nothing is written with --plan", f"run: {self.where()}"]
        if self.skipped:
            out.append(f"  skipped {self.skipped} earlier output(s) of bandbridge among the inputs")
        for i, job in enumerate(self.jobs):
            floor = job.spec.floor
            extra = [*(f"{job.dst.stem}_{k}{job.dst.suffix}" for k in job.opts.indices),
                     *([f"{job.dst.stem}_error{job.dst.suffix}"] if job.opts.confidence else [])]
            out += [f"{job.src} → {job.dst}" + (f" (and {', '.join(extra)} beside it)" if extra else ""),
                    f"  model and reading: {job.note}",
                    "  fallback: " + (f"images unlike every training source get the zero-shot floor "
                                      f"({floor.get('kind', 'linear')} linear map of "
                                      f"{len(floor.get('sources') or [])} source(s))" if floor else
                                      "none (the model carries no floor)"),
                    f"  tiles: {self.tiles(job)}", *more(i)]
        for folder, d in self.backends.items():
            name = next(j.spec.name for j in self.jobs if j.spec.folder == folder)
            out.append(f"backend: {d.line(name)}")
        for f, why in self.failed:
            out.append(f"refused: {f}: {why}")
        return out


def make_plan(inputs: list[str], model: str, output: str, opts: PredictOptions,
              ov: Overrides = Overrides(), overwrite: bool = False, backend: str = "auto",
              precision: str = "auto", threads: int | None = None, cluster=None,
              reads: list[str] = ()) -> PredictPlan:
    """Check every input and decide everything (jobs/job.make_jobs, each model's backend and tiles);
    on a ``cluster`` (jobs/predict.Cluster, used) a file that cannot be predicted is listed as
    refused instead of stopping; ``reads``: the other files the run reads (never an output). Raises
    the one-line refusal otherwise."""
    keep_going = cluster is not None and cluster.used
    failed: list[tuple[Path, str]] = []
    jobs, skipped = make_jobs(inputs, model, output, opts, ov, overwrite, backend, precision, threads,
                              failed if keep_going else None, reads)
    from bandbridge.inference.runtime.memory import resident_bytes
    resident = resident_bytes()
    specs, mpix = tiling_module.mpix_per_model(jobs)
    decisions = {folder: decide_backend(spec, backend, precision, threads, measure=policy.probes(mpix[folder]))
                 for folder, spec in specs.items()}
    tiling = decide_tiles(jobs, decisions, threads, cluster.workers if keep_going else None,
                          keep_going and cluster.scheduler is not None)
    for job in list(jobs):  # the decided ones laid out; the pending once their backend is built (settle)
        try:
            tiling_module.apply(tiling, [job])
        except BandbridgeError as e:
            if not keep_going:
                raise
            failed.append((job.src, str(e)))
            jobs.remove(job)
    return PredictPlan(jobs, skipped, decisions, failed, threads, cluster, tiling, resident)
