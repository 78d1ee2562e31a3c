"""Progress on every long command (issue 48 point 2): plain lines on a pipe at most every EVERY
seconds with an estimate, a line while one long step runs, a bar on a terminal, nothing under
--quiet; checked on a fake clock (no timed asserts), then end to end on tiny inputs."""

import io
import time

from bandbridge.cli import progress
from bandbridge.cli.progress import PlainLines
from bandbridge.progress import heartbeat, no_bar, steps
from conftest import HANG_S, SAMPLE


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_plain_lines_open_with_a_line_then_speak_at_most_every_period_with_an_estimate():
    clock, buf = Clock(), io.StringIO()
    lines = PlainLines(buf, clock, every=20, delay=0)
    advance = lines.add("scoring the test split's images", 10)
    assert buf.getvalue() == "scoring the test split's images: 0/10, 0 s\n"  # at once, before any work
    clock.t += 5
    advance()
    assert buf.getvalue().count("\n") == 1  # 5 s after the last line: quiet
    clock.t += 20
    advance()  # 2 of 10 after 25 s: 12.5 s a step, 8 left
    last = buf.getvalue().splitlines()[-1]
    assert last == "scoring the test split's images: 2/10, 25 s, about 1.7 min left", last
    clock.t += 3
    advance(8)
    assert buf.getvalue().splitlines()[-1] == "scoring the test split's images: 10/10 done in 28 s"
    assert lines.counts == []


def test_one_long_step_is_not_silent_for_longer_than_the_period():
    clock, buf = Clock(), io.StringIO()
    lines = PlainLines(buf, clock, every=20, delay=0)
    lines.add("fitting 9 candidates on 4 folds (1,000 pixels)", 36)
    clock.t += 19
    lines.beat()
    assert buf.getvalue().count("\n") == 1
    clock.t += 2
    lines.beat()  # 21 s without a line, the first fit still running
    assert buf.getvalue().splitlines()[-1] == "fitting 9 candidates on 4 folds (1,000 pixels): 0/36, 21 s, working on the first"
    lines.beat()  # just said: not again
    assert buf.getvalue().count("\n") == 2


def test_a_command_quicker_than_the_delay_says_nothing_and_a_longer_one_speaks_at_the_delay():
    # tqdm's `delay`: a refusal two seconds in stays one line on stderr; a job that runs on gets
    # its first line at DELAY (5 s), within the 10 s the issue asks for
    clock, buf = Clock(), io.StringIO()
    lines = PlainLines(buf, clock, every=20, delay=5)
    advance = lines.add("reading the test split", 1)
    clock.t += 2
    advance()
    assert buf.getvalue() == ""  # done before the delay: not a word, not even "done"
    scored = lines.add("scoring the test split's images", 4)
    lines.beat()
    assert buf.getvalue() == ""
    clock.t += 3  # 5 s into the command
    lines.beat()
    assert buf.getvalue() == "scoring the test split's images: 0/4, 3 s, working on the first\n"
    scored(4)
    assert buf.getvalue().splitlines()[-1] == "scoring the test split's images: 4/4 done in 3 s"
    later = lines.add("writing", 2)  # past the delay: a new count speaks when it opens
    assert buf.getvalue().splitlines()[-1] == "writing: 0/2, 0 s"
    later(2)


def test_bars_draw_a_bar_on_a_terminal_lines_on_a_pipe_and_nothing_when_quiet(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr(progress, "QUIET", False)
    assert progress.bars(stream=Tty()).func is progress._rich.__wrapped__
    assert progress.bars(stream=io.StringIO()).func is progress._plain.__wrapped__
    monkeypatch.setattr(progress, "QUIET", True)
    assert progress.bars(stream=Tty()).func is no_bar.__wrapped__
    with progress.bars() as add:
        add("anything", 3)(3)  # counts without a word
    assert steps(None, "no display", 5)() is None  # a library called without a display


def test_the_heartbeat_speaks_while_a_step_runs_and_stops_with_it():
    said = []
    with heartbeat(said.append, lambda s: f"[3] tiled predict: running, {s:.0f} s", every=0.05):
        deadline = time.monotonic() + HANG_S  # a hang guard (a fixed 10 s is short on a busy machine)
        while len(said) < 2 and time.monotonic() < deadline:  # waits for two beats, never asserts a duration
            time.sleep(0.01)
    n = len(said)
    time.sleep(0.15)
    assert n >= 2 and len(said) == n and said[0].startswith("[3] tiled predict: running, ")
    with heartbeat(None, str):
        pass  # no listener: no thread


def test_evaluate_prints_progress_lines_on_stderr_and_none_with_quiet(run_cli, trained_run, tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "DELAY", 0.0)  # the tiny sample takes less than the delay
    code, _, err = run_cli("evaluate", "-m", str(trained_run), "--data", str(SAMPLE), "-o", str(tmp_path / "a"))
    assert code == 0, err
    assert "reading the test split: 0/1" in err and "fitting the baselines on it" in err, err
    assert "scoring the test split's images: 0/" in err, err
    assert "done in" in err
    code, _, err = run_cli("--quiet", "evaluate", "-m", str(trained_run), "--data", str(SAMPLE),
                           "-o", str(tmp_path / "b"))
    assert code == 0 and "scoring the test split" not in err, err


def test_the_wall_time_predict_prints_counts_the_process_start_up():
    # the 28.1 s printed for 36.1 s: imports were left out. A process that spends 0.5 s
    # before bandbridge is even imported reports at least that (a lower bound: no timed assert)
    import subprocess
    import sys
    code = ("import time; time.sleep(0.5); from bandbridge.machine import process_seconds; "
            "print(process_seconds())")
    seconds = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout)
    assert seconds >= 0.5 - 0.011  # /proc/uptime counts hundredths
