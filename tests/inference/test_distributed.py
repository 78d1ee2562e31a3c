"""Prediction on a local Dask cluster of two worker processes: six real rasters with one corrupt,
strips of one raster across workers, a file that fails on its worker; outputs equal to the
single-process ones."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import rasterio

from conftest import SAMPLE

pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'bandbridge[dist]')")

NAIP_DIR = SAMPLE / "nir_naip_opengeos"
FIXED = ["--backend", "torch", "--precision", "fp32", "--dtype", "float32"]


def _strips_and_single(run_cli, raster, model, tmp_path, *extra: str) -> None:
    """``predict`` on two workers in 3 strips (into ``d/n.tif``) and in one process (``s.tif``)
    with the same flags ``extra``; both must succeed and write the same raster."""
    code, _, err = run_cli("predict", str(raster), "-m", str(model), "-o", str(tmp_path / "d" / "n.tif"),
                           "--workers", "2", "--strips", "3", *extra, *FIXED)
    assert code == 0, err
    code, _, err = run_cli("predict", str(raster), "-m", str(model), "-o", str(tmp_path / "s.tif"),
                           *extra, *FIXED)
    assert code == 0, err
    _same(tmp_path / "d" / "n.tif", tmp_path / "s.tif")


def _same(a, b) -> None:
    with rasterio.open(a) as x, rasterio.open(b) as y:
        assert (x.crs, x.transform, x.shape, x.count) == (y.crs, y.transform, y.shape, y.count)
        u, v = x.read(), y.read()
    assert np.array_equal(np.isnan(u), np.isnan(v)) and np.nanmax(np.abs(u - v)) <= 1e-5


def test_six_rasters_one_corrupt_on_two_workers(run_cli, trained_run, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for f in sorted(NAIP_DIR.glob("*.tif")):
        shutil.copy(f, src / f.name)
    shutil.copy(next(NAIP_DIR.glob("*2009*.tif")), src / "copy_2009.tif")
    (src / "corrupt.tif").write_bytes(next(NAIP_DIR.glob("*2012*.tif")).read_bytes()[:3000])
    assert len(list(src.iterdir())) == 6
    code, out, err = run_cli("predict", str(src), "-m", str(trained_run), "-o", str(tmp_path / "dist"),
                             "--workers", "2", *FIXED)
    assert code == 1  # one file failed
    failed = [ln for ln in err.splitlines() if ln.startswith("failed: ")]
    assert len(failed) == 1 and "corrupt.tif: " in failed[0] and "truncated or corrupt" in failed[0], err
    assert "Traceback" not in err + out and "Compute Failed" not in err + out and "Error(" not in err
    assert "5 of 6 files predicted" in out
    code, _, err = run_cli("predict", str(src / "*_*.tif"), "-m", str(trained_run), "-o",
                           str(tmp_path / "single"), *FIXED)
    assert code == 0, err
    outputs = sorted((tmp_path / "single").glob("*.tif"))
    assert len(outputs) == 5
    for p in outputs:
        _same(tmp_path / "dist" / p.name, p)
    with open(tmp_path / "dist" / "bandbridge-summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and sum(r["status"] == "ok" for r in rows) == 5
    bad = next(r for r in rows if r["status"] == "failed")
    assert bad["file"].endswith("corrupt.tif") and bad["error"] and not bad["output"]
    assert all(float(r["mpix"]) > 0 and r["output"] for r in rows if r["status"] == "ok")
    assert not [p for p in (tmp_path / "dist").iterdir() if p.name.startswith(".")]  # no strips, no temps


def test_one_raster_in_strips_across_workers_equals_single_process(run_cli, trained_run, tmp_path):
    naip = next(NAIP_DIR.glob("*2020*.tif"))
    _strips_and_single(run_cli, naip, trained_run, tmp_path, "--index", "ndvi")
    _same(tmp_path / "d" / "n_ndvi.tif", tmp_path / "s_ndvi.tif")
    with rasterio.open(tmp_path / "d" / "n.tif") as a, rasterio.open(tmp_path / "s.tif") as b:
        assert a.descriptions == b.descriptions and a.tags()["bandbridge_model"] == b.tags()["bandbridge_model"]
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["bandbridge-summary.csv", "n.tif", "n_ndvi.tif"]


def test_a_file_that_fails_on_its_worker_is_reported_after_its_retries(trained_run, tmp_path):
    from bandbridge.inference.jobs.distributed import run_distributed
    from bandbridge.inference.jobs.job import make_jobs
    from bandbridge.inference.core.predictor import PredictOptions
    src = tmp_path / "in"
    src.mkdir()
    for f in sorted(NAIP_DIR.glob("*.tif"))[:2]:
        shutil.copy(f, src / f.name)
    jobs, _ = make_jobs([str(src)], str(trained_run), str(tmp_path / "out"), PredictOptions())
    gone = jobs[0].src
    gone.unlink()  # planned, then gone before its worker reads it
    rows = run_distributed(jobs, "torch", "fp32", 1, None, 2, retries=1, strips=1, summary=tmp_path / "s.csv")
    by = {r["file"]: r for r in rows}
    assert by[str(gone)]["status"] == "failed" and gone.name in by[str(gone)]["error"]
    assert by[str(jobs[1].src)]["status"] == "ok" and (tmp_path / "s.csv").exists()


def _server(reply: bytes | None):
    """A local TCP service that is not Dask: it sends ``reply`` (None: stays silent)."""
    import socket
    import threading
    srv = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            if reply:
                conn.sendall(reply)
            threading.Thread(target=hold, args=(conn,), daemon=True).start()

    def hold(conn):
        """Open until the client hangs up (60 s at most, a hang guard): a silent service is
        left by the probe's own timeout only, however slow the machine."""
        conn.settimeout(60)
        try:
            conn.recv(1)
        except OSError:
            pass
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv, f"tcp://127.0.0.1:{srv.getsockname()[1]}"


@pytest.mark.parametrize("reply,says", [(b"SSH-2.0-OpenSSH_9.6\r\n", "not like a Dask scheduler"),
                                        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not like a Dask scheduler"),
                                        (None, "no Dask handshake within")])
def test_a_service_that_is_not_dask_is_refused_within_seconds(run_cli, tmp_path, monkeypatch, reply, says):
    # "within seconds": the probe's every wait is bounded by HANDSHAKE_S (the socket's timeout,
    # recorded here; the silent service is refused by that timeout, its message names it), not
    # by the wall time this run took, which is the machine's business
    import socket
    import types

    from bandbridge.inference.jobs import distributed
    monkeypatch.setattr(distributed, "HANDSHAKE_S", 0.5)
    timeouts = []

    def connect(address, timeout=None, **kw):
        timeouts.append(timeout)
        return socket.create_connection(address, timeout=timeout, **kw)
    monkeypatch.setattr(distributed, "socket", types.SimpleNamespace(create_connection=connect,
                                                                     timeout=socket.timeout))
    srv, address = _server(reply)
    try:
        code, out, err = run_cli("predict", str(next(NAIP_DIR.glob("*.tif"))), "-m", "rgb2nir-naip", "-o",
                                 str(tmp_path / "o"), "--scheduler", address, *FIXED)
    finally:
        srv.close()
    assert timeouts == [0.5] and (reply or "within 0.5 s" in err), (timeouts, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and says in lines[0] and "--scheduler" in lines[0], err
    assert "Traceback" not in err + out and not (tmp_path / "o").exists()


def test_a_real_scheduler_passes_the_probe():
    from distributed import LocalCluster

    from bandbridge.inference.jobs.distributed import probe_scheduler
    with LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        probe_scheduler(cluster.scheduler_address)


def test_a_file_that_cannot_be_read_is_returned_not_raised(trained_run, tmp_path):
    """Dask retries raised exceptions only: a file's mistake comes back as a value, once."""
    from bandbridge.inference.jobs.distributed import _task
    from bandbridge.inference.jobs.job import make_jobs
    from bandbridge.inference.core.predictor import PredictOptions
    src = tmp_path / "a.tif"
    shutil.copy(next(NAIP_DIR.glob("*.tif")), src)
    jobs, _ = make_jobs([str(src)], str(trained_run), str(tmp_path / "o.tif"), PredictOptions())
    src.write_bytes(src.read_bytes()[:2000])
    res = _task(jobs[0], "torch", "fp32", 1)
    assert "a.tif" in res["error"] and res["mpix"] == 0.0


def test_an_interrupted_run_leaves_no_strips_folder(trained_run, tmp_path):
    from bandbridge.fileio import HOST, remove_stale
    from bandbridge.inference.jobs.distributed import run_distributed
    from bandbridge.inference.jobs.job import make_jobs
    from bandbridge.inference.core.predictor import PredictOptions
    out = tmp_path / "o"
    jobs, _ = make_jobs([str(next(NAIP_DIR.glob("*.tif")))], str(trained_run), str(out / "n.tif"),
                           PredictOptions())

    def interrupt(n):
        def tick():
            raise KeyboardInterrupt
        return tick
    with pytest.raises(KeyboardInterrupt):
        run_distributed(jobs, "torch", "fp32", 1, None, 1, strips=3, summary=out / "s.csv", progress=interrupt)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    killed = out / f".n.tif-strips.{HOST}-999999.abc123.partial"  # a killed run's (pid gone)
    killed.mkdir()
    (killed / "strip0000.tif").write_bytes(b"x")
    remove_stale(out)
    assert not killed.exists()


def test_a_boosted_learner_in_strips_across_workers_equals_single_process(run_cli, tmp_path):
    """A bundle whose model is LightGBM's trees (learners/) predicts on Dask workers as here:
    the trees travel inside the bundle's safetensors, each worker rebuilds them."""
    import torch

    from conftest import learner_bundle
    from bandbridge.learners.folds import gather
    from bandbridge.learners.gbm import GBM
    naip = next(NAIP_DIR.glob("*2020*.tif"))
    with rasterio.open(naip) as src:
        a = torch.from_numpy(src.read().astype(np.float32) / 255)
    px, _ = gather([(a[:3], a[3:], torch.ones(a.shape[1:], dtype=torch.bool))], ["one"], max_pixels=20_000)
    bundle = learner_bundle(tmp_path / "gbm", GBM(context=True).fit(px.X, px.Y, 3))
    _strips_and_single(run_cli, naip, bundle, tmp_path, "--tile", "192")
