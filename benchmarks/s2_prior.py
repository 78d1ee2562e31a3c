"""The Sentinel-2 band prior (issue 84): its leave-one-source-out record, then the prior trained on
every development Sentinel-2 source and saved as the bundle ``sharpen -m s2-prior`` serves.

    OMP_NUM_THREADS=2 nice python benchmarks/s2_prior.py --data ../shared/data --json docs/results/s2_prior.json --bundle src/bandbridge/priors/s2-prior

The prior and its pairs: src/bandbridge/workflows/s2_prior.py; the record:
src/bandbridge/workflows/s2_prior_record.py. Prints, per case and band, RMSE × the better cubic
without and with the prior.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from bandbridge.evaluation.sharpen_record import save
from bandbridge.workflows.s2_prior import PriorConfig, save_prior, source_pairs, train_prior
from bandbridge.workflows.s2_prior_record import loso_record, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--json", default="docs/results/s2_prior.json", help="where the record goes")
    ap.add_argument("--bundle", default=None, help="where the prior trained on every source goes (none: not trained)")
    ap.add_argument("--steps", type=int, default=PriorConfig.steps, help="training steps of each prior")
    a = ap.parse_args()
    cfg = PriorConfig(steps=a.steps)
    command = "OMP_NUM_THREADS=2 nice python " + " ".join(["benchmarks/s2_prior.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="s2_prior_") as work:
        record = loso_record(a.data, work, cfg, command)
    for r in summary(record):
        print(f"{r['case']:40s} {r['band']}: plain {r['plain']:.3f}  with the prior {r['prior']:.3f}  alone {r['alone']:.3f}")
    print(f"written {save(record, a.json)}")
    if a.bundle:
        pairs = source_pairs(a.data)
        save_prior(train_prior([p for v in pairs.values() for p in v], cfg), a.bundle, cfg, list(pairs))
        print(f"the prior on every source: {a.bundle}")


if __name__ == "__main__":
    main()
