"""Cut the small real sample shipped in data/sample/ from ../shared/data (run once; committed).

NAIP (USDA, public domain): a 256×256 window of four dates of one North Dakota site, as
compressed GeoTIFFs with their georeference, under the same relative paths as the full set,
so every NAIP preset runs on the sample with ``--data data/sample``.

    python scripts/make_sample.py [DATA_ROOT] [OUT]     # OUT: data/sample by default
"""

from __future__ import annotations

import sys
from pathlib import Path

import rasterio
from rasterio.windows import Window

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
DST = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "data" / "sample"
DATES = ["20090818", "20120731", "20180716", "20200831"]  # train, train, val (2018), test (2020)
WINDOW = Window(col_off=300, row_off=240, width=256, height=256)

for date in DATES:
    name = f"m_4709963_se_14_1_{date}.tif"
    with rasterio.open(SRC / "nir_naip_opengeos" / name) as src:
        data = src.read(window=WINDOW)
        profile = src.profile | {"height": WINDOW.height, "width": WINDOW.width,
                                 "transform": src.window_transform(WINDOW), "compress": "deflate",
                                 "predictor": 2, "tiled": False}
        profile.pop("blockxsize", None), profile.pop("blockysize", None)
    out = DST / "nir_naip_opengeos" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("red", "green", "blue", "nir")
    print(out, out.stat().st_size, "bytes")
