"""MkDocs hook: the measured tables of the manual, rendered at build time from the JSON records
the measuring commands write (``docs/results/*.json``), so a figure in the docs is always the last
one measured and says when and with what command.

A page asks for a table with a line ``<!-- results:NAME -->``; NAME is a key of ``TABLES``.
The README's verdict column is :func:`verdict_cell` (``tests/project/test_docs.py`` checks it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "results"
MARKER = re.compile(r"^<!-- results:([a-z0-9_]+) -->$", re.M)

# The families the learner-selection core chooses among, in the order the tables show them.
FAMILIES = ("constant", "linear", "ridge-context", "gbm-bands", "gbm-context", "mlp-context")
# The per-pixel learners `evaluate` fits on a translation model's training split.
LEARNED = ("ridge-context", "gbm-context", "learner", "mlp")


def load(name: str) -> dict | list:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _g(v: float) -> str:
    """Four significant digits, as every measured table here."""
    return f"{v:.4g}"


def _measured(dates: set[str], commands: list[str]) -> str:
    when = ", ".join(sorted(dates))
    how = "; ".join(f"`{c}`" for c in dict.fromkeys(commands))
    return f"*Measured {when} with {how}.*"


def best_learned(methods: dict) -> tuple[str, float] | None:
    """The per-pixel learner of `evaluate`'s baselines with the lowest test MAE."""
    got = {m: methods[m]["mae"] for m in LEARNED if m in methods}
    return min(got.items(), key=lambda kv: kv[1]) if got else None


def verdict_cell(name: str, record: dict | None = None) -> str:
    """The README verdict table's figures for one bundled model: its test MAE, then its MAE
    relative to the linear map (bicubic for super-resolution) and to the best per-pixel learner
    fitted on its training data (negative: the model is better)."""
    rec = (record or load("bundles"))["models"][name]
    ms = rec["methods"]
    unit = rec["protocol"]["target_units"].replace(" (8-bit)", "")
    out = f"{_g(ms['model']['mae'])} {unit}"
    if "bicubic" in ms:
        return out + f"; vs bicubic {_g(ms['bicubic']['mae'])} ({_pct(ms['model']['mae'], ms['bicubic']['mae'])})"
    out += f"; vs linear {_g(ms['linear']['mae'])} ({_pct(ms['model']['mae'], ms['linear']['mae'])})"
    best = best_learned(ms)
    if best:
        out += f"; vs {best[0]} {_g(best[1])} ({_pct(ms['model']['mae'], best[1])})"
    return out


def _pct(a: float, b: float) -> str:
    """``a`` relative to ``b`` in per cent, signed, with a true minus sign."""
    return f"{(a / b - 1) * 100:+.1f} %".replace("-", "−")


def bundles_table(rec: dict) -> str:
    """One row per bundled model: its test split, the model's MAE/PSNR/SSIM and the baselines'."""
    out = ["| model | test split | model MAE / PSNR / SSIM | linear (bicubic) MAE / PSNR | "
           "best per-pixel learner MAE | constant (nearest) MAE |", "|---|---|---|---|---|---|"]
    for name, r in rec["models"].items():
        ms, p = r["methods"], r["protocol"]
        m = ms["model"]
        lin = ms.get("linear") or ms.get("bicubic")
        low = ms.get("mean") or ms.get("nearest")
        best = best_learned(ms)
        split = f"{p['images']} image(s) of {', '.join(p['sources'])} ({p['target_units']})"
        out.append(f"| `{name}` | {split} | {_g(m['mae'])} / {m['psnr']:.2f} dB / {m['ssim']:.3f} | "
                   f"{_g(lin['mae'])} / {lin['psnr']:.2f} dB | "
                   f"{f'{best[0]} {_g(best[1])}' if best else '–'} | {_g(low['mae']) if low else '–'} |")
    dates = {r["measured"] for r in rec["models"].values()}
    return "\n".join(out) + "\n\n" + _measured(dates, [r["command"] for r in rec["models"].values()])


def learner_bundles_table(rec: dict) -> str:
    """What the learner-selection core chose on each bundle's training split, and what was kept."""
    out = ["| model | learner chosen on the training split | validation MAE: learner / network | kept |",
           "|---|---|---|---|"]
    for name, r in rec.items():
        chosen = r["chosen"] + (f" ({' + '.join(r['blend_of'])})" if r["chosen"] == "blend" else "")
        scale = r.get("scale", 1.0)
        val = r["val_mae"]
        out.append(f"| `{name}` | {chosen} | {_g(val['learner'] * scale)} / {_g(val['network'] * scale)} "
                   f"{r['units']} | {KEPT.get(r['kept'], r['kept'])} |")
    return "\n".join(out) + "\n\n" + _measured({r["measured"] for r in rec.values()},
                                              [r["command"] for r in rec.values()])


def indomain_table(rows: list) -> str:
    """One row per recipe: each family's test MAE, the core's choice and its two ratios."""
    out = ["| recipe | test images | " + " | ".join(FAMILIES) + " | the core's choice | vs best single | vs linear |",
           "|---|---|" + "---|" * (len(FAMILIES) + 3)]
    for r in rows:
        f = r["families"]
        chosen = r["chosen"] + (f" ({' + '.join(b.split(' ')[0] for b in r['blend_of'])})"
                                if r["chosen"] == "blend" else "")
        out.append(f"| {r['recipe']} | {r['test_images']} | "
                   + " | ".join(_g(f[k]["mae"]) for k in FAMILIES)
                   + f" | {chosen}: **{_g(r['choice_mae'])}** | {r['gap_to_best'] * 100:+.1f} % | "
                   f"{-r['gain_vs_linear'] * 100:+.1f} % |")
    within = sum(r["gap_to_best"] <= 0.03 for r in rows)
    better = sum(r["gain_vs_linear"] >= 0.15 for r in rows)
    never = sum(r["gain_vs_linear"] >= 0 for r in rows)
    presets = sorted({r["preset"] for r in rows})
    return ("\n".join(out) + f"\n\nWithin 3 % of the best single candidate on {within} of {len(rows)}; "
            f"≥ 15 % better than the linear map on {better} of {len(rows)}; never worse than it on "
            f"{never} of {len(rows)}.\n\n"
            + _measured({r["measured"] for r in rows},
                        [f"python scripts/indomain_learners.py {p} RECIPES --json "
                         "docs/results/indomain_learners.json" for p in presets]))


def learner_kinds_table(rec: dict) -> str:
    """Tiled prediction speed and memory of each learner kind a bundle may be."""
    out = ["| bundle | backend | MPix/s | × the network | peak RSS (MB) |", "|---|---|---|---|---|"]
    for r in rec["rows"]:
        out.append(f"| {r['learner']} | {r['backend']} | {r['mpix_per_s']:.3g} | {r['vs_shipped']:.2f} | "
                   f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(out) + "\n\n" + _measured({rec["measured"]}, [rec["command"]])


def bench_table(rec: dict) -> str:
    """A `bandbridge bench --json` record: its rows as `bench` prints them, the CPU kind, the
    command and the date."""
    from bandbridge.bench_report import format_rows
    return (format_rows(rec["rows"]) + f"\n\n*{rec['cpu']}; {rec['threads']} thread(s).* "
            + _measured({rec["measured"]}, [rec["command"]]))


def bench_bundles_table(rec: dict) -> str:
    """A row per bundle (benchmarks/bench_bundles.py): what `auto` chose, tiled 8192² against the
    reference of the same run and the chosen backend's raw forward, peak RSS, test-split MAE."""
    out = ["| model | `auto` chose | tiled MPix/s | × reference | tiled / raw | peak RSS 20000² (MB) | "
           "test MAE (baseline) |", "|---|---|---|---|---|---|---|"]
    for name, r in rec["rows"].items():
        raw = f"{r['tiled_mpix_s'] / r['raw_mpix_s']:.0%}" if r.get("raw_mpix_s") else ""
        rss = r["rss_mb"].get("20000")
        t = r.get("test_mae") or {}
        base = next(((k, v) for k, v in t.items() if k not in ("model", "units")), None)
        mae = f"{t['model']:.4g} ({base[0]} {base[1]:.4g}) {t.get('units', '')}" if t.get("model") and base else ""
        out.append(f"| `{name}` | {r['backend']} | {r['tiled_mpix_s']:.2f} | {r['vs_reference']:.1f}× | {raw} | "
                   f"{'' if rss is None else f'{rss:.0f}'} | {mae} |")
    return "\n".join(out) + f"\n\n*{rec['cpu']}.* " + _measured({rec["measured"]}, [rec["command"]])


def compiled_trees_table(rec: dict) -> str:
    """benchmarks/compiled_trees.py: a boosted learner's trees in each runtime, and its student."""
    out = ["| row | MPix/s | MAE (DN) | note |", "|---|---|---|---|"]
    for r in rec["rows"]:
        mae = f"{r['mae_dn']:.2f}" if "mae_dn" in r else ""
        out.append(f"| {r['row']} | {r['mpix_s']:.2f} | {mae} | {r.get('note', '')} |")
    return "\n".join(out) + f"\n\n*{rec['pixels'] / 1e6:.2f} MPix, {rec['threads']} threads.* " \
        + _measured({rec["measured"]}, [rec["command"] + " --json docs/results/compiled_trees.json"])


def memory_plan_table(rec: dict) -> str:
    """benchmarks/memory_plan.py: predict's printed plan against its process's peak, per model
    and backend."""
    out = ["| model | raster | backend | planned (MB) | peak RSS (MB) | peak / plan | seconds |",
           "|---|---|---|---|---|---|---|"]
    for model, m in rec["models"].items():
        out += [f"| `{model}` |{line[1:]}" for line in _memory_rows(m["rows"])]
    cpus = sorted({m["cpu"] for m in rec["models"].values()})
    return "\n".join(out) + f"\n\n*{'; '.join(cpus)}.* " + _measured(
        {m["measured"] for m in rec["models"].values()}, [m["command"] for m in rec["models"].values()])


def _memory_rows(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if r.get("status") == "refused":
            out.append(f"| {r['size']}² | {r['backend']} {r['precision']} | refused: {r['why']} | | | |")
            continue
        plan, peak = r.get("planned_mb"), r["peak_mb"]
        ratio = "" if plan is None else f"{peak / plan:.0%}"
        out.append(f"| {r['size']}² | {r['backend']} {r['precision']} | {'' if plan is None else f'{plan:.0f}'} | "
                   f"{peak:.0f} | {ratio} | {r['seconds']:.0f} |")
    return out


# What `learner_bundles.json: kept` means, in the words of the models page.
KEPT = {"learner": "the learner", "network": "the network",
        "anchor": "the network's anchor, as a learner (its residual was off)"}

FLOORS = ("pooled", "balanced", "lad", "minimax", "median", "constant")  # learners/floor.py


def floor_family(record: dict) -> str:
    """One family's leave-one-source-out of the zero-shot floor (scripts/loso_floor.py): per fold
    the plain linear map, the chosen floor, every candidate and, where recorded, the shipped rule
    against the better of the floor and the linear map; then the means and the folds won."""
    rows = record["rows"]
    has_rule = any("rule" in r for r in rows)
    has_level = any("level" in r for r in rows)
    head = ["held out", "images", "plain linear", "floor (kind)", "floor vs linear", *FLOORS,
            *(["floor of its level (sources)", "vs the floor", "level rule"] if has_level else []),
            *(["rule", "rule vs the better of floor and linear"] if has_rule else [])]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["fold"], str(r["images"]), _g(r["linear"]), f"{_g(r['floor_mae'])} ({r['floor']})",
                 _pct(r["floor_mae"], r["linear"]), *(_g(r["candidates"][k]) for k in FLOORS)]
        if has_level:
            lv = r.get("level")
            cells += ([f"{_g(lv['mae'])} ({lv['level']}: {len(lv['sources'])})", _pct(lv["mae"], r["floor_mae"]),
                       "the level's" if lv.get("carries") else "all sources'"] if lv else ["", "", ""])
        if has_rule:
            cells += ([_g(r["rule"]), _pct(r["rule"], min(r["floor_mae"], r["linear"]))]
                      if "rule" in r else ["", ""])
        out.append("| " + " | ".join(cells) + " |")
    lin = sum(r["linear"] for r in rows) / len(rows)
    flo = sum(r["floor_mae"] for r in rows) / len(rows)
    wins = sum(r["floor_mae"] < r["linear"] for r in rows)
    out.append(f"\nMean over {len(rows)} folds: floor {_g(flo)}, plain linear {_g(lin)} "
               f"({_pct(flo, lin)}); the floor is lower on {wins} of {len(rows)} folds.")
    if has_level:
        lv = [r for r in rows if "level" in r]
        lmean = sum(r["level"]["mae"] for r in lv) / len(lv)
        fmean = sum(r["floor_mae"] for r in lv) / len(lv)
        lwins = sum(r["level"]["mae"] < r["floor_mae"] for r in lv)
        out.append(f" The floor of the held-out source's level alone: mean {_g(lmean)} against the "
                   f"floor's {_g(fmean)} ({_pct(lmean, fmean)}) over those {len(lv)} folds, lower on {lwins}.")
        if any("carries" in r["level"] for r in lv):
            ruled = [r["level"]["mae"] if r["level"]["carries"] else r["floor_mae"] for r in lv]
            rmean = sum(ruled) / len(ruled)
            rwins = sum(v < r["linear"] for v, r in zip(ruled, lv))
            rworst = max(v / min(r["floor_mae"], r["linear"]) for v, r in zip(ruled, lv))
            out.append(f" With the level rule (the level's floor where, on the training sources held "
                       f"out, it beats every source's floor on some source of that level and loses on none): "
                       f"mean {_g(rmean)} against the plain linear map's {_g(sum(r['linear'] for r in lv) / len(lv))}, "
                       f"lower on {rwins} of {len(lv)}, worst fold {_pct(rworst, 1.0)} against the better of "
                       "the floor and the linear map.")
    if has_rule:
        ruled = [r for r in rows if "rule" in r]
        behind = [r["fold"] for r in ruled if r["rule"] > 1.01 * min(r["floor_mae"], r["linear"])]
        out.append(f" The rule is more than 1 % worse than the better of the floor and the linear "
                   f"map on {len(behind)} of {len(ruled)} folds" + (f" ({', '.join(behind)})." if behind else "."))
    return "\n".join(out)


def loso_floor_table(families: dict) -> str:
    """Every family's floor table, each under its name, with when and how it was measured."""
    parts = []
    for name, rec in families.items():
        parts.append(f"**{name}** (`{rec['preset']}`)\n\n{floor_family(rec)}\n\n"
                     + _measured({rec["measured"]}, [rec["command"]]))
    return "\n\n".join(parts)


def loso_cell(name: str, record: dict | None = None) -> str:
    """The README's column "out of domain (LOSO): worst fold vs the floor" for one bundle, from
    ``docs/results/ship_rule.json`` (scripts/ship_rule.py): what ships and its worst held-out fold."""
    rec = (record or load("ship_rule")).get(name)
    if rec is None:
        return "not measured"
    if not rec["folds"]:
        return "one training source: nothing to hold out"
    w = rec["worst_vs_floor"]
    if rec["decision"] == "floor":
        m = max(rec["folds"], key=lambda r: r["model"] / r["floor"])
        return (f"ships the floor ({_pct(w['ratio'], 1.0)}); the trained model was "
                f"{_pct(m['model'], m['floor'])} on {m['fold']}")
    return f"{w['fold']} {_pct(w['ratio'], 1.0)}"


def ship_rule_table(record: dict) -> str:
    """Every shipped translation bundle under issue 49's rule: what ships, the held-out sources
    that broke the rule, the worst fold of what ships against the floor and against the better of
    the floor and the plain linear map; then every fold."""
    out = ["| bundle | ships | folds | broke the rule (the model > floor + 1 %) | worst fold vs the floor "
           "| worst fold vs the better of floor and linear |", "|---|---|---|---|---|---|"]
    for name, r in record.items():
        ships = "the floor (" + r["floor"]["kind"] + ")" if r["decision"] == "floor" else "the model, with the fallback"
        wf, wb = r["worst_vs_floor"], r["worst_vs_better"]
        out.append(f"| `{name}` | {ships} | {len(r['folds'])} | {', '.join(r['broke']) or 'none'} | "
                   + (f"{wf['fold']} {_pct(wf['ratio'], 1.0)} | {wb['fold']} {_pct(wb['ratio'], 1.0)} |"
                      if wf else "— | — |"))
    out += ["", "| bundle | held out | evidence | model | floor | plain linear | shipped vs the better |",
            "|---|---|---|---|---|---|---|"]
    for name, r in record.items():
        for f in r["folds"]:
            out.append(f"| `{name}` | {f['fold']} | {f['with']} | {_g(f['model'])} | {_g(f['floor'])} | "
                       f"{_g(f['linear'])} | {_pct(f['shipped'], min(f['floor'], f['linear']))} |")
    dates = {r["measured"] for r in record.values()}
    return "\n".join(out) + "\n\n" + _measured(dates, [r["command"] for r in record.values()])


def wald_table(record: dict) -> str:
    """Wald's protocol for ``predict --reference`` (``bandbridge wald``)."""
    from bandbridge.evaluation.wald import summary, table
    head = summary(record["cases"])
    return (head + "\n" if head else "") + table(record["cases"]) + f"\nMeasured by `{record['command']}`.\n"


def reference_speed_table(rec: dict) -> str:
    """``predict --reference`` against plain ``predict`` (benchmarks/reference_speed.py)."""
    rows = [("`predict`", rec["plain"]), ("`predict --reference`", rec["reference"])]
    out = ["| run | wall time (s) | peak resident (MB) |", "|---|---|---|"]
    out += [f"| {name} | {r['seconds']} | {r['peak_mb']} |" for name, r in rows]
    return "\n".join(out) + (f"\n\n{rec['size']}² input; time ratio {rec['time_ratio']}×; peak within the "
                             f"1.5 GB plan: {'yes' if rec['peak_within_plan'] else 'no'}. Measured by `{rec['command']}`.\n")


def fill_speed_table(rec: dict) -> str:
    """``fill`` of a tile-sized scene against plain ``predict`` of it (benchmarks/fill_speed.py)."""
    rows = [("`fill --plan`", rec["plan"]), ("`fill`", rec["fill"]), ("`predict -m rgb2nir`", rec["predict"])]
    out = ["| run (fill of a tile) | wall time (s) | CPU time (s) | peak resident (GB) |", "|---|---|---|---|"]
    out += [f"| {name} | {r['wall_s']} | {r['cpu_s']} | {r['peak_gb']} |" for name, r in rows]
    met = rec["met"]
    return "\n".join(out) + (
        f"\n\n{rec['size']}² 4-band uint16 scene, {rec['gap']:.0%} gap; `fill` against `predict`: "
        f"{rec['ratio_wall']}× wall, {rec['ratio_cpu']}× CPU (target 3×: {'met' if met['time_3x'] else 'missed'}); "
        f"peak planned {rec['planned_peak_gb']} GB (within the plan: {'yes' if met['within_plan'] else 'no'}; "
        f"under 4 GB: {'yes' if met['peak_under_4gb'] else 'no'}). Measured by `{rec['command']}` on "
        f"{rec['cores']} busy cores ({rec['code']}).\n")


def fill_page_table(rec: dict) -> str:
    """The web page's fill at a few upload sizes (benchmarks/fill_page.py): what set its cap."""
    out = ["| upload (MPix) | CPU time (s) | wall time (s) | peak resident (GB) | filled |", "|---|---|---|---|---|"]
    out += [f"| {r['mpix']:g} | {r['cpu_s']} | {r['wall_s']} | {r['peak_gb']} | {'yes' if r['filled'] else 'no'} |"
            for r in rec["sizes"]]
    return "\n".join(out) + (f"\n\nThrough the page's own function on {rec['cores']} cores shared with other jobs "
                             f"({rec['date']}). {rec['decision'].rstrip('.')}. Measured by `{rec['command']}`.\n")


def reference_quantity_table(rec: dict) -> str:
    """How often the kelvin rule calls a reference a temperature (benchmarks/reference_quantity.py)."""
    sides = [k for k in next(iter(rec["summary"].values())) if "x" in k and k[0].isdigit()]
    out = ["| references | files | whole files called kelvin | " + " | ".join(f"{s} cell windows called kelvin"
                                                                       for s in sides) + " |",
           "|" + "---|" * (3 + len(sides))]
    for kind, r in rec["summary"].items():
        out.append(f"| {kind} | {r['sources']} | {r['whole_called_kelvin']} | " + " | ".join(
            f"{r[s]['called_kelvin_if_float']:,} of {r[s]['windows']:,}" for s in sides) + " |")
    lo, hi = rec["rule"]["KELVIN_RANGE"]
    return "\n".join(out) + (f"\n\nThe rule: the 2nd–98th percentiles inside {lo:g}–{hi:g} K and a spread under "
                             f"{rec['rule']['KELVIN_SPREAD']:.0%} of the median, judged as if each file were float. "
                             f"Measured by `{rec['command']}`.\n")


def sharpen_table(rec: dict) -> str:
    """``bandbridge sharpen`` by Wald's protocol beside the baselines (benchmarks/sharpen_record.py):
    ERGAS / SAM per case, then each band's RMSE as a multiple of the better cubic's (cubic convolution
    or the cubic B-spline) and of the best of the five upsamplings."""
    names = ["cubic", "bspline", "lanczos", "tsharp", "dms", "gsa", "brovey", "bandbridge"]
    label = {"bspline": "B-spline", "lanczos": "Lanczos", "tsharp": "TsHARP-style", "dms": "DMS-style", "gsa": "GSA",
             "brovey": "Brovey", "bandbridge": "**sharpen**"}
    out = ["| case | reference cells | " + " | ".join(label.get(n, n) for n in names) + " |", "|" + "---|" * (2 + len(names))]
    for c in rec["cases"]:
        m = c["methods"]
        out.append(f"| {c['case']} | {c['reference_cells']:,} | " + " | ".join(
            (f"{m[n]['ergas']:.3g} / {m[n]['sam_deg']:.3g}°" if "sam_deg" in m[n] else f"{m[n]['ergas']:.3g} / —")
            if n in m else "—" for n in names) + " |")
    out += ["", "| case | band | TsHARP-style | DMS-style | **sharpen** | **sharpen** × the best upsampling | its route |",
            "|---|---|---|---|---|---|---|"]
    for c in rec["cases"]:
        m = c["methods"]
        if "bandbridge" not in m:
            continue
        for i, band in enumerate(c["targets"]):
            b = m["bandbridge"]
            out.append(f"| {c['case']} | {band} | {m['tsharp']['rmse_vs_best_cubic'][i]:.3g} | "
                       f"{m['dms']['rmse_vs_best_cubic'][i]:.3g} | {b['rmse_vs_best_cubic'][i]:.3g} | "
                       f"{b['rmse_vs_best_upsampling'][i]:.3g} | {b['routes'][i]} |")
    skipped = "; ".join(f"{s['case']} ({s['why']})" for s in rec["skipped"])
    return "\n".join(out) + (f"\n\nERGAS / SAM per case (lower is better); then each band's RMSE as a multiple of the "
                             f"better cubic's, GDAL's cubic convolution or the interpolating cubic B-spline (below 1: "
                             f"better than both), and of the best of nearest, bilinear, both cubics and Lanczos. "
                             f"{rec['protocol']}. Skipped: {skipped}. Measured by `{rec['command']}`.\n")


def sharpen_speed_table(rec: dict) -> str:
    """``sharpen`` of a Sentinel-2-sized input against plain ``predict`` of its 10 m bands
    (benchmarks/sharpen_speed.py): the 3× target is on CPU time at 600², on wall time at 10980²."""
    out = ["| size | `sharpen` wall / CPU (s) | `predict` wall / CPU (s) | ratio wall / CPU | peak / planned (GB) | 3× met |",
           "|---|---|---|---|---|---|"]
    for r in rec["runs"]:
        s, p = r["sharpen"], r["predict"]
        out.append(f"| {r['size']}² | {s['wall_s']} / {s['cpu_s']} | {p['wall_s']} / {p['cpu_s']} | "
                   f"{r['ratio_wall']}× / {r['ratio_cpu']}× | {s['peak_gb']} / {r['planned_peak_gb']} | "
                   f"{'yes' if r['met']['time_3x'] else 'no'} |")
    cmds = "; ".join(f"`{r['command']}` ({r['code']}, load {r['load_before'][0]})" for r in rec["runs"])
    return "\n".join(out) + f"\n\n{rec['summary']}\n\nMeasured by {cmds}.\n"


def sharpen_drone_table(rec: dict) -> str:
    """Issue 76's drone case on a stand-in (benchmarks/sharpen_drone.py): per factor, pooled RMSE / MAE
    (DN) of ``sharpen`` and of the upsamplings the record holds (the five since issue 84), the photos it
    is worse than their best upsampling on, and its routes."""
    ups = [m for m in ("nearest", "bilinear", "cubic", "bspline", "lanczos") if m in next(iter(rec["factors"].values()))["total"]]
    out = ["| NIR averaged | photos | **sharpen** | " + " | ".join(ups) + " | × the best | photos worse (worst) | routes |",
           "|" + "---|" * (7 + len(ups))]
    for f, v in rec["factors"].items():
        t = v["total"]

        def cell(m: str) -> str:
            return f"{t[m]['rmse']:.3g} / {t[m]['mae']:.3g}"
        out.append(f"| {f} × {f} | {t['photos']} | {cell('bandbridge')} | " + " | ".join(cell(m) for m in ups)
                   + f" | {t['rmse_vs_best']:.3f} | {t['photos_worse_than_their_best_upsampling']} "
                   f"({t['worst_rmse_vs_best']:.3f}) | " + ", ".join(f"{r}: {n}" for r, n in t["routes"].items()) + " |")
    return "\n".join(out) + (f"\n\nRMSE / MAE in DN against the NIR, pooled over every photo's pixels. "
                             f"{rec['stand_in'][:1].upper()}{rec['stand_in'][1:].rstrip('.')}. Measured by `{rec['command']}`.\n")


def sharpen_floor_table(rec: dict) -> str:
    """Never worse than upsampling (benchmarks/sharpen_floor.py): per k and source, ``sharpen``'s and
    ``predict --reference``'s pooled RMSE and MAE over the best of the five upsamplings', the source's half,
    and each half pooled; a ratio over the record's limit in bold."""
    lim = rec["limit"]

    def cell(p: dict, m: str) -> str:
        if m not in p:
            return "—"
        r, a = p[m]["rmse_vs_best"], p[m]["mae_vs_best"]
        return " / ".join(f"**{v:.3f}**" if v > lim else f"{v:.3f}" for v in (r, a))
    def base(p: dict) -> str:  # the thermal ask: sharpen over the best of both cubics, TsHARP- and DMS-style
        if "rmse_vs_baselines" not in p.get("sharpen", {}):
            return "—"
        return (f"{p['sharpen']['rmse_vs_baselines']:.3f} / {p['sharpen']['mae_vs_baselines']:.3f} "
                f"({p['best_baseline_rmse']}, {p['best_baseline_mae']})")
    out = ["| k | source | half | images | sharpen | predict --reference | best upsampling (RMSE, MAE) | "
           "sharpen × the best of cubic, B-spline, TsHARP-, DMS-style (which) |", "|---|---|---|---|---|---|---|---|"]
    for k, s in rec["summary"].items():
        for src, p in s["sources"].items():
            out.append(f"| {k} | {src} | {p['half']} | {p['images']} | {cell(p, 'sharpen')} | {cell(p, 'reference')} | "
                       f"{p['best_upsampling_rmse']}, {p['best_upsampling_mae']} | {base(p)} |")
        for h, p in s["halves"].items():
            out.append(f"| {k} | **half {h}** | {h} | {p['images']} | {cell(p, 'sharpen')} | {cell(p, 'reference')} | "
                       f"{p['best_upsampling_rmse']}, {p['best_upsampling_mae']} | {base(p)} |")
    halves = "; ".join(f"{h}: {', '.join(v)}" for h, v in rec["halves"].items())
    return "\n".join(out) + (f"\n\nRMSE / MAE, each over the best of nearest, bilinear, cubic convolution, cubic "
                             f"B-spline and Lanczos upsampling pooled the same way; over {lim} in bold (the bound is per "
                             f"source; a half's row pools pixels of unlike units, DN and K, and is a summary only; "
                             f"— where a method did not run on every image: no model takes OLI to kelvin). Halves: {halves}. "
                             f"Measured by `{rec['command']}`.\n")


def _halves(rules: dict, chosen: str):
    """Each half's rule set on it (``rules["set on A"]``, …), with what it scored there (its ``tried`` entry for
    the value ``chosen`` names) and on the other half: ``(half, other, rule, there, on the other)``."""
    for h, other in (("A", "B"), ("B", "A")):
        s = rules[f"set on {h}"]
        yield h, other, s, s["tried"][str(s[chosen])], s[f"reported on {other}"]


def upsampling_rule_table(rec: dict) -> str:
    """The upsampling a band without a guided route takes: its margin set on one half and reported on the other
    (benchmarks/upsampling_rule.py)."""
    out = ["| set on | margin | cells over the limit there (the best at the check) | on the other half (the best at the "
           "check) | worst there / on the other |", "|---|---|---|---|---|"]
    for h, other in (("A", "B"), ("B", "A")):
        s = rec[f"set on {h}"]
        mine, theirs = s["tried"][str(s["margin"])], s[f"reported on {other}"]
        out.append(f"| {h} | {s['margin']} | {mine['over_limit']} of {mine['cells']} ({s['argmin there']['over_limit']}) "
                   f"| {theirs['over_limit']} of {theirs['cells']} ({s[f'argmin on {other}']['over_limit']}) | "
                   f"{mine['worst']} / {theirs['worst']} |")
    return "\n".join(out) + (f"\n\nA cell: a (source, k, metric) pooled over the source's images, over "
                             f"{rec['limit']}× the best single upsampling; the default {rec['default']}; margins tried "
                             f"{', '.join(map(str, rec['margins']))}. Measured by `{rec['command']}`.\n")


def area_rule_table(rec: dict) -> str:
    """Whether each kind's fit learns area to point: every setting on both halves, each kind's choice on one half
    reported on the other (benchmarks/area_rule.py)."""
    out = ["| command | setting | half A: cells over the limit, geometric mean | half B | chosen on |",
           "|---|---|---|---|---|"]
    for kind, r in rec["kinds"].items():
        for name, t in r["settings"].items():
            on = [h for h in "AB" if r[f"set_on_{h}"] == name]
            tag = " (explored: chosen by neither)" if name in rec.get("explored", []) else ""
            out.append(f"| {'sharpen' if kind == 'sharpen' else 'predict --reference'} | {name}{tag} | "
                       f"{t['A']['over']} of {t['A']['cells']}, {t['A']['geomean']:.4f} | "
                       f"{t['B']['over']} of {t['B']['cells']}, {t['B']['geomean']:.4f} | {', '.join(on) or '—'} |")
    taken = ", ".join(f"{'sharpen' if k == 'sharpen' else 'predict --reference'} {v}"
                      for k, v in rec.get("adopted", {}).items())
    return "\n".join(out) + (f"\n\nA cell: a (source, k, metric) pooled over the source's images, over "
                             f"{rec['limit']}× the best single upsampling is over the limit. Measured by "
                             f"`{rec['command']}`. Adopted: {taken or 'as chosen on A'}. "
                             f"{rec.get('beside', '')}\n")


def share_rule_table(rec: dict) -> str:
    """The share of detail a guided route takes: each floor of the test's share on both halves, the choice of each
    half reported on the other (benchmarks/share_rule.py)."""
    out = ["| the whole detail at a test's share of | half A: cells over the limit, geometric mean | half B | chosen on |",
           "|---|---|---|---|"]
    for name, t in rec["settings"].items():
        on = [h for h in "AB" if rec[f"set_on_{h}"] == name]
        label = "never (the test's share as it is: the rule before)" if name == "never" else f"{name} or more"
        out.append(f"| {label} | {t['A']['over']} of {t['A']['cells']}, {t['A']['geomean']:.4f} | "
                   f"{t['B']['over']} of {t['B']['cells']}, {t['B']['geomean']:.4f} | {', '.join(on) or '—'} |")
    agree = rec["agreement"]
    return "\n".join(out) + (f"\n\nA cell: a (source, k, command, metric) pooled over the source's images, over "
                             f"{rec['limit']}× the best single upsampling is over the limit. Where the test gave share "
                             f"1, the two floors ran the same: {agree['share_1_pairs']} (image, command) pairs, "
                             f"{agree['differing']} differing, by {agree['largest']:.2%} at most in squared error (the words give a share to "
                             f"two decimals: 0.995 and over reads as 1). Measured by `{rec['command']}`.\n")


def octave_rules_table(rec: dict) -> str:
    """The floor's rules set on one half and scored on the other (benchmarks/octave_rules.py)."""
    out = ["| set on | τ | fallback | sharpen's margin | (source, k, method, metric) over the limit there | on the "
           "other half | on the other half at τ = 0 |", "|---|---|---|---|---|---|---|"]
    for h, other, s, mine, theirs in _halves(rec, "tau"):
        m = rec.get(f"margin set on {h}", {})
        out.append(f"| {h} | {s['tau']} | {s['fallback']} | {m.get('margin', 'not scored')} | "
                   f"{mine['over_limit']} | {theirs['over_limit']} | {s[f'on {other} at tau 0']} |")
    return "\n".join(out) + f"\n\nFrom the record `{rec['record']}`. Measured by `{rec['command']}`.\n"


def consistent_rule_table(rec: dict) -> str:
    """The consistent route's rule set on one half and reported on the other (benchmarks/consistent_rule.py)."""
    out = ["| set on | rule | there: taken / lost of images | on the other half: taken / lost | the rule before there |",
           "|---|---|---|---|---|"]
    for h, other, s, mine, theirs in _halves(rec["rules"], "rule"):
        before = s[f"the rule before, on {other}"]
        out.append(f"| {h} | {s['rule']} | {mine['taken']} / {mine['lost']} of {mine['images']} | "
                   f"{theirs['taken']} / {theirs['lost']} of {theirs['images']} | "
                   f"{before['taken']} / {before['lost']} |")
    return "\n".join(out) + (f"\n\nLost: over {rec['limit']}× the best upsampling's MAE or RMSE at the output's scale, "
                             f"every image forced onto the route. Measured by `{rec['command']}`.\n")


def shift_rule_table(rec: dict) -> str:
    """The gain each half of a reference must show moved, set on one half of the sources and reported on the
    other (benchmarks/shift_rule.py)."""
    out = ["| set on | each half's MAE moved at most | there: false kept / true kept | on the other half |",
           "|---|---|---|---|"]
    for h, _, s, mine, theirs in _halves(rec["rules"], "share"):
        out.append(f"| {h} | {1 - s['share']:.3g}× its MAE in place | {mine['false_kept']} of "
                   f"{mine['false_corrected_before']} / {mine['true_kept']} of {mine['true_corrected_before']} | "
                   f"{theirs['false_kept']} of {theirs['false_corrected_before']} / {theirs['true_kept']} of "
                   f"{theirs['true_corrected_before']} |")
    return "\n".join(out) + ("\n\nOf the shifts the rule before corrected: false ones (references in place) and true "
                             f"ones (NIR references moved ¼–1 cell). Measured by `{rec['command']}`.\n")


def line_ridge_table(rec: dict) -> str:
    """The sharpener's line ridge set on one half of the floor's sources and reported on the other
    (benchmarks/line_ridge.py)."""
    out = ["| set on | ridge | there: (source, k, metric) over the limit, mean log ratio | on the other half |",
           "|---|---|---|---|"]
    for h, _, s, mine, theirs in _halves(rec["rules"], "ridge"):
        out.append(f"| {h} | {s['ridge']} | {mine['over_limit']}, {mine['mean_log_ratio']:.4f} | "
                   f"{theirs['over_limit']}, {theirs['mean_log_ratio']:.4f} |")
    return "\n".join(out) + f"\n\nRidges tried: {', '.join(map(str, rec['ridges']))}. Measured by `{rec['command']}`.\n"


def transfer_rule_table(rec: dict) -> str:
    """The test at the output's scale: its gate set on one half of the floor's sources and reported on the other,
    and the target's own area-to-point fit beside the commands (benchmarks/transfer_rule.py)."""
    out = ["| set on | gate | there: losses stopped / wins stopped / losses left | on the other half |", "|---|---|---|---|"]
    for h, c in rec["choice"].items():
        mine, theirs = c["on_own"], c["on_other"]
        out.append(f"| {h} | {c['gate']} | {mine['caught']} / {mine['cost']} / {mine['left']} | "
                   f"{theirs['caught']} / {theirs['cost']} / {theirs['left']} |")
    if "by_ridge" in rec:  # TRANSFER_RIDGE set the same way, each ridge at the gate each half chose there
        out += ["", "| ridge | half A: gate, losses stopped / wins stopped / losses left | half B: the same | chosen on |",
                "|---|---|---|---|"]
        for r, c in rec["by_ridge"].items():
            on = [h for h in "AB" if rec["ridge_choice"][h] == r]
            out.append(f"| {r} | " + " | ".join(f"{c[h]['gate']}, {c[h]['on_own']['caught']} / {c[h]['on_own']['cost']}"
                                                f" / {c[h]['on_own']['left']}" for h in "AB") + f" | {', '.join(on) or '—'} |")
    out += ["", "| source | images | the target's area-to-point fit: median over the best upsampling (MAE) | under 0.99 | "
            "sharpen's median (before the test) | predict --reference's median |", "|---|---|---|---|---|---|"]
    for src, a in rec["area_to_point"].items():
        out.append(f"| {src} | {a['images']} | {a['atp_median']} | {a['atp_wins']} | {a['sharpen_median']} | "
                   f"{a['reference_median'] if a['reference_median'] is not None else '—'} |")
    return "\n".join(out) + (f"\n\nGates tried: {', '.join(map(str, rec['gates']))}; a loss is an image and command over "
                             f"1.01× the best upsampling in MAE, a win under 0.99×. Measured by `{rec['command']}`.\n")


def reference_scales_table(rec: dict) -> str:
    """``predict --reference`` at drone scales and where the reference does not see
    (benchmarks/reference_scales.py)."""
    ks = [r for r in rec["rows"] if "k" in r]
    out = ["| k | clear cells | reference-guided | nearest upsampled reference | ratio | the model alone | route |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| {r['k']} | {r['cells']:,} | {r['reference-guided']} | {r['nearest upsampled reference']} | "
            f"{r['vs nearest']} | {r['model alone']} | {r['route'].split(':')[0]} |" for r in ks]
    for r in (r for r in rec["rows"] if "case" in r):
        out += ["", f"{r['case']}: the covered part {r['covered']} DN (the model alone {r['model alone, covered']}); "
                f"the uncovered part {r['uncovered']} DN against {r['model alone, uncovered']} for the model alone "
                f"there; filled from {r['filled from']}."]
    return "\n".join(out) + f"\n\nMAE in DN on NAIP {rec['date']}. Measured by `{rec['command']}`.\n"


def reference_tiles_table(rec: dict) -> str:
    """A folder of tiles under one reference: one fit over the scene against one per tile
    (benchmarks/reference_tiles.py)."""
    out = ["| k | tiles | one fit over the scene | one fit per tile | routes per tile |", "|---|---|---|---|---|"]
    out += [f"| {r['k']} | {r['tiles']} | {r['one fit over the scene']} | {r['one fit per tile']} | "
            f"{', '.join(r['per-tile routes'])} |" for r in rec["rows"]]
    return "\n".join(out) + f"\n\nMean MAE of the tiles in DN, NAIP {rec['date']}. Measured by `{rec['command']}`.\n"


def thermal_gan_table(rec: dict) -> str:
    """The pix2pix thermal GAN held out by source against the shipped floor, by the image rule
    (``bandbridge.realism.image_rule``), from ``benchmarks/thermal_gan.py``: each run's last
    epoch, then the per-epoch curves of the longest run."""
    base = rec["baseline"]["sources"]
    out = ["| run | λ (L1) | epochs | held out | MAE (DN) | SWD | contrast | r | floor: MAE, SWD, contrast, r "
           "| flat image's SWD | by the image rule |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, run in enumerate(rec["runs"], 1):
        for r in sorted(run["runs"], key=lambda r: (r["lam"], r["hold"])):
            if r["hold"] not in base:
                continue
            h, f = r["curve"][-1]["held_out"], base[r["hold"]]
            why = _image_rule(h, f, r["hold"])
            out.append(f"| {k} | {r['lam']:g} | {r['curve'][-1]['epoch']} | {r['hold']} | {h['mae_dn']:.1f} | "
                       f"{h['swd']:.3f} | {h['contrast']:.2f} | {h['r']:.2f} | {f['mae_dn']:.1f}, "
                       f"{f['swd']:.3f}, {f['contrast']:.2f}, {f['r']:.2f} | {r['flat']['swd']:.3f} | "
                       f"{'passes' if not why else '; '.join(why)} |")
    where = lambda r: r["gpu"] or "this machine's 2 CPU cores"
    cmds = "; ".join(f"{k}: `{' then '.join(r.get('commands', [r['command']]))}` ({where(r)}, "
                     f"{r['epochs']} epochs, {r['seconds'] / 60:.0f} min)" for k, r in enumerate(rec["runs"], 1))
    return ("\n".join(out) + f"\n\nMeasured {rec['measured']} by {cmds}; the floor by "
            f"`{rec['baseline']['command']}`.\n\n" + thermal_gan_curves(rec)
            + (thermal_gan_levels(rec["levels"], list(base)) if "levels" in rec else ""))


def thermal_gan_levels(lv: dict, order: list[str]) -> str:
    """How much of the longest run's held-out error is the display level (``--levels``), by source
    in ``order``: the GAN, the floor and a flat frame."""
    out = ["| held out | model | mean DN out | real mean DN | MAE (DN) | MAE, level set | "
           "MAE, level and contrast set | r |", "|---|---|---|---|---|---|---|---|"]
    rows = [(k.split("/")[1], "the GAN", v) for k, v in lv["runs"].items()]
    rows += [(k, "the floor", v) for k, v in lv["floor"].items()]
    rows += [(k, "a flat frame", v) for k, v in lv.get("flat", {}).items()]
    names = ["the GAN", "the floor", "a flat frame"]
    for hold, name, v in sorted(rows, key=lambda t: (order.index(t[0]), names.index(t[1]))):
        flat = name == "a flat frame"  # its level set is the real frame's own mean; no contrast to set
        out.append(f"| {hold} | {name} | {v['mean_dn']:.0f} | {v['real_mean_dn']:.0f} | {v['mae_dn']:.1f} | "
                   f"{v['mae_level_dn']:.1f} | {'' if flat else format(v['mae_level_gain_dn'], '.1f')} | "
                   f"{'' if flat else format(v['r'], '.2f')} |")
    return ("\nThe longest run's generators, the floor and a flat grey frame, with each output's mean "
            "set to the real frame's (what a coarse or earlier thermal image of the place would give), "
            "and with its standard deviation set too:\n\n" + "\n".join(out) + f"\n\nMeasured by `{lv['command']}`.\n")


def _image_rule(h: dict, f: dict, hold: str) -> list[str]:
    """The image rule on one held-out source's scores (r asked on RoadScene, the daytime one)."""
    from bandbridge.realism import image_rule
    return image_rule({"mae": h["mae_dn"], **h}, {"mae": f["mae_dn"], **f}, need_r=hold == "roadscene")


def thermal_gan_curves(rec: dict) -> str:
    """Every scored epoch of the longest run, one column group per held-out source: MAE, SWD,
    contrast, r and whether that epoch alone would pass the rule (read, never chosen)."""
    run = max(rec["runs"], key=lambda r: r["epochs"])
    order = list(rec["baseline"]["sources"])  # the sources' order: RoadScene, TNO, M3SVD, MSRS
    folds = sorted((r for r in run["runs"] if r["hold"] in order), key=lambda r: order.index(r["hold"]))
    rows = {r["hold"]: {c["epoch"]: c for c in r["curve"] if "held_out" in c} for r in folds}
    head = " | ".join(f"{h}: MAE, SWD, contrast, r | passes" for h in rows)
    out = [f"| epoch | {head} |", "|---" * (1 + 2 * len(rows)) + "|"]
    cell = lambda h: f"{h['mae_dn']:.1f}, {h['swd']:.3f}, {h['contrast']:.2f}, {h['r']:.2f}"
    floor = rec["baseline"]["sources"]
    for e in sorted(set().union(*rows.values())):
        cells = []
        for hold, by in rows.items():
            h = by.get(e, {}).get("held_out")
            cells += [cell(h), "no" if _image_rule(h, floor[hold], hold) else "**yes**"] if h else ["", ""]
        out.append(f"| {e} | " + " | ".join(cells) + " |")
    out.append("| the floor | " + " | ".join(f"{cell(floor[h])} | " for h in rows) + "|")
    return (f"Run {rec['runs'].index(run) + 1}, every scored epoch (held out, every image of the source; "
            f"the learning rate decays linearly from epoch {run['epochs'] // 2} to 0 at {run['epochs']}):\n\n"
            + "\n".join(out) + "\n")


def realism_table(rec: dict) -> str:
    """An image bundle's test split by realism beside error (``bandbridge evaluate``, issue 60)."""
    ms, units = rec["methods"], rec["protocol"]["target_units"]
    out = [f"| method | MAE ({units}) | SWD | contrast (1 = real) | r |", "|---|---|---|---|---|"]
    for name, m in ms.items():
        r = m.get("pearson_r", float("nan"))
        out.append(f"| {'**the bundle**' if name == 'model' else name} | {_g(m['mae'])} | {m['swd']:.3f} | "
                   f"{m['contrast']:.2f} | {'n/a' if r != r else f'{r:.2f}'} |")
    p = rec["protocol"]
    return "\n".join(out) + (f"\n\n{p['images']} test images of {', '.join(p['sources'])}; measured "
                             f"{rec['measured']} by `{rec['command']}`.\n")


def demo_train_table(rec: dict) -> str:
    """``make demo-train``'s validation epoch by epoch on each CPU kind measured
    (scripts/demo_train.py's record): the start is the anchor alone; what model/best is; what a
    run on a kind in the table, and on another, is held to."""
    best, kinds, paths = rec["best_epoch"], rec["kinds"], rec.get("kernel_paths", [])
    out = ["| validation (2018), L1 / PSNR | " + " | ".join(k["kind"] for k in kinds) + " |",
           "|---|" + "---|" * len(kinds)]
    for i, c in enumerate(kinds[0]["curve"]):
        what = f"the start: the {rec['anchor']} learner" if c["epoch"] < 0 else f"after epoch {c['epoch']}"
        mark = " (**model/best**)" if c["epoch"] == best else ""
        out.append(f"| {what}{mark} | " + " | ".join(
            f"{k['curve'][i]['l1']:.4f} / {k['curve'][i]['psnr']:.2f} dB" for k in kinds) + " |")
    tol, s = rec["tolerance"], rec["spread"]
    took = ", ".join(f"{k['seconds']} s on a {k['machine']['cores']}-core {k['kind']}" for k in kinds)
    forced = "; ".join(f"{p['kind']} with `{p['env']}` started at {p['start']['l1']:.4f} / "
                       f"{p['start']['psnr']:.2f} dB" for p in paths)
    return "\n".join(out) + (
        f"\n\n*Measured {rec['measured']} with `{rec['command']}` ({rec['precision']}-bit float; {took}). "
        f"On a CPU kind of the table the start and model/best are its own and each epoch within "
        f"{tol['l1']} in L1 and {tol['psnr']} dB of its own; on another, model/best is the same and "
        f"each epoch within the table's range widened by the spread of the runs recorded "
        f"({s['l1']} in L1 and {s['psnr']} dB)" + (f": the math library's code path alone moves the "
                                                  f"start that far ({forced})" if forced else "") + ".*\n")


def gaps_table(record: dict) -> str:
    """Cloud gaps filled (``bandbridge gaps``): rendered by the module that writes the record."""
    from bandbridge.evaluation.gaps_table import tables
    return tables(record)


def s2_prior_table(record: dict) -> str:
    """The Sentinel-2 prior left out source by source (benchmarks/s2_prior.py): rendered by the module that writes the record."""
    from bandbridge.workflows.s2_prior_record import table
    return table(record)


def gaps_sources_table(record: dict) -> str:
    """Cloud gaps filled on SEN12MS-CR and openEO-gfmap (``bandbridge gaps``): rendered by the module that writes the record."""
    from bandbridge.evaluation.gaps_sources_table import tables
    return tables(record)


def _benchmark(name: str):
    """``benchmarks/NAME.py`` as a module (the benchmarks are scripts, not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, RESULTS.parent.parent / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def s2super_table(record: dict) -> str:
    """s2super on the sharpening record's Sentinel-2 cases (benchmarks/s2super_baseline.py, a baseline run in its own
    environment): rendered by the benchmark that writes it."""
    return _benchmark("s2super_baseline").table(record)


def network_rule_table(record: dict) -> str:
    """The Sentinel-2 network's allowance set on half A and reported on B (benchmarks/network_rule.py)."""
    return _benchmark("network_rule").table(record)


def s2_network_table(record: dict) -> str:
    """Sentinel-2's network left out source by source (benchmarks/s2_network.py): rendered by the module that writes
    the record."""
    from bandbridge.workflows.s2_network_record import table
    return table(record)


TABLES = {"bundles": bundles_table, "learner_bundles": learner_bundles_table,
          "indomain_learners": indomain_table, "learner_kinds": learner_kinds_table,
          "bench_rgb2thermal": bench_table, "bench_rgb2nir": bench_table,
          "bench_bundles": bench_bundles_table, "compiled_trees": compiled_trees_table,
          "memory_plan": memory_plan_table, "loso_floor": loso_floor_table,
          "ship_rule": ship_rule_table, "share_rule": share_rule_table, "wald": wald_table, "wald_zero_shot_feature": wald_table,
          "reference_speed": reference_speed_table, "reference_scales": reference_scales_table,
          "reference_tiles": reference_tiles_table,
          "thermal_gan": thermal_gan_table,
          "realism_rgb2thermal": realism_table, "realism_sar2optical": realism_table,
          "demo_train": demo_train_table, "gaps": gaps_table,
          "gaps_sources": gaps_sources_table, "fill_speed": fill_speed_table,
          "fill_page": fill_page_table, "reference_quantity": reference_quantity_table,
          "sharpen": sharpen_table, "sharpen_speed": sharpen_speed_table,
          "sharpen_drone": sharpen_drone_table, "sharpen_floor": sharpen_floor_table,
          "sharpen_floor_before": sharpen_floor_table, "sharpen_floor_area": sharpen_floor_table, "sharpen_floor_detail1": sharpen_floor_table, "sharpen_floor_check_share": sharpen_floor_table,
          "check_share_rule": area_rule_table, "upsampling_rule": upsampling_rule_table, "area_rule": area_rule_table, "sharpen_floor_interim": sharpen_floor_table,
          "octave_rules": octave_rules_table, "consistent_rule": consistent_rule_table, "line_ridge": line_ridge_table,
          "shift_rule": shift_rule_table, "transfer_rule": transfer_rule_table, "s2_prior": s2_prior_table,
          "sharpen_speed_prior": sharpen_speed_table, "s2super": s2super_table, "s2_network": s2_network_table,
          "network_rule": network_rule_table, "sharpen_speed_no_network": sharpen_speed_table}


def render(markdown: str) -> str:
    """``markdown`` with every results marker replaced by its table (an unknown name raises)."""
    return MARKER.sub(lambda m: TABLES[m.group(1)](load(m.group(1))), markdown)


def on_page_markdown(markdown: str, **kwargs) -> str:  # the MkDocs hook
    return render(markdown)
