"""The super-resolution architecture table: parameters, GFLOP per output megapixel, CPU
inference speed and, for trained models, held-out Y-PSNR on Set14 (and BSD100 at ×4).

Candidates are the RLFN-style `rlfn` generator at three sizes and the EDSR-style `sr` generator.
Speed is measured in one process, variants interleaved round-robin (the machine is noisy):
fp32 inference on a 128² input tile (output 128·s squared), median of ``--rounds``. PSNR comes
from `bandbridge evaluate`'s protocol (Y BT.601, border crop = scale, 8-bit output) on bundles
or run folders given as ``--model NAME=PATH``.

    python benchmarks/sr_architectures.py --scale 2 --data ../shared/data \
        --model rlfn-48x6=runs/sr/a48/sr-x2-cpu/<run>/model/best --model rlfn-32x4=...
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from bandbridge.generators import build_generator
from bandbridge.models import count_parameters

CANDIDATES = {
    "rlfn-48x6": ("rlfn", {"nf": 48, "n_blocks": 6, "esa_channels": 16}),
    "rlfn-32x4": ("rlfn", {"nf": 32, "n_blocks": 4, "esa_channels": 16}),
    "rlfn-64x6": ("rlfn", {"nf": 64, "n_blocks": 6, "esa_channels": 16}),
    "edsr-32x6 (sr)": ("sr", {"nf": 32, "n_blocks": 6}),
    "edsr-64x16 (sr)": ("sr", {"nf": 64, "n_blocks": 16}),
}


def gflop_per_output_mpix(g: torch.nn.Module, scale: int, size: int = 64) -> float:
    """Forward FLOPs (multiply-add = 2) per output megapixel, in GFLOP."""
    x = torch.rand(1, 3, size, size)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        g(x)
    return fc.get_total_flops() / (size * scale) ** 2 * 1e6 / 1e9


def mpix_per_s(g: torch.nn.Module, scale: int, size: int = 128) -> float:
    x = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        t = time.perf_counter()
        g(x)
        return (size * scale) ** 2 / (time.perf_counter() - t) / 1e6


def psnr(path: str, data: str, scale: int) -> dict[str, float]:
    from bandbridge.evaluation.evaluate import evaluate
    out = {}
    recipes = {"set14": f"sr_set14_x{scale}"} | ({"bsd100": "sr_bsd100"} if scale == 4 else {})
    for name, recipe in recipes.items():
        ms = evaluate(path, data, "test", [recipe]).summary["methods"]
        out[name] = ms["model"]["psnr_y"]
        out[name + "_bicubic"] = ms["bicubic"]["psnr_y"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--model", action="append", default=[], help="NAME=bundle or run folder")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    nets = {n: build_generator(k, 3, 3, args, a.scale).eval() for n, (k, args) in CANDIDATES.items()}
    speeds: dict[str, list[float]] = {n: [] for n in nets}
    for n, g in nets.items():  # warm-up
        mpix_per_s(g, a.scale)
    for _ in range(a.rounds):
        for n, g in nets.items():
            speeds[n].append(mpix_per_s(g, a.scale))
    trained = dict(m.split("=", 1) for m in a.model)
    scores = {n: psnr(p, a.data, a.scale) for n, p in trained.items()}
    cols = ["Set14 Y-PSNR (bicubic)"] + (["BSD100 Y-PSNR (bicubic)"] if a.scale == 4 else [])
    print(f"×{a.scale}, fp32, {a.threads} threads, 128² input tiles, median of {a.rounds} rounds\n")
    print("| network | parameters | GFLOP / output MPix | MPix/s (output) | " + " | ".join(cols) + " |")
    print("|---|---|---|---|" + "---|" * len(cols))
    for n, g in nets.items():
        s = scores.get(n)
        ps = [f"{s[k]:.2f} ({s[k + '_bicubic']:.2f})" if s else "—"
              for k in (["set14"] + (["bsd100"] if a.scale == 4 else []))]
        print(f"| {n} | {count_parameters(g) / 1e3:.0f} K | {gflop_per_output_mpix(g, a.scale):.1f} | "
              f"{statistics.median(speeds[n]):.2f} | " + " | ".join(ps) + " |")


if __name__ == "__main__":
    main()
