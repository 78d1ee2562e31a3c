"""``gaps_sources.md``: the record of ``evaluation/gaps_sources.py`` as tables."""

from __future__ import annotations

from bandbridge.evaluation.gaps_table import FIELD_NOTE, NAMES, field_table

PUBLISHED = ("For context only, not a like-for-like comparison: on SEN12MS-CR's hold-out test set (all 13 L1C "
             "bands, networks trained on the dataset), DSen2-CR trained on the plain L1 loss scores PSNR 29.3 dB, "
             "SSIM 0.878, SAM 8.07°, MAE 0.0270 over the whole image and MAE 0.0266, SAM 8.13° inside the clouds "
             "and shadows (Meraner et al. 2020, Table 1); UnCRtainTS 28.90 dB and GLF-CR 28.64 dB (as issue 75 "
             "cites them). The figures here are two patches, bands B02, B03, B04, B08, methods fitted on the scene "
             "itself; the cloud-free image is another date there as here.")

TRIPLET_NAMES = {"cloudy": "cloudy scene as is", "clear-mean": "clear part's per-band mean",
                 "sar2optical": "`sar2optical` (B02–B04)", "fill": "`fill`, no earlier date (SAR alone)"}


def _f(v) -> str:
    return "—" if v is None else f"{v:.4f}"


def _realism(real: dict, names: dict, of: str = "") -> list[str]:
    if not real:
        return []
    lines = [f"Realism of the filled pixels{of} (the real elsewhere; SWD: lower is nearer the real; contrast: 1 "
             "is the real's):", "", "| fill | SWD | contrast |", "|---|---|---|"]
    return lines + [f"| {names.get(k, k)} | {r['swd']:.3f} | {r['contrast']:.2f} |" for k, r in real.items()] + [""]


def _triplets(rec: dict) -> list[str]:
    cols = list(TRIPLET_NAMES)
    lines = ["## SEN12MS-CR triplets (real clouds)", "",
             "The gap is found in the cloudy L1C scene by the cloud score of Schmitt et al. 2019 (\"Aggregating "
             "cloud-free Sentinel-2 images with Google Earth Engine\"; the numpy port of DSen2-CR and GLF-CR, "
             "threshold 0.2): `cloud` is that score alone, `cloud+shadow` adds the port's shadow rule (the mask "
             "GLF-CR, where these files come from, trains with); both dilated as `fill` dilates. **The cloud-free "
             "image is another date**: its error holds what changed between the dates, so *dates apart* gives the "
             "two dates' MAE on the clear part, where nothing was filled. No earlier clear date stands beside a "
             "triplet, so `fill --sar` runs without `--earlier`: SAR alone fitted on the clear "
             "part where that holds out better than a constant, else the gap left as observed. `sar2optical`'s floor was fitted on these very cloud-free "
             "images among its training pixels: its column is not held out. MAE in reflectance over the gap "
             "pixels (those the rule calls cloud in the cloud-free image left out), B02, B03, B04, B08.", "",
             "| patch | mask | cloud (score) | gap | clear px | scored px | dates apart | " +
             " | ".join(TRIPLET_NAMES[k] for k in cols) + " | fill's route |", "|---|---|---|---|---|---|---|" +
             "---|" * (len(cols) + 1)]
    lines += [f"| {r['patch']} | {r['mask']} | {r['cloud']:.0%} | {r['gap']:.0%} | {r['clear_pixels']} | "
              f"{r['scored']} | {_f(r['dates_apart'])} | " + " | ".join(_f(r["mae"].get(k)) for k in cols) +
              f" | {r['route']} |" for r in rec["rows"]] + [""]
    if rec.get("scores"):
        lines += [FIELD_NOTE.replace("(a pair)", "(a patch)").replace("the pairs", "the patches").replace(
            "the hidden pixels scored", "the gap's scored pixels").replace(
            "the scene's observed clear pixels, kept as observed", "the clear part, kept as the cloudy date observed "
            "it (so the dates' difference counts there, as it does in the field's whole-image figures)"), "", PUBLISHED, ""]
        for rule, sc in rec["scores"].items():
            n = sum(1 for r in rec["rows"] if r["mask"] == rule and "scores" in r)
            lines += [f"Mask `{rule}`, mean of {n} patch{'es' if n != 1 else ''}:", ""] + field_table(
                sc, TRIPLET_NAMES, "column")
    real_of = rec.get("realism", {})
    for rule in sorted(real_of, key=lambda m: [r["mask"] for r in rec["rows"]].index(m)):
        lines += _realism(real_of[rule], TRIPLET_NAMES, f", mask `{rule}`, every patch with a gap by it")
    return lines


def _gfmap(rec: dict) -> list[str]:
    cols = list(NAMES)
    names = {**NAMES, "sar2optical": "`sar2optical` (B04)"}
    lines = ["## openEO-gfmap's Antwerp site (red and NIR)", "",
             "The WorldCereal protocol of `bandbridge gaps` on `openeo_gfmap/site_s1_s2_2022_2023` (66×64 px, "
             "Sentinel-2 L2A B04 and B08, Sentinel-1 within 3 days): its one pair of consecutive dates both more "
             "than 95 % clear by SCL, under several seeded discs hiding 20–80 % of the later date. MAE in "
             "reflectance over the hidden pixels that are really clear; `sar2optical` makes RGB, so its column is "
             "B04 alone. Nothing here was tuned on this site.", "",
             "| earlier → later | days | disc | pixels | " + " | ".join(names[k] for k in cols) + " | fill's route |",
             "|---|---|---|---|" + "---|" * (len(cols) + 1)]
    lines += [f"| {r['earlier']} → {r['later']} | {r['days']} | {r['disc']} | {r['hidden']} | " +
              " | ".join(_f(r["mae"].get(k)) for k in cols) + f" | {r['route']} |" for r in rec["rows"]]
    if rec.get("mean"):
        lines.append(f"| mean of {len(rec['rows'])} | | | | " + " | ".join(_f(rec["mean"].get(k)) for k in cols) + " | |")
    lines.append("")
    if rec.get("scores"):
        lines += [FIELD_NOTE.replace("B02, B03, B04, B08 (`sar2optical`: B02–B04, its SAM over three bands)",
                                     "B04 and B08 (`sar2optical`: B04 alone, no SAM)"), "",
                  f"Mean of the {len(rec['rows'])} discs:", ""] + field_table(rec["scores"], names, "column")
    return lines + _realism(rec.get("realism", {}), names)


def _body(record: dict) -> list[str]:
    return [*(_triplets(record["sen12mscr"]) if "sen12mscr" in record else []),
            *(_gfmap(record["gfmap"]) if "gfmap" in record else [])]


def tables(record: dict) -> str:
    """The manual's part of the record (for ``docs/hooks/results.py``): the command, then both
    sources' tables with a level less on their headings."""
    body = [line.replace("## ", "### ", 1) if line.startswith("## ") else line.replace("`", "")
            if line.startswith("|") else line for line in _body(record)]  # table cells plain, as gaps_table's
    return "\n".join([f"*Measured by `{record['command']}`; the record is `docs/results/gaps_sources.json`.*", "",
                      *body]) + "\n"


def markdown(record: dict) -> str:
    """Both sources' tables, the command first."""
    lines = ["# Cloud gaps filled: SEN12MS-CR and openEO-gfmap", "", f"`{record['command']}`", "", *_body(record)]
    return "\n".join(lines) + "\n"
