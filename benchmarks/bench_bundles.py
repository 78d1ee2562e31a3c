"""A bench row for every bundled model (and any other bundle named, e.g. an ``adapt`` output):
what ``auto`` chose, tiled speed against the reference in the same run and against the chosen
backend's raw forward, peak RSS at 20000², and the test-split MAE of docs/results/bundles.json.

    python benchmarks/bench_bundles.py [--data ../shared/data] [--rss 20000] [NAME_OR_FOLDER ...]

Runs, for each model, ``bandbridge bench -m NAME --rows select,reference,forward,tiled,rss
--rss-sizes 20000 --json runs/bench/NAME.json`` (super-resolution models without the RSS row:
their 20000² input is an output of 1.6–6.4 GPix) and writes ``docs/results/bench_bundles.json``
(names not given keep their earlier row). Run it on a quiet machine: the rows are speeds.
(``tests/project/test_bench_bundles.py`` runs :func:`measure` on the bundled sample.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

from bandbridge.machine import cpu_flags, cpu_has_bf16
from bandbridge.spec import ZOO_ALIASES, read_spec, resolve_model_folder, zoo_models

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "results" / "bench_bundles.json"
RESULTS = ROOT / "docs" / "results" / "bundles.json"


def summary(name: str, rows: list[dict], test: dict | None) -> dict:
    """One model's row: the choice, tiled and raw speed of the chosen backend, peak RSS."""
    sel = next(r for r in rows if r["kind"] == "select")
    chosen = (sel["backend"], sel["precision"])
    ref = next(r for r in rows if r["name"].startswith("reference"))
    tiled = next(r for r in rows if r["kind"] == "tiled" and "(chosen)" in r["name"])
    raw = next((r for r in rows if r["kind"] == "forward" and (r["backend"], r["precision"]) == chosen), None)
    rss = [r for r in rows if r["kind"] == "tiled" and "(RSS)" in r["name"]]
    return {"model": name, "backend": " ".join(chosen), "reference_mpix_s": ref["mpix_s"],
            "tiled_mpix_s": tiled["mpix_s"], "vs_reference": tiled["mpix_s"] / ref["mpix_s"],
            "raw_mpix_s": raw["mpix_s"] if raw else None, "tiled_rss_mb": tiled["rss_mb"],
            "rss_mb": {r["name"].split(" ")[2].split("×")[0]: r["rss_mb"] for r in rss},
            "test_mae": test, "choice": sel.get("choice", "")}


def test_mae(name: str, results: Path = RESULTS) -> dict | None:
    """The bundle's test-split MAE and the linear map's, in the target's units (bundles.json)."""
    rec = json.loads(results.read_text())["models"].get(name) if results.is_file() else None
    if not rec:
        return None
    m = rec["methods"]
    base = "bicubic" if "bicubic" in m else "linear"  # super-resolution's baseline, else the linear map
    return {"model": m["model"]["mae"], base: m[base]["mae"], "units": rec["protocol"].get("target_units")}


def rgb_copy(src: Path) -> Path:
    """The first three bands of a NAIP mosaic ``bench`` built (``…-rgb.tif`` beside it)."""
    import rasterio
    out = src.with_name(src.stem + "-rgb.tif")
    if not out.exists():
        with rasterio.open(src) as s:
            prof = s.profile | {"count": 3}
            with rasterio.open(out, "w", **prof) as d:
                for _, w in s.block_windows(1):
                    d.write(s.read([1, 2, 3], window=w), window=w)
    return out


def measure(name: str, data: str, rss: str, out: Path, rasters: list[str] | None = None,
            rows: str | None = None, results: Path = RESULTS) -> dict | None:
    """One bundle's row: ``bandbridge bench`` of ``name`` (a bundled name or a bundle folder),
    its rows written to ``out``, summarised with the test-split MAE of ``results``; None where
    bench failed. ``rasters``: ``bench``'s raster arguments instead of the default mosaics (a
    3-band model gets the NAIP mosaics' RGB bands); ``rows``: its rows instead of these."""
    spec = read_spec(resolve_model_folder(name))
    key = Path(name).name
    sr = spec.scale > 1
    # a model that reads 3-band files (photos) gets the NAIP mosaics' RGB bands; the RSS
    # mosaics are built by `bench` itself, 4-band, so it has no RSS row
    rgb = spec.config.data.sources[0].input.band_names is not None and len(spec.input_names) == 3 \
        and spec.target.scaling == "uint8"
    if rasters is None:
        rasters = ["--raster", str(rgb_copy(Path("/tmp/bandbridge-naip-mosaic-8192.tif"))),
                   "--reference-raster", str(rgb_copy(Path("/tmp/bandbridge-naip-mosaic-2048.tif")))] if rgb else []
    small = sr or rgb
    if rows is None:
        rows = "select,reference,forward,tiled" + ("" if small else ",rss")
    bb = Path(sys.executable).parent / "bandbridge"
    cmd = [str(bb), "bench", "-m", name, "--data", data, *rasters, "--rows", rows,
           "--rss-sizes", "" if small or "rss" not in rows else rss, "--json", str(out)]
    print(" ".join(cmd[1:]), flush=True)
    if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode:
        print(f"{key}: bench failed (its error is above); no row", flush=True)
        return None
    got = json.loads(out.read_text())["rows"]
    return summary(key, got, test_mae(key, results)) | {"command": "bandbridge " + " ".join(cmd[1:-2])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--rss", default="20000")
    a = ap.parse_args()
    names = a.models or sorted(set(zoo_models()) - set(ZOO_ALIASES))
    record = json.loads(OUT.read_text()) if OUT.is_file() else {"rows": {}}
    (ROOT / "runs" / "bench").mkdir(parents=True, exist_ok=True)
    for name in names:
        key = Path(name).name
        row = measure(name, a.data, a.rss, ROOT / "runs" / "bench" / f"{key}.json")
        if row is None:
            continue
        record["rows"][key] = r = row
        print(f"{key}: {r['backend']}, tiled {r['tiled_mpix_s']:.2f} MPix/s = {r['vs_reference']:.1f}× "
              f"the reference, peak RSS {r['rss_mb']}", flush=True)
        # the command that would measure every row now held (rows of earlier calls kept)
        record |= {"command": "python benchmarks/bench_bundles.py " + " ".join(
                       n if n in zoo_models() else f"runs/{n}" for n in record["rows"]),
                   "measured": datetime.date.today().isoformat(),
                   "cpu": f"{cpu_flags()[0]}, {'native bf16' if cpu_has_bf16() else 'no native bf16'}"}
        OUT.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")  # each model as it ends


if __name__ == "__main__":
    main()
