"""Does a model turn night into day? Mean levels of input, real target and output per image.

    python scripts/night_levels.py rgb2thermal tno [--split test] [--data ../shared/data]

For each image of the recipe's split: the mean of the input (its bands' mean), of the real
target and of the model's whole-image output over valid pixels, in the target's DN (0–255 for
8-bit), and the mean of all three over the images. Issue 21 found the per-image `robust` stretch
turning a night image into a day one (output mean 212 where the real thermal was mostly dark).
"""

import argparse

import torch

from bandbridge.bundle import load_model
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.evaluate import predict_whole, with_data


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("recipe")
    ap.add_argument("--split", default="test")
    ap.add_argument("--data", default="../shared/data")
    a = ap.parse_args()
    b = load_model(a.model)
    b.generator.eval()
    pairs = PairedDataModule(with_data(b.config, a.data, [a.recipe])).load_split(a.split)
    rows = []
    for p in pairs:
        m = p.mask.bool().reshape(p.y.shape[1:])
        y = predict_whole(b, p)
        rows.append((p.item.id, *(255 * float(t[:, m].mean()) for t in (p.x, p.y, y))))
    print(f"| image ({a.recipe}, {a.split}) | input mean | real mean | {a.model} mean |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.1f} |")
    n = len(rows)
    print(f"| **mean of {n}** | {sum(r[1] for r in rows) / n:.1f} | {sum(r[2] for r in rows) / n:.1f} | "
          f"{sum(r[3] for r in rows) / n:.1f} |")


if __name__ == "__main__":
    main()
