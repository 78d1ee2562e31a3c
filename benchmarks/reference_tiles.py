"""A folder of tiles under one reference (issue 68): one fit over the scene the tiles make (what
`predict FOLDER --reference REF` does, `inference/place/reference_scene.py`) against one fit per
tile (each tile predicted alone), on the bundled NAIP model's held-out date (NAIP 2020, 5 m) cut
into n × n tiles; its own NIR averaged over k × k blocks is the one reference, the full-resolution
NIR the truth.

    python benchmarks/reference_tiles.py --data ../shared/data [--tiles 2] [--k 4 8 16 24] [--json docs/results/reference_tiles.json]

Rows: k = 4, 8, 16, 24; the tiles' mean MAE in DN each way, the routes taken, and whether the
scene's tiles equal the whole image predicted at once (they should: the same fit, cut).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from bandbridge.evaluation.wald import NAIP_TEST, make_reference, naip_rgb
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.place import tags as schema
from bandbridge.inference.place.reference import ReferenceOptions, Request, predict_with_reference

KS = (4, 8, 16, 24)


def band(path: Path) -> tuple[np.ndarray, dict]:
    """The band written and its tags: the file's, with its band's decision (``place/tags.read``)."""
    with rasterio.open(path) as s:
        return s.read(s.count).astype(np.float32) * (s.scales[-1] or 1.0) + (s.offsets[-1] or 0.0), \
            s.tags() | schema.band(path)


def cut_tiles(rgb: Path, n: int, folder: Path) -> list[tuple[Path, tuple[int, int, int, int]]]:
    """``rgb`` cut into ``n × n`` GeoTIFF tiles in ``folder``: ``(path, (r0, r1, c0, c1))`` each."""
    folder.mkdir()
    out = []
    with rasterio.open(rgb) as s:
        H, W = s.height, s.width
        for i in range(n):
            for j in range(n):
                r0, r1, c0, c1 = H * i // n, H * (i + 1) // n, W * j // n, W * (j + 1) // n
                w = Window(c0, r0, c1 - c0, r1 - r0)
                p = folder / f"tile_{i}{j}.tif"
                with rasterio.open(p, "w", **(s.profile | {"height": r1 - r0, "width": c1 - c0,
                                                           "transform": s.window_transform(w)})) as o:
                    o.write(s.read(window=w))
                    o.descriptions = s.descriptions
                out.append((p, (r0, r1, c0, c1)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--tiles", type=int, default=2, help="n: the image cut into n × n tiles")
    ap.add_argument("--k", type=int, nargs="+", default=list(KS), help="the reference's scales (default: 4 8 16 24)")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        rgb, img, fine = naip_rgb(Path(a.data), NAIP_TEST, d)
        truth = img[3]
        tiles = cut_tiles(rgb, a.tiles, d / "tiles")
        for k in a.k:
            ref = ReferenceOptions(source=str(make_reference(truth, fine, k, d / f"nir_k{k}.tif")))
            predict_with_reference(Request([str(d / "tiles")], "rgb2nir", str(d / f"scene{k}"), PredictOptions(),
                                           Overrides(), ref, True))
            predict_with_reference(Request([str(rgb)], "rgb2nir", str(d / f"whole{k}.tif"), PredictOptions(),
                                           Overrides(), ref, True))
            whole = band(d / f"whole{k}.tif")[0]
            scene, alone, routes, same = [], [], set(), True
            for p, (r0, r1, c0, c1) in tiles:
                t = truth[r0:r1, c0:c1]
                got, tags = band(d / f"scene{k}" / f"{p.stem}_rgb2nir-naip.tif")
                same &= bool(np.array_equal(got, whole[r0:r1, c0:c1]))
                predict_with_reference(Request([str(p)], "rgb2nir", str(d / "alone.tif"), PredictOptions(),
                                               Overrides(), ref, True))
                one, one_tags = band(d / "alone.tif")
                scene.append(float(np.abs(got - t).mean()))
                alone.append(float(np.abs(one - t).mean()))
                routes.add(one_tags["bandbridge_route"].split(":")[0])
            row = {"k": k, "tiles": len(tiles), "one fit over the scene": round(float(np.mean(scene)), 2),
                   "one fit per tile": round(float(np.mean(alone)), 2),
                   "scene route": tags["bandbridge_route"].split(":")[0], "per-tile routes": sorted(routes),
                   "scene tiles equal the whole image predicted at once": same}
            rows.append(row)
            print(json.dumps(row), flush=True)
    rec = {"command": "python benchmarks/reference_tiles.py " + " ".join(sys.argv[1:]), "date": NAIP_TEST,
           "rows": rows}
    if a.json:
        Path(a.json).write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
