"""A cloud gap filled from Sentinel-1 alone (``bandbridge fill --sar`` without ``--earlier``, the command
itself), scored on the WorldCereal protocol of ``bandbridge gaps``:
the same 42 date pairs and the same seeded discs (the rows ``disc`` of ``docs/results/gaps.json``),
but no earlier date given, so every hidden pixel is one no earlier date is clear at.

Columns, MAE in reflectance over the hidden pixels that are really clear (B02, B03, B04, B08):
SAR alone as ``fill`` makes it (on the cases where it held out better than the constant; the
others leave the gap as observed), the clear part's per-band median (the constant it must beat),
and the earlier date as it is (what a user with an earlier date would get without any fit).

    python benchmarks/fill_sar_alone.py --data ../shared/data [--json docs/results/fill_sar_alone.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from bandbridge.evaluation.gaps import REAL_EVERY, SAMPLES, SEED, disc, pairs, sample_files
from bandbridge.evaluation.gaps_fill import Case, run, write
from bandbridge.inference.place.fill_read import read_layer


def mae(v: np.ndarray, y: np.ndarray, score: np.ndarray) -> float:
    return float(np.mean(np.abs(v[:, score] - y[:, score])))


def case(root: Path, sample: str, i: int, pair: tuple[str, str, str, str], cloudy: list[str]) -> dict:
    """One pair: the disc ``bandbridge gaps`` hides (the same seed and draws), filled from SAR alone."""
    s10, s20, s1 = sample_files(root, sample)
    a, b, sa, sb = pair
    rng = np.random.default_rng([SEED, i, SAMPLES.index(sample)])
    if i % REAL_EVERY == 0 and cloudy:
        rng.integers(len(cloudy))  # the draw run_gaps makes for the real-mask case, so the disc matches
    scene = read_layer(f"{s10}@{b}#scl={s20}", "")
    e = read_layer(f"{s10}@{a}#scl={s20}", "--earlier")
    valid = scene.valid & scene.clear
    hidden = disc(valid.shape, rng)
    y = scene.values
    with tempfile.TemporaryDirectory() as work:  # the command itself: --sar (it takes --sar-earlier only beside
        # an --earlier), the disc as --mask
        mask = write(Path(work) / "disc.tif", hidden[None].astype(np.float32), scene.grid, ["gap"])
        values, _, _ = run(Case(f"{s10}@{b}#scl={s20}", [], mask, f"{s1}@{sb}"), np.full_like(y, np.nan),
                           Path(work), SEED)
    earlier = np.where(e.clear, e.values, np.nan)
    score = hidden & valid & np.isfinite(earlier).all(0)  # the pixels gaps.json scores
    med = np.nanmedian(np.where(valid & ~hidden, y, np.nan).reshape(y.shape[0], -1), axis=1)
    row = {"sample": sample[7:], "earlier": a[:10], "later": b[:10], "scored": int(score.sum()),
           "filled": bool(np.isfinite(values[:, score]).all()),
           "clear-part median": mae(np.broadcast_to(med[:, None, None], y.shape), y, score),
           "earlier as is": mae(earlier, y, score)}
    if row["filled"]:
        row["sar alone"] = mae(values, y, score)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    root = Path(a.data)
    rows = []
    for sample in SAMPLES:
        if not (root / "worldcereal" / sample).is_dir():
            continue
        prs, cloudy = pairs(root, sample)
        for i, pair in enumerate(prs):
            rows.append(case(root, sample, i, pair, cloudy))
            print(json.dumps(rows[-1]), flush=True)
    done = [r for r in rows if r["filled"]]
    summary = {"pairs": len(rows), "filled from SAR alone": len(done)}
    for k in ("sar alone", "clear-part median", "earlier as is"):
        summary[f"{k}, mean over the filled pairs"] = round(float(np.mean([r[k] for r in done])), 4) if done else None
    for k in ("clear-part median", "earlier as is"):
        summary[f"{k}, mean over all pairs"] = round(float(np.mean([r[k] for r in rows])), 4)
    print(json.dumps(summary))
    if a.json:
        rec = {"command": "python benchmarks/fill_sar_alone.py " + " ".join(sys.argv[1:]), "summary": summary,
               "rows": rows}
        Path(a.json).write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
