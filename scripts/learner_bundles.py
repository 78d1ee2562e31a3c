"""Re-bundle the shipped translation models with the learner-selection core (issue 32).

    python scripts/learner_bundles.py [NAME ...] [--data ../shared/data] [--minutes 5] [--zoo DIR]
    python scripts/learner_bundles.py --sections-only [NAME ...]   # rewrite the cards' sections
                                                                  # from docs/results/learner_bundles.json

For each bundled model (default: the five translation models), as `bandbridge train` now ends
(workflows/learner_best.py): on the model's own training split the core chooses a learner by
spatial cross-validation (sources held out with two or more sources, else groups of images, else
blocks of rows with a 45 px buffer); the validation split — never the test split — decides
between that learner and the shipped network; a learner kept is refitted on train + validation
and becomes the bundle (fp32), with a fresh check sample and error model. A shipped network whose
residual is switched off (``RESIDUAL_OFF``) and that is kept becomes its anchor as a learner: the
same output without running a network that adds zeros. The bundle's card gets a "Learner
selection" section: the out-of-fold table, the validation comparison and this command.
Writes ``docs/results/learner_bundles.json``. ``--zoo``: the folder of bundles to write (default
the package's zoo; with another, the record is written only to ``--results``).
``tests/project/test_learner_bundles.py`` runs the write step on copies of two bundles.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bandbridge.bands import get_scaling
from bandbridge.bundle import load_bundle
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.evaluate import with_data
from bandbridge.learners.base import family
from bandbridge.models.anchored import Anchored
from bandbridge.spec import zoo_dir
from bandbridge.workflows.learner_best import anchor_alone, compare, writer

NAMES = ("rgb2nir-naip", "rgb2nir-s2", "rgb2nir-photo", "rgb2thermal", "sar2optical")
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results" / "learner_bundles.json"
SECTION = "## Learner selection"


def residual_is_off(generator) -> bool:
    if not isinstance(generator, Anchored):
        return False
    convs = [m for m in generator.network.residual_tail().modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    return bool(convs) and not bool(convs[-1].weight.abs().sum())


def section(card: Path, rec: dict, units: tuple[float, str], command: str) -> str:
    """The card's "Learner selection" section of the record ``rec``; ``card``: the card it goes
    into (its evaluation table gives the test line)."""
    scale, unit = units
    fams: dict[str, float] = {}
    for k, v in rec["oof_mae"].items():
        fams[family(k)] = min(fams.get(family(k), float("inf")), v)
    rows = "\n".join(f"| {k}{' (chosen: `' + rec['chosen'] + '`)' if family(rec['chosen']) == k else ''} "
                     f"| {v * scale:.4g} |" for k, v in fams.items())
    v = rec["val_mae"]
    by = rec.get("val_by_source", {})
    sources = [k for k in by.get("network", {}) if k != "all"]
    per = "".join(f"\n| {k} | {by['learner'][k] * scale:.4g} | {by['network'][k] * scale:.4g} |"
                  for k in sources)
    per = (f"\n\n| validation source | learner | network |\n|---|---|---|{per}" if len(sources) > 1 else "")
    test = test_line(card, scale, unit)
    st = rec.get("student") or {}
    served = (f"its student (`student`: an MLP on the context features, 1×1 convolutions every "
              f"backend runs) distilled on the training and validation pixels from `{rec['chosen']}` "
              f"refitted on them" if st.get("kept") else f"`{rec['chosen']}`, refitted on the "
              "training and validation pixels")
    kept = {"learner": f"the learner {served}",
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
shipped network {v['network'] * scale:.4g} {unit} (mean over validation images; the learner is kept
only when it is also no more than 1 % worse on any validation source).{per}

**Kept: {kept}.**{student_line(st, scale, unit)}{test}
"""


def student_line(st: dict, scale: float, unit: str) -> str:
    """What the distillation measured (the chosen learner holds trees: their graph runs on torch
    and onnxruntime at fp32 only)."""
    if not st:
        return ""
    verdict = "served in its place" if st["kept"] else "not kept: the teacher is served"
    return (f" The chosen learner holds trees, whose graph runs on torch and onnxruntime at fp32 "
            f"only, so the core distilled it: out of fold the student scores "
            f"{st['oof_mae'] * scale:.4g} against the teacher's {st['teacher_oof_mae'] * scale:.4g} "
            f"{unit} ({verdict}; {st['rule']}).")


def test_line(path: Path, scale: float, unit: str) -> str:
    """What the card ``path``'s test table says of the kept model against the best of the context
    ridge and boosting (read from the card's evaluation table; the test split chose nothing)."""
    card = path.read_text().splitlines()
    head = next((ln for ln in card if ln.startswith("| metric | model |")), None)
    row = next((ln for ln in card if ln.startswith("| mae |")), None)
    if head is None or row is None:
        return ""
    cols = dict(zip([c.strip() for c in head.split("|")[1:-1]], [c.strip() for c in row.split("|")[1:-1]]))
    bars = {k: float(cols[k]) for k in ("ridge-context", "gbm-context") if k in cols}
    best = min(bars, key=bars.get)
    gap = float(cols["model"]) / bars[best] - 1
    why = ("" if gap <= 0.03 else
           f" Why not within 3 %: the choice saw only the training split (cross-validation) and the "
           f"validation split (learner against network, the rule above), where the kept model "
           f"ranked first; on the test split {best} does better. Choosing by the test split would "
           "be tuning on it.")
    return (f" On the test split (evaluation table above) the bundle's MAE is {cols['model']} {unit}: "
            f"{gap * 100:+.1f} % against the better of the context ridge and boosting fitted on the "
            f"training split ({best}, {bars[best]:.4g}).{why}")


def units(b) -> tuple[float, str]:
    """Model values → the target's units: ``(scale, unit)`` of the bundle ``b``'s target."""
    t = b.config.data.sources[0].target
    scale, _, unit = get_scaling(t.scaling, t.vmin, t.vmax).physical
    return scale, unit


def write_section(folder: Path, rec: dict, command: str) -> None:
    """Put the record's "Learner selection" section into ``folder``'s card in place of the one
    there (the sections after it kept), or at its end (a learner is saved in float32: the
    evaluation's heading says so)."""
    card = folder / "MODEL_CARD.md"
    before, _, rest = card.read_text().partition(SECTION)
    after = rest.split("\n## ", 1)
    if rec["kept"] != "network":
        before = before.replace("(float16 weights, as shipped)", "(as shipped)")
    text = before.rstrip() + "\n\n" + section(card, rec, (rec["scale"], rec["units"]), command)
    card.write_text(text + ("\n## " + after[1] if len(after) > 1 else ""))


def splits(b, data: str) -> tuple:
    """``(config on data, training pairs, validation pairs)`` of the bundle ``b``."""
    cfg = with_data(b.config, data, None)
    dm = PairedDataModule(cfg)
    return cfg, dm.load_split("train"), dm.load_split("val")


def rebundle(folder: Path, data: str, minutes: float) -> dict:
    """The core's learner against the bundle in ``folder`` on its validation split; what is kept
    is written into ``folder`` (a learner or the anchor alone in the network's place, with a
    fresh check sample and error model); returns the record (units added)."""
    b = load_bundle(folder)
    cfg, train, val = splits(b, data)
    rec, stand_in = compare(folder, cfg, train, val, 60 * minutes)
    if stand_in is None and rec["kept"] == "network" and residual_is_off(b.generator):
        rec["kept"] = "anchor"  # the same output without running a network that adds zeros
        stand_in = writer(b, cfg, *anchor_alone(b), rec)
    if stand_in is not None:
        from bandbridge.evaluation.check_sample import make_check_sample
        from bandbridge.workflows.trust import add_confidence
        stand_in(folder)
        make_check_sample(folder, pairs=val)
        add_confidence(folder, val)
    scale, unit = units(b)
    return rec | {"units": unit, "scale": scale}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(NAMES))
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--sections-only", action="store_true")
    ap.add_argument("--zoo", type=Path, default=zoo_dir(), help="the folder of bundles to write (default: the package's)")
    ap.add_argument("--results", type=Path, help="the record (default: docs/results/learner_bundles.json "
                                                 "with the package's zoo; none written with another)")
    a = ap.parse_args(argv)
    shipped = a.zoo.resolve() == zoo_dir().resolve()
    path = a.results or (RESULTS if shipped or a.sections_only else None)
    results = json.loads(path.read_text()) if path is not None and path.exists() else {}
    if a.sections_only:
        for name in a.names:
            write_section(a.zoo / name, results[name], results[name]["command"])
        return results
    for name in a.names:
        t0 = time.time()
        rec = rebundle(a.zoo / name, a.data, a.minutes)
        command = f"python scripts/learner_bundles.py {name}"
        write_section(a.zoo / name, rec, command)
        rec |= {"seconds": round(time.time() - t0, 1), "command": command,
                "measured": time.strftime("%Y-%m-%d")}
        results[name] = rec
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=1))
        v, scale, unit = rec["val_mae"], rec["scale"], rec["units"]
        print(f"{name}: kept the {rec['kept']} (learner {rec['chosen']} {v['learner'] * scale:.4g} vs "
              f"network {v['network'] * scale:.4g} {unit} on validation) {rec['seconds']:.0f} s",
              flush=True)
    return results


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
