"""The one progress protocol of long work (predict's tiles, evaluate's images, adapt's fits,
LOSO's folds, timeseries' dates): the caller hands a function ``add(what, total)`` that opens a
count of ``total`` steps named ``what`` and returns ``advance(k=1)``. The library counts; the CLI
draws (``cli/progress.py``: a bar on a terminal, a plain line on a pipe, nothing under --quiet).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

Advance = Callable[..., None]  # advance(k: int = 1)
Progress = Callable[[str, int], Advance]  # add(what, total) -> advance


def nothing(what: str, total: int) -> Advance:
    """An ``add`` that counts nothing."""
    return lambda k=1: None


@contextmanager
def no_bar() -> Iterator[Progress]:
    """No display (``--quiet``, a library call): a context manager yielding :func:`nothing`."""
    yield nothing


def steps(progress: Progress | None, what: str, total: int) -> Advance:
    """``progress``'s counter for ``total`` steps of ``what``, or a no-op without one."""
    return (progress or nothing)(what, total)


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
