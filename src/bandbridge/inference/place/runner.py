"""The contract of a fit at the place and its one runner.

A kind (reference, fill, sharpen: ``place/kinds.py``; its type ``place/contract.Kind``, its request the
kind's frozen request of ``place/contract.py``) is four steps, and the runner does the rest:

- ``plan(request, engine, say)``: every input opened and every refusal made before any work; the
  plan's ``lines()`` end with its :class:`~bandbridge.inference.place.plan.Block` (route, backend,
  tiles, memory), its ``output`` the path the run writes and its ``block`` the block itself;
- ``fit(plan, work, serve, say, add)``: the route chosen held out at the place and each fit saved as
  a bundle (``place/bundle.save``); returns a fitted object whose ``jobs`` are the engine's jobs for
  those bundles (``engine.job``; none where no band takes a fit) and ``labels`` their names. ``serve``
  runs a job list through the engine at once (for a pass the fit needs first: the model's own output);
- ``finish(plan, fitted, rows, say, add)``: the output written by strips through the one writer
  (``core/outputs.write_strips``), tagged by ``place/tags.py``; returns what the command reports.

:func:`run` is that sequence, on the one engine (``place/engine.py``) and in one work folder.
"""

from __future__ import annotations

from typing import Callable

from bandbridge.data.reader import return_large_buffers
from bandbridge.inference.jobs.predict import Engine
from bandbridge.inference.place import engine as eng
from bandbridge.inference.place.contract import Kind
from bandbridge.inference.place.plan import work_disk
from bandbridge.progress import current, shown


def run(kind: Kind, request, engine: Engine = Engine(), say: Callable[[str], None] = lambda s: None,
        plan_only: bool = False, add=None, plan=None):
    """``kind`` on ``request``: planned (``plan``: one made already), said, its work folder's space checked,
    fitted, served and finished; None where only the plan was asked (``--plan``) or the kind found nothing to
    do. ``add``: the progress display (``bandbridge.progress``; default the one the command set, ``shown``),
    which every stage counts on: the kind's own passes, the selection core's folds, the engine's tiles."""
    return_large_buffers()  # the passes' strips go back to the system when freed, not into the heap's fragments
    add = add or current()
    with shown(add):
        plan = plan or kind.plan(request, engine, say)
        if plan is None:
            return None
        for line in plan.lines():
            say(line)
        if plan_only:
            return None
        disk = work_disk(plan)
        eng.check_space(plan.output, engine, disk.need(), disk.words())  # before any work: one line, nothing written
        return _run(kind, plan, engine, say, add)


def _run(kind: Kind, plan, engine: Engine, say: Callable[[str], None], add):
    """The planned run in its work folder: the fit, its bundles served, the finish, each a stage counted."""
    summary = eng.summary_path(plan.output, engine)
    stage = add(f"{kind.name}: the fit, the bundle served, the finish", 3)
    with eng.work_folder(plan.output, engine, kind.name) as work, eng.work_failures(work, engine):
        serve = lambda jobs, backend=None, labels=None, summary=summary: eng.serve(  # noqa: E731 - the one way a
            jobs, engine, backend or plan.block.backend, say, labels, add, summary)  # run calls the engine
        fitted = kind.fit(plan, work, serve, say, add)
        stage()
        rows = serve(fitted.jobs, labels=fitted.labels)
        stage()
        if rows:
            say(engine_line(rows, fitted.jobs))
        done = kind.finish(plan, fitted, rows, say, add)
        stage()
        return done


def engine_line(rows: list[dict], jobs: list) -> str:
    """What the engine ran, in the plan block's terms (``Block.decided``), so the two can be held to each other:
    the backend and the tile its rows say ran, and the tiles run."""
    return (f"engine: {rows[0].get('backend', '')}, {rows[0].get('tile') or jobs[0].opts.tile}² tiles, "
            f"{sum(int(r.get('tiles') or 0) for r in rows)} tile(s) run")
