"""The manual's figure of ``bandbridge fill`` on a real cloudy date, and its seam check (issue 70).

WorldCereal sample 00002806639B424A, 2018-06-03 (22 % not clear by SCL), filled from 2018-05-26
(and 2018-05-11 where that is cloudy) and Sentinel-1 at 2018-06-03 and 2018-05-27 exactly as the
command runs. Panels: the cloudy scene,
the earlier date, the filled scene, which pixels were filled (RGB B04, B03, B02, one 2–98 % stretch).

The seam check: 7 × 7 Laplacian-pyramid patches (``realism.descriptors``) of the filled scene in a
band 8 px wide centred on the gap's edge, against those of the clear part away from it (SWD); the
same for a band as wide inside the clear part, 10 px from the gap. No seam: the edge's SWD is no
worse than the clear band's. Also the mean step between 4-neighbours across the edge against
between clear neighbours. ``python benchmarks/fill_figure.py [DATA] [PNG]``; prints the figures
docs/fill.md quotes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
import torch
from scipy.ndimage import binary_dilation, binary_erosion

from bandbridge.realism import descriptors, swd_1level
from bandbridge.stretch import shared_stretch

SITE = "worldcereal/sample_00002806639B424A"
S10 = "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S20 = "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S1 = "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
HALF_BAND = 4  # px either side of the edge
AWAY = 10  # px from the gap where the clear band lies


def seam(img: np.ndarray, gap: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """The seam check's numbers for ``img (C, H, W)`` filled under ``gap``."""
    edge = binary_dilation(gap, iterations=HALF_BAND) & ~binary_erosion(gap, iterations=HALF_BAND) & valid
    near = binary_dilation(gap, iterations=AWAY + 2 * HALF_BAND)
    band = near & ~binary_dilation(gap, iterations=AWAY) & valid
    inner = valid & ~near
    t = torch.from_numpy(np.nan_to_num(img)).float()
    d = lambda m: descriptors([t], [torch.from_numpy(m)], 2, seed=0)  # noqa: E731
    ref = d(inner)
    out = {}
    for name, m in (("edge", edge), ("clear band", band)):
        got = d(m)
        out[f"swd {name}"] = float(np.mean([swd_1level(g, r) for g, r in zip(got, ref) if len(g) and len(r)]))
    steps, across = [], []
    for ax in (1, 2):
        a = np.abs(np.diff(img, axis=ax)).mean(0)
        g0, g1 = (np.take(gap, range(gap.shape[ax - 1] - 1), ax - 1), np.take(gap, range(1, gap.shape[ax - 1]), ax - 1))
        v = np.take(valid, range(valid.shape[ax - 1] - 1), ax - 1) & np.take(valid, range(1, valid.shape[ax - 1]), ax - 1)
        across.append(a[(g0 != g1) & v])
        steps.append(a[~g0 & ~g1 & v])
    out["step across the edge"] = float(np.concatenate(across).mean())
    out["step between clear neighbours"] = float(np.concatenate(steps).mean())
    return out


def main(data: str, png: str) -> None:
    from bandbridge.inference.place.fill import run_fill
    from bandbridge.inference.place.fill_read import read_layer
    d = Path(data) / SITE
    scene, earlier = f"{d / S10}@2018-06-03#scl={S20}", f"{d / S10}@2018-05-26#scl={S20}"
    older = f"{d / S10}@2018-05-11#scl={S20}"  # where 2018-05-26 is cloudy itself
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "filled.tif"
        run_fill(scene, str(out), [earlier, older], f"{d / S1}@2018-06-03", f"{d / S1}@2018-05-27")
        with rasterio.open(out) as src:  # the cube's uint16 × 1e-4, as fill writes it: reflectance with its scale
            a = src.read() * np.array(src.scales)[:, None, None] + np.array(src.offsets)[:, None, None]
    s, e = read_layer(scene, ""), read_layer(earlier, "")
    filled, flag = a[:4], a[4]
    gap = flag == 2
    print(seam(filled, gap, flag > 0))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rgb = lambda v: v[[2, 1, 0]].transpose(1, 2, 0)  # noqa: E731
    st = shared_stretch(rgb(filled), rgb(s.values), "reflectance")
    show = lambda v: np.clip((np.nan_to_num(rgb(v)) - st.lo) / (st.hi - st.lo), 0, 1)  # noqa: E731
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    for ax, im, title in zip(axes, (show(s.values), show(e.values), show(filled), None),
                             ("2018-06-03: cloudy (SCL)", "2018-05-26: the earlier date", "filled (route: fit)",
                              "filled pixels")):
        ax.imshow(im if im is not None else gap, cmap=None if im is not None else "gray", interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle("bandbridge fill: WorldCereal 00002806639B424A, B04/B03/B02, contains modified Copernicus "
                 "Sentinel data", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"written to {png}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data", sys.argv[2] if len(sys.argv) > 2 else
         "docs/fill_figure.png")
