"""`bandbridge loso --shots K`: what adapting a model to a new source with K pairs is worth.

Per held-out source: ``bandbridge adapt`` on K of its images (the last fifth of each one's rows
validates), scored on all its other images; a source of fewer than K + 1 images (one scene)
adapts on the top 60 % of each image's rows instead (the last fifth of that validates) and is
scored on the bottom 40 %. Beside the adapted model, on the same test pixels: the model as it was
(zero-shot), the linear map, the context ridge and gradient boosting fitted on the same adapt
pixels, the constant, and the same network trained from scratch on the same pixels for the same
minutes. As ``bandbridge adapt`` does, K adapt images validated by their own rows get the plain
linear anchor alone (no residual, no fine-tune); one scene scored on its own rows gets both (``--within-scene``).
A source the model was trained on is marked: its zero-shot row is not a new source's.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from bandbridge.config import recipes
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_write_bytes, check_writable

ADAPT_ROWS = {"train": (0.0, 0.8), "val": (0.8, 1.0)}  # of each adapt image
SCENE_ROWS = {"train": (0.0, 0.48), "val": (0.48, 0.6), "test": (0.6, 1.0)}  # one scene
KEYS = ("mae", "rmse", "psnr", "ndvi_mae")
ORDER = ("zero-shot", "linear", "ridge-context", "gbm-context", "mean", "scratch", "model")


def shot_sources(recipe: str, root: str, k: int) -> tuple[list[dict], str]:
    """The recipe as sources: K adapt images (split by rows) + the rest whole for test, or one
    scene split by rows. Returns the sources and a description of the split."""
    from bandbridge.config import DataConfig, Source
    from bandbridge.data.items import discover
    from bandbridge.workflows.adapt import region_split
    base = {k2: v for k2, v in recipes()[recipe].items()}
    base["name"] = recipe
    base["split"] = {"default": "test"}
    items = discover(DataConfig(root=root, sources=[Source(**base)]))["test"]
    if base.get("layout") == "datacube" or len(items) < k + 1:
        return [{**base, "split": region_split(("rows", 0.0, 1.0), SCENE_ROWS)}], \
            f"{len(items)} image(s): top 60 % of rows adapt (last fifth validates), bottom 40 % test"
    step = len(items) / k
    pick = [items[int(i * step)] for i in range(k)]
    rest = [it for it in items if it not in pick]
    if base.get("layout") == "paired":
        one = {"layout": "paired", "input_dir": None, "target_dir": None}
        adapt_src = {**base, **one, "pairs": [_abs(it) for it in pick]}
        test_src = {**base, **one, "pairs": [_abs(it) for it in rest]}
    else:
        adapt_src = {**base, "files": [_abs(it)[0] for it in pick]}
        test_src = {**base, "files": [_abs(it)[0] for it in rest]}
    adapt_src["split"] = region_split(("rows", 0.0, 1.0), ADAPT_ROWS)
    test_src["name"] = f"{recipe} (test)"
    return [adapt_src, test_src], f"{k} image(s) adapt (last fifth of rows validates), {len(rest)} test"


def _abs(item) -> list[str]:
    """Absolute paths of an item's files (a stack's ``x.npy[k]`` keeps its scene index)."""
    def one(p: str) -> str:
        base, sep, idx = p.partition(".npy[")
        return str(Path(base + ".npy" if sep else p).resolve()) + (f"[{idx}" if sep else "")
    return [one(item.input_path), one(item.target_path)]


def run_shots(model: str, names: list[str], k: int, out_dir: str | Path,
              data_root: str | None = None, minutes: float = 2.0) -> dict:
    from bandbridge.bundle import load_model
    from bandbridge.spec import resolve_model_folder
    if k < 1:
        raise BandbridgeError(f"--shots {k}: give at least 1")
    unknown = sorted(set(names) - set(recipes()))
    if unknown:
        raise BandbridgeError(f"--recipes: unknown recipe(s) {unknown}; `bandbridge presets` "
                              "lists the presets and their recipes")
    out = Path(out_dir)
    check_writable(out, "--out")
    folder = resolve_model_folder(Path(model))
    base = load_model(folder).config
    root = data_root or base.data.root
    seen = {s.name for s in base.data.sources}
    folds = []
    for name in names:
        row = {"source": name, "seen_in_training": name in seen}
        try:
            row.update(_fold(name, root, k, base, folder, out, minutes))
        except BandbridgeError as e:  # one source's data problem does not lose the others
            row.update(split=f"not scored: {e}", methods={})
            print(f"{name}: not scored: {e}", flush=True)
            folds.append(row)
            continue
        folds.append(row)
        print(f"{name}: " + ", ".join(f"{m} {row['methods'][m]['mae']:.4g}"
                                      for m in ORDER if m in row["methods"]), flush=True)
    summary = {"model": str(model), "shots": k, "minutes": minutes, "folds": folds}
    atomic_write_bytes(out / "shots.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "shots.md", markdown(summary).encode())
    return summary


def _fold(name: str, root: str, k: int, base, folder: Path, out: Path, minutes: float) -> dict:
    """Adapt and train from scratch on the source's shots; score both and the bars."""
    from bandbridge.evaluation.evaluate import evaluate
    from bandbridge.workflows.adapt import adapt_config, fine_tune
    sources, how = shot_sources(name, root, k)
    work = out / "runs" / name
    shutil.rmtree(work, ignore_errors=True)
    base = base.model_copy(update={"data": base.data.model_copy(update={"root": root})})
    # as `adapt` does: rows of the adapt images validate, so only a scene whose own rows are the
    # test gets the context anchor and the fine-tune (`--within-scene`)
    cfg = adapt_config(base, sources, minutes, name=f"{name}-adapted",
                       context=len(sources) == 1)
    t0 = time.time()
    run = fine_tune(cfg, work / "adapt", folder)
    seconds = round(time.time() - t0, 1)
    # from scratch: what training on the same pixels for the same minutes gives
    scratch = fine_tune(adapt_config(base, sources, minutes, name=f"{name}-scratch"),
                        work / "scratch", None)
    res = evaluate(run / "model" / "best", split="test", out_dir=out / "folds" / name,
                   others={"zero-shot": folder, "scratch": scratch / "model" / "best"})
    return {"split": how, "adapt_seconds": seconds,
            "methods": {m: {kk: v[kk] for kk in KEYS if kk in v}
                        for m, v in res.summary["methods"].items()}}


def markdown(summary: dict) -> str:
    """One row per held-out source: MAE of each method, and the adapted model's gain over the
    linear map fitted on the same pixels."""
    methods = [m for m in ORDER if any(m in f["methods"] for f in summary["folds"])]
    lines = [f"K = {summary['shots']} shot(s), {summary['minutes']:g} min per fine-tune, "
             f"model {summary['model']}; MAE on each source's test pixels.", "",
             "| source | split | " + " | ".join(methods) + " | adapted vs linear |",
             "|---|---|" + "---|" * (len(methods) + 1)]
    for f in summary["folds"]:
        ms = f["methods"]
        if not ms:
            lines.append(f"| {f['source']} | {f['split']} |" + " – |" * (len(methods) + 1))
            continue
        gain = 100 * (1 - ms["model"]["mae"] / ms["linear"]["mae"])
        name = f["source"] + (" (seen in training)" if f["seen_in_training"] else "")
        lines.append(f"| {name} | {f['split']} | "
                     + " | ".join(f"{ms[m]['mae']:.4g}" if m in ms else "–" for m in methods)
                     + f" | {gain:+.1f} % |")
    return "\n".join(lines) + "\n"
