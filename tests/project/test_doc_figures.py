"""The manual's quoted figures (issue 69 point 3), beside tests/project/test_docs.py (which holds
the README, getting-started, index, the rendered tables and the SR page): every measured figure a
section of docs/*.md quotes in its prose or a hand-written table is one its records hold —
docs/results/*.json or *.md, or the loso records under docs/loso/ — at the digits it is written
with. A figure left from an older run, or one without a record, fails.

The figures checked are decimals and numbers followed by a unit (%, ×, DN, dB, s, MB, GB, MPix)
outside code; a case names the figures that are rules rather than measurements (``fixed``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
LOSO = DOCS / "loso"

UNIT = r"(?:\s?(?:%|×|x\b|DN\b|dB\b|s\b|MB\b|GB\b|MPix\b|min\b))"
FIGURE = re.compile(rf"(?<![\w.\-/=:+])[−+-]?(\d+\.\d+|\d+(?={UNIT}))(?![\w.]*\d)")


def record(path: str):
    """A record by its path under docs/ (JSON parsed; Markdown as text)."""
    p = DOCS / path
    return json.loads(p.read_text()) if p.suffix == ".json" else p.read_text()


def values(obj) -> list[float]:
    """Every number a record holds: a JSON record's numbers, or a Markdown record's figures."""
    if isinstance(obj, str):
        return [float(v) for v in re.findall(r"(?<![\w.])[−+-]?\d+(?:\.\d+)?(?:e-?\d+)?", obj.replace("−", "-"))]
    if isinstance(obj, bool) or obj is None:
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    items = obj.values() if isinstance(obj, dict) else obj
    return [v for x in items for v in values(x)]


def pct(a: float, b: float) -> float:
    """``a`` relative to ``b``, per cent."""
    return 100 * (a / b - 1)


def held(vals) -> set[str]:
    """Each value written with 0 to 5 decimals (the sign apart)."""
    return {f"{abs(v):.{d}f}" for v in vals for d in range(6)}


def prose(text: str) -> str:
    """``text`` without code blocks, inline code, link targets and HTML comments."""
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def figures(text: str) -> list[str]:
    return FIGURE.findall(prose(text))


def unheld(text: str, vals, fixed=()) -> list[str]:
    """The figures of ``text`` no value of ``vals`` rounds to (``fixed`` figures aside)."""
    ok = held(vals) | set(fixed)
    return sorted({f for f in figures(text) if f not in ok})


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
    assert unheld("a gain of 7.8 % in 47 s", [7.84]) == ["47"]
    assert unheld("1 % worse", [], fixed={"1"}) == []


def loso_folds(path: str) -> dict[str, dict[str, float]]:
    """A loso record's folds: fold → method → MAE (``loso.json``'s, or ``loso.md``'s table)."""
    rec = record(path)
    if isinstance(rec, dict):
        return {f["fold"]: {m: v["mae"] for m, v in f["methods"].items()} for f in rec["folds"]}
    rows = table_rows(rec)
    head = next(k for k in rows if k.startswith("fold"))
    names = [c.removesuffix(" mae") for c in rows[head][1:] if c.endswith(" mae")]
    return {k.split(" (")[0]: dict(zip(names, map(float, cells[1:1 + len(names)])))
            for k, cells in rows.items() if k != head and not k.startswith("**")}


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
    return out


def fallback(name: str) -> list[float]:
    return values(record(f"loso/floor-rule/{name}/fallback.json")["folds"])


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
