"""The Sentinel-2 network's rule (``policy.NETWORK_BANDS``, issue 96), set on half A of the development
Sentinel-2 sources and reported on half B, then the halves swapped.

From the network's leave-one-source-out record (``docs/results/s2_network.json``: per held-out case and band,
the network alone and ``sharpen --no-network``): a band is one of ``NETWORK_BANDS`` where the network alone,
pooled over a half's held-out cases, erred less in RMSE than the run without it. The halves are fixed before any
figure: the sources in the sharpening record's order (``evaluation/s2_sources.SOURCES``), alternately.

    python benchmarks/network_rule.py docs/results/s2_network.json [--json docs/results/network_rule.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bandbridge.workflows.s2_network_record import ALONE, WITHOUT, _pooled

HALVES = {"A": ("nir_s2_majortom", "nir_s2_eolearn", "wildfire_s2_20m"),
          "B": ("sar_sen12mscr_glfcr", "sar_sen1floods11", "ukis_csmask_s2")}


def by_band(record: dict, sources: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per band, each method's RMSE over the half's held-out pixels × the better cubic's (``_pooled``)."""
    items: dict[str, list] = {}
    for row in record["cases"]:
        if row["fold"] in sources and all("rmse" in row["methods"].get(m, {}) for m in (ALONE, WITHOUT)):
            for i, band in enumerate(row["targets"]):
                items.setdefault(band, []).append((row, i))
    return {b: {"cases": len(v), ALONE: round(_pooled(v, ALONE), 4), WITHOUT: round(_pooled(v, WITHOUT), 4)}
            for b, v in sorted(items.items())}


def rule(record: dict, set_on: str) -> dict:
    """The bands set on half ``set_on`` and what they do on the other half."""
    other = "B" if set_on == "A" else "A"
    on, off = by_band(record, HALVES[set_on]), by_band(record, HALVES[other])
    bands = [b for b, r in on.items() if r[ALONE] < r[WITHOUT]]
    right = [b for b in bands if b in off and off[b][ALONE] < off[b][WITHOUT]]
    wrong = [b for b in bands if b in off and not off[b][ALONE] < off[b][WITHOUT]]
    missed = [b for b, r in off.items() if b not in bands and r[ALONE] < r[WITHOUT]]
    return {"set_on": set_on, "bands": bands, "on_set": on, "reported_on": other, "on_other": off,
            "other_right": right, "other_wrong": wrong, "other_missed": missed}


def table(record: dict) -> str:
    """Markdown: per half and band, the network alone and the run without it (RMSE × the better cubic)."""
    out = ["| half | band | cases | the network alone | `--no-network` | the network better |", "|---|---|---|---|---|---|"]
    for r in record["rules"][:1]:
        for half, rows in ((r["set_on"], r["on_set"]), (r["reported_on"], r["on_other"])):
            for b, v in rows.items():
                out.append(f"| {half} | {b} | {v['cases']} | {v[ALONE]:.3g} | {v[WITHOUT]:.3g} | "
                           f"{'yes' if v[ALONE] < v[WITHOUT] else 'no'} |")
    a, b = record["rules"]
    return "\n".join(out) + (
        f"\n\nSet on A ({', '.join(HALVES['A'])}): `NETWORK_BANDS` = {', '.join(a['bands']) or 'none'}; on B the "
        f"network is the better on {len(a['other_right'])} of them and not on {len(a['other_wrong'])} "
        f"({', '.join(a['other_wrong']) or 'none'}), and B has {len(a['other_missed'])} more where it is "
        f"({', '.join(a['other_missed']) or 'none'}). Swapped, set on B: {', '.join(b['bands']) or 'none'}. "
        f"Made by `{record['command']}` from `{record['source']}`.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("record", help="the network's leave-one-source-out record (docs/results/s2_network.json)")
    ap.add_argument("--json", default="docs/results/network_rule.json")
    a = ap.parse_args()
    record = json.loads(Path(a.record).read_text())
    out = {"command": "python " + " ".join(["benchmarks/network_rule.py", *sys.argv[1:]]), "source": a.record,
           "halves": HALVES, "rules": [rule(record, "A"), rule(record, "B")]}
    Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))


if __name__ == "__main__":
    main()
