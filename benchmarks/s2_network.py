"""Sentinel-2's residual network (issue 96): its leave-one-source-out record, then the network
trained on every development Sentinel-2 source and saved as the bundle ``bandbridge/networks/s2-residual``.

    OMP_NUM_THREADS=2 nice python benchmarks/s2_network.py --data ../shared/data --json docs/results/s2_network.json --bundle src/bandbridge/networks/s2-residual

The network and its pairs: src/bandbridge/workflows/s2_network.py; the record:
src/bandbridge/workflows/s2_network_record.py. Prints, per held-out source and band, the network
alone's RMSE × the better cubic. ``--no-record`` trains and saves the bundle only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from bandbridge.evaluation.sharpen_record import save
from bandbridge.workflows.s2_network import NetworkConfig, save_network, source_pairs, train_network
from bandbridge.workflows.s2_network_record import loso_record, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--json", default="docs/results/s2_network.json", help="where the record goes")
    ap.add_argument("--bundle", default=None, help="where the network trained on every source goes (none: not trained)")
    ap.add_argument("--steps", type=int, default=NetworkConfig.steps, help="training steps of each network")
    ap.add_argument("--no-record", action="store_true", help="no leave-one-source-out record: the bundle only")
    a = ap.parse_args()
    cfg = NetworkConfig(steps=a.steps)
    command = "OMP_NUM_THREADS=2 nice python " + " ".join(["benchmarks/s2_network.py", *sys.argv[1:]])
    if not a.no_record:
        with tempfile.TemporaryDirectory(prefix="s2_network_") as work:
            record = loso_record(a.data, work, cfg, command)
        for r in summary(record):
            print(f"{r['source']:22s} {r['band']:7s} the network alone {r['vs_better_cubic']:.3f} × the better cubic "
                  f"(asked {r['asked']}{'' if r['met'] else ', not met'})")
        print(f"written {save(record, a.json)}")
    if a.bundle:
        pairs = source_pairs(a.data)
        t0 = time.process_time()
        net = train_network([p for v in pairs.values() for p in v], cfg)
        save_network(net, a.bundle, cfg, list(pairs), command)
        print(f"the network on every source: {a.bundle} ({time.process_time() - t0:.1f} CPU-s)")


if __name__ == "__main__":
    main()
