"""What ``bandbridge predict`` will do, decided before any work (issue 59): :class:`PredictPlan`
holds, for every input, the model it is routed to (the floor where the file's stored depth is
another sensor's), how it is read and scaled, its outputs, whether images unlike training fall
back to a floor, its reference if any, its tiles; and for every model, the backend (as asked,
cached, to be measured, or the reference unmeasured). ``predict --plan`` prints it and stops;
without ``--plan`` the same object drives the run (jobs/predict.py), so what was printed is
what runs. Building a plan reads headers, the backend cache and the reference; it writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

from bandbridge import policy  # read at call time: tests set PROBE_MPIX
from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.core.predictor import plan_file
from bandbridge.inference.jobs import job as job_module
from bandbridge.inference.jobs.job import Job, make_jobs
from bandbridge.inference.runtime.select import Decision, decide_backend


@dataclass
class PredictPlan:
    """Every decision of one ``predict`` call, made before any output is opened."""

    jobs: list[Job]
    skipped: int  # earlier outputs of bandbridge among the inputs, left out
    backends: dict[Path, Decision]  # per model folder
    references: list = field(default_factory=list)  # jobs/reference.Plan, one per job (--reference)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # files refused (a cluster run)
    cluster: object | None = None  # jobs/predict.Cluster: where it runs (None or unused: here)

    @property
    def on_cluster(self) -> bool:
        return self.cluster is not None and self.cluster.used

    @cached_property
    def mpix(self) -> dict[Path, float]:
        """Megapixels per model folder over every job: what decides a model's probe and tile
        growth (counted once, not once per job printed)."""
        return job_module.mpix_per_model(self.jobs)[1]

    def grown(self, job: Job) -> bool:
        """Whether ``job``'s tiles are grown to what memory allows once its backend is built: a
        large run here that asked no ``--tile`` (a Dask worker runs the model's own)."""
        return job.opts.tile is None and policy.probes(self.mpix[job.spec.folder]) and not self.on_cluster

    def decided(self, job: Job) -> dict:
        """What the run of ``job`` will record (its summary row's ``backend`` and ``tile``): the
        backend as ``"name precision"`` and the tile in px; None where the run decides it from a
        measure it makes first (a probe, a tile grown to the memory)."""
        d = self.backends.get(job.spec.folder)
        return {"backend": f"{d.backend} {d.precision}" if d is not None and d.how != "measure" else None,
                "tile": None if self.grown(job) else job.opts.tile or job.spec.config.inference.tile}

    def tiles(self, job: Job) -> str:
        """How ``job``'s tiles are decided: its own (or ``--tile``'s) size and count, or, for a
        large job run here, the largest that fits the memory once its backend's forward is known."""
        plan = plan_file(job.spec, job.src, job.opts)[2]
        inf = job.spec.config.inference
        size = job.opts.tile or inf.tile
        overlap = inf.overlap if job.opts.overlap is None else job.opts.overlap
        if self.grown(job):
            return (f"{size}² tiles as planned now ({plan.n_tiles}), grown to the largest that fits "
                    "half the memory available once the backend's forward memory is known "
                    "(measured once, cached; --tile sets one)")
        return (f"{plan.n_tiles} tile(s) of {size}² overlapping by {overlap} px "
                f"({'--tile' if job.opts.tile else 'the model' + chr(39) + 's own'}"
                + ("; a Dask worker does not grow them" if self.on_cluster and not job.opts.tile else "") + ")")

    def where(self) -> str:
        """Where the run happens, as ``--workers``/``--scheduler``/``--strips`` asked."""
        c = self.cluster
        if not self.on_cluster:
            return "here, file by file"
        at = f"the Dask scheduler {c.scheduler}" if c.scheduler else f"a local Dask cluster of {c.workers} worker(s)"
        strips = (f"{c.strips} strip(s) a file (--strips)" if c.strips else
                  "each file split into strips where there are fewer files than workers")
        return (f"on {at}: {strips}; each model's backend decided here once and named to every worker; "
                f"a file that fails is retried {c.retries} time(s), then listed in the summary CSV")

    def lines(self) -> list[str]:
        """The plan as ``predict --plan`` prints it: a block per input, a line per model."""
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
                    f"  tiles: {self.tiles(job)}" if not self.references else
                    "  tiles: the fit's bundle on its own tiles (1024² or less), decided once it is fitted"]
            if self.references:
                ref = self.references[i]
                out += [f"  reference: {ref.line(job.src)}", f"  route: {ref.route()}",
                        "  the model's own output: runs first only where the route or cells the reference cannot "
                        "see need it (its fallback above then applies)"]
        for folder, d in self.backends.items():
            name = next(j.spec.name for j in self.jobs if j.spec.folder == folder)
            out.append(f"backend: {d.line(name)}")
        for f, why in self.failed:
            out.append(f"refused: {f}: {why}")
        return out


def make_plan(inputs: list[str], model: str, output: str, opts: PredictOptions,
              ov: Overrides = Overrides(), overwrite: bool = False, backend: str = "auto",
              precision: str = "auto", threads: int | None = None, reference=None,
              say: Callable[[str], None] = lambda line: None, cluster=None) -> PredictPlan:
    """Check every input and decide everything (jobs/job.make_jobs, the reference's plan,
    each model's backend); on a ``cluster`` (jobs/predict.Cluster, used) a file that cannot be
    predicted is listed as refused instead of stopping. Raises the one-line refusal otherwise."""
    keep_going = cluster is not None and cluster.used
    failed: list[tuple[Path, str]] = []
    jobs, skipped = make_jobs(inputs, model, output, opts, ov, overwrite, backend, precision, threads,
                                 failed if keep_going else None)
    refs = []
    if reference is not None:
        from bandbridge.inference.jobs.reference import plan_reference
        searched: dict = {}
        refs = [plan_reference(job, reference, say, searched) for job in jobs]
    specs, mpix = job_module.mpix_per_model(jobs)
    runs_model = reference is None  # with a reference the fit's bundle runs (jobs/reference.py)
    decisions = {folder: decide_backend(spec, backend, precision, threads,
                                        measure=policy.probes(mpix[folder]))
                 for folder, spec in specs.items()} if runs_model else {}
    return PredictPlan(jobs, skipped, decisions, refs, failed, cluster)
