"""What a sliced Wasserstein distance of `bandbridge.realism` reads as, on real thermal frames
(the evaluation page's scale for `swd`; its record is docs/results/swd_scale.json).

    python scripts/swd_scale.py [--data ../shared/data] [--n 20] [--json docs/results/swd_scale.json]

The real set: ``--n`` RoadScene thermal frames spread evenly over the sorted folder. Scored
against it, as `evaluate` scores outputs: ``--n`` other RoadScene frames (each halfway between two of the
set's in the folder), the same frames shifted by two pixels (edges replicated), and flat frames (each
frame's own mean everywhere).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bandbridge.realism import sliced_wasserstein


def frame(path: Path) -> torch.Tensor:
    a = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255
    return torch.from_numpy(a)[None]


def shifted(x: torch.Tensor, px: int = 2) -> torch.Tensor:
    padded = torch.nn.functional.pad(x[None], (px, 0, px, 0), mode="replicate")[0]
    return padded[:, : x.shape[1], : x.shape[2]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data", type=Path)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    files = sorted((a.data / "thermal_roadscene" / "cropinfrared").glob("*.jpg"))
    step = len(files) // a.n
    reals = [frame(files[i * step]) for i in range(a.n)]
    others = [frame(files[i * step + step // 2]) for i in range(a.n)]
    sets = {"other real frames": others, "the same frames shifted by two pixels": [shifted(x) for x in reals],
            "flat frames (each frame's own mean)": [torch.full_like(x, float(x.mean())) for x in reals]}
    rec = {"command": "python scripts/swd_scale.py " + " ".join(sys.argv[1:]),
           "measured": datetime.date.today().isoformat(), "frames": a.n,
           "swd": {k: sliced_wasserstein(v, reals)["swd"] for k, v in sets.items()}}
    text = json.dumps(rec, indent=1) + "\n"
    print(text)
    if a.json:
        a.json.write_text(text)


if __name__ == "__main__":
    main()
