"""Right-size a model's tile overlap: tiled prediction against one whole-image forward.

For each (tile, overlap) the script predicts a real raster tile by tile (the predictor itself:
aligned tiles, raised-cosine blending, torch fp32) and compares it with the generator run once on
the whole raster: max |Δ| at the seams (away from the raster's edge), max and mean |Δ| overall,
in model units, and the pixels computed per raster pixel on a large raster, (tile / step)² (the
overlap's cost). The cheapest setting whose mean |Δ| is below a tenth of the output's step and
whose seams stay within 1e-3 is the one to ship — or, for a network whose receptive field spans
the tile (a deep U-Net) so that no overlap makes seams exact, the cheapest that meets the mean
rule. With ``--write`` it goes into the bundle's model.yaml (inference.tile / inference.overlap).

    python benchmarks/overlap.py -m rgb2nir-naip --raster RASTER --tiles 1024,2048 --overlaps 0,128,256
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import rasterio
import torch
import yaml

from bandbridge.bands import get_scaling
from bandbridge.bundle import load_bundle
from bandbridge.data.reader import read_raster
from bandbridge.inference.runtime.backends import TorchBackend
from bandbridge.inference.core.predictor import PredictOptions, plan_file, predict_file
from bandbridge.spec import read_spec, resolve_model_folder

TOLERANCE = 1e-3  # max |Δ| at the seams, model units (0.26 DN of 8-bit)
EDGE = 128  # px from the raster's edge left out of the seam maximum


def whole(spec, raster: Path) -> np.ndarray:
    """The generator on the whole raster in one forward (no tiles), with the context the
    predictor gives its tiles (the image's statistics; place and sensor at the centre)."""
    from bandbridge.data.reader import raster_info
    from bandbridge.inference.core.predictor import contexter, raster_stats
    sel = spec.input
    scaling = get_scaling(sel.scaling, sel.vmin, sel.vmax)
    r = read_raster(raster, scaling, sel.bands, band_names=sel.band_names, sensor=sel.sensor)
    ctx = None
    if spec.uses_context:
        info = raster_info(raster, sel.band_names, sel.sensor, sel.bands)
        locate = contexter(info, spec, None, raster_stats(spec, raster, sel, scaling))
        ctx = torch.tensor([locate(info.height / 2, info.width / 2)], dtype=torch.float32)
    g = load_bundle(spec.folder).generator.eval()
    with torch.inference_mode():
        return g(torch.from_numpy(r.data[None]), ctx)[0].numpy()


def measure(model: str, raster: Path, size: int, tiles: list[int], overlaps: list[int]) -> list[dict]:
    folder = resolve_model_folder(model)
    spec = read_spec(folder)
    be = TorchBackend(spec, "fp32")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        crop = Path(d) / "crop.tif"
        with rasterio.open(raster) as src:
            win = rasterio.windows.Window(0, 0, size, size)
            prof = src.profile | {"height": size, "width": size, "transform": src.window_transform(win),
                                  "driver": "GTiff"}
            data, names = src.read(window=win), src.descriptions
        with rasterio.open(crop, "w", **prof) as dst:
            dst.write(data)
            dst.descriptions = names
        ref = whole(spec, crop)
        for t in tiles:
            for o in overlaps:
                if 2 * o >= t:
                    continue
                opts = PredictOptions(tile=t, overlap=o, dtype="float32")
                plan = plan_file(spec, crop, opts)[2]
                predict_file(be, spec, crop, Path(d) / "out.tif", opts)
                with rasterio.open(Path(d) / "out.tif") as f:
                    got = f.read()
                diff = np.abs(got - ref)
                diff[~np.isfinite(diff)] = 0  # nodata pixels are NaN in float outputs
                # Seams are inside; the raster's own edge differs for another reason (the last
                # tile's replicated margin against the whole image's unpadded edge).
                e = EDGE
                inner = diff[:, e:-e, e:-e]
                # cost on a large raster: the asked tile (on the lattice) and its step
                tl = max(spec.size_multiple, t // spec.size_multiple * spec.size_multiple)
                st = tl - plan.overlap_h
                rows.append({"tile": plan.tile_h, "overlap": plan.overlap_h, "asked": o,
                             "max_abs": float(diff.max()), "max_inner": float(inner.max()),
                             "mean_abs": float(diff.mean()), "cost": (tl / st) ** 2})
                print(f"tile {plan.tile_h:5d} overlap {plan.overlap_h:4d} (asked {o:4d}): max |Δ| "
                      f"{rows[-1]['max_abs']:.2e} ({rows[-1]['max_inner']:.2e} beyond {e} px of the "
                      f"edge), mean |Δ| {rows[-1]['mean_abs']:.2e}; computes {rows[-1]['cost']:.3f}× "
                      "the pixels of a large raster", flush=True)
    return rows


def write_choice(model: str, tile: int, overlap: int) -> None:
    meta_path = resolve_model_folder(model) / "model.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["config"]["inference"] = {"tile": tile, "overlap": overlap}
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--raster", required=True, type=Path, help="a real raster the model reads")
    ap.add_argument("--size", type=int, default=2048, help="side of the compared crop (pixels)")
    ap.add_argument("--tiles", default="1024")
    ap.add_argument("--overlaps", default="0,16,32,64,128")
    ap.add_argument("--write", action="store_true", help="store the cheapest passing (tile, overlap)")
    a = ap.parse_args()
    rows = measure(a.model, a.raster, a.size, [int(t) for t in a.tiles.split(",")],
                   [int(o) for o in a.overlaps.split(",")])
    from bandbridge.inference.runtime.gate import quant_step
    limit = quant_step(read_spec(resolve_model_folder(a.model)).target) / 10
    calm = [r for r in rows if r["mean_abs"] < limit]
    ok = [r for r in calm if r["max_inner"] <= TOLERANCE]
    if not ok:  # a deep U-Net's bottleneck sees the whole tile: no overlap makes seams exact
        print(f"no setting keeps the seams within {TOLERANCE}; taking the cheapest whose mean |Δ| "
              f"is below a tenth of the output step ({limit:.1e})")
        ok = calm
    if not ok:
        print("no setting passes; keep the current one")
        return
    best = min(ok, key=lambda r: (r["cost"], -r["tile"]))
    print(f"chosen: tile {best['tile']}, overlap {best['overlap']} ({best['cost']:.3f}× the pixels of "
          f"a large raster; seams {best['max_inner']:.1e}, mean |Δ| {best['mean_abs']:.1e})")
    if a.write:
        write_choice(a.model, best["tile"], best["asked"])
        print(f"written to {resolve_model_folder(a.model) / 'model.yaml'}")


if __name__ == "__main__":
    main()
