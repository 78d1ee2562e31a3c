"""``bandbridge predict`` in one call (:func:`predict`): every input planned and checked, the STAC
Items checked, then the files predicted here or on a Dask cluster, with a STAC Item beside each
output where asked. What happens is told line by line through ``say``; one row per input comes
back (the rows of the Dask summary CSV)."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.interop.stac import check_items, write_item
from bandbridge.inference.jobs.distributed import check_cluster, check_cluster_flags, log_path, run_distributed
from bandbridge.inference.jobs.job import Job, prepare_backends, run_predict
from bandbridge.inference.jobs.plan import PredictPlan, make_plan
from bandbridge.progress import no_bar, nothing

# A progress display: opened round the work; ``add(what, total)`` gives the ``advance(k=1)`` of one bar.
Bar = Callable[[], ContextManager[Callable[[str, int], Callable[..., None]]]]


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """A Dask run (``--workers`` starts a local cluster, ``--scheduler`` uses a running one);
    neither: the files are predicted here."""

    workers: int | None = None
    scheduler: str | None = None
    retries: int = 2  # of a failed file
    strips: int | None = None  # per raster; None: enough for every worker
    summary: str | None = None  # the CSV; None: bandbridge-summary.csv beside the outputs

    @property
    def used(self) -> bool:
        return self.workers is not None or self.scheduler is not None


@dataclass(frozen=True, kw_only=True)
class Engine:
    """How a model runs, here or on Dask: ``--backend``, ``--precision``, ``--threads``, ``--compile``
    and the cluster (``--workers``/``--scheduler``; unused: here). The one engine-options type of
    every command that runs a model, a fit made for one run (``inference/place``) included."""

    backend: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    compile: bool = False
    cluster: Cluster = Cluster()

    @property
    def on_cluster(self) -> bool:
        return self.cluster.used


@dataclass(frozen=True)
class Outcome:
    rows: list[dict]  # one per input: file, status (ok/failed), seconds, mpix, output, error
    seconds: float  # wall time from the backends' choice on (model loading and any probe included)
    summary: Path | None = None  # a Dask run's summary CSV
    log: Path | None = None  # and where its failures' tracebacks and Dask's log went

    def report(self, wall_s: float) -> tuple[list[str], list[str]]:
        """``(lines, failures)`` a user reads at the end: the files, megapixels and ``wall_s`` (the
        process's wall time) here; on a cluster each failed file and the summary's place."""
        if self.summary is None:
            mpix = sum(r["mpix"] for r in self.rows)
            return [f"{len(self.rows)} file(s), {mpix:.2f} MPix in {wall_s:.1f} s wall time "
                    f"({mpix / max(wall_s, 1e-9):.2f} MPix/s; start-up, model loading, the check sample and any "
                    "backend probe included)"], []
        bad = [r for r in self.rows if r["status"] != "ok"]
        failures = [f"failed: {r['error'] if r['error'].startswith(r['file']) else r['file'] + ': ' + r['error']}"
                    for r in bad]  # the reason usually names the file already
        return [f"{len(self.rows) - len(bad)} of {len(self.rows)} files predicted; summary: {self.summary}"
                + (f"; tracebacks and Dask log: {self.log}" if self.log is not None and self.log.exists() else "")], failures


def predict(inputs: list[str], model: str, output: str, opts: PredictOptions, ov: Overrides = Overrides(),
            *, overwrite: bool = False, backend: str = "auto", precision: str = "auto",
            threads: int | None = None, compile: bool = False, cluster: Cluster = Cluster(),
            stac: bool = False, say: Callable[[str], None] = lambda line: None, bar: Bar = no_bar,
            plan_only: bool = False) -> Outcome:
    """Plan every input (jobs/plan.py: nothing is written before all are checked; on a cluster a
    file that cannot be predicted becomes a failed row instead), check the STAC Items, then
    predict as the plan says. ``plan_only``: say the plan and stop (``--plan``). (``--reference``:
    ``inference/place/reference.predict_with_reference``.)"""
    check_cluster_flags(cluster.workers, cluster.scheduler, cluster.retries, cluster.strips, cluster.summary,
                        opts.confidence)
    plan = make_plan(inputs, model, output, opts, ov, overwrite, backend, precision, threads, cluster)
    if stac:  # every Item's path and geometry checked before the work
        check_items(plan.jobs, overwrite)
    if plan_only:
        for line in plan.lines():
            say(line)
        return Outcome([], 0.0)
    if plan.skipped:
        say(f"skipped {plan.skipped} earlier output(s) of bandbridge among the inputs")
    engine = Engine(backend=backend, precision=precision, threads=threads, compile=compile, cluster=cluster)
    if cluster.used:
        return _on_cluster(plan, summary_path(Path(output), cluster), engine, stac, say, bar)
    for job in plan.jobs:
        say(job.note)
    t0 = time.perf_counter()
    return Outcome(_here(plan, engine, stac, say, bar), time.perf_counter() - t0)


def serve(jobs: list[Job], backends: dict, tiling: dict, labels: dict[Path, str], engine: Engine = Engine(),
          summary: Path | None = None, say: Callable[[str], None] = lambda line: None,
          add: Callable[[str, int], Callable[..., None]] = nothing) -> list[dict]:
    """Jobs of a model made for one run (a reference fit's bundle, a fill's) through predict's own
    branches, here or on ``engine.cluster`` (its ``summary`` CSV then gets their rows and its log their
    tracebacks), on the backends (``runtime/select.Decision`` per model folder) and tiles
    (``tiles.Tiling`` per model folder) decided in their plan; ``labels``: each job's name in what is
    said, by its ``dst``; ``add``: the open progress display's. One row per job (``status``,
    ``error``, ``backend``, ``tile``, …, its ``file`` the job's ``src``)."""
    plan = PredictPlan(jobs, 0, backends, threads=engine.threads, cluster=engine.cluster, tiling=tiling)
    label = lambda job: labels[job.dst]  # noqa: E731
    bar = lambda: nullcontext(add)  # noqa: E731 - the display the caller opened
    if engine.on_cluster:
        return _on_cluster(plan, summary, engine, False, say, bar, label).rows
    return _here(plan, engine, False, say, bar, label)


def _here(plan: PredictPlan, e: Engine, stac: bool, say: Callable[[str], None], bar: Bar,
          label: Callable[[Job], str] | None = None) -> list[dict]:
    """The plan carried out here: each model's backend built as the plan decided it, the tiles it
    left to it decided, then file by file; one row each. ``label``: how a job is named in what is
    said (a reference fit's: its input's name; None: its output)."""
    jobs = plan.jobs
    runs = prepare_backends(jobs, e.backend, e.precision, e.threads, e.compile, announce=say, decisions=plan.backends)
    for folder, run in runs.items():  # once per model, before any work: what runs it and why
        first = next(j for j in jobs if j.spec.folder == folder)
        say(f"backend: {label(first) + ': ' if label else ''}{run.choice}")
    for line in plan.settle(runs):  # the tiles the plan left to the built backend; every job's own
        say(line)
    rows = []
    with bar() as add:
        for job, stats, run in run_predict(jobs, runs, lambda job, n: add(f"{label(job) if label else job.src.name}, "
                                                                           "tiles", n)):
            items = [write_item(job.dst, job.src, job.spec)] if stac else []
            say(f"{label(job) if label else job.dst}  {stats.tiles} tiles, {stats.megapixels:.2f} MPix in "
                f"{stats.seconds:.1f} s ({stats.mpix_per_s:.2f} MPix/s; {run.name} {run.precision})"
                + "".join(f"\n{p}" for p in stats.extra_outputs + items))
            for line in stats.notes:  # e.g. the never-worse guard faded the model toward its baseline
                say(f"note: {job.src.name}: {line}")
            rows.append({"file": str(job.src), "status": "ok", "seconds": stats.seconds, "mpix": stats.megapixels,
                         "output": str(job.dst), "error": "", "backend": f"{run.name} {run.precision}",
                         "tile": stats.tile, "tiles": stats.tiles})  # what ran it, on the tiles the plan said
    return rows


def summary_path(dest: Path, cluster: Cluster) -> Path:
    """Where a cluster run's summary CSV goes: ``--summary``, else beside the outputs."""
    where = dest.parent if dest.suffix.lower() in (".tif", ".tiff") else dest
    return Path(cluster.summary) if cluster.summary else where / "bandbridge-summary.csv"


def _on_cluster(plan: PredictPlan, path: Path, e: Engine, stac: bool, say: Callable[[str], None], bar: Bar,
                label: Callable[[Job], str] | None = None) -> Outcome:
    """The plan carried out on Dask: the summary (``path``) and scheduler checked, each model's
    backend built here once (and named to the workers), the tiles it left to it decided, then the
    tasks sent. ``label``: as for :func:`_here`."""
    jobs = plan.jobs
    t0 = time.perf_counter()
    c = e.cluster
    check_cluster(jobs, c.scheduler, path)
    runs = prepare_backends(jobs, e.backend, e.precision, e.threads, announce=say, decisions=plan.backends)
    for line in plan.settle(runs):
        say(line)
    with bar() as add:
        rows = run_distributed(jobs, e.backend, e.precision, e.threads, c.scheduler, c.workers, c.retries, c.strips,
                               path, plan.failed, lambda n: add("tasks", n), announce=say, decisions=plan.backends,
                               runs=runs)
    by_dst = {str(j.dst): j for j in jobs}
    for r in rows:
        if r["status"] == "ok":
            j = by_dst[r["output"]]
            say(f"{label(j) if label else r['output']}  {r['mpix']:.2f} MPix in {r['seconds']:.1f} s"
                + (f" ({r['backend']})" if label else ""))
            for line in filter(None, r.get("note", "").split(" | ")):  # the guard faded, as above
                say(f"note: {Path(r['file']).name}: {line}")
            if stac:
                say(str(write_item(j.dst, j.src, j.spec)))
    return Outcome(rows, time.perf_counter() - t0, path, log_path(path))
