"""The manual's quoted figures (issue 69 point 3), beside tests/project/test_docs.py (which holds
the README, getting-started, index and the rendered tables): every measured figure a section of
docs/*.md quotes in its prose or a hand-written table is one its records hold — docs/results/*.json
or *.md, or the loso records under docs/loso/ — at the digits it is written with
(tests/project/doc_records.py reads them). A figure left from an older run, or one without a
record, fails.

The figures checked are decimals and numbers followed by a unit (%, ×, DN, dB, s, MB, GB, MPix)
outside code; a case names the figures that are rules or settings rather than measurements
(``fixed``)."""

from __future__ import annotations

import re

import pytest
from doc_records import (
    ANCHOR,
    DOCS,
    LITERATURE,
    POLICY,
    REFERENCE,
    ROOT,
    Pct,
    adapt_naip,
    anchor_families,
    anchor_values,
    bench_bundles,
    bench_thermal,
    bundle_reading,
    bundles,
    derived,
    fallback,
    first_floor_rule,
    floor_rows,
    fold_values,
    loso,
    loso_folds,
    past,
    realism,
    record,
    reference_rows,
    section,
    ship_rule,
    speeds,
    sr_bundles,
    table_rows,
    thermal_gan,
    unheld,
    values,
)


def test_the_check_finds_a_figure_no_record_holds():
    """A figure moved in its last digit, or one no record has, is named; a code span is not read."""
    assert unheld("scored 43.33 DN against 56.34 (`rows:0:0.5`, 15 s)", [43.3312, 56.339, 15.2]) == []
    assert unheld("scored 43.34 DN against 56.34", [43.3312, 56.339]) == ["43.34"]
    assert unheld("a gain of 7.8 % in 47 s", [Pct(7.84)]) == ["47"]
    assert unheld("a gain of 7.8 %", [7.84]) == ["7.8 %"]
    assert unheld("1 % worse", [], fixed={"1"}) == []


CASES = {
    "models: what ships": (
        "models.md", "| name | translates | kind |", "`rgb2nir` is not a bundle", realism, ()),
    "models: read plainly": (
        "models.md", "<!-- results:bundles -->", "### The image bundles by realism", bundle_reading, ()),
    "models: the image bundles by realism": (
        "models.md", "### The image bundles by realism", "### A thermal GAN", realism, ()),
    "models: a thermal GAN": (
        "models.md", "**It does not pass, and the floor stays.**", "These are minutes-long", thermal_gan, ()),
    "models: the learner rule": ("models.md", "## Which bundles are learners", "<!-- results:learner_bundles -->",
                                 list, POLICY),
    "models: which bundles are learners": (
        "models.md", "<!-- results:learner_bundles -->", "## Which model `rgb2nir` picks",
        lambda: values(record("results/learner_bundles.json")), ()),
    "models: which model rgb2nir picks": (
        "models.md", "## Which model `rgb2nir` picks", None,
        lambda: values(record("results/routing.json")) + fallback("rgb2nir-naip-vhr"), ()),
}


def augment_settings(*presets: str) -> list[float]:
    """The presets' ``data.augment`` values (the augmentation table quotes settings, not measurements)."""
    from bandbridge.config import load_config
    return [v for p in presets for v in values(load_config(p).model_dump(mode="json")["data"]["augment"])]


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
        + values(past("a80dabc", "results/reference_scales.json"))  # the unchecked consistent route, issue 84
        + values(past("e429913", "results/reference_scales.json"))  # the consistent route checked at 2 alone
        + values(record("results/sharpen_floor_before.json"))
        + [Pct(100 * (1 - v)) for v in values(record("results/reference_scales.json")) if 0 < v < 1],
        {"10", "60", "1000", "0.5", "20"}),  # goals and constants (SHIFT_GAIN, KELVIN_SPREAD)
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
    "adapt: how adapt chooses": (  # the ridge's largest penalty, the student rule
        "adapt.md", "## How adapt chooses", "## One group of images", list, POLICY),
    "adapt: per held-out source": (  # loso --shots' rows given and tested
        "adapt.md", "## Per held-out source", "## The context anchor", list, {"60", "40"}),
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
    "fill: no earlier date": (  # SAR alone on the WorldCereal disc pairs (benchmarks/fill_sar_alone.py)
        "fill.md", "## No earlier date: Sentinel-1 alone", "## Refusals",
        lambda: values(record("results/fill_sar_alone.json")), ()),
    "generalisation: running loso": (
        "generalisation.md", "## Running leave-one-source-out", "## The zero-shot floor", list, POLICY),
    "generalisation: radiometric augmentation": (  # the presets' data.augment; (490 nm/λ)⁴ at green, red, NIR
        "generalisation.md", "## Radiometric augmentation", "## What the options measured",
        lambda: augment_settings("rgb2nir-pix2pix-cpu", "rgb2nir-wgangp-cpu", "rgb2thermal-cpu"), {"0.59", "0.29", "0.11"}),
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


def test_super_resolution_table_is_the_recorded_one():
    """The super-resolution page's Set14 columns are docs/results/bundles.json's Y-PSNR and SSIM-Y
    of each bundle and of bicubic (`bandbridge evaluate`, as the page says)."""
    lines = (DOCS / "super-resolution.md").read_text().splitlines()
    rows = {m.group(1): line for line in lines if (m := re.match(r"^\| `(sr-x\d)` \|", line))}
    models = bundles()
    assert set(rows) == {"sr-x2", "sr-x3", "sr-x4"}
    for name, row in rows.items():
        m, b = models[name]["methods"]["model"], models[name]["methods"]["bicubic"]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == (f"{m['psnr_y']:.2f} / {b['psnr_y']:.2f} dB "
                            f"(+{m['psnr_y'] - b['psnr_y']:.2f})"), (name, cells[2])
        assert cells[3] == f"{m['ssim_y']:.3f} / {b['ssim_y']:.3f}", (name, cells[3])
