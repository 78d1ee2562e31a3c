"""One image of the floor (``evaluation/floor_cases.py``) through the commands' own functions: the guides
written as a user's file in their stored type, the band averaged ``k × k`` as the reference (float32), then
``bandbridge sharpen`` and ``predict -m MODEL --reference`` run and their outputs read back; errors kept as
sums so sources pool. The floor's record (``benchmarks/sharpen_floor.py``) and the rules set on its halves
(``benchmarks/consistent_rule.py``, ``benchmarks/line_ridge.py``) share it."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from bandbridge.data.grids import GDAL_NAMES, block_mean
from bandbridge.evaluation.floor_cases import FloorCase
from bandbridge.evaluation.wald import write_raster

UPSAMPLERS = tuple(GDAL_NAMES)
METHODS = ("sharpen", "reference")


def errors(pred: np.ndarray, truth: np.ndarray) -> dict:
    """``pred`` against ``truth``: the sums of squared and absolute errors and the pixels (float64 sums)."""
    d = pred.astype(np.float64) - truth
    return {"sse": float(np.sum(d ** 2)), "sae": float(np.sum(np.abs(d))), "n": int(d.size)}


def read_band(path: Path) -> np.ndarray:
    """The last band of ``path`` in physical units (its scale and offset applied), float32."""
    import rasterio
    with warnings.catch_warnings(), rasterio.open(path) as s:
        warnings.simplefilter("ignore")
        return s.read(s.count).astype(np.float32) * (s.scales[-1] or 1.0) + (s.offsets[-1] or 0.0)


def test_share(words: str) -> float | None:
    """The share of detail the test at the output's scale supports, read from its words (a band's ``scale``, the
    ``bandbridge_output_scale`` tag; ``learners/transfer.py``): 1 where it saw no evidence either way, None where it
    did not run (the route not guided)."""
    if m := re.search(r"the test's ([\d.]+)", words) or re.search(r"detail taken at share ([\d.]+)", words):
        return float(m.group(1))
    from bandbridge.inference.place.tags import NOT_TESTED
    return None if not words or words == NOT_TESTED else 0.0 if "no detail taken" in words else 1.0


def run_methods(c: FloorCase, k: int, folder: Path, methods: tuple[str, ...] = METHODS,
                detail: float | None = None) -> dict:
    """``{method: (output (H, W), its route, what else it said)}`` for one image at factor ``k`` (a method that
    fails: its error), for each of ``methods``; ``detail``: the share of a guided route's detail both take (None:
    the test at the output's scale decides), the test's own share then recorded beside (``test_share``)."""
    from bandbridge.inference.core.interpret import Overrides
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.place.reference import ReferenceOptions, Request, predict_with_reference
    from bandbridge.inference.place.sharpen import sharpen
    fine = c.grid
    guides = write_raster(folder / "guides.tif", c.guides, fine, c.guide_names, c.dtype)
    ref = write_raster(folder / "reference.tif", block_mean(c.truth, k)[0], fine.coarser(k), [c.target])
    out = {}
    if "sharpen" in methods:
        try:
            res = sharpen(fine=[str(guides)], reference=str(ref), output=str(folder / "sharp.tif"), overwrite=True,
                          detail=detail)
            b = res.decisions[0]  # its octaves among the route's checks, the upsampling it takes without guides
            octaves = {k: v for k, v in b.checks.items() if k != "transfer"}
            out["sharpen"] = (read_band(res.output), b.route, {"octaves": octaves, "upsampling": b.baseline_name,
                                                              "test_share": test_share(b.scale)})
        except Exception as e:  # the record says what failed and goes on
            out["sharpen"] = f"{type(e).__name__}: {e}".splitlines()[0]
    if c.model and "reference" in methods:
        try:
            predict_with_reference(Request([str(guides)], c.model, str(folder / "ref.tif"), PredictOptions(),
                                           Overrides(scaling="minmax", vmin=0.0, vmax=2.0 ** c.bits - 1) if c.bits else Overrides(),
                                           ReferenceOptions(source=str(ref), detail=detail), True))
            import rasterio

            from bandbridge.inference.place import tags as schema
            with rasterio.open(folder / "ref.tif") as s:
                tags = s.tags()
            gains = [float(v) for v in re.findall(r"([-+.\deE]+|nan|inf)x", tags.get("bandbridge_octaves", ""))]
            octaves = dict(zip(("one_step_down", "octave_coarser", "output_scale"), gains))
            band = schema.band(folder / "ref.tif")
            out["reference"] = (read_band(folder / "ref.tif"), band[schema.ROUTE],
                                {"octaves": octaves, "upsampling": tags.get("bandbridge_upsampling", ""),
                                 "test_share": test_share(band.get("bandbridge_output_scale", ""))})
        except Exception as e:
            out["reference"] = f"{type(e).__name__}: {e}".splitlines()[0]
    return out
