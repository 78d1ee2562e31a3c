"""Re-bundle the shipped translation models with the learner-selection core (issue 32).

    python scripts/learner_bundles.py [NAME ...] [--data ../shared/data] [--minutes 5]

For each bundled model (default: the five translation models), as `bandbridge train` now ends
(workflows/learner_best.py): on the model's own training split the core chooses a learner by
spatial cross-validation (sources held out with two or more sources, else groups of images, else
blocks of rows with a 45 px buffer); the validation split — never the test split — decides
between that learner and the shipped network; a learner kept is refitted on train + validation
and becomes the bundle (fp32), with a fresh check sample and error model. A shipped network whose
residual is switched off (``RESIDUAL_OFF``) and that is kept becomes its anchor as a learner: the
same output without running a network that adds zeros. The bundle's card gets a "Learner
selection" section: the out-of-fold table, the validation comparison and this command.
Writes ``docs/results/learner_bundles.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from bandbridge.bundle import load_bundle, save_bundle
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.evaluate import with_data
from bandbridge.learners.fit import family
from bandbridge.models.learner import anchor_as_learner
from bandbridge.spec import zoo_dir
from bandbridge.workflows.learner_best import compare

NAMES = ("rgb2nir-naip", "rgb2nir-s2", "rgb2nir-photo", "rgb2thermal", "sar2optical")
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results" / "learner_bundles.json"
SECTION = "## Learner selection"


def residual_is_off(generator) -> bool:
    tail = getattr(generator, "residual_tail", None)
    if tail is None or getattr(generator, "spectral", None) is None:
        return False
    convs = [m for m in tail().modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    return bool(convs) and not bool(convs[-1].weight.abs().sum())


def section(name: str, rec: dict, units: tuple[float, str], command: str) -> str:
    scale, unit = units
    fams: dict[str, float] = {}
    for k, v in rec["oof_mae"].items():
        fams[family(k)] = min(fams.get(family(k), float("inf")), v)
    rows = "\n".join(f"| {k}{' (chosen: `' + rec['chosen'] + '`)' if family(rec['chosen']) == k else ''} "
                     f"| {v * scale:.4g} |" for k, v in fams.items())
    v = rec["val_mae"]
    kept = {"learner": f"the learner `{rec['chosen']}`, refitted on the training and validation pixels",
            "network": "the network as it was trained",
            "anchor": "the network's anchor as a learner (its residual was switched off: the "
                      "same output, no network run)"}[rec["kept"]]
    return f"""{SECTION}

`{command}` — the learner-selection core (`learners/`) on this model's training split:
{len(rec['folds'])}-fold spatial cross-validation ({rec['folds'][0]}). Out-of-fold MAE
({unit}), each family's best:

| learner | out-of-fold MAE |
|---|---|
{rows}

On the validation split (which chose nothing else): the learner {v['learner'] * scale:.4g}, the
shipped network {v['network'] * scale:.4g} {unit}. **Kept: {kept}.**
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(NAMES))
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--minutes", type=float, default=5.0)
    a = ap.parse_args()
    torch.set_num_threads(2)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in a.names:
        t0 = time.time()
        folder = zoo_dir() / name
        b = load_bundle(folder)
        cfg = with_data(b.config, a.data, None)
        dm = PairedDataModule(cfg)
        train, val = dm.load_split("train"), dm.load_split("val")
        work = Path(tempfile.mkdtemp())
        try:
            rec = compare(folder, cfg, train, val, 60 * a.minutes, work / "network")
            if rec["kept"] == "network" and residual_is_off(b.generator):
                learner, args = anchor_as_learner(b.generator, b.in_channels)
                d = b.config.model_dump(mode="json")
                d["model"]["generator"] = {"name": "learner", "args": args}
                from bandbridge.config import build_config
                info = {k: v for k, v in b.info.items()
                        if k not in ("bandbridge_bundle", "in_channels", "out_channels", "weights_sha256")}
                rec["kept"] = "anchor"
                save_bundle(folder, learner, build_config(d), b.in_channels, b.out_channels,
                            **(info | {"learner": rec}))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if rec["kept"] != "network":
            from bandbridge.evaluation.check_sample import make_check_sample
            from bandbridge.workflows.trust import add_confidence
            make_check_sample(folder)
            add_confidence(folder, val)
        t = train[0].source.target
        from bandbridge.bands import get_scaling
        scale, _, unit = get_scaling(t.scaling, t.vmin, t.vmax).physical
        command = f"python scripts/learner_bundles.py {name}"
        card = folder / "MODEL_CARD.md"
        text = card.read_text()
        text = text.split(SECTION)[0].rstrip() + "\n\n" + section(name, rec, (scale, unit), command)
        card.write_text(text)
        rec |= {"seconds": round(time.time() - t0, 1), "command": command,
                "measured": time.strftime("%Y-%m-%d"), "units": unit, "scale": scale}
        results[name] = rec
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
        v = rec["val_mae"]
        print(f"{name}: kept the {rec['kept']} (learner {rec['chosen']} {v['learner'] * scale:.4g} vs "
              f"network {v['network'] * scale:.4g} {unit} on validation) {rec['seconds']:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
