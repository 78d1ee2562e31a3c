"""Leave-one-source-out: the estimate of what a new user's imagery gets.

For a preset and a set of data recipes, each fold trains on every source but the held-out ones
and scores the held-out sources whole (every image, whatever their own split says), next to the
per-pixel linear and MLP baselines and the constant mean fitted on the same training sources
(``evaluate``'s protocol).
Model selection (the ``best`` bundle) uses the training sources' own validation items only: the
held-out source is never looked at before it is scored.

A fold is ``NAME=HELD,OUT`` (train on all other recipes) or ``NAME=TRAIN,…>HELD,…`` (train on
the listed recipes only: e.g. surface reflectance → top of atmosphere).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from bandbridge.fileio import atomic_write_bytes, check_writable, safe_name
from bandbridge.config import build_config, load_config
from bandbridge.presets import recipes
from bandbridge.errors import BandbridgeError
from bandbridge.progress import Progress, steps
from bandbridge.policy import WITHIN, percent
from bandbridge.workflows.held_out import ALL_TEST

HEADLINE = ("mae", "rmse", "psnr", "ndvi_mae")
REALISM = ("swd", "contrast", "pearson_r")  # beside error, for image-like targets (evaluate's swd)


@dataclass
class Fold:
    name: str
    train: list[str]
    test: list[str]


def parse_folds(specs: list[str], names: list[str]) -> list[Fold]:
    """One fold per recipe of ``names`` when ``specs`` is empty; else the folds ``specs`` give."""
    if not specs:
        return [Fold(n, [m for m in names if m != n], [n]) for n in names]
    folds = []
    for s in specs:
        if "=" not in s:
            raise BandbridgeError(f"--fold '{s}': write NAME=HELD,OUT or NAME=TRAIN,…>HELD,…")
        name, rest = s.split("=", 1)
        train_part, _, test_part = rest.rpartition(">")
        test = [t.strip() for t in test_part.split(",") if t.strip()]
        train = ([t.strip() for t in train_part.split(",") if t.strip()] if train_part
                 else [m for m in names if m not in test])
        unknown = sorted({*train, *test} - set(recipes()))
        if unknown:
            raise BandbridgeError(f"--fold '{s}': unknown recipe(s) {unknown}")
        if set(train) & set(test) or not train or not test:
            raise BandbridgeError(f"--fold '{s}': needs disjoint, non-empty training and held-out recipes")
        folds.append(Fold(name.strip(), train, test))
    return folds


def _checked_folds(names: list[str], fold_specs: list[str]) -> list[Fold]:
    """The folds, or one line naming the recipe or flag that cannot make them (before work)."""
    known = recipes()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BandbridgeError(f"--recipes: unknown recipe '{unknown[0]}'; choose among "
                              f"{', '.join(sorted(known))}")
    if not fold_specs and len(names) < 2:
        raise BandbridgeError(f"--recipes '{','.join(names)}': name at least two recipes, "
                              "comma-separated (each fold trains on the others), or give --fold")
    folds = parse_folds(fold_specs, names)
    if not folds:
        raise BandbridgeError("--recipes/--fold: no folds to run; name recipes or folds")
    return folds


def train_source(name: str) -> dict:
    """A recipe as a training source: its test items train too (only its val items stay out,
    for model selection); a recipe that is all test becomes all train."""
    r = recipes()[name]
    sp = dict(r.get("split") or {})
    split = {"val": sp.get("val", []), "val_fraction": sp.get("val_fraction", 0.0),
             "group": sp.get("group"), "groups_file": sp.get("groups_file"),
             "frame_blocks": sp.get("frame_blocks"), "train": [], "test": [],
             "test_fraction": 0.0, "file": None, "default": "train"}
    return {"recipe": name, "split": split}


def held_out_source(name: str) -> dict:
    return {"recipe": name, "split": dict(ALL_TEST)}


def run_loso(preset: str, names: list[str], out_dir: str | Path, data_root: str | None = None,
             overrides: list[str] | None = None, fold_specs: list[str] | None = None,
             progress: Progress | None = None) -> dict:
    """Train and score every fold; writes ``loso.md``, ``loso.csv`` and ``loso.json`` in
    ``out_dir`` (one training run per fold under ``out_dir/runs``). Returns the summary.
    ``progress`` counts the folds (and each fold's scoring)."""
    from bandbridge.workflows import runner
    from bandbridge.evaluation.evaluate import evaluate
    out = Path(out_dir)
    folds = _checked_folds(names, fold_specs or [])
    if out.exists() and not out.is_dir():
        raise BandbridgeError(f"-o {out} is a file; give a folder for runs/, folds/ and loso.*")
    check_writable(out, "-o")
    base = load_config(preset, data_root=data_root, overrides=overrides).model_dump(mode="json")
    done = finished_folds(out, preset, overrides)
    results = []
    folded = steps(progress, f"leave-one-source-out, {len(folds)} folds (each trains, then scores)", len(folds))
    for f in folds:
        kept = done.get((f.name, tuple(f.train), tuple(f.test)))
        if kept is not None:  # a fold an earlier call of the same command finished: not re-trained
            print(f"fold {f.name}: kept from {out / 'loso.json'} (finished earlier)")
            results.append(kept)
            folded()
            continue
        # the fold is the held-out measurement itself: its network is not held out again inside it
        fold_cfg = build_config({**base, "name": f"{base['name']}-loso-{safe_name(f.name, 'fold')}",
                                 "data": {**base["data"], "sources": [train_source(n) for n in f.train]},
                                 "train": {**base["train"], "network_held_out": False}})
        run = runner.train(fold_cfg, run_dir=runner.new_run_dir(fold_cfg, str(out / "runs")))
        held = [held_out_source(n) for n in f.test]
        res = evaluate(run, data_root=data_root, split="test", recipes=held,
                       out_dir=out / "folds" / f.name, progress=progress)
        results.append({"fold": f.name, "train": f.train, "test": f.test, "run": str(run),
                        "images": res.summary["protocol"]["images"],
                        "methods": res.summary["methods"]})
        write_tables(out, preset, results, overrides)  # after every fold: a long run shows its progress
        folded()
    return write_tables(out, preset, results, overrides)


def finished_folds(out: Path, preset: str, overrides: list[str] | None) -> dict:
    """The folds an earlier ``loso`` into ``out`` with the same preset and overrides finished,
    keyed by (name, training recipes, held-out recipes): what a re-run keeps (resume)."""
    try:
        old = json.loads((out / "loso.json").read_text())
    except (OSError, ValueError):
        return {}
    if old.get("preset") != preset or old.get("overrides") != list(overrides or []):
        return {}
    return {(r["fold"], tuple(r["train"]), tuple(r["test"])): r
            for r in old.get("folds", []) if {"fold", "train", "test", "methods"} <= set(r)}


def write_tables(out: Path, preset: str, results: list[dict], overrides: list[str] | None = None) -> dict:
    """``loso.md``, ``loso.csv`` and ``loso.json`` of ``results`` (one dict per fold) in ``out``."""
    methods = list(results[0]["methods"])
    model = results[0]["methods"]["model"]
    keys = [k for k in HEADLINE if k in model] + ([k for k in REALISM if k in model] if "swd" in model else [])
    mean = {m: {k: sum(r["methods"][m][k] for r in results) / len(results) for k in keys}
            for m in methods}
    wins = {b: sum(r["methods"]["model"]["mae"] < r["methods"][b]["mae"] for r in results)
            for b in methods if b != "model"}
    summary = {"preset": preset, "overrides": list(overrides or []), "folds": results, "mean": mean,
               "mae_wins": wins}
    rows = [{"fold": r["fold"], "held_out": "+".join(r["test"]), "method": m, **r["methods"][m]}
            for r in results for m in methods]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(out / "loso.csv", buf.getvalue().encode())
    atomic_write_bytes(out / "loso.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "loso.md", markdown(summary, methods, keys).encode())
    return summary


def markdown(summary: dict, methods: list[str], keys: list[str]) -> str:
    """Per fold: model and baselines on the headline metrics; then the mean and MAE wins."""
    head = ["fold (held out)", "images", *[f"{m} {k}" for k in keys for m in methods]]
    sets = " ".join(f"--set {o}" for o in summary.get("overrides", []))
    lines = [f"`{summary['preset']}` {sets}".rstrip() + "\n",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["folds"]:
        cells = [f"{r['fold']} ({'+'.join(r['test'])})", str(r["images"]),
                 *[f"{r['methods'][m][k]:.4g}" for k in keys for m in methods]]
        lines.append("| " + " | ".join(cells) + " |")
    mean = summary["mean"]
    lines.append("| **mean** | | " + " | ".join(f"**{mean[m][k]:.4g}**" for k in keys for m in methods) + " |")
    n = len(summary["folds"])
    gains = [f"vs {b}: mean MAE {(mean[b]['mae'] - mean['model']['mae']) / mean[b]['mae'] * 100:+.1f} % (positive "
             f"= model better), MAE won on {summary['mae_wins'][b]} of {n} folds" for b in methods if b != "model"]
    return "\n".join(lines) + "\n\n" + "; ".join(gains) + "\n" + never_worse(summary["folds"])


def read_markdown(text: str) -> dict:
    """The preset, overrides and folds of a table :func:`markdown` wrote (a ``loso.md``, or the
    same table in a model card): the record of folds whose ``loso.json`` is gone, to merge with
    new ones. Values come back as printed (4 significant digits); only the headline metrics."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("| fold (held out) |"))
    head = [c.strip() for c in lines[at].strip("|").split("|")]
    title = lines[at - 2].split()  # `preset` --set a=b --set c=d
    preset, overrides = title[0].strip("`"), title[2::2]
    folds = []
    for line in lines[at + 2:]:
        if not line.startswith("| ") or line.startswith("| **mean**"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        fold, held = cells[0].rsplit(" (", 1)
        methods: dict[str, dict[str, float]] = {}
        for col, v in zip(head[2:], cells[2:]):
            m, k = col.rsplit(" ", 1)
            methods.setdefault(m, {})[k] = float(v)
        folds.append({"fold": fold, "test": held.rstrip(")").split("+"), "images": int(cells[1]),
                      "methods": methods})
    return {"preset": preset, "overrides": overrides, "folds": folds}


def never_worse(folds: list[dict]) -> str:
    """The model's MAE against the better of the linear map and the constant mean, and (where the
    folds score it) against the better of the zero-shot floor and the linear map, per fold: the
    worst fold, how many folds it trails by more than ``policy.WITHIN``, and the mean ratio (empty without them)."""
    out = ""
    for pair in (("linear", "mean"), ("floor", "linear")):
        if not folds or not set(pair) <= set(folds[0]["methods"]):
            continue
        ratios = {r["fold"]: r["methods"]["model"]["mae"]
                  / min(r["methods"][pair[0]]["mae"], r["methods"][pair[1]]["mae"]) for r in folds}
        worst = max(ratios, key=ratios.get)
        behind = sum(v > 1 + WITHIN for v in ratios.values())
        out += (f"\nvs the better of {pair[0]} and {pair[1]}, per fold: worst {worst} "
                f"{ratios[worst] - 1:+.1%}; more than {percent(WITHIN)} worse on {behind} of {len(folds)} folds; "
                f"mean ratio {sum(ratios.values()) / len(folds):.3f} (below 1: better)\n")
    return out
