"""Shared fixtures: the repo's bundled real sample, and the optional full dev data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
SHARED = Path(os.environ.get("BANDBRIDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
HANG_S = 1800  # a hang guard, never a time limit: a test that waits this long is stuck, not slow (a
# 2-core machine with other jobs on it ran a step over 10x slower than quiet; issue 58)

needs_shared = pytest.mark.skipif(
    not (SHARED / "README.md").exists(),
    reason=f"full dev data not found at {SHARED} (set BANDBRIDGE_SHARED_DATA to its folder)")

# Overrides that shrink a preset to seconds on the bundled sample.
# two sources of the tiny sample (its early and its late dates), split by rows
REGIONS = "{train: [0, 0.6], val: [0.6, 0.8], test: [0.8, 1]}"
TWO_SOURCES = f"""
data:
  sources:
    - {{recipe: naip_opengeos, name: early, files: ["nir_naip_opengeos/*2009*.tif", "nir_naip_opengeos/*2012*.tif"], split: {{regions: {REGIONS}}}}}
    - {{recipe: naip_opengeos, name: late, files: ["nir_naip_opengeos/*2018*.tif", "nir_naip_opengeos/*2020*.tif"], split: {{regions: {REGIONS}}}}}
"""
TINY = ["model.generator.args.ngf=8", "model.generator.args.depth=5", "model.critic.args.ndf=8",
        "data.patch_size=64", "data.batch_size=2", "data.samples_per_epoch=8",
        "data.max_eval_tiles=2", "train.log_every_n_steps=1", "train.precision=32",
        "train.threads=1", "train.learner_minutes=0",
        # the tiny sample is one place at two dates: the network tests consent to within-scene
        # validation (without it, model/best is the linear map: tests/datasets/test_found_groups.py)
        "train.within_scene=true"]


@pytest.fixture(scope="session", autouse=True)
def _busy_machine():
    """``BANDBRIDGE_TEST_BUSY=N make test``: the suite beside N processes that keep a core busy
    each (issue 47: a 2-core machine other jobs keep busy), which the suite must pass too; the
    report header says so."""
    import subprocess
    import sys
    n = int(os.environ.get("BANDBRIDGE_TEST_BUSY", "0") or 0)
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        n = 0  # under pytest-xdist (`make test`) the first worker starts them: N for the machine
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    yield
    for p in procs:
        p.kill()
        p.wait()


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Backend choices and ONNX exports go to a cache of the test session, never the user's."""
    os.environ["BANDBRIDGE_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session", autouse=True)
def _quick_learner_bar():
    """``evaluate``'s ``learner`` bar (``LearnerBaseline``) searches every candidate for 120
    reference seconds and distils a student of a tree winner: ~2.5 of the 3 minutes an evaluation
    of the tiny sample took (issue 69). In-process tests give it no budget — the constant and the
    linear map, the same code path, the row still computed and scored; the search itself, its
    budget and the student are tested in tests/learners/. The ``mlp`` bar takes 100 steps (600)
    and ``gbm-context`` 10 000 pixels (50 000): fitted and scored as ever, on less. Subprocesses
    keep the real settings."""
    from bandbridge.learners.baselines import GBMContextBaseline, LearnerBaseline, MLPBaseline
    fit_pairs = LearnerBaseline.fit_pairs

    def quick(self, train, val=None, budget_s=0.0):
        return fit_pairs(self, train, val, budget_s=budget_s)
    mp = pytest.MonkeyPatch()
    mp.setattr(LearnerBaseline, "fit_pairs", quick)
    mp.setattr(MLPBaseline.__init__, "__defaults__", (64, 100, 4096, 0))
    mp.setattr(GBMContextBaseline.__init__, "__defaults__", (10_000,))
    yield
    mp.undo()


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run the CLI in-process like a user would; returns (exit code, stdout, stderr)."""
    from bandbridge import cli
    from bandbridge.workflows.runner import RUN_DIR_ENV

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.delenv(RUN_DIR_ENV, raising=False)
        monkeypatch.setattr("sys.argv", ["bandbridge", *args])
        code = 0
        try:
            cli.main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny rgb2nir model trained on the sample (2009, 2012) — shared by several tests."""
    from bandbridge.config import load_config
    from bandbridge.workflows.runner import RUN_DIR_ENV, train
    os.environ.pop(RUN_DIR_ENV, None)
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE),
                      overrides=[*TINY, "train.max_epochs=2", "inference.tile=128",
                                 "inference.overlap=64"])
    run = train(cfg, str(tmp_path_factory.mktemp("runs")))
    os.environ.pop(RUN_DIR_ENV, None)
    return run


def learner_bundle(folder: Path, fitted, net=None, generator: dict | None = None) -> Path:
    """Save a fitted learner (``learners.base.Learner``) as a bundle with rgb2nir-naip's bands and
    scalings, tiles overlapping by 64 px; ``net``/``generator``: a network built on it instead
    (its module and ``model.generator``)."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.spec import read_spec, zoo_models
    d = read_spec(zoo_models()["rgb2nir-naip"]).config.model_dump(mode="json")
    d["model"]["generator"] = generator or fitted.generator()
    d["inference"]["overlap"] = 64
    return save_bundle(folder, fitted.module(3, 1) if net is None else net,
                       build_config(d), 3, 1)


def int8_kernels() -> str:
    """The int8 dot-product branch this CPU's kernels take: 'amx', 'vnni' or 'avx2'."""
    from bandbridge.machine import cpu_flags
    flags = cpu_flags()[1]
    return "amx" if "amx_int8" in flags else "vnni" if {"avx512_vnni", "avx_vnni"} & flags else "avx2"


def pytest_report_header(config):
    """Which CPU branch this run exercises (bf16 and int8 kernels differ by CPU)."""
    from bandbridge.machine import cpu_flags
    model, flags = cpu_flags()
    native = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    vnni = [f for f in ("amx_int8", "avx512_vnni", "avx_vnni") if f in flags]
    bf16 = ", ".join(native) or "no (bf16 is emulated; torch bf16 is no auto candidate)"
    busy = int(os.environ.get("BANDBRIDGE_TEST_BUSY", "0") or 0)
    return (f"{f'beside {busy} busy process(es) (BANDBRIDGE_TEST_BUSY); ' if busy else ''}"
            f"CPU: {model or 'unknown'}; native bf16: {bf16}; int8 dot products: "
            f"{', '.join(vnni) or 'AVX2 only'}; tests with [cpu-with-native-bf16] / "
            "[cpu-without-native-bf16] ids run both branches")


def pytest_terminal_summary(terminalreporter):
    """The same line at the end, where ``pytest -q`` (``make test``) shows it: a log says which CPU
    branch the suite exercised and whether it ran beside busy processes."""
    terminalreporter.write_line(pytest_report_header(terminalreporter.config))


def load_file(path: Path, name: str | None = None):
    """A script, benchmark or docs hook (not a package module) loaded from its file."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name or Path(path).stem, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def zoo_copies(tmp_path: Path, *names: str) -> Path:
    """A zoo folder in ``tmp_path`` holding copies of the shipped bundles ``names``."""
    import shutil
    from bandbridge.spec import zoo_dir
    zoo = tmp_path / "zoo"
    for n in names:
        shutil.copytree(zoo_dir() / n, zoo / n)
    return zoo


@pytest.fixture
def page(uploads, monkeypatch):
    """The web page over a test file's own ``uploads`` fixture (``(root, files)``): its uploads, Gradio
    files and temporary files under ``root`` (a file outside it is one the page never accepts). A test
    file with a page of its own (``tests/demo/test_page.py``) defines its own ``page``."""
    from bandbridge.demo.page import Page
    from bandbridge.spec import zoo_models
    root, _ = uploads
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))
    (root / "tmp").mkdir(exist_ok=True)
    monkeypatch.setattr("tempfile.tempdir", str(root / "tmp"))
    return Page(zoo_models())


def box_refused(out: tuple, want: str, root) -> None:
    """A web page box's outputs ``out`` (five panels, a table, the status, …, the download) are a refusal:
    the status one line holding ``want``, naming no server path and no command-line flag, every panel and
    the download empty, and no request folder left under ``root / "tmp"``."""
    status = out[6]
    assert status.startswith("**error:**") and want in status and "\n" not in status, status
    assert str(root) not in status and "--" not in status, status
    assert all(u["value"] is None for u in out[:5]) and out[5] is None and out[-1] is None
    assert not list((root / "tmp").glob("bandbridge-demo-*"))  # no request folder left behind


def big_upload(root, mpix: float, name: str):
    """A one-band uint8 GeoTIFF just over ``mpix`` megapixels (a square, deflate-tiled: small on disk),
    uploaded under ``root / "gradio"``: the path."""
    import rasterio
    side = int((mpix * 1e6) ** 0.5) + 8
    big = root / "gradio" / "big" / name
    big.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(big, "w", driver="GTiff", height=side, width=side, count=1, dtype="uint8",
                       compress="deflate", tiled=True) as dst:
        dst.write(np.zeros((1, side, side), np.uint8))
    return big
