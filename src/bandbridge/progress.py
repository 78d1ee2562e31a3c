"""The one progress protocol of long work (predict's tiles, evaluate's images, adapt's fits,
LOSO's folds, timeseries' dates): the caller hands a function ``add(what, total)`` that opens a
count of ``total`` steps named ``what`` and returns ``advance(k=1)``. The library counts; the CLI
draws (``cli/progress.py``: a bar on a terminal, a plain line on a pipe, nothing under --quiet).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterable, Iterator, TypeVar

Advance = Callable[..., None]  # advance(k: int = 1)
Progress = Callable[[str, int], Advance]  # add(what, total) -> advance
T = TypeVar("T")


def nothing(what: str, total: int) -> Advance:
    """An ``add`` that counts nothing."""
    return lambda k=1: None


@contextmanager
def no_bar() -> Iterator[Progress]:
    """No display (``--quiet``, a library call): a context manager yielding :func:`nothing`."""
    yield nothing


def counted(items: Iterable[T], advance: Advance) -> Iterator[T]:
    """``items``, ``advance()`` after the loop body is done with each (a pass's strips counted as they finish)."""
    for x in items:
        yield x
        advance()


def steps(progress: Progress | None, what: str, total: int) -> Advance:
    """``progress``'s counter for ``total`` steps of ``what``, or the display :func:`shown` set, or a no-op."""
    return (progress or current())(what, total)


_SHOWN: ContextVar[Progress | None] = ContextVar("bandbridge_progress", default=None)


@contextmanager
def shown(add: Progress | None) -> Iterator[Progress]:
    """While the block runs, ``add`` is the display every long stage inside counts on (:func:`current`) where
    its caller handed it none: a command sets it once for the stages of libraries it does not call itself (the
    selection core's folds inside a kind's fit). ``None`` leaves what is set."""
    if add is None:
        yield current()
        return
    token = _SHOWN.set(add)
    try:
        yield add
    finally:
        _SHOWN.reset(token)


def current() -> Progress:
    """The display :func:`shown` set, else :func:`nothing`."""
    return _SHOWN.get() or nothing


@contextmanager
def repeating(fn: Callable[[], None], every: float) -> Iterator[None]:
    """While the block runs, ``fn()`` every ``every`` seconds on a daemon thread (stopped, and
    waited for, when the block ends)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            fn()
    t = threading.Thread(target=loop, daemon=True, name="bandbridge-progress")
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=2)


@contextmanager
def heartbeat(say: Callable[[str], None] | None, line: Callable[[float], str],
              every: float = 20.0) -> Iterator[None]:
    """While the block runs, ``say(line(seconds so far))`` every ``every`` seconds: one long step
    (a bench row in its own process) is never silent for longer."""
    if say is None:
        yield
        return
    t0 = time.monotonic()
    with repeating(lambda: say(line(time.monotonic() - t0)), every):
        yield
