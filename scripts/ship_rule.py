"""Issue 49's rule for the shipped bundles: a bundle keeps more than the zero-shot floor only if,
leave-one-source-out, no held-out source scores more than 1 % worse than the floor; otherwise the
floor ships and the card says which source broke the rule. A floor of one processing level
ships as its own bundle (``LEVEL_BUNDLES``) where its level's folds say it carries.

Per bundle, the evidence is its family's leave-one-source-out record (paths below): per fold,
what the bundle's kind of model scored on the held-out source (with the per-image fallback to
the floor where the fold runs were kept to measure it: ``scripts/loso_fallback.py`` at commit
``6199992``, removed since), the floor
chosen on the fold's training sources and the plain linear map. A kept bundle gains the
fallback (``trust.floor_and_guard`` on its own training split); a bundle that broke the rule is
replaced by the floor chosen on its training split, served as a ``linear`` learner. Either way
the card gets a section with the rule, the floor's every fold and the decision.

    python scripts/ship_rule.py                       # the decisions, printed
    python scripts/ship_rule.py --apply [NAME ...]    # written into the zoo and the record
        [--zoo DIR] [--record FILE] [--data ../shared/data]

Writes ``docs/results/ship_rule.json`` (the README's column and the generalisation page); then
``python scripts/bundle_models.py --refresh-tables NAME`` re-measures a replaced bundle's card and
``python benchmarks/bundle_results.py`` the README's table. ``--zoo``: the folder of bundles to
write (default the package's zoo); with another zoo the record is written only to ``--record``.
``tests/project/test_ship_rule.py`` applies the rule to copies of two bundles.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bandbridge.policy import WITHIN, broke_floor, held_out_rule, percent  # the one never-worse rule
from bandbridge.workflows.held_out import fold_table  # the one table of a held-out rule

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "src" / "bandbridge" / "zoo"
RECORD = ROOT / "docs" / "results" / "ship_rule.json"
FLOOR_LOSO = ROOT / "docs" / "results" / "loso_floor.json"
DATA = "../shared/data"

# bundle → its evidence: ("loso", a loso.json whose fold runs carry the fallback: `train` writes it),
# ("fallback", a record of scripts/loso_fallback.py — commit 6199992, removed since —: fold runs
# made before, given it afterwards) or ("level", the level column of a loso_floor.json family,
# made by scripts/loso_floor.py at commit 468feb9, removed since)
EVIDENCE = {
    "rgb2nir-s2": [("loso", "docs/loso/floor-rule/rgb2nir-s2/loso.json"),
                   ("loso", "docs/loso/floor-rule/rgb2nir-s2-levels/loso.json")],
    "sar2optical": [("fallback", "docs/loso/floor-rule/sar2optical/fallback.json")],
    "rgb2nir-naip": [("fallback", "docs/loso/floor-rule/rgb2nir-naip-vhr/fallback.json")],
    "rgb2thermal": [("fallback", "docs/loso/floor-rule/rgb2thermal/fallback.json")],
    "rgb2nir-photo": [],  # one training source: nothing to hold out
    "rgb2nir-s2-toa": [("level", "rgb2nir-s2")],  # the floor of a level: its LOSO level column
}
# A floor of one processing level ships as its own bundle (spec.LEVEL_FLOORS routes files whose
# name states the level to it): base bundle, level, the base's training sources of that level
# (the --level lists of scripts/loso_floor.py at commit 468feb9).
LEVEL_BUNDLES = {"rgb2nir-s2-toa": ("rgb2nir-s2", "toa", ["s2_eolearn", "s2_sen12mscr", "landsat8_toa"])}


def folds(name: str) -> list[dict]:
    """``[{fold, model, floor, linear, with}]`` of ``name``'s evidence."""
    rows = []
    for kind, where in EVIDENCE[name]:
        if kind == "fallback":
            for r in json.loads((ROOT / where).read_text())["folds"]:
                foreign = (f"; its {r['another_sensor']} file(s) of another sensor: the floor, wholly"
                           if r.get("another_sensor") else "")
                rows.append({"fold": r["fold"], "model": r["fallback"], "floor": r["floor"],
                             "linear": r["linear"], "with": f"the model with the fallback{foreign}",
                             "record": where, "to_floor": r["to_floor"], "images": r["images"]})
        elif kind == "loso":  # a `bandbridge loso` record whose fold models carry the fallback
            for r in json.loads((ROOT / where).read_text())["folds"]:
                m = r["methods"]
                rows.append({"fold": r["fold"], "model": m["model"]["mae"], "floor": m["floor"]["mae"],
                             "linear": m["linear"]["mae"], "with": "the preset re-trained with the "
                             "floor rule, its fallback included", "record": where, "images": r["images"]})
        elif kind == "level":  # the level's floor where the level rule kept it, held out
            for r in json.loads(FLOOR_LOSO.read_text())[where]["rows"]:
                lv = r.get("level") or {}
                if lv.get("level") == LEVEL_BUNDLES[name][1]:
                    rows.append({"fold": r["fold"], "model": lv["mae"], "floor": r["floor_mae"],
                                 "linear": r["linear"], "with": f"the {lv['level']} floor, its level "
                                 "rule " + ("kept" if lv.get("carries") else "not kept"),
                                 "record": f"docs/results/loso_floor.json: {where}", "images": r["images"]})
    return rows


def worst(rows: list[dict], key: str) -> tuple[str, float]:
    """The fold where ``key`` scores worst against the better of the floor and the linear map."""
    r = max(rows, key=lambda r: r[key] / min(r["floor"], r["linear"]))
    return r["fold"], r[key] / min(r["floor"], r["linear"])


def decide(name: str) -> dict:
    """The rule on ``name``'s folds: the model ships when no held-out source scores more than
    :data:`WITHIN` worse than the floor; otherwise the floor ships, and the card says which
    source broke the rule and by how much."""
    rows = folds(name)
    broke = broke_floor({r["fold"]: (r["model"], r["floor"]) for r in rows})
    keep = not broke
    why = (f"no held-out source scored more than {percent(WITHIN)} worse than the floor" if rows else
           "one training source: nothing to hold out, the model ships with the fallback")
    if broke:
        mf, mr = worst(rows, "model")
        why = (f"broke on {', '.join(broke)}; against the better of the floor and the linear map the "
               f"model's worst fold is {mf} {mr - 1:+.1%}: the floor ships")
    for r in rows:
        r["shipped"] = r["model"] if keep else r["floor"]
    w = max(rows, key=lambda r: r["shipped"] / r["floor"]) if rows else None
    return {"bundle": name, "decision": "model" if keep else "floor", "broke": broke, "why": why,
            "folds": rows,
            "worst_vs_floor": None if w is None else {"fold": w["fold"], "ratio": w["shipped"] / w["floor"]},
            "worst_vs_better": None if not rows else dict(zip(("fold", "ratio"), worst(rows, "shipped"))),
            "rule": held_out_rule("the model ships")}


def training_pairs(folder: Path, data: str = DATA):
    from bandbridge.bundle import load_bundle
    from bandbridge.data.datamodule import PairedDataModule
    from bandbridge.evaluation.evaluate import with_data
    b = load_bundle(folder)
    dm = PairedDataModule(with_data(b.config, data, None))
    return b, dm.load_split("train"), dm.load_split("val")


def measure(folder: Path, data: str = DATA) -> tuple:
    """``(bundle, floor, guard, validation pairs)`` of the bundle in ``folder``: its floor and
    the guard that falls back to it, chosen on its own training split (``trust.floor_and_guard``)."""
    from bandbridge.workflows.trust import floor_and_guard
    b, train, val = training_pairs(folder, data)
    floor, guard = floor_and_guard(train, val)
    return b, floor, guard, val


def ship_floor(name: str, floor: dict, val: list, b, zoo: Path = ZOO) -> None:
    """Replace the bundle ``name`` of ``zoo`` by its floor, a ``linear`` learner (float32: a few
    numbers), with its check sample and expected-error model measured on the floor."""
    import shutil
    from bandbridge.workflows.trust import save_floor_bundle
    with tempfile.TemporaryDirectory(dir=zoo.parent) as tmp:
        out = save_floor_bundle(Path(tmp) / name, floor, b, val)
        shutil.copy2(zoo / name / "MODEL_CARD.md", out / "MODEL_CARD.md")
        old = zoo / f".{name}.old"
        (zoo / name).rename(old)
        out.rename(zoo / name)
        shutil.rmtree(old)


def card_section(d: dict, floor: dict) -> str:
    """The card's section: the rule, the decision, every fold of the evidence and of the floor."""
    lines = ["## The zero-shot floor and the rule it sets", "",
             f"The floor: the **{floor['kind']}** linear map of the bands, chosen on the training "
             f"split of {', '.join(floor['sources'])} — {floor['rule']}. Per held-out training "
             "source, each candidate's MAE (model values, 0–1):", ""]
    held = floor.get("held_out_mae") or {}
    if held:
        kinds = list(held)
        sources = list(next(iter(held.values())))
        lines += ["| held out | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
        lines += [f"| {s} | " + " | ".join(f"{held[k][s]:.4g}" for k in kinds) + " |" for s in sources]
        lines.append("")
    lines.append(f"The rule: {d['rule']}.")
    if not d["folds"]:
        lines.append("This model trained on one source: there is no source to hold out, so no "
                     "leave-one-source-out evidence; it ships with the per-image fallback to the floor, "
                     "and the floor (`floor/` in this bundle) for files of another sensor: a stored "
                     "depth none of its training files had.")
    else:
        verdict = ("**It passed: the model ships**, with the per-image fallback to the floor on images "
                   "unlike every training source, and the floor (`floor/` in this bundle) for files of "
                   "another sensor: a stored depth none of its training files had."
                   if not d["broke"] else f"**It {d['why']}.**")
        if "level" in floor:  # a level's floor: the evidence is the level floor itself, held out
            rule = floor["level_rule"]
            verdict = (f"**It passed: the {floor['level']} floor ships** as its own bundle, which "
                       "`rgb2nir` picks for a reflectance file whose name states the level. Judged on "
                       "the training sources alone (`learners/floor.level_carries`), the level's plain map "
                       "against every source's, each source of the level held out (MAE, model values):\n\n"
                       "| held out | the level's | every source's |\n|---|---|---|\n"
                       + "\n".join(f"| {k} | {v['level']:.4g} | {v['all']:.4g} |"
                                   for k, v in rule["held_out_mae"].items())
                       + "\n\nHeld out of the whole family (its leave-one-source-out folds of this level):")
        lines += ["", verdict, "", *fold_table([r | {"source": r["fold"]} for r in d["folds"]],
                                               ("evidence", "with"), ("model", "model"))]
    return "\n".join(lines) + "\n"


def put_section(name: str, section: str, zoo: Path = ZOO) -> None:
    card = zoo / name / "MODEL_CARD.md"
    text = card.read_text()
    head = section.split("\n", 1)[0]
    if head in text:  # replace the old section (up to the next heading of its level)
        before, rest = text.split(head, 1)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    card.write_text(text)


BANNER = "> **Shipped as its zero-shot floor (issue 49).**"


def put_banner(name: str, floor: dict, d: dict, zoo: Path = ZOO) -> None:
    """A floor-shipped card says so under its title: what ships, and that the sections on how
    the model was made describe the run the rule replaced."""
    card = zoo / name / "MODEL_CARD.md"
    lines = card.read_text().split("\n")
    lines = [ln for ln in lines if not ln.startswith(BANNER)]
    text = (f"{BANNER} This bundle is the **{floor['kind']}** linear map of the bands chosen for a "
            f"source none of {', '.join(floor['sources'])} is (`learner` `linear`, "
            f"{len(floor['linear']) - 1} weights and a bias per output band). Leave-one-source-out, "
            f"the trained model scored more than {percent(WITHIN)} worse than the floor on "
            f"{', '.join(d['broke'])}: see *The zero-shot floor and the rule it sets* at the end. "
            "The description, training and selection sections describe the run the rule replaced; "
            "the evaluation is the floor's.")
    lines[1:1] = ["", text]
    card.write_text("\n".join(lines))


def ship_level(name: str, d: dict, zoo: Path = ZOO, data: str = DATA) -> dict:
    """Write the bundle of the floor of one processing level: the base bundle's config with the
    training sources of that level, its floor chosen on them, check sample and expected-error
    model on their validation images; the card says what it is and every fold."""
    base, level, sources = LEVEL_BUNDLES[name]
    from bandbridge.bands import LEVEL_NAMES
    from bandbridge.config import build_config
    from bandbridge.learners.baselines import floor_pixels
    from bandbridge.learners.floor import choose_floor, level_carries
    b, train, val = training_pairs(zoo / base, data)
    every = floor_pixels(train)
    train = [p for p in train if p.source.name in sources]
    val = [p for p in val if p.source.name in sources]
    per = floor_pixels(train)  # read once: the floor's choice and the baseline's fit
    carry = level_carries(every, dict.fromkeys(sources, level), level)
    names = sorted({p.source.name for p in train})
    floor = choose_floor(per).record() | {"sources": names, "level": level, "level_rule": carry}
    cfg = b.config.model_dump(mode="json")
    cfg["data"]["sources"] = [src for src in cfg["data"]["sources"] if src["name"] in sources]
    cfg["description"] = (f"the zero-shot floor of {LEVEL_NAMES[level]} ({', '.join(sources)}): "
                          f"{base}'s for files whose name states that level")
    b.config = build_config(cfg)
    from bandbridge.data.seen import from_pairs
    from bandbridge.learners.floor import fit_floor
    b.info = {**b.info, "inputs_seen": from_pairs(train), "bundled_from": base,
              "baseline": {"linear": fit_floor("pooled", per).tolist(),
                           "fitted_on": f"train split of {names} ({len(train)} images), least "
                                        "squares on evaluation's pixels"}}
    if not (zoo / name).exists():
        (zoo / name).mkdir()
        (zoo / name / "MODEL_CARD.md").write_text(f"# {name}\n\n{cfg['description']}.\n")
    ship_floor(name, floor | {"decision": d["rule"]}, val, b, zoo)
    return floor


def apply(name: str, d: dict, zoo: Path = ZOO, data: str = DATA) -> dict:
    """Write the decision ``d`` into the bundle ``name`` of ``zoo``: the floor in its place, or
    the model given its fallback; the card's section (and a floor's banner). Returns the floor's
    kind and sources, as the record keeps them."""
    from bandbridge.workflows.trust import give_floor
    if name in LEVEL_BUNDLES:
        floor = ship_level(name, d, zoo, data)
        put_section(name, card_section(d, floor), zoo)
        return {"kind": floor["kind"], "sources": floor["sources"], "level": floor["level"]}
    b, floor, guard, val = measure(zoo / name, data)
    if d["decision"] == "floor":
        ship_floor(name, floor | {"decision": d["rule"], "broke": d["broke"]}, val, b, zoo)
    else:  # the model, its weights untouched; the check sample now carries the guard's context
        from bandbridge.evaluation.check_sample import make_check_sample
        give_floor(zoo / name, floor, guard, val)
        make_check_sample(zoo / name, pairs=val)
    put_section(name, card_section(d, floor), zoo)
    if d["decision"] == "floor":
        put_banner(name, floor, d, zoo)
    return {"kind": floor["kind"], "sources": floor["sources"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="bundles (default: every one with evidence)")
    ap.add_argument("--apply", action="store_true", help="write the decisions into the zoo and the record")
    ap.add_argument("--zoo", type=Path, default=ZOO, help="the folder of bundles to write (default: the package's)")
    ap.add_argument("--record", type=Path, help="the record to write (default: docs/results/ship_rule.json "
                                                "with the package's zoo, none with another)")
    ap.add_argument("--data", default=DATA, help="the data the floors are chosen on")
    a = ap.parse_args(argv)
    path = a.record or (RECORD if a.zoo.resolve() == ZOO.resolve() else None)
    record = json.loads(path.read_text()) if path is not None and path.exists() else {}
    for name in a.names or list(EVIDENCE):
        d = decide(name)
        print(f"{name}: {d['decision']} ({d['why']})"
              + (f"; worst fold vs the floor {d['worst_vs_floor']['fold']} "
                 f"{d['worst_vs_floor']['ratio'] - 1:+.1%}" if d["worst_vs_floor"] else ""))
        if a.apply:
            d["floor"] = apply(name, d, a.zoo, a.data)
            d["measured"] = time.strftime("%Y-%m-%d")
            d["command"] = "python scripts/ship_rule.py --apply " + name
            record[name] = d
    if a.apply and path is not None:
        path.write_text(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    main()
