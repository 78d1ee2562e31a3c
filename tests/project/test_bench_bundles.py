"""benchmarks/bench_bundles.py (the benchmarks page's row per bundle,
``docs/results/bench_bundles.json``): one bundle's ``bandbridge bench`` run on the sample's small
rasters and summarised into the row the page renders — what ``auto`` chose, tiled speed against
the reference, the test-split MAE of ``docs/results/bundles.json``. Speeds are measured, never
asserted: only that they are there."""

from __future__ import annotations

import json

from tests.conftest import REPO, SAMPLE, load_file


def _load(name: str, path):
    return load_file(path, name)

def test_a_bundles_bench_row_is_what_the_benchmarks_page_renders(tmp_path):
    bb = _load("bench_bundles", REPO / "benchmarks" / "bench_bundles.py")
    naip = SAMPLE / "nir_naip_opengeos"
    rasters = ["--raster", str(naip / "m_4709963_se_14_1_20200831.tif"),
               "--reference-raster", str(naip / "m_4709963_se_14_1_20180716.tif")]
    row = bb.measure("rgb2nir-naip", str(SAMPLE), "", tmp_path / "rows.json", rasters=rasters,
                     rows="select,reference,tiled")
    assert row is not None, "bench failed on the bundled model and the sample"
    assert row["model"] == "rgb2nir-naip"
    assert row["command"].startswith("bandbridge bench -m rgb2nir-naip --data ")
    assert "--json" not in row["command"]
    written = json.loads((tmp_path / "rows.json").read_text())["rows"]
    chosen = next(r for r in written if r["kind"] == "select")
    assert row["backend"] == f"{chosen['backend']} {chosen['precision']}"
    assert row["tiled_mpix_s"] > 0 and row["reference_mpix_s"] > 0
    assert row["vs_reference"] == row["tiled_mpix_s"] / row["reference_mpix_s"]
    assert row["raw_mpix_s"] is None and row["rss_mb"] == {}  # rows not asked for
    recorded = json.loads((REPO / "docs" / "results" / "bundles.json").read_text())["models"]["rgb2nir-naip"]
    assert row["test_mae"] == {"model": recorded["methods"]["model"]["mae"],
                               "linear": recorded["methods"]["linear"]["mae"],
                               "units": recorded["protocol"]["target_units"]}
    hook = _load("docs_hook_results", REPO / "docs" / "hooks" / "results.py")
    table = hook.bench_bundles_table({"rows": {"rgb2nir-naip": row}, "cpu": "a CPU",
                                      "measured": "today", "command": "python benchmarks/bench_bundles.py"})
    assert f"| `rgb2nir-naip` | {row['backend']} | {row['tiled_mpix_s']:.2f} |" in table
