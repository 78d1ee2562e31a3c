"""The network's columns of the Sentinel-2 network's leave-one-source-out record (the network alone and
``sharpen --network``), scored again with fold bundles (each trained without its held-out source), on the code as
it is now; ``--train``: the fold bundles missing from ``--bundles`` trained first, as the record trains them.

The record (``benchmarks/s2_network.py``) trains a network per fold and scores the held-out source's cases three
ways: the network alone, ``sharpen --no-network`` and ``sharpen`` by default with that fold's network. The last
depends on the route rule (``learners/sharpen_network.prefer``), not on the training: after a change of the rule
this scores that column again, case by case beside the five upsamplings (``evaluation/sharpen_record.run_case``),
and writes the record back with the command that did it. The fold bundles are the run's
``network_without_SOURCE`` folders (kept by copying them out of its work folder while it ran), or trained here
(``--train``; ``--held`` splits the training between processes, ``--no-score`` trains only).

    OMP_NUM_THREADS=1 nice python benchmarks/s2_network_default.py --data ../shared/data \
        --json docs/results/s2_network.json --bundles FOLDS [--train]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bandbridge.evaluation.sharpen_baselines import UPSAMPLING
from bandbridge.evaluation.sharpen_cases import CASE_MIN_CELLS, s2_cases
from bandbridge.evaluation.sharpen_record import bandbridge_sharpener, code_state, run_case, save
from bandbridge.workflows.s2_network_record import ALONE, DEFAULT, WITHOUT, summary
from bandbridge.workflows.s2_prior import source_of


def trained(data: str, bundles: Path, held: list[str] | None, command: str) -> dict[str, float]:
    """Each fold's bundle (``network_without_SOURCE``) not yet in ``bundles`` trained without its source, as the
    record trains it (``s2_network_record.fold``); the CPU-seconds of each, also kept in ``bundles``."""
    import json
    import time

    from bandbridge.workflows.s2_network import NetworkConfig, save_network, source_pairs, train_network
    pairs, cfg, secs = source_pairs(data), NetworkConfig(), {}
    for source in held or list(pairs):
        folder = bundles / f"network_without_{source}"
        if folder.exists():
            continue
        others = sorted(s for s in pairs if s != source)
        t0 = time.process_time()
        net = train_network([p for s in others for p in pairs[s]], cfg)
        secs[source] = round(time.process_time() - t0, 1)
        save_network(net, folder, cfg, others, command)
        (bundles / f"train_cpu_s_{source}.json").write_text(json.dumps(secs[source]))
        print(f"fold {source}: trained on {', '.join(others)} ({secs[source]} CPU-s)")
    return secs


def rescored(record: dict, data: str, bundles: Path, work: Path, held: list[str] | None = None) -> dict:
    """``record`` with every held-out case's :data:`ALONE` and :data:`DEFAULT` entries scored again by its fold's
    bundle (and its training's CPU-seconds where ``bundles`` keeps them)."""
    import json

    from bandbridge.workflows.s2_network import load_network
    from bandbridge.workflows.s2_network_record import network_alone
    cases = [c for c in s2_cases(Path(data), as_stated=False) if c.cells >= CASE_MIN_CELLS]
    rows = {(r["fold"], r["case"]): r for r in record["cases"]}
    for fold in record["folds"]:
        source = fold["held_out"]
        if held and source not in held:
            continue
        bundle = bundles / f"network_without_{source}"
        if (bundles / f"train_cpu_s_{source}.json").exists():
            fold["train_cpu_s"] = json.loads((bundles / f"train_cpu_s_{source}.json").read_text())
        run, _ = bandbridge_sharpener(work / source, network=str(bundle))
        net = load_network(bundle)
        for case in (c for c in cases if source_of(c) == source):
            alone = lambda g, r, k, c=case: network_alone(net, c)  # noqa: E731 (the case's own bands)
            row = run_case(case, dict(UPSAMPLING) | {ALONE: alone, DEFAULT: run}, print)
            for m in (ALONE, DEFAULT):
                rows[(source, case.name)]["methods"][m] = row["methods"][m]
    return record


def main() -> None:
    import json
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json", default="docs/results/s2_network.json", help="the record, scored again in place")
    ap.add_argument("--bundles", required=True, help="the folder holding the run's network_without_SOURCE bundles")
    ap.add_argument("--held", default=None, help="only these held-out sources, comma-separated")
    ap.add_argument("--train", action="store_true", help="train the fold bundles missing from --bundles first")
    ap.add_argument("--no-score", action="store_true", help="train only (with --train)")
    a = ap.parse_args()
    held = a.held and a.held.split(",")
    command = "OMP_NUM_THREADS=1 nice python " + " ".join(["benchmarks/s2_network_default.py", *sys.argv[1:]])
    if a.train:
        Path(a.bundles).mkdir(parents=True, exist_ok=True)
        trained(a.data, Path(a.bundles), held, command)
    if a.no_score:
        return
    record = json.loads(Path(a.json).read_text())
    with tempfile.TemporaryDirectory(prefix="s2_network_default_") as work:
        record = rescored(record, a.data, Path(a.bundles), Path(work), held)
    record["default_rescored"] = {"command": command, "code": code_state(),
                                  "why": "the network's inputs (the 60 m run's 20 m bands beside) and the route "
                                         "changed after the run: the network alone and --network columns on the "
                                         "code now, with fold bundles trained as the record trains them"}
    record["summary"] = {m: summary(record, m) for m in (ALONE, WITHOUT, DEFAULT)}
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
