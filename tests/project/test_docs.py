"""The manual: `mkdocs build --strict` passes without a warning; the generated CLI reference holds
every command and flag the app has; every measured table is rendered from its JSON record and
none is hand-copied; the README is short and its verdict figures are the recorded ones. The
figures the manual's pages quote are held to their records by tests/project/test_doc_figures.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("material", reason="the docs extra is not installed (pip install -e '.[docs]')")


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


results = _hook("results")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    warnings = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("WARNING")]
    assert not warnings, warnings
    return out


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


def test_cli_reference_lists_every_command_and_flag(site):
    import typer.main

    from bandbridge.cli import app
    page = _text((site / "cli" / "index.html").read_text())
    group = typer.main.get_command(app)
    assert group.commands, "the app has no commands"
    for name, command in group.commands.items():
        assert f"bandbridge {name}" in page, f"command {name!r} missing from the CLI reference"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in page, f"bandbridge {name} {opt} missing from the CLI reference"


def test_cli_reference_fails_on_a_missing_flag(site):
    """The check above can fail: a flag no command has is not on the page."""
    page = _text((site / "cli" / "index.html").read_text())
    assert "--no-such-flag-anywhere" not in page


def _help_texts(command, ctx, prefix: str = "bandbridge"):
    """``(where, text)`` of every help text ``--help`` shows: each command's and group's help and
    epilog, each argument's and option's help line (its default included), sub-commands too."""
    yield prefix, command.help or ""
    yield prefix, command.epilog or ""
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record:
            yield f"{prefix} {record[0]}", record[1]
    for name, sub in getattr(command, "commands", {}).items():
        yield from _help_texts(sub, ctx, f"{prefix} {name}")


def test_cli_reference_shows_every_placeholder_of_the_help_texts():
    """``runs/<name>/<timestamp>``, ``<output>_error.tif`` …: a help text's ``<…>`` placeholders
    are on the rendered page as ``--help`` prints them, not swallowed as HTML tags. The page is
    docs/cli.md through the hook and mkdocs.yml's Markdown extensions, as the build renders it;
    the placeholders are collected from the app, so a new one is checked too."""
    import markdown
    import typer
    import typer.main
    from mkdocs.config import load_config

    from bandbridge.cli import app
    cfg = load_config(str(ROOT / "mkdocs.yml"))
    page = _hook("cli_reference").on_page_markdown((DOCS / "cli.md").read_text())
    html = markdown.Markdown(extensions=cfg["markdown_extensions"], extension_configs=cfg["mdx_configs"]).convert(page)
    text = _text(html)
    group = typer.main.get_command(app)
    words = [(where, word.replace("`", "")) for where, help_text in _help_texts(group, typer.Context(group))
             for word in re.findall(r"\S*<[^<>\s]+>\S*", help_text)]  # the word holding the placeholder
    assert words, "no help text has a <placeholder>: nothing checked"
    missing = [f"{where}: {word}" for where, word in words if word not in text]
    assert not missing, f"placeholders lost on the CLI reference page: {missing}"


def test_every_results_record_is_rendered_and_none_is_hand_copied(site):
    markers = {m for p in DOCS.glob("*.md") for m in results.MARKER.findall(p.read_text())}
    records = {p.stem for p in (DOCS / "results").glob("*.json")}
    quoted = {m for f in ("test_doc_figures.py", "doc_records.py")  # held to prose by those tests
              for m in re.findall(r"results/(\w+)\.json", (ROOT / "tests/project" / f).read_text())}
    assert records <= markers | quoted, f"results never shown in the docs: {sorted(records - markers - quoted)}"
    assert markers <= set(results.TABLES), f"unknown results tables: {sorted(markers - set(results.TABLES))}"
    for name in markers:
        table = results.TABLES[name](results.load(name))
        header = table.split("\n")[0]
        for p in [*DOCS.glob("*.md"), ROOT / "README.md"]:
            assert header not in p.read_text(), f"{p.name} holds a hand-copied '{name}' table"
        built = "\n".join(_text(p.read_text()) for p in site.rglob("index.html"))
        for row in table.split("\n")[2:]:
            if row.startswith("|"):
                cells = [c.strip().strip("`*") for c in row.strip("|").split("|")]
                assert all(c.replace("**", "") in built for c in cells if c), (name, row)


def test_results_render_matches_its_record():
    """A figure rendered is the figure recorded (four significant digits), unit by unit."""
    rows = results.load("indomain_learners")
    table = results.indomain_table(rows)
    for r in rows:
        assert f"| {r['recipe']} | {r['test_images']} |" in table
        assert f"**{r['choice_mae']:.4g}**" in table
    kinds = results.load("learner_kinds")
    assert all(f"{r['mpix_per_s']:.3g}" in results.learner_kinds_table(kinds) for r in kinds["rows"])


def test_thermal_gan_curves_mark_each_epoch_by_the_rule_and_the_levels_follow_the_record():
    """Each scored epoch is marked by the image rule against the floor (read, never chosen), and the
    display-level table shows the recorded figures."""
    rec = results.load("thermal_gan")
    table = results.thermal_gan_table(rec)
    run = max(rec["runs"], key=lambda r: r["epochs"])
    for fold in run["runs"]:
        floor = rec["baseline"]["sources"][fold["hold"]]
        for c in (c for c in fold["curve"] if "held_out" in c):
            h = c["held_out"]
            ok = (h["swd"] < floor["swd"] and h["mae_dn"] <= 1.15 * floor["mae_dn"]
                  and 0.7 <= h["contrast"] <= 1.3 and (fold["hold"] != "roadscene" or h["r"] >= 0.3))
            row = next(r for r in table.splitlines() if r.startswith(f"| {c['epoch']} |"))
            cell = f"{h['mae_dn']:.1f}, {h['swd']:.3f}, {h['contrast']:.2f}, {h['r']:.2f} | "
            assert cell + ("**yes**" if ok else "no") in row, (fold["hold"], c["epoch"])
    for key, v in rec["levels"]["runs"].items():
        assert f"| {key.split('/')[1]} | the GAN | {v['mean_dn']:.0f} |" in table
        assert f"| {v['mae_dn']:.1f} | {v['mae_level_dn']:.1f} |" in table


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    first_screen = "\n".join(text.splitlines()[:60])
    for must in ("make demo", "adapt", "linear map"):
        assert must in first_screen, f"the README's first screen does not say {must!r}"


def test_readme_verdict_figures_are_the_recorded_ones():
    text = (ROOT / "README.md").read_text()
    record = results.load("bundles")
    rows = [line for line in text.splitlines() if re.match(r"^\| `[a-z0-9-]+` \|", line)]
    named = {re.match(r"^\| `([a-z0-9-]+)`", r).group(1): r for r in rows}
    assert set(record["models"]) <= set(named), "a bundled model has no verdict row"
    for name, row in named.items():
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert results.verdict_cell(name, record) in cells, (
            f"README verdict row of {name} does not hold the recorded figures "
            f"({results.verdict_cell(name, record)}); re-run python benchmarks/bundle_results.py")
    shipped = results.load("ship_rule")  # issue 49's column: what ships, its worst held-out fold
    assert {"rgb2nir-naip", "rgb2nir-s2", "rgb2nir-photo", "sar2optical", "rgb2thermal"} <= set(shipped)
    for name in shipped:
        cells = [c.strip() for c in named[name].strip("|").split("|")]
        assert results.loso_cell(name, shipped) == cells[3], (
            f"README's out-of-domain cell of {name} is not the recorded one; re-run python scripts/ship_rule.py")
    from bandbridge.spec import ZOO_ALIASES, zoo_models
    assert set(zoo_models()) - set(ZOO_ALIASES) == set(record["models"]), \
        "docs/results/bundles.json does not cover every bundle"


def test_bundles_record_names_its_command_and_date():
    for name, rec in results.load("bundles")["models"].items():
        assert rec["command"].startswith(f"bandbridge evaluate --model {name} ")
        assert re.match(r"\d{4}-\d{2}-\d{2}$", rec["measured"])
        assert json.dumps(rec["methods"]["model"])  # the model's own row is there


def test_readme_super_resolution_gains_are_the_recorded_ones():
    text = (ROOT / "README.md").read_text()
    models = results.load("bundles")["models"]
    for name in ("sr-x2", "sr-x3", "sr-x4"):
        ms = models[name]["methods"]
        gain = ms["model"]["psnr_y"] - ms["bicubic"]["psnr_y"]
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"+{gain:.1f} dB Y-PSNR over bicubic" in row, (name, gain)


def test_readme_reference_figures_are_the_recorded_ones():
    """The README's `predict --reference` line quotes Wald's NAIP means and the test date
    (`bandbridge wald`), the drone scales and the uncovered part (benchmarks/reference_scales.py)
    and the speed (benchmarks/reference_speed.py), each as its record holds it."""
    import numpy as np

    from bandbridge.evaluation.wald import Case, best_upsampled
    text = " ".join((ROOT / "README.md").read_text().split())
    cases = [Case(**c) for c in results.load("wald")["cases"]]
    k6 = [c for c in cases if c.name.startswith("NAIP") and c.k == 6 and c.what == "coincident"]
    ours, up = np.mean([c.scores["reference-guided"] for c in k6]), np.mean([best_upsampled(c.scores) for c in k6])
    test = next(c for c in k6 if c.name.endswith("20200831"))
    assert f"{ours:.2f} DN against {up:.2f} for the reference upsampled" in text
    assert f"on the test date {test.scores['reference-guided']:.2f} DN" in text
    scales = {r.get("k", "left"): r for r in results.load("reference_scales")["rows"]}
    assert (f"at k = 24 the reference is upsampled, {scales[24]['reference-guided']:.2f} DN against "
            f"{scales[24]['nearest upsampled reference']:.2f} for the nearest upsampled reference") in text
    assert scales[24]["route"].startswith("upsampled")  # the win it gives up is the record at e429913's
    left = scales["left"]
    assert f"{left['uncovered']:.1f} against {left['model alone, uncovered']:.1f} for plain `predict`" in text
    assert f"{results.load('reference_speed')['time_ratio']:.1f}× a plain `predict`" in text


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _make_variable(name: str) -> str:
    """A ``NAME := …`` line of the Makefile, its continuation lines joined."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    value = re.search(rf"^{name}\s*:?=\s*(.+)$", text, re.M).group(1)
    return " ".join(value.split())


def _section(text: str, start: str, end: str) -> str:
    """``text`` from the line holding ``start`` to the one holding ``end``, whitespace folded."""
    i = text.index(start)
    return " ".join(text[i:text.index(end, i + len(start))].split())


DEMO_TRAIN_TEXT = {"README.md": ("**`make demo-train`**", "`make demo-web`"),
                   "docs/getting-started.md": ("## A short training run", "## The web page")}


def test_demo_train_figures_are_the_recorded_ones():
    """What the README and getting-started say `make demo-train` prints is its record
    (docs/results/demo_train.json, written by the command itself, one entry per CPU kind): the
    anchor, the start and the end over the kinds, model/best, the epochs and crops, the time, the
    tolerance a recorded kind is held to and the spread another kind is; and every decimal figure
    the two texts hold is one the record holds (a figure left from an older run fails). The record
    is the Makefile's command's, in 32-bit float at a fixed thread count, the same model/best on
    every kind."""
    demo = _script("demo_train")
    rec = results.load("demo_train")
    command = _make_variable("DEMO_TRAIN")
    assert rec["train"] == f"bandbridge {command}", "the record is not of the Makefile's demo-train command"
    assert rec["command"] == "make demo-train" and re.match(r"\d{4}-\d{2}-\d{2}$", rec["measured"])
    assert "train.precision=32" in command and rec["precision"] == "32"
    threads = re.search(r"train\.threads=(\d+)", command).group(1)
    crops = re.search(r"data\.samples_per_epoch=(\d+)", command).group(1)
    assert f"train.max_epochs={rec['epochs']}" in command
    assert rec["tolerance"] == demo.TOLERANCE and rec["spread"] == demo.spread(rec)
    kinds, runs = rec["kinds"], rec["kinds"] + rec["kernel_paths"]
    assert len({k["kind"] for k in kinds}) == len(kinds) >= 1 and all(len(r["curve"]) == rec["epochs"] + 1 for r in runs)
    q = demo.quoted(rec)
    held = {f"{c['l1']:.4f}" for r in runs for c in r["curve"]} | {
        f"{c['psnr']:.2f}" for r in runs for c in r["curve"]} | {
        str(v) for v in (*rec["tolerance"].values(), *rec["spread"].values())}
    for page, (start, end) in DEMO_TRAIN_TEXT.items():
        text = _section((ROOT / page).read_text(), start, end)
        for what, figure in q.items():
            assert figure in text, f"{page}: make demo-train's {what} is not quoted as recorded ({figure!r})"
        for words in (f"`{rec['anchor']}`", f"{rec['epochs']} epochs of {crops} crops",
                      f"{threads} thread", f"{kinds[0]['machine']['cores']}-core"):
            assert words in text, f"{page}: {words!r} is not in its make demo-train text"
        stale = sorted(set(re.findall(r"\d+\.\d+", text)) - held)
        assert not stale, f"{page}: figures in its make demo-train text that the record does not hold: {stale}"


def test_demo_train_check_fails_on_a_figure_moved():
    """make demo-train's own check (scripts/demo_train.py), for each CPU kind of the record: its
    own figures pass, an epoch within the tolerance passes, one past it, a start moved in its
    fourth digit or another model/best fails. A kind the record has not seen passes within the
    recorded range widened by the spread (the other recorded kind's figures, for one) and fails
    past it."""
    import copy
    demo = _script("demo_train")
    want = results.load("demo_train")
    for kind in want["kinds"]:
        run = {k: want[k] for k in demo.SAME} | {"kinds": [copy.deepcopy(kind)], "kernel_paths": []}
        assert demo.differences(run, want) == []
        got = copy.deepcopy(run)
        got["kinds"][0]["curve"][-1]["psnr"] += 0.5 * want["tolerance"]["psnr"]
        assert demo.differences(got, want) == []
        got["kinds"][0]["curve"][-1]["psnr"] += 2 * want["tolerance"]["psnr"]
        assert demo.differences(got, want)
        got = copy.deepcopy(run)
        got["kinds"][0]["start"]["l1"] += 0.0002
        assert demo.differences(got, want)
        got = copy.deepcopy(run)
        got["best_epoch"] = 0
        assert demo.differences(got, want)
        new = copy.deepcopy(run)  # this kind's figures on a kind the record has not seen
        new["kinds"][0]["kind"] = "Another CPU, AVX2"
        assert demo.differences(new, want) == []
        lo, hi = demo.bounds(want)[-1]["l1"]
        new["kinds"][0]["curve"][0]["l1"] = hi + 0.001
        assert any("epoch -1 l1" in d for d in demo.differences(new, want))
        new["kinds"][0]["curve"][0]["l1"] = lo - 0.001
        assert any("epoch -1 l1" in d for d in demo.differences(new, want))


def test_demo_train_records_a_kind_beside_the_others(tmp_path):
    """A run recorded into the project's record adds its CPU kind (or replaces its own) and
    keeps the others; a forced code path is kept apart from the kinds; a run whose model/best is
    another replaces the whole record (what the docs quote changed)."""
    import copy
    demo = _script("demo_train")
    want = results.load("demo_train")
    shared = {k: want[k] for k in (*demo.SAME, "command", "train")}
    entry = copy.deepcopy(want["kinds"][0]) | {"kind": "Another CPU, AVX2", "measured": "2099-01-01"}
    rec = demo.merged(want, shared, entry)
    assert [k["kind"] for k in rec["kinds"]] == [k["kind"] for k in want["kinds"]] + ["Another CPU, AVX2"]
    assert rec["kernel_paths"] == want["kernel_paths"] and rec["measured"] == "2099-01-01"
    again = demo.merged(rec, shared, entry | {"seconds": 1})
    assert len(again["kinds"]) == len(rec["kinds"]) and again["kinds"][-1]["seconds"] == 1
    forced = demo.merged(want, shared, entry | {"env": "MKL_CBWR=AVX2"})
    assert forced["kinds"] == want["kinds"] and forced["kernel_paths"][-1]["env"] == "MKL_CBWR=AVX2"
    other = demo.merged(want, shared | {"best_epoch": 2}, entry)
    assert [k["kind"] for k in other["kinds"]] == ["Another CPU, AVX2"] and other["kernel_paths"] == []
    assert demo.spread(other) == {"l1": 0.0, "psnr": 0.0}


def test_make_demo_figures_are_what_it_prints(tmp_path):
    """The README and getting-started quote what `make demo` prints: the Makefile's own compare
    (its file and model) is run here and every figure of their sentence is held to it, each to
    the digits it is written with (half a unit of its last digit, and a little more for another
    CPU kind's backend: MAE 0.1 DN, PSNR 0.02 dB, NDVI MAE and SSIM 0.002); the evaluation
    page's `evi_kept` of the same crop too (a share of pixels: the same on any backend)."""
    from bandbridge.evaluation.compare import compare
    demo = re.search(r"^demo: install\n\t\$\(BB\) compare (\S+) --model (\S+)",
                     (ROOT / "Makefile").read_text(), re.M)
    res = compare(demo.group(2), ROOT / demo.group(1), tmp_path, overwrite=True)
    m, b = res["metrics"], res["baseline_metrics"]
    sentence = re.compile(r"by (\d+) % MAE(?: on this crop)?: ([\d.]+) vs ([\d.]+) DN, PSNR ([\d.]+) vs "
                          r"([\d.]+) dB, NDVI MAE ([\d.]+) vs ([\d.]+)\. It is a little worse on SSIM "
                          r"\(([\d.]+) vs ([\d.]+)\)")
    got = [100 * (1 - m["mae"] / b["mae"]), m["mae"], b["mae"], m["psnr"], b["psnr"], m["ndvi_mae"], b["ndvi_mae"],
           m["ssim"], b["ssim"]]
    slack = [0.5, 0.1, 0.1, 0.02, 0.02, 0.002, 0.002, 0.002, 0.002]
    for page in ("README.md", "docs/getting-started.md"):
        said = sentence.search(" ".join((ROOT / page).read_text().split()))
        assert said, f"{page}: make demo's sentence of figures is not there"
        for quoted, value, tol in zip(said.groups(), got, slack):
            assert abs(float(quoted) - value) <= tol, f"{page}: make demo quotes {quoted}, it prints {value:.4f}"
    evaluation = " ".join((DOCS / "evaluation.md").read_text().split())
    assert f"{m['evi_kept']:.3f} on the bundled NAIP crop" in evaluation, m["evi_kept"]


def test_models_page_reading_is_the_recorded_one():
    """The models page's "Read plainly" figures are docs/results/bundles.json's, written as the
    README's verdict column rounds them: a model's MAE relative to another's, per cent."""
    text = " ".join((DOCS / "models.md").read_text().split())
    ms = {name: {k: v["mae"] for k, v in rec["methods"].items()}
          for name, rec in results.load("bundles")["models"].items()}

    def pct(a: float, b: float, digits: int = 1) -> str:
        return f"{(a / b - 1) * 100:.{digits}f} %"

    naip, s2, photo = ms["rgb2nir-naip"], ms["rgb2nir-s2"], ms["rgb2nir-photo"]
    sar, thermal = ms["sar2optical"], ms["rgb2thermal"]
    naip_gain = f"{(1 - naip['model'] / naip['linear']) * 100:.0f} %"
    said = [f"is {naip_gain} better than the linear map on its held-out 2020 date",
            "boosting on context fitted on the same training split is "
            f"{pct(naip['model'], naip['gbm-context'])} better still",
            f"gradient boosting on context is {pct(s2['model'], s2['gbm-context'])} better",
            f"The per-pixel MLP beats it ({photo['mlp']:.1f} vs {photo['model']:.2f} DN)",
            f"Gradient boosting is {pct(sar['model'], sar['gbm-context'], 0)} better",
            f"the floor is {pct(thermal['linear'], thermal['model'])} better than the linear map and gradient "
            f"boosting {pct(thermal['model'], thermal['gbm-context'])} better than the floor"]
    for words in said:
        assert words in text, f"models.md does not read the record as {words!r}"
    started = " ".join((DOCS / "getting-started.md").read_text().split())
    assert f"On the whole 2020 scene the model is {naip_gain} better" in started
    models = results.load("bundles")["models"]
    gains = [models[f"sr-x{k}"]["methods"]["model"]["psnr_y"] - models[f"sr-x{k}"]["methods"]["bicubic"]["psnr_y"]
             for k in (2, 3, 4)]
    assert f"beat bicubic on Set14 by {gains[0]:.1f}, {gains[1]:.1f} and {gains[2]:.1f} dB Y-PSNR" in text
    index = " ".join((DOCS / "index.md").read_text().split())
    assert f"beats bicubic by {min(gains):.1f}–{max(gains):.1f} dB Y-PSNR on Set14" in index


def test_indomain_reading_is_the_recorded_one():
    """What the adapt page, the index and the README say of the in-domain table is
    docs/results/indomain_learners.json: the range of gains over the linear map, how many reach
    15 %, the three that do not, the blend's count, and where the choice is not within 3 % of
    the best single candidate."""
    rows = {r["recipe"]: r for r in results.load("indomain_learners")}
    gain = {k: 100 * r["gain_vs_linear"] for k, r in rows.items()}
    big = [g for g in gain.values() if g >= 15]
    n = len(rows)
    adapt = " ".join((DOCS / "adapt.md").read_text().split())
    index = " ".join((DOCS / "index.md").read_text().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert all(g >= 0 for g in gain.values()), "the record has a choice worse than the linear map"
    assert f"beats it by ≥ 15 % on {len(big)} of {n} recipes (by {min(big):.0f}–{max(big):.0f} %" in adapt
    small = {"roadscene": "RoadScene", "sen12mscr": "SEN12MS-CR S1→S2", "tno": "TNO at night"}
    assert {k for k, g in gain.items() if g < 15} == set(small)
    below = ", ".join(f"{small[k]} −{gain[k]:.0f} %" for k in sorted(small, key=gain.get, reverse=True))
    assert f"less than 15 %: {below}" in adapt
    blends = [r for r in rows.values() if r["chosen"] == "blend"]
    assert (f"is chosen on {len(blends)} recipes and beats every single candidate on "
            f"{sum(r['gap_to_best'] < 0 for r in blends)} of them") in adapt
    off = {"s2_riotilerpds": "rio-tiler tile", "landsat8_toa": "Landsat-8", "s2_bigearthnet": "BigEarthNet S2",
           "sen12mscr": "SEN12MS-CR S1→S2"}
    assert {k for k, r in rows.items() if r["gap_to_best"] > 0.03} == set(off)
    assert f"within 3 % of the best single candidate on {n - len(off)} of {n} recipes" in adapt
    for k, name in off.items():
        assert f"{name} +{100 * rows[k]['gap_to_best']:.1f} %" in adapt, name
    for page, text in (("index.md", index), ("README.md", readme)):
        assert f"{min(gain.values()):.0f}–{max(gain.values()):.0f} %" in text, page
        assert f"≥ 15 % on {len(big)} of {n} sources" in text, page
