"""Training-step time of bandbridge's GAN step at the reference pix2pix settings.

Runs the real LightningModule (critic + generator update, n_critic = 1) through a Lightning
Trainer on random 256×256 batches of 1, for the `unet_256` and `resnet_9blocks` generators,
fp32 and bf16 autocast, variants interleaved round-robin in one process (the machine is noisy).
Reference on this machine kind (BENCHMARKS.md, pix2pix fp32 eager): unet_256 0.75–0.80 s,
resnet_9blocks 1.8–1.9 s per G+D step.

    python benchmarks/train_step.py [--steps 8] [--rounds 3] [--objective lsgan]
"""

from __future__ import annotations

import argparse
import statistics
import time

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from bandbridge.config import build_config
from bandbridge.training.paired import GANTask

GENERATORS = {
    "unet_256": {"name": "unet", "args": {"ngf": 64, "depth": 8, "norm": "batch", "dropout": True}},
    "resnet_9blocks": {"name": "resnet", "args": {"ngf": 64, "n_blocks": 9, "norm": "instance"}},
}


class Random(Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"input": torch.rand(3, 256, 256, generator=g),
                "target": torch.rand(1, 256, 256, generator=g),
                "mask": torch.ones(1, 256, 256, dtype=torch.bool), "meta": {"i": i}}


class StepTimer(L.Callback):
    def __init__(self):
        self.times: list[float] = []

    def on_train_batch_start(self, *a):
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, *a):
        self.times.append(time.perf_counter() - self.t0)


def time_steps(gen: str, precision: str, objective: str, steps: int, warmup: int = 2) -> float:
    cfg = build_config({"name": "bench", "model": {"generator": GENERATORS[gen],
                                                   "critic": {"name": "patchgan", "args": {"norm": "instance"}}},
                        "loss": {"adversarial": objective, "n_critic": 1}})
    task = GANTask(cfg.model_dump(mode="json"), 3, 1)
    timer = StepTimer()
    trainer = L.Trainer(max_steps=2 * (steps + warmup), accelerator="cpu", devices=1,
                        precision=precision, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, callbacks=[timer])
    trainer.fit(task, DataLoader(Random(steps + warmup), batch_size=1))
    return statistics.median(timer.times[warmup:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--objective", default="lsgan")
    ap.add_argument("--precisions", default="32,bf16-mixed")
    args = ap.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    variants = [(g, p) for g in GENERATORS for p in args.precisions.split(",")]
    results: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            results[v].append(time_steps(*v, args.objective, args.steps))
    print(f"\nG+D training step, 256×256, batch 1, {args.objective}, "
          f"{torch.get_num_threads()} threads (median of {args.rounds} rounds × {args.steps} steps)")
    print(f"| generator | precision | s / step | speed-up vs fp32 |")
    print("|---|---|---|---|")
    for g in GENERATORS:
        base = statistics.median(results[(g, "32")]) if (g, "32") in results else None
        for p in args.precisions.split(","):
            t = statistics.median(results[(g, p)])
            print(f"| {g} | {p} | {t:.3f} | {base / t:.2f}× |" if base else f"| {g} | {p} | {t:.3f} | |")


if __name__ == "__main__":
    main()
