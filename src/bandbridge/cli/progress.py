"""How the CLI shows progress (``bandbridge.progress``'s ``add(what, total)`` → ``advance``), on
stderr: a rich bar on a terminal (gone when done), plain lines on a pipe or a log (a count's
first line once the command has run ``DELAY`` seconds, then at most every ``EVERY`` seconds and at its end,
each with an estimate; a line every ``EVERY`` seconds while one long step runs), nothing under
``--quiet``. Lines, not bars, on a pipe because a bar redrawn into a log file is thousands of
lines there (pip, conda and Docker's plain mode do the same)."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

from bandbridge.progress import Progress, no_bar, repeating, shown

EVERY = 20.0  # seconds between plain lines (the promise: one at least every 30 s)
DELAY = 5.0  # seconds a count runs before its first plain line (tqdm's ``delay``): a command that
# ends sooner prints none, so a quick refusal stays one line
QUIET = False  # set by ``bandbridge --quiet``


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


class PlainLines:
    """Counts as plain lines on ``stream``: ``add(what, total)`` → ``advance(k=1)``. ``clock``
    (seconds) is injectable for tests; :meth:`beat` is what the heartbeat thread calls."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic, every: float = EVERY,
                 delay: float | None = None):
        self.stream, self.clock, self.every = stream, clock, every
        self.delay = DELAY if delay is None else delay
        self.counts: list[dict] = []
        self.lock = threading.Lock()
        self.start = self.last = clock()

    def _say(self, c: dict, ended: bool = False) -> None:
        now = self.clock()
        spent = now - c["t0"]
        line = f"{c['what']}: {c['done']}/{c['total']}, {_duration(spent)}"
        if ended:
            line = f"{c['what']}: {c['total']}/{c['total']} done in {_duration(spent)}"
        elif c["done"]:
            line += f", about {_duration(spent / c['done'] * (c['total'] - c['done']))} left"
        elif spent >= 1:
            line += ", working on the first"
        print(line, file=self.stream, flush=True)
        self.last = now
        c["said"] = True

    def _due(self, c: dict) -> bool:
        """Whether ``c`` should say something now: its first line once the command has run
        ``delay`` seconds (a later count's at once), later ones ``every`` seconds after the last
        line."""
        now = self.clock()
        return now - self.start >= self.delay if not c["said"] else now - self.last >= self.every

    def add(self, what: str, total: int) -> Callable[..., None]:
        c = {"what": what, "total": max(int(total), 0), "done": 0, "t0": self.clock(), "said": False}
        with self.lock:
            self.counts.append(c)
            if self._due(c):
                self._say(c)

        def advance(k: int = 1) -> None:
            with self.lock:
                c["done"] = min(c["done"] + k, c["total"])
                if c["done"] >= c["total"]:
                    if c["said"]:  # a count that never spoke ends as quietly
                        self._say(c, ended=True)
                    if c in self.counts:
                        self.counts.remove(c)
                elif self._due(c):
                    self._say(c)
        return advance

    def beat(self) -> None:
        """A line for the newest open count when it is due (:meth:`_due`): its first after
        ``delay`` seconds, then one every ``every`` seconds while nothing else is said."""
        with self.lock:
            if self.counts and self._due(self.counts[-1]):
                self._say(self.counts[-1])


@contextmanager
def _plain(stream: TextIO) -> Iterator[Progress]:
    lines = PlainLines(stream)
    with repeating(lines.beat, 1.0):  # a due line is said within a second
        yield lines.add


@contextmanager
def _rich(unit: str | None) -> Iterator[Progress]:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, ProgressColumn, TextColumn,
                               TimeRemainingColumn)
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} {unit}/s" if task.speed else f"… {unit}/s")
    err = Console(stderr=True, soft_wrap=True)
    with Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
              *([Rate()] if unit else []), TimeRemainingColumn(), console=err, transient=True) as bars:
        def add(what: str, total: int):
            task = bars.add_task(what, total=total)
            return lambda k=1: bars.advance(task, k)
        yield add


def bars(unit: str | None = None, stream: TextIO | None = None) -> Iterator[Progress]:
    """The progress display for one command (a context manager yielding ``add``): a bar on a
    terminal (with a rate in ``unit``/s where given), plain lines elsewhere, none when quiet."""
    stream = stream or sys.stderr
    return no_bar() if QUIET else _rich(unit) if stream.isatty() else _plain(stream)


@contextmanager
def displayed(unit: str | None = None) -> Iterator[Progress]:
    """:func:`bars` for one command, set as the display every long stage inside counts on
    (``bandbridge.progress.shown``): the fits of ``sharpen`` and ``fill`` as well as their engine's tiles."""
    with bars(unit) as add, shown(add):
        yield add
