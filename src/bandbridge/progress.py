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


def _nothing(k: int = 1) -> None:
    return None


def steps(progress: Progress | None, what: str, total: int) -> Advance:
    """``progress``'s counter for ``total`` steps of ``what``, or a no-op without one."""
    return progress(what, total) if progress is not None else _nothing


@contextmanager
def heartbeat(say: Callable[[str], None] | None, line: Callable[[float], str],
              every: float = 20.0) -> Iterator[None]:
    """While the block runs, ``say(line(seconds so far))`` every ``every`` seconds: one long step
    (a bench row in its own process) is never silent for longer."""
    if say is None:
        yield
        return
    stop, t0 = threading.Event(), time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            say(line(time.monotonic() - t0))
    t = threading.Thread(target=beat, daemon=True, name="bandbridge-heartbeat")
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=2)
