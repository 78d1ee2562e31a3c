"""`bandbridge loso --shots K`: what adapting a model to a new source with K pairs is worth.

Per held-out source: ``bandbridge adapt``'s choice (workflows/adapt.py: the learners by spatial
cross-validation, the model as it was scored on the same held-out pixels) on K of its images,
scored on all its other images; a source of fewer than K + 1 images (one scene) adapts on the top
60 % of each image's rows instead and is scored on the bottom 40 % (``--within-scene``: held-out
blocks of the scene may choose any learner). Beside it, on the same test pixels: the model as it
was (zero-shot), the baselines fitted on the same adapt pixels, the constant, and the model's
network trained from scratch on the same pixels for the same minutes (the last fifth of each
adapt image's rows validates it). As ``bandbridge adapt`` does, one adapt image (one group) may
keep only the constant or the linear map.
A source the model was trained on is marked: its zero-shot row is not a new source's.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from bandbridge.config import DataConfig, Source, build_config, load_config
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_write_bytes, check_writable
from bandbridge.presets import preset_names, recipes
from bandbridge.workflows.console import EPOCHS_BY_TIME

ADAPT_ROWS = {"train": (0.0, 0.8), "val": (0.8, 1.0)}  # of each adapt image (scratch training)
CONTEXT_ANCHOR = {"windows": [5, 15, 45], "products": True}  # the scratch network's anchor
SCENE_ROWS = {"train": (0.0, 0.48), "val": (0.48, 0.6), "test": (0.6, 1.0)}  # one scene
KEYS = ("mae", "rmse", "psnr", "ndvi_mae")
ORDER = ("zero-shot", "linear", "ridge-context", "gbm-bands", "gbm-context", "mlp-context", "mean",
         "scratch", "model")


def shot_sources(recipe: str, root: str, k: int) -> tuple[list[dict], str]:
    """The recipe as sources: K adapt images (split by rows) + the rest whole for test, or one
    scene split by rows. Returns the sources and a description of the split."""
    from bandbridge.data.items import discover
    from bandbridge.workflows.adapt import region_split
    base = {**recipes()[recipe], "name": recipe, "split": {"default": "test"}}
    items = discover(DataConfig(root=root, sources=[Source(**base)]))["test"]
    if base.get("layout") == "datacube" or len(items) < k + 1:
        return [{**base, "split": region_split(("rows", 0.0, 1.0), SCENE_ROWS)}], \
            f"{len(items)} image(s): top 60 % of rows adapt (last fifth validates), bottom 40 % test"
    step = len(items) / k
    pick = [items[int(i * step)] for i in range(k)]
    rest = [it for it in items if it not in pick]
    paired = {"layout": "paired", "input_dir": None, "target_dir": None} if base.get("layout") == "paired" else None
    adapt_src, test_src = ({**base, **paired, "pairs": [_abs(it) for it in its]} if paired else
                           {**base, "files": [_abs(it)[0] for it in its]} for its in (pick, rest))
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
              data_root: str | None = None, minutes: float = 2.0, progress=None) -> dict:
    """Adapt ``model`` to ``k`` shots of each recipe in ``names`` and score the rest (``shots.md``,
    ``shots.json`` in ``out_dir``); ``progress`` (``bandbridge.progress``) counts the sources."""
    from bandbridge.bundle import load_model
    from bandbridge.progress import steps
    from bandbridge.spec import resolve_model_folder
    if k < 1:
        raise BandbridgeError(f"--shots {k}: give at least 1")
    if not minutes > 0:
        raise BandbridgeError(f"--minutes {minutes:g}: give a positive number of minutes")
    if not names:
        raise BandbridgeError("--recipes: name at least one recipe, comma-separated")
    unknown = sorted(set(names) - set(recipes()))
    if unknown:
        raise BandbridgeError(f"--recipes: unknown recipe(s) {unknown}; `bandbridge presets` "
                              "lists the presets and their recipes")
    out = Path(out_dir)
    check_writable(out, "-o")
    folder = resolve_model_folder(Path(model))
    base = load_model(folder).config
    if base.task.kind != "translation":
        raise BandbridgeError(f"--model {model}: --shots adapts a translation model (rgb2nir-*, "
                              "rgb2thermal, sar2optical or a run of their presets)")
    sr = [n for n in names if recipes()[n].get("layout") == "hr"]
    if sr:
        raise BandbridgeError(f"--recipes {sr[0]}: a super-resolution recipe; --shots adapts "
                              f"{model}, a translation model, to sources of pairs")
    root = data_root or base.data.root
    seen = {s.name for s in base.data.sources}
    folds = []
    sourced = steps(progress, f"{k}-shot adaptation, {len(names)} sources", len(names))
    for name in names:
        row = {"source": name, "seen_in_training": name in seen}
        try:
            row.update(_fold(name, root, k, base, folder, out, minutes))
            print(f"{name}: " + ", ".join(f"{m} {row['methods'][m]['mae']:.4g}"
                                          for m in ORDER if m in row["methods"]), flush=True)
        except BandbridgeError as e:  # one source's data problem does not lose the others
            row.update(split=f"not scored: {e}", methods={})
            print(f"{name}: not scored: {e}", flush=True)
        folds.append(row)
        sourced()
    summary = {"model": str(model), "shots": k, "minutes": minutes, "folds": folds}
    atomic_write_bytes(out / "shots.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "shots.md", markdown(summary).encode())
    return summary


def _fold(name: str, root: str, k: int, base, folder: Path, out: Path, minutes: float) -> dict:
    """Adapt (``bandbridge adapt``'s choice) and train from scratch on the source's shots; score
    both and the bars on its test pixels."""
    from bandbridge.bundle import load_model
    from bandbridge.evaluation.evaluate import evaluate
    from bandbridge.workflows import runner
    from bandbridge.workflows.adapt import adapt_bundle
    sources, how = shot_sources(name, root, k)
    work = out / "runs" / name
    shutil.rmtree(work, ignore_errors=True)
    base = base.model_copy(update={"data": base.data.model_copy(update={"root": root})})
    bundle = load_model(folder)
    bundle.config = base
    t0 = time.time()
    # as `adapt` does: K adapt images of one group keep the simple learners; one scene whose
    # own rows are the test may choose any (`--within-scene`)
    summary, sel = adapt_bundle(folder, bundle, learner_sources(sources), f"{name}-adapted", work / "adapt",
                                within_scene=len(sources) == 1, budget_s=60 * minutes,
                                copy_zero_shot=False)
    seconds = round(time.time() - t0, 1)
    # from scratch: what training the network on the same pixels for the same minutes gives (in a work
    # folder removed after: no --resume to give)
    cfg = scratch_config(base, sources, minutes, f"{name}-scratch")
    scratch = runner.train(cfg, announce=False, run_dir=runner.new_run_dir(cfg, str(work / "scratch")))
    res = evaluate(work / "adapt", split="test", out_dir=out / "folds" / name,
                   others={"zero-shot": folder, "scratch": scratch / "model" / "best"})
    methods = {m: {kk: v[kk] for kk in KEYS if kk in v} for m, v in res.summary["methods"].items()}
    if summary["kept"] == "zero-shot":  # what adapt hands back: the model as it was
        methods["model"] = methods["zero-shot"]
    return {"split": how, "adapt_seconds": seconds, "kept": summary["kept"],
            "chosen": summary["chosen"], "oof_mae": {m: v["mae"] for m, v in summary["methods"].items()},
            "methods": methods}


def learner_sources(sources: list[dict]) -> list[dict]:
    """The sources as the learners see them: every adapt row is theirs (train + val of the
    scratch network's split), the test rows stay test."""
    out = []
    for src in sources:
        regions = (src.get("split") or {}).get("regions")
        if regions:
            lo = min(a for k, (a, b) in regions.items() if k != "test")
            hi = max(b for k, (a, b) in regions.items() if k != "test")
            keep = {"train": [lo, hi]} | ({"test": regions["test"]} if "test" in regions else {})
            src = {**src, "split": {**src["split"], "regions": keep}}
        out.append(src)
    return out


def scratch_config(base, sources: list[dict], minutes: float, name: str):
    """The scratch network's config: the model's own network and scalings, the ``sources`` (each
    with its split), a context anchor, the pixel loss only, no radiometric augmentation (the
    source's own sensor is the calibration to learn), bounded in time."""
    d = base.model_dump(mode="json")
    if d["model"]["generator"]["name"] in ("learner", "blend"):  # a learner bundle: its preset's network
        if base.name not in preset_names():
            raise BandbridgeError(f"{base.name}: no preset to train a network from scratch with")
        d["model"]["generator"] = load_config(base.name).model.generator.model_dump(mode="json")
    d["name"] = name
    d["data"].update(sources=sources, augment={}, resample=[1],
                     samples_per_epoch=max(32, 4 * d["data"]["batch_size"]))
    d["data"]["patch_size"] = min(d["data"]["patch_size"], 128)
    d["model"]["generator"]["learner"] = {"kind": "ridge", **CONTEXT_ANCHOR}
    # tiles must overlap by the anchor's half window on each side to stay seamless
    d["inference"]["overlap"] = max(d["inference"]["overlap"], 2 * (max(CONTEXT_ANCHOR["windows"]) // 2 + 10))
    d["loss"].update(lambda_adv=0.0, lambda_emd=0.0, lambda_index=0.0)
    d["optim"].update(lr_g=1e-4, schedule={"kind": "constant"})
    d["train"].update(max_epochs=EPOCHS_BY_TIME, max_steps=-1, max_minutes=minutes, monitor="val/l1",
                      monitor_mode="min", keep_checkpoints=1, seed=0, image_samples=0,
                      network_held_out=False)  # each shot is scored held out already
    return build_config(d)


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
