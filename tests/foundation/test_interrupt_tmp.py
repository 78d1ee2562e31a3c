"""SIGTERM to a run's whole process group (a shell's `timeout`, a scheduler stopping a job) leaves nothing in
TMPDIR (issue 98): `gaps`' case processes' work folders, and Dask's scratch of `--workers`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HANG_S, REPO, SAMPLE, SHARED, needs_shared


def _stopped_when(args: list[str], tmp: Path, started) -> tuple[int, str]:
    """Run the CLI with ``TMPDIR=tmp`` in its own process group, SIGTERM the group once ``started(tmp)`` holds,
    and return its exit code and stderr."""
    tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", TMPDIR=str(tmp))
    proc = subprocess.Popen([sys.executable, "-m", "bandbridge.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + HANG_S
    while not started(tmp) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG_S)
    return proc.returncode, err


@needs_shared
def test_gaps_stopped_by_sigterm_leaves_no_work_folder(tmp_path):
    """Its cases run in two spawned processes, each a fill with a work folder: they were left in TMPDIR."""
    code, err = _stopped_when(["gaps", "--data", str(SHARED), "-o", str(tmp_path / "g"), "--pairs", "1",
                               "--no-sources"], tmp_path / "tmp",
                              lambda t: any(t.rglob("bandbridge-fill-*")))
    assert code == 143 and "interrupted (SIGTERM)" in err, err
    assert not list((tmp_path / "tmp").iterdir()), sorted(p.name for p in (tmp_path / "tmp").rglob("*"))


def test_workers_stopped_by_sigterm_leave_no_dask_scratch(tmp_path):
    """A local Dask cluster's scratch (TMPDIR/dask-scratch-space: its lock files, the workers' folders) was left."""
    pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'bandbridge[dist]')")
    code, err = _stopped_when(["predict", str(SAMPLE / "nir_naip_opengeos"), "-m", "rgb2nir", "-o",
                               str(tmp_path / "p"), "--workers", "2"], tmp_path / "tmp",
                              lambda t: any(p.name.startswith("worker-") for p in t.rglob("*")))
    assert code == 143 and "interrupted (SIGTERM)" in err, err
    assert not list((tmp_path / "tmp").iterdir()), sorted(p.name for p in (tmp_path / "tmp").rglob("*"))
