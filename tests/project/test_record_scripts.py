"""The scripts that make the kept records reproduce them (issue 59): ``loso_merge.py`` joins
folds run apart into the very loso.md/csv/json kept in docs/loso, ``loso_compare.py`` gives the
figures its page reads, and ``make_sample.py`` re-cuts the shipped sample pixel for pixel."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import rasterio

from tests.conftest import HANG_S, REPO, SHARED, needs_shared

KEPT = REPO / "docs" / "loso" / "anchor-learner" / "rgb2nir-s2"


def _script(*args, cwd=REPO) -> str:
    return subprocess.run([sys.executable, *map(str, args)], check=True, capture_output=True, text=True,
                          timeout=HANG_S, cwd=cwd).stdout


def test_loso_merge_joins_folds_run_apart_into_the_kept_record(tmp_path):
    rec = json.loads((KEPT / "loso.json").read_text())
    parts = []
    for i, folds in enumerate((rec["folds"][:6], rec["folds"][6:])):  # two processes' halves
        (tmp_path / f"part{i}").mkdir()
        (tmp_path / f"part{i}" / "loso.json").write_text(json.dumps(rec | {"folds": folds}))
        parts.append(tmp_path / f"part{i}")
    _script(REPO / "scripts" / "loso_merge.py", tmp_path / "out", *parts)
    for name in ("loso.md", "loso.csv", "loso.json"):
        assert (tmp_path / "out" / name).read_text() == (KEPT / name).read_text(), name
    # runs of another preset are not one table
    other = tmp_path / "other"
    other.mkdir()
    (other / "loso.json").write_text(json.dumps(rec | {"preset": "rgb2thermal-cpu"}))
    p = subprocess.run([sys.executable, str(REPO / "scripts" / "loso_merge.py"), str(tmp_path / "x"),
                        str(parts[0]), str(other)], capture_output=True, text=True, timeout=HANG_S)
    assert p.returncode != 0 and "differ in preset" in p.stderr and not (tmp_path / "x").exists()


def test_loso_compare_gives_the_figures_its_page_reads():
    """docs/loso/anchor-learner/README.md: eo-learn L1C +135 %, rio-tiler −43 %, L2A → L1C +77 %,
    worse on 5 folds in all (4 of the 11 sources, 1 of the 2 levels)."""
    out = _script(REPO / "scripts" / "loso_compare.py",
                  "docs/loso/rgb2nir-s2/loso.json", "docs/loso/anchor-learner/rgb2nir-s2/loso.json",
                  "docs/loso/rgb2nir-s2-levels/loso.md", "docs/loso/anchor-learner/rgb2nir-s2-levels/loso.json")
    assert "| s2_eolearn | 5 | 0.05037 | 0.1184 | +135.1 % |" in out
    assert "| s2_riotilerpds | 1 | 0.07262 | 0.04109 | -43.4 % |" in out
    assert "| l2a->l1c | 7 | 0.08906 | 0.1576 | +77.0 % |" in out  # a record kept as loso.md alone
    assert "4 of 11 folds more than 1 % worse" in out and "1 of 2 folds more than 1 % worse" in out
    page = (REPO / "docs" / "loso" / "anchor-learner" / "README.md").read_text()
    assert "eo-learn L1C +135 %" in page and "rio-tiler −43 %" in page and "L2A → L1C +77 %" in page


@needs_shared
def test_make_sample_recuts_the_shipped_sample_pixel_for_pixel(tmp_path):
    _script(REPO / "scripts" / "make_sample.py", SHARED, tmp_path)
    shipped = sorted((REPO / "data" / "sample" / "nir_naip_opengeos").glob("*.tif"))
    assert len(shipped) == 4
    for f in shipped:
        with rasterio.open(f) as a, rasterio.open(tmp_path / "nir_naip_opengeos" / f.name) as b:
            assert a.transform == b.transform and a.crs == b.crs and a.descriptions == b.descriptions
            assert np.array_equal(a.read(), b.read()), f.name
