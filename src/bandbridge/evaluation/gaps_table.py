"""``gaps.md``: the record of ``bandbridge gaps`` (``evaluation/gaps.py``) as tables."""

from __future__ import annotations

LATER = "with a later clear date"  # the summaries' group of the pairs where fill-later is scored
STRATA = ((0, 15, "< 15 d"), (15, 30, "15–30 d"), (30, 10_000, "≥ 30 d"))  # days apart

NAMES = {"as-is": "earlier as is", "linear": "earlier, linear per band",
         "median": "median of the clear dates", "interp": "temporal interpolation",
         "sar2optical": "`sar2optical` (B02–B04)", "fit-no-sar": "fit without SAR",
         "fit-sar": "fit with SAR", "fill": "`fill` (its route)", "fill-later": "`fill` with the later date too"}
FIELD = (("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"), ("sam_deg", "SAM °", "{:.2f}"),
         ("mae", "MAE", "{:.4f}"))
AREA_NAMES = {"cloud": "cloud area", "image": "whole image"}
BASELINES = ("The baselines: the earlier date as is and mapped linearly per band (fitted on the scene's clear "
             "part); the per-pixel median of the clear dates (SCL) of the 90 days before the scene, reaching back "
             "to the pair's earlier date where that is further (`gaps_dates.MEDIAN_DAYS`); temporal linear "
             "interpolation between each pixel's nearest clear dates before and after the scene (the nearest on "
             "one side where the other has none; *both sides* gives the share of pixels with a date on each). "
             "The median and the interpolation use every date of the cube a user would hold (cloudy dates where "
             "SCL calls a pixel clear); `fill` is given the pair's earlier date and Sentinel-1 only.")
FIELD_NOTE = ("Scored as the field scores cloud removal (DSen2-CR, UnCRtainTS): reflectance clipped to [0, 1], data "
              "range 1; PSNR = 10·log10(1 / MSE), SSIM with an 11×11 Gaussian window (σ 1.5) averaged over the area, "
              "SAM the mean per-pixel spectral angle in degrees, MAE in reflectance; each per image (a pair), then "
              "averaged over the pairs. *Cloud area*: the hidden pixels scored; *whole image*: those and the "
              "scene's observed clear pixels, kept as observed. Bands B02, B03, B04, B08 (`sar2optical`: B02–B04, "
              "its SAM over three bands).")


def field_table(scores: dict, names: dict, first: str = "column") -> list[str]:
    """One row per column of ``scores`` (``{column: {area: {metric: value}}}``): PSNR, SSIM, SAM and
    MAE over the cloud area, then the whole image."""
    head = " | ".join(f"{lab} ({AREA_NAMES[a]})" for a in AREA_NAMES for _, lab, _ in FIELD)
    lines = [f"| {first} | {head} |", "|---|" + "---|" * (2 * len(FIELD))]
    for k in [k for k in names if k in scores]:
        cells = [fmt.format(scores[k][a][m]) if m in scores[k][a] else "—" for a in AREA_NAMES for m, _, fmt in FIELD]
        lines.append(f"| {names[k]} | " + " | ".join(cells) + " |")
    return lines + [""]


def _field(record: dict, names: dict, level: str = "##") -> list[str]:
    """The field's figures per mask kind over all pairs, then by stratum (cloud area only)."""
    if not record.get("scores"):
        return []
    lines = [f"{level} Scored as the field scores cloud removal", "", FIELD_NOTE, ""]
    for kind, groups in record["scores"].items():
        for name, g in ((n, groups[n]) for n in ("all", LATER) if n in groups):
            what = f"all {g['pairs']} pairs" if name == "all" else f"the {g['pairs']} pairs {name} in the cube"
            lines += [f"{kind} masks, {what}:", ""] + field_table(g, names, "column")
    return lines


def _cell(g: dict, k: str, ref: float | None) -> str:
    if k not in g:
        return "—"
    v = g[k]
    return f"{v:.4f}" + (f" ({(v / ref - 1) * 100:+.0f} %)" if ref and k in ("fit-sar", "fit-no-sar", "fill", "fill-later") else "")


def _median_rows(rows: list[dict], kind: str):
    """``(stratum, pairs, {column: median MAE})`` of one mask kind's ``rows``: all pairs, then each stratum."""
    import numpy as np
    sel = [r for r in rows if (r["mask"] == "disc") == (kind == "disc")]
    for lo, hi, lab in ((0, 10_000, "all"), *STRATA):
        if rs := [r for r in sel if lo <= r["days"] < hi]:
            yield lab, len(rs), {k: float(np.median([r["mae"][k] for r in rs if k in r["mae"]])) for k in NAMES
                                 if any(k in r["mae"] for r in rs)}


def tables(record: dict) -> str:
    """The manual's part of the record (``docs/hooks/results.py``): one table, each mask kind's
    mean and median per stratum, the change against the linear map in brackets; realism below."""
    plain = {k: v.replace("`", "") for k, v in NAMES.items()}
    lines = [f"*Measured by `{record['command']}`; every pair in `docs/results/gaps.md`. MAE in reflectance "
             "over the hidden pixels that are really clear (B02, B03, B04, B08; sar2optical makes RGB: B02–B04). "
             "Brackets: against the earlier date, linear per band.*", "",
             "| masks | pairs | n | " + " | ".join(plain.values()) + " |", "|---|---|---|" + "---|" * len(NAMES)]
    for kind, groups in record["summary"].items():
        lines += [f"| {kind}, mean | {name} | {g['pairs']} | " + " | ".join(_cell(g, k, g.get("linear")) for k in NAMES)
                  + " |" for name, g in groups.items()]
        lines += [f"| {kind}, median | {lab} | {n} | " + " | ".join(_cell(med, k, med.get("linear")) for k in NAMES)
                  + " |" for lab, n, med in _median_rows(record["rows"], kind)]
    lines += ["", BASELINES, ""] + _field(record, plain, "####")
    if record.get("realism"):
        lines += ["", "Realism of the filled pixels, all pairs (SWD: lower is nearer the real; contrast: 1 is the "
                  "real's): " + "; ".join(f"{plain.get(k, k)} {r['swd']:.3f}, {r['contrast']:.2f}"
                                         for k, r in record["realism"].items()) + "."]
    return "\n".join(lines) + "\n"


def markdown(record: dict) -> str:
    """The tables: per mask kind, rows = all pairs, each sample, each stratum; columns = the fills
    (change against the linear map in brackets); then every pair, and realism."""
    lines = ["# Cloud gaps filled: the WorldCereal protocol", "", f"`{record['command']}`", "",
             "The pairs: consecutive Sentinel-2 dates both more than 95 % clear by SCL, counting classes 4, 5, 6 "
             "and 11 clear (vegetation, bare soil, water, snow: `bands.CLEAR_SCL`, and the issue's list — its 42 "
             "pairs are reproduced only with snow counted clear), each with a Sentinel-1 acquisition within 3 "
             "calendar days: 42 pairs, 2–105 days apart (the issue says 4–104; no minimum gap reproduces its "
             "count). Two of those dates are a cloud over the whole scene that SCL calls snow "
             "(00002806639B424A 2018-09-23, 0000280849BAC91C 2018-11-12); the rows *no snow-labelled date* leave "
             "the pairs that touch them out, and `fill` itself does not take an earlier date's snow for the ground "
             "where the scene's clear part shows none (`policy.FILL_SNOW_MIN`). "
             "MAE in reflectance over the hidden pixels that are really clear (B02, B03, B04, B08; "
             "`sar2optical` makes RGB, so its column is B02–B04). Brackets: against the earlier date, "
             "linear per band. Settings chosen on sample 00002806639B424A only (a cloudy date of it; "
             "FILL_FIT_MIN on its first four pairs with other masks, and no clear part here is under it; the "
             "anchor, the candidates and FILL_EDGE_PX on its seeded discs); 0000280849BAC91C is held out. The SEN12MS-CR triplets and openEO-gfmap's site: "
             "gaps_sources.md, made by the same command.", ""]
    for kind, groups in record["summary"].items():
        cols = [k for k in NAMES if any(k in g for g in groups.values())]
        lines += [f"## {kind} masks", "", "| pairs | n | " + " | ".join(NAMES[k] for k in cols) + " |",
                  "|---|---|" + "---|" * len(cols)]
        lines += [f"| {name} | {g['pairs']} | " + " | ".join(_cell(g, k, g.get("linear")) for k in cols) + " |"
                  for name, g in groups.items()] + [""]
    lines += [BASELINES, "", "## Medians over pairs", "", "| masks | pairs | n | " + " | ".join(NAMES.values()) + " |",
              "|---|---|---|" + "---|" * len(NAMES)]  # the same columns as medians: large changes dominate a mean
    lines += [f"| {kind} | {lab} | {n} | " + " | ".join(_cell(med, k, med.get("linear")) for k in NAMES) + " |"
              for kind in ("disc", "real SCL") for lab, n, med in _median_rows(record["rows"], kind)]
    lines += [""] + _field(record, NAMES)
    if record.get("realism"):
        lines += ["## Realism of the filled pixels (all pairs, both mask kinds)", "",
                  "| fill | SWD (lower is nearer the real) | contrast (1 = the real's) |", "|---|---|---|",
                  *(f"| {NAMES.get(k, k)} | {r['swd']:.3f} | {r['contrast']:.2f} |"
                    for k, r in record["realism"].items()), ""]
    lines += ["## Every pair", "", "MAE; *both sides*: the share of the scored pixels with a clear date before and "
              "after the scene (the interpolation's).", "",
              "| sample | earlier → later | days | mask | pixels | both sides | " +
              " | ".join(NAMES[k] for k in NAMES) + " | fill's route |", "|---|---|---|---|---|---|" + "---|" * (len(NAMES) + 1)]
    for r in record["rows"]:
        snow = f" (SCL snow: {r['snow']})" if r.get("snow") else ""
        both = f"{r['both']:.0%}" if "both" in r else "—"
        lines.append(f"| {r['sample']} | {r['earlier']} → {r['later']}{snow} | {r['days']} | {r['mask']} | {r['hidden']} | "
                     f"{both} | " + " | ".join(f"{r['mae'][k]:.4f}" if k in r["mae"] else "—" for k in NAMES) +
                     f" | {r['route']} |")
    return "\n".join(lines) + "\n"
