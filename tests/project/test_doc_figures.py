"""The manual's quoted figures (issue 69 point 3), beside tests/project/test_docs.py (which holds
the README, getting-started, index, the rendered tables and the SR page): every measured figure a
section of docs/*.md quotes in its prose or a hand-written table is one its records hold —
docs/results/*.json or *.md, or the loso records under docs/loso/ — at the digits it is written
with. A figure left from an older run, or one without a record, fails.

The figures checked are decimals and numbers followed by a unit (%, ×, DN, dB, s, MB, GB, MPix)
outside code; a case names the figures that are rules rather than measurements (``fixed``)."""

from __future__ import annotations

import json
import math
import re
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
LOSO = DOCS / "loso"

UNIT = r"(?:\s?(?:%|×|x\b|DN\b|dB\b|s\b|MB\b|GB\b|MPix\b|min\b))"
FIGURE = re.compile(rf"(?<![\w.\-/=:+])[−+-]?(\d+\.\d+|\d+(?={UNIT}))(?![\w.]*\d)(\s?%)?")


class Pct(float):
    """A value that is a percentage: a figure followed by % is matched against these only."""


def record(path: str):
    """A record by its path under docs/ (JSON parsed; Markdown as text)."""
    p = DOCS / path
    return json.loads(p.read_text()) if p.suffix == ".json" else p.read_text()


def past(commit: str, path: str):
    """A record as it was committed at ``commit`` (a page that quotes an earlier run names it)."""
    r = subprocess.run(["git", "show", f"{commit}:docs/{path}"], cwd=ROOT, capture_output=True, text=True, check=False)
    if r.returncode:
        pytest.skip(f"git cannot show {commit}:docs/{path} here (not a full checkout)")
    return json.loads(r.stdout) if path.endswith(".json") else r.stdout


def values(obj) -> list[float]:
    """Every number a record holds: a JSON record's numbers, or a Markdown record's figures."""
    if isinstance(obj, str):
        found = re.findall(r"(?<![\w.])([−+-]?\d+(?:\.\d+)?(?:e-?\d+)?)(\s?%)?", obj.replace("−", "-"))
        return [Pct(v) if p else float(v) for v, p in found]
    if isinstance(obj, bool) or obj is None:
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    items = obj.values() if isinstance(obj, dict) else obj
    return [v for x in items for v in values(x)]


def pct(a: float, b: float) -> Pct:
    """``a`` relative to ``b``, per cent."""
    return Pct(100 * (a / b - 1))


def held(vals) -> set[str]:
    """Each value written with 0 to 5 decimals (the sign apart), rounded as Python formats it or
    half up from the digits the record stores (0.08245 → 0.0825)."""
    out = set()
    for v in vals:
        stored = Decimal(repr(abs(v))) if math.isfinite(v) else None
        for d in range(6):
            out.add(f"{abs(v):.{d}f}")
            if stored is not None:
                out.add(str(stored.quantize(Decimal(1).scaleb(-d), ROUND_HALF_UP)))
    return out


def prose(text: str) -> str:
    """``text`` without code blocks, inline code, link targets and HTML comments."""
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def figures(text: str) -> list[tuple[str, bool]]:
    """``(figure, is a percentage)`` of each measured-looking figure of ``text``'s prose."""
    return [(f, bool(p)) for f, p in FIGURE.findall(prose(text))]


def unheld(text: str, vals, fixed=()) -> list[str]:
    """The figures of ``text`` no value of ``vals`` rounds to (``fixed`` figures aside): a
    percentage is matched against the percentages only, any other figure against the rest."""
    vals = list(vals)
    ok = {True: held(v for v in vals if isinstance(v, Pct)) | set(fixed),
          False: held(v for v in vals if not isinstance(v, Pct)) | set(fixed)}
    return sorted({f + (" %" if p else "") for f, p in figures(text) if f not in ok[p]})


def section(page: str, start: str, end: str | None = None) -> str:
    """``page`` from the line holding ``start`` to the one holding ``end`` (or the page's end)."""
    text = (DOCS / page).read_text()
    i = text.index(start)
    return text[i:text.index(end, i + len(start))] if end else text[i:]


def table_rows(text: str) -> dict[str, list[str]]:
    """A Markdown table's rows of ``text``: first cell → the other cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(line) <= set("|-: ") and len(cells) > 1:
            rows[cells[0]] = cells[1:]
    return rows


def test_the_check_finds_a_figure_no_record_holds():
    """A figure moved in its last digit, or one no record has, is named; a code span is not read."""
    assert unheld("scored 43.33 DN against 56.34 (`rows:0:0.5`, 15 s)", [43.3312, 56.339, 15.2]) == []
    assert unheld("scored 43.34 DN against 56.34", [43.3312, 56.339]) == ["43.34"]
    assert unheld("a gain of 7.8 % in 47 s", [Pct(7.84)]) == ["47"]
    assert unheld("a gain of 7.8 %", [7.84]) == ["7.8 %"]
    assert unheld("1 % worse", [], fixed={"1"}) == []


def loso_folds(path: str, metric: str | None = "mae") -> dict[str, dict[str, float]]:
    """A loso record's folds: fold → method → MAE (or → every figure with ``metric=None``), from
    ``loso.json``, or from ``loso.md``'s table."""
    rec = record(path)
    if isinstance(rec, dict):
        return {f["fold"]: {f"{m} {k}": x for m, v in f["methods"].items() for k, x in v.items()
                            if metric in (None, k)} for f in rec["folds"]}
    rows = table_rows(rec)
    head = next(k for k in rows if k.startswith(("fold", "held out")))
    cols = rows[head][1:]
    keep = [metric is None or c.endswith(f" {metric}") or not any(d.endswith(f" {metric}") for d in cols) for c in cols]
    out = {}
    for k, cells in rows.items():
        if k != head and not k.startswith("**"):
            got = {}
            for c, x, ok in zip(cols, cells[1:], keep):
                try:
                    if ok:
                        got[c] = float(x)
                except ValueError:
                    pass
            out[k.split(" (")[0]] = got
    return out


def derived(rows: list[dict[str, float]]) -> list[float]:
    """Rows of method → MAE (a fold each): the figures, each method against each other one and
    against the better of the linear map and the constant (per cent and as a ratio), and the same
    of the methods' means over the rows."""
    out = []
    means = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if all(k in r for r in rows)} if rows else {}
    ratios = {(a, b): sum(r[a] / r[b] for r in rows) / len(rows) for a in means for b in means if all(r[b] for r in rows)}
    out += [x for v in ratios.values() for x in (v, Pct(100 * (v - 1)))]  # mean ratios over the rows
    for r in [*rows, means]:
        r = {k: v for k, v in r.items() if isinstance(v, (int, float)) and v}
        for lin, const in (("linear", "mean"), ("linear mae", "mean mae")):
            if lin in r and const in r:
                r["better"] = min(r[lin], r[const])
        out += list(r.values())
        out += [x for a in r.values() for b in r.values() for x in (pct(a, b), a / b)]
    return out


def floor_rows(family: str) -> list[dict[str, float]]:
    """docs/results/loso_floor.json's folds of a family: the plain map, the floor, the presets'
    rule, every candidate, the floor of the fold's level, and that floor where its rule carries."""
    out = []
    for r in record("results/loso_floor.json")[family]["rows"]:
        row = {"linear": r["linear"], "floor": r["floor_mae"], "rule": r["rule"], **r["candidates"]}
        if r.get("level"):
            row["level"] = r["level"]["mae"]
            row["level rule"] = r["level"]["mae"] if r["level"]["carries"] else r["floor_mae"]
        out.append(row)
    return out


def first_floor_rule(family: str) -> list[float]:
    """The floor's first rule on loso_floor.json's inner folds (the candidate with the lowest
    worst ratio to each training source's best), held out: per fold and on the mean, against the
    plain map."""
    picked = []
    for r in record("results/loso_floor.json")[family]["rows"]:
        h = r["inner"]["held_out_mae"]
        best = {s: min(h[c][s] for c in h) for s in next(iter(h.values()))}
        worst = {c: max(h[c][s] / best[s] for s in best) for c in h}
        picked.append({"first": r["candidates"][min(worst, key=worst.get)], "linear": r["linear"]})
    return derived(picked) + [sum(p["first"] < p["linear"] for p in picked)]


def bundles() -> dict:
    return record("results/bundles.json")["models"]


def realism() -> list[float]:
    return [*values(record("results/realism_rgb2thermal.json")["methods"]),
            *values(record("results/realism_sar2optical.json")["methods"])]


def thermal_gan() -> list[float]:
    rec = record("results/thermal_gan.json")
    return values(rec["baseline"]) + values(rec["levels"]) + values(
        [f["curve"] for r in rec["runs"] for f in r["runs"]])


def ship_rule() -> list[float]:
    """ship_rule.json's folds, and each fold's model against the floor, per cent."""
    out = []
    for b in record("results/ship_rule.json").values():
        for f in b["folds"]:
            out += values(f)
            if f.get("model") and f.get("floor"):
                out.append(pct(f["model"], f["floor"]))
    return out


def bundle_reading() -> list[float]:
    """docs/results/bundles.json, each bundle's model against each method (per cent, both ways),
    the shipping rule's folds and two model cards' figures (the U-Net `rgb2thermal` replaced,
    `sr-x4` on BSD100)."""
    out = values(bundles()) + ship_rule()
    for rec in bundles().values():
        ms = {k: v["mae"] for k, v in rec["methods"].items()}
        out += [pct(ms["model"], v) for v in ms.values()] + [pct(v, ms["model"]) for v in ms.values()]
    for name in ("rgb2thermal", "sr-x4"):
        out += values((ROOT / "src" / "bandbridge" / "zoo" / name / "MODEL_CARD.md").read_text())
    card = (ROOT / "src" / "bandbridge" / "zoo" / "rgb2thermal" / "MODEL_CARD.md").read_text()
    unet = float(re.search(r"the bundle's MAE is ([\d.]+) DN", card).group(1))  # the U-Net the floor replaced
    return [*out, pct(unet, bundles()["rgb2thermal"]["methods"]["linear"]["mae"])]


def fallback(name: str) -> list[float]:
    folds = record(f"loso/floor-rule/{name}/fallback.json")["folds"]
    return values(folds) + derived([{k: v for k, v in f.items() if isinstance(v, float)} for f in folds])


def loso(*paths: str) -> list[float]:
    """Loso records' figures, and what derives from their MAEs fold by fold, across the records
    too (a fold of one record against the same fold of another)."""
    merged: dict[str, dict[str, float]] = {}
    for i, p in enumerate(paths):
        for fold, ms in loso_folds(p).items():
            merged.setdefault(fold, {}).update({(k if i == 0 else f"{i}:{k}"): v for k, v in ms.items()})
    same = [f for f in merged.values() if len(f) == len(max(merged.values(), key=len))]
    return [v for p in paths for v in values(record(p))] + derived(same) + [
        v for f in merged.values() for v in derived([f])]


CASES = {
    "models: what ships": (
        "models.md", "| name | translates | kind |", "`rgb2nir` is not a bundle", realism, ()),
    "models: read plainly": (
        "models.md", "<!-- results:bundles -->", "### The image bundles by realism", bundle_reading, ()),
    "models: the image bundles by realism": (
        "models.md", "### The image bundles by realism", "### A thermal GAN", realism, ()),
    "models: a thermal GAN": (
        "models.md", "**It does not pass, and the floor stays.**", "These are minutes-long", thermal_gan, ()),
    "models: which bundles are learners": (
        "models.md", "<!-- results:learner_bundles -->", "## Which model `rgb2nir` picks",
        lambda: values(record("results/learner_bundles.json")), ()),
    "models: which model rgb2nir picks": (
        "models.md", "## Which model `rgb2nir` picks", None,
        lambda: values(record("results/routing.json")) + fallback("rgb2nir-naip-vhr"), ()),
}


def adapt_naip() -> list[float]:
    rec = record("results/adapt_naip.json")
    bottom = rec["top_half"]["bottom"]
    return values(rec) + [pct(bottom["adapted"], bottom["linear map"])]


def bench_thermal() -> list[float]:
    return values(record("results/bench_rgb2thermal.json"))


def speeds(name: str, rec=None) -> list[float]:
    """A speed record's figures, and each speed against every other one, each peak memory against
    every other one and each error against every other one (a ratio, per cent, a share)."""
    rec = rec or record(f"results/{name}.json")
    found: dict[str, list[float]] = {"mpix": [], "mb": [], "mae": []}

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                kind = next((g for g in found if g in k), None)
                if kind and isinstance(v, (int, float)) and not isinstance(v, bool) and v:
                    found[kind].append(float(v))
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(rec)
    return values(rec) + [y for g in found.values() for a in g for b in g
                          for y in (a / b, pct(a, b), Pct(100 * a / b))]


POLICY = {"1.5", "1.50", "16", "5", "0.05", "1", "4", "0.1", "2", "15", "0.5", "20"}  # policy.py's, as the pages name them

def reference_rows() -> list[float]:
    """The reference row's speed in every bench record."""
    out = [r["reference_mpix_s"] for r in record("results/bench_bundles.json")["rows"].values()]
    for name in ("bench_rgb2nir", "bench_rgb2thermal"):
        out += [r["mpix_s"] for r in record(f"results/{name}.json")["rows"] if r["name"].startswith("reference")]
    return [min(out), max(out)]


def bench_bundles() -> list[float]:
    """bench_bundles.json, with each super-resolution row's ratio in output pixels (× k²)."""
    rows = record("results/bench_bundles.json")["rows"]
    sr = [r["vs_reference"] * int(k[-1]) ** 2 for k, r in rows.items() if k.startswith("sr-x")]
    return speeds("bench_bundles") + values(bundles()) + values(record("results/memory_plan.json")) + sr


REFERENCE = ("results/wald.json", "results/wald.md", "results/reference_scales.json", "results/reference_tiles.json",
             "results/reference_speed.json", "results/wald_zero_shot_feature.json")

LITERATURE = {"27.61", "26.98", "28.5", "30.24", "27.55", "26.00"}  # FSRCNN, IMDN/RFDN/RLFN, the usual bicubic (FACTS)


def sr_bundles() -> list[float]:
    """The SR bundles: bundles.json, their cards, their weights' size in MB, and our bicubic
    against the usual published one (dB)."""
    zoo = ROOT / "src" / "bandbridge" / "zoo"
    bic = [bundles()[f"sr-x{k}"]["methods"]["bicubic"]["psnr_y"] for k in (2, 3, 4)]
    return (values(bundles()) + [v for k in (2, 3, 4) for v in values((zoo / f"sr-x{k}" / "MODEL_CARD.md").read_text())]
            + [(zoo / f"sr-x{k}" / "generator.safetensors").stat().st_size / 1e6 for k in (2, 3, 4)]
            + [b - float(u) for b, u in zip(bic, ("30.24", "27.55", "26.00"))])


AL = "loso/anchor-learner"
CASES |= {
    "super-resolution: choosing the network": (
        "super-resolution.md", "## Choosing the network", None,
        lambda: values(record("results/sr_architectures_x2.md")) + values(record("results/sr_architectures_x4.md"))
        + sr_bundles(), {"0.47", "32", "48"}),  # the presets' network sizes
    "super-resolution: the bundled models": (
        "super-resolution.md", "## The bundled models", "## Choosing the network", sr_bundles, LITERATURE),
    "training: the whole page": (  # Adam's betas, EVI's coefficients, network sizes named by their presets
        "training.md", "# Training", None, list, POLICY | {"0.9", "0.999", "2.5", "7.5", "11.4", "0.47", "32", "48"}),
    "errors: the whole page": ("errors.md", "# ", None, list, POLICY),
    "evaluation: the whole page": (  # EVI's coefficients; make demo's evi_kept is test_docs.py's
        "evaluation.md", "# ", None,
        lambda: values(record("results/swd_scale.json")) + loso("loso/rgb2thermal-group-by-group/loso.json",
                                                                 "loso/rgb2thermal/loso.json"),
        POLICY | {"7.5", "0.467", "1.0"}),
    "scripts: the whole page": ("scripts.md", "# ", None, list, POLICY),
    "development: the whole page": ("development.md", "# ", None, list, POLICY),
    "data: the whole page": (  # products' scale factors and offsets, the time-series valid share, a group rule's share
        "data.md", "# ", None, list, POLICY | {"0.2", "2.75", "0.9", "10"}),
    "web: the whole page": (  # the upload limits, the stretch's percentiles, adapt's budget
        "web.md", "# ", None, lambda: values(bundles()), POLICY | {"40", "16", "98", "30", "4"}),
    "unpaired: the whole page": ("unpaired.md", "# ", None, list, POLICY),
    "reference: the whole page": (
        "reference.md", "# ", None,
        lambda: [v for r in REFERENCE for v in values(record(r))] + values(past("c304631", "results/wald.md"))
        + [Pct(100 * (1 - v)) for v in values(record("results/reference_scales.json")) if 0 < v < 1],
        {"10", "60", "1000"}),  # issue 68's goal, the uncovered part's share, the scale limit
    "benchmarks: the reference row": ("benchmarks.md", "# Benchmarks", "## Training step", reference_rows, ()),
    "benchmarks: training step": ("benchmarks.md", "## Training step", "## Prediction speed", list, ()),
    "benchmarks: learner kinds": (
        "benchmarks.md", "## Prediction speed of each bundle kind", "## The default aerial route",
        lambda: speeds("learner_kinds"), {"200"}),
    "benchmarks: the default aerial route": (
        "benchmarks.md", "## The default aerial route", "## Every bundle, and an adapted model",
        lambda: speeds("bench_rgb2nir") + speeds("", past("c003541", "results/bench_rgb2nir.json")), {"15"}),
    "benchmarks: every bundle": (
        "benchmarks.md", "## Every bundle, and an adapted model", "## Compiled trees or a student",
        bench_bundles, POLICY),
    "benchmarks: compiled trees": (
        "benchmarks.md", "## Compiled trees or a student", "## Network inference and backends",
        lambda: speeds("compiled_trees"), POLICY),
    "benchmarks: network inference": (
        "benchmarks.md", "## Network inference and backends", "## Memory as planned",
        lambda: speeds("bench_rgb2thermal") + speeds("", past("c56170d", "results/bench_rgb2thermal.json")),
        POLICY | {"30", "85"}),  # issue 35's goals
    "benchmarks: memory as planned": (
        "benchmarks.md", "## Memory as planned", "## Reference-guided synthesis", lambda: speeds("memory_plan"), POLICY),
    "benchmarks: reference-guided synthesis": (
        "benchmarks.md", "## Reference-guided synthesis", None,
        lambda: speeds("reference_speed") + speeds("", past("c304631", "results/reference_speed.json")),
        POLICY | {"16.7"}),  # k, the reference's 10 m over the image's 0.6 m
    "prediction: what predict assumes": (
        "prediction.md", "## What predict assumes about your input", "## Where not to trust the output", list,
        POLICY | {"0.0001", "0.001", "0.2", "04.00", "2.75"}),  # products' scale factors, a processing baseline
    "prediction: the never-worse guard": (
        "prediction.md", "### The never-worse guard", "### The fallback to the zero-shot floor", list, POLICY),
    "prediction: the fallback": (
        "prediction.md", "### The fallback to the zero-shot floor", "### `--confidence`",
        lambda: [v for n in ("rgb2nir-naip-vhr", "rgb2nir-naip-deep", "sar2optical", "rgb2thermal")
                 for v in fallback(n)], ()),
    "prediction: --confidence": (
        "prediction.md", "### `--confidence`", "## Large rasters",
        lambda: values(record("results/confidence_geoeye1.json")) + [
            Pct(100 * v) for v in values(record("results/confidence_geoeye1.json")["rows"])], {"25", "10", "0.3", "5"}),
    "prediction: NDVI through time": (
        "prediction.md", "## NDVI through time", None,
        lambda: values(record("results/naip_ndvi_timeseries.json")["rows"]) + [
            r["ndvi_synthetic"] - r["ndvi_real"] for r in record("results/naip_ndvi_timeseries.json")["rows"]], ()),
    "prediction: tiles": (
        "prediction.md", "## Large rasters: tiles and overlap", "## Output files", bench_thermal, POLICY),
    "prediction: output files, Dask, STAC, QGIS": (
        "prediction.md", "## Output files", "## Backends", list, {"1.0", "1.1"}),  # STAC versions
    "prediction: backends and the probe": (
        "prediction.md", "## Backends and the precision gate", "## NDVI through time", list, POLICY | {"0.6", "1.6"}),
    "adapt: options and limits": (  # settings: the pairs' size limit, the progress line's interval
        "adapt.md", "Options and limits:", "## How adapt chooses", list, {"128", "20"}),
    "adapt: one group of images": ("adapt.md", "## One group of images", "## Measured on a NAIP date", list, ()),
    "adapt: in-domain": (
        "adapt.md", "## In-domain", "## Per held-out source",
        lambda: values(record("results/indomain_learners.json")) + [
            x for r in record("results/indomain_learners.json")
            for x in (r["seconds"] / 60, Pct(100 * r["gain_vs_linear"]), Pct(100 * r["gap_to_best"]))],
        {"15", "3", "75", "25"}),  # the rule's thresholds, the rows given and tested
    "adapt: measured on a NAIP date": (
        "adapt.md", "## Measured on a NAIP date", "## In-domain", adapt_naip, ()),
    "generalisation: reflectance read plainly": (
        "generalisation.md", "| held out | images | MAE: model / linear / context-ridge anchor", "**The presets' recipe**",
        lambda: loso("loso/rgb2nir-s2/loso.json", "loso/rgb2nir-s2/loso.md"), ()),
    "generalisation: the presets' recipe": (
        "generalisation.md", "**The presets' recipe**", "## SAR→optical",
        lambda: loso(f"{AL}/rgb2nir-s2/loso.json", "loso/rgb2nir-s2/loso.json", f"{AL}/rgb2nir-s2/loso.md")
        + loso(f"{AL}/rgb2nir-s2-levels/loso.json", f"{AL}/rgb2nir-s2-levels/loso.md"), ()),
    "generalisation: SAR→optical": (
        "generalisation.md", "## SAR→optical", "## RGB→thermal",
        lambda: loso("loso/sar2optical/loso.md", f"{AL}/sar2optical/loso.json", f"{AL}/sar2optical/loso.md",
                     "loso/learner-column.md"), ()),
    "generalisation: RGB→thermal": (
        "generalisation.md", "## RGB→thermal", "## 8-bit RGB→NIR off NAIP",
        lambda: loso(f"{AL}/rgb2thermal/loso.json", f"{AL}/rgb2thermal/loso.md")
        + loso("loso/rgb2thermal-group-by-group/loso.json", "loso/rgb2thermal/loso.json"), ()),
    "generalisation: NAIP to VHR and photos": (
        "generalisation.md", "## 8-bit RGB→NIR off NAIP", "## `rgb2nir`: one name",
        lambda: loso(f"{AL}/rgb2nir-naip-vhr/loso.json", f"{AL}/rgb2nir-naip-vhr/loso.md", "loso/learner-column.md"),
        ()),
    "generalisation: choosing the anchor's penalty": (
        "generalisation.md", "Read plainly, this is a trade", "## Running leave-one-source-out",
        lambda: anchor_values(), ()),
    "adapt: the context anchor": ("adapt.md", "## The context anchor", None, lambda: anchor_values(), ()),
    "generalisation: the zero-shot floor": (
        "generalisation.md", "## The zero-shot floor", "## The shipped bundles under the rule",
        lambda: [v for f in record("results/loso_floor.json") for v in derived(floor_rows(f))]
        + first_floor_rule("rgb2nir-s2") + first_floor_rule("rgb2nir-naip-vhr"), ()),
    "generalisation: the shipped bundles": (
        "generalisation.md", "## The shipped bundles under the rule", "## Reflectance RGB→NIR",
        lambda: ship_rule() + bundle_reading() + [v for n in ("rgb2nir-naip-vhr", "rgb2nir-naip-deep")
                                                  for v in fallback(n)], {"1.15"}),  # realism.SHIP_AXES
}


TABLES = {  # page, text before the table, its record, row label → fold where they differ
    "generalisation: reflectance RGB→NIR": (
        "generalisation.md", "## Reflectance RGB→NIR", "loso/rgb2nir-s2/loso.json", {}),
    "generalisation: across processing levels": (
        "generalisation.md", "**Across processing levels**", "loso/anchor-learner/rgb2nir-s2-levels/loso.json", {}),
    "generalisation: SAR→optical": ("generalisation.md", "## SAR→optical", "loso/sar2optical/loso.md", {}),
    "generalisation: RGB→thermal": (
        "generalisation.md", "## RGB→thermal, day and night", "loso/anchor-learner/rgb2thermal/loso.json",
        {"RoadScene, day (TNO)": "roadscene", "TNO, night (RoadScene)": "tno"}),
    "generalisation: NAIP to VHR and photos": (
        "generalisation.md", "## 8-bit RGB→NIR off NAIP", "loso/anchor-learner/rgb2nir-naip-vhr/loso.json",
        {"GeoEye-1 (8-bit)": "geoeye1", "IKONOS, WorldView-2, WorldView-3 (11-bit)": "vhr_11bit",
         "EPFL camera photos (JPEG)": "epfl_photos"}),
}


def fold_values(path: str, labels: dict[str, str]) -> dict[str, list[float]]:
    """Each row label's figures: its fold's (or, for a mean row, the means') with what derives from them."""
    folds, every = loso_folds(path), loso_folds(path, None)
    out = {k: derived([f]) + list(every[k].values()) for k, f in folds.items()}
    out["mean"] = derived(list(folds.values())) + derived(list(every.values()))
    return {**out, **{label: out[fold] for label, fold in labels.items()}}


@pytest.mark.parametrize("case", sorted(TABLES))
def test_every_row_of_a_loso_table_is_its_fold_in_the_record(case):
    """A hand-written table of fold rows: every figure of a row is its own fold's (the images,
    MAE, PSNR, NDVI MAE), a mean row the mean over the folds."""
    page, start, path, labels = TABLES[case]
    text = (DOCS / page).read_text()
    text = text[text.index("\n|", text.index(start)) + 1:]
    text = text[:text.index("\n\n")]
    head = text.splitlines()[0]
    rec = fold_values(path, labels)
    for label, cells in table_rows(text).items():
        if label in head:
            continue
        key = "mean" if label.replace("**", "").startswith("mean") else label
        assert key in rec, f"{page}: row {label!r} names no fold of {path}"
        stale = unheld(" ".join(cells), rec[key])
        assert not stale, f"{page}: row {label!r} holds figures {path} does not: {stale}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_figure_a_section_quotes_is_its_records(case):
    page, start, end, vals, fixed = CASES[case]
    stale = unheld(section(page, start, end), vals(), fixed)
    assert not stale, f"{page} ({start!r}): figures its records do not hold: {stale}"


def test_models_page_routing_table_is_the_record():
    """The models page's `rgb2nir` table, row by row, is docs/results/routing.json
    (`python scripts/routing_table.py --json docs/results/routing.json`)."""
    rec = record("results/routing.json")
    text = section("models.md", "## Which model `rgb2nir` picks")
    assert rec["command"] in text and rec["measured"] in text
    rows = [cells for key, cells in table_rows(text).items() if key != "set"]
    assert len(rows) == len(rec["rows"])
    for cells, r in zip(rows, rec["rows"]):
        assert cells[0] == str(r["images"])
        assert cells[1] == ", ".join(f"`{k}` ({n})" for k, n in r["routed"].items())
        assert cells[2:4] == [f"{r['mae']['rgb2nir-naip']:.2f}", f"{r['mae']['rgb2nir-photo']:.2f}"], r["set"]
        assert cells[4] == ("the better one" if r["pick"] == r["better"] else "the worse one")


def test_the_check_sample_size_the_prediction_page_quotes():
    """prediction.md's "~300 KB" is the bundles' check.safetensors, as `ls -l` gives them."""
    sizes = [p.stat().st_size for p in (ROOT / "src" / "bandbridge" / "zoo").glob("*/check.safetensors")]
    said = re.search(r"`check\.safetensors`, ~(\d+) KB by `ls -l", " ".join(section("prediction.md", "**The gate.**").split()))
    assert sizes and said and round(sum(sizes) / len(sizes) / 1e5) * 100 == int(said.group(1)), sizes


@pytest.mark.parametrize("page,start,path", [
    ("generalisation.md", "**Which bands the anchor's linear map takes.**", "results/loso_linear.md"),
    ("super-resolution.md", "**×2, one thread**", "results/sr_architectures_x2.md"),
])
def test_a_table_copied_from_a_markdown_record_is_its_rows(page, start, path):
    """A page's table that a script printed (its record is that stdout): every row is the record's."""
    text = section(page, start)
    text = text[text.index("\n|") + 1:]
    page_rows = [line for line in text[:text.index("\n\n")].splitlines()][2:]
    rec_rows = set(record(path).splitlines())
    assert page_rows and all(r in rec_rows for r in page_rows), [r for r in page_rows if r not in rec_rows]


ANCHOR = {  # the anchor-penalty table's families: record, folds
    "reflectance NIR": ("results/loso_anchor_s2.md", None),
    "SAR→optical": ("loso/learner-column.md", ("sen12mscr", "worldcereal_s1s2", "sen1floods11", "bigearthnet_s1s2")),
    "RGB→thermal": ("loso/learner-column.md", ("roadscene", "tno")),
}


def anchor_families() -> dict[str, list[dict[str, float]]]:
    out = {}
    for family, (path, folds) in ANCHOR.items():
        rows = loso_folds(path)
        out[family] = [rows[f] for f in (folds or rows)]
    return out


def anchor_values() -> list[float]:
    return [v for rows in anchor_families().values() for v in derived(rows) + [len(rows)]] + [
        v for path, _ in ANCHOR.values() for v in values(record(path))]


def test_the_anchor_penalty_table_is_its_records():
    """generalisation.md's anchor-penalty table: each fold row holds its fold's figures
    (scripts/loso_anchor.py's stdout: docs/results/loso_anchor_s2.md for reflectance, the
    learner-column record for SAR and thermal), each mean row the mean over its family's folds."""
    text = section("generalisation.md", "## Choosing the anchor's penalty", "Read plainly, this is a trade")
    labels = {"RoadScene (trained on TNO)": "roadscene", "TNO (trained on RoadScene)": "tno"}
    fams = anchor_families()
    folds = {k: derived([r]) for path, _ in ANCHOR.values() for k, r in loso_folds(path).items()}
    checked = 0
    for label, cells in table_rows(text).items():
        if label == "held out":
            continue
        fam = next((f for f in fams if label.startswith(f)), None)
        vals = derived(fams[fam]) if fam else folds[labels.get(label, label)]
        stale = unheld(re.sub(r"\(λ [^)]*\)", "", " ".join(cells)), vals)  # the penalty chosen, a label
        assert not stale, f"generalisation.md anchor table, row {label!r}: {stale}"
        checked += 1
    assert checked >= 17
