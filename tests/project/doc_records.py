"""The records the manual's figures come from, read for tests/project/test_doc_figures.py: a
record by its path under docs/, every number it holds, what derives from them (a method against
another, per cent; a mean over folds), and the figures a page's section quotes, each as written.
A figure is matched at the digits it is written with (0 to 5 decimals, rounded either way a
record's stored digits allow); a percentage only against percentages (``Pct``)."""

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
POLICY = {"1.5", "1.50", "16", "5", "0.05", "1", "4", "0.1", "2", "15", "0.5", "20"}  # rule thresholds and settings the pages name (policy.py's, the progress line's 20 s)
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
             "results/reference_speed.json", "results/wald_zero_shot_feature.json", "results/stale_reference.json",
             "results/consistent_rule.json", "results/shift_rule.json", "results/wald_room_check.json",
             "results/wald_first_date.json")

LITERATURE = {"27.61", "26.98", "28.5", "30.24", "27.55", "26.00"}  # FSRCNN, IMDN/RFDN/RLFN, the usual bicubic (FACTS)


def sr_bundles() -> list[float]:
    """The SR bundles: bundles.json, their cards, their weights' size in MB, and our bicubic
    against the usual published one (dB)."""
    zoo = ROOT / "src" / "bandbridge" / "zoo"
    bic = [bundles()[f"sr-x{k}"]["methods"]["bicubic"]["psnr_y"] for k in (2, 3, 4)]
    return (values(bundles()) + [v for k in (2, 3, 4) for v in values((zoo / f"sr-x{k}" / "MODEL_CARD.md").read_text())]
            + [(zoo / f"sr-x{k}" / "generator.safetensors").stat().st_size / 1e6 for k in (2, 3, 4)]
            + [b - float(u) for b, u in zip(bic, ("30.24", "27.55", "26.00"))])


def fold_values(path: str, labels: dict[str, str]) -> dict[str, list[float]]:
    """Each row label's figures: its fold's (or, for a mean row, the means') with what derives from them."""
    folds, every = loso_folds(path), loso_folds(path, None)
    out = {k: derived([f]) + list(every[k].values()) for k, f in folds.items()}
    out["mean"] = derived(list(folds.values())) + derived(list(every.values()))
    return {**out, **{label: out[fold] for label, fold in labels.items()}}


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


CLOUD_REMOVAL = {"29.3", "0.878", "8.07", "0.0270", "0.0266", "8.13", "28.90", "28.64"}  # DSen2-CR, UnCRtainTS, GLF-CR (context)


def gaps_figures() -> list[float]:
    """The fill page's scored figures: docs/results/gaps.json and gaps_sources.json, each column's
    mean (and median over the pairs, as the manual's table gives them) against every other one of
    its group, per cent, and the field's figures of one column against another (dB, degrees apart)."""
    import statistics
    rec, src = record("results/gaps.json"), record("results/gaps_sources.json")
    before = past("cb501bb", "results/gaps.json")  # the record before, which the page compares with
    out = values(rec) + values(src) + values(before["summary"]) + [r["mae"]["fill"] for r in before["rows"]]
    groups = [{k: v for k, v in g.items() if k != "pairs"} for r in (rec, before) for kind in r["summary"].values()
              for g in kind.values()]
    for kind in ("disc", "real SCL"):
        sel = [r for r in rec["rows"] if (r["mask"] == "disc") == (kind == "disc")]
        for lo, hi in ((0, 10_000), (0, 15), (15, 30), (30, 10_000)):
            rs = [r["mae"] for r in sel if lo <= r["days"] < hi]
            if rs:
                groups.append({k: statistics.median([m[k] for m in rs if k in m]) for k in rs[0]})
    scored = [sc for kind in rec.get("scores", {}).values() for sc in kind.values()]
    scored += [sc for s in (src.get("sen12mscr", {}).get("scores", {}), {"": src.get("gfmap", {}).get("scores", {})})
               for sc in s.values()]
    for sc in scored:
        for area in ("cloud", "image"):
            for m in ("psnr", "ssim", "sam_deg", "mae"):
                groups.append({k: v[area][m] for k, v in sc.items() if isinstance(v, dict) and m in v.get(area, {})})
    for g in groups:
        vs = [v for v in g.values() if isinstance(v, (int, float)) and v]
        out += [x for a in vs for b in vs for x in (pct(a, b), a - b)]
    return out
