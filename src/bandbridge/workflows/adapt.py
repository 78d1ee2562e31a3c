"""`bandbridge adapt`: a bundled or trained model, re-calibrated to a user's sensor from a few pairs.

The user's pairs are split into three parts (whole images when there are four or more, else a band
of rows of each: 60 % adapt, 20 % validation, 20 % test). On the adapt part the anchor is refitted
(the context-feature ridge, its penalty chosen on the validation part, the plain linear map when it
validates better); the residual network starts from the model's own weights, or from zero when
they validate worse on top of the new anchor, and is fine-tuned with the pixel loss only for at
most ``--minutes``; the epoch that validates best is kept, the refitted anchor alone when none
beats it; and the model as it was when it validates better than all that. The new bundle's card
compares, on the test part that chose nothing: the model as it
was (zero-shot), the linear map and the context ridge fitted on the same adapt pixels, and the
adapted model.

With rows of the same images validating (fewer than four pairs, or ``--region``), validation
cannot see how the fit carries over to *other* images, and measured it does not: a context ridge
fitted on one image loses a median 23 % (s2_wildfire) to 41 % (NAIP) MAE to the linear map fitted
on the same image when both predict the source's other images (``scripts/one_image_transfer.py``).
The model's own residual on top of the refitted anchor fares no better (one Tanzanian date → the
other 20: MAE 0.0632 against the one-date linear map's 0.0524). So adapt then hands back the
plain linear anchor fitted on the user's pixels, without the residual and without fine-tuning —
unless ``within_scene`` says the pairs are part of the very scenes to be predicted, where held-out
rows are the right test.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bandbridge.bundle import load_model
from bandbridge.config import Config, build_config
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_writable

FRACTIONS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
CONTEXT_ANCHOR = {"windows": [5, 15, 45], "products": True}
MIN_PAIRS_BY_IMAGE = 4  # from four pairs on, whole images are held out (no shared scene edges)


def pair_sources(pairs: list[str], base: Config, bands: dict | None = None) -> list[dict]:
    """One source per PAIRS argument: ``FILE`` (input and target bands in one file, selected as
    the model's training data selected them), ``IN:TARGET`` (two files) or ``IN_DIR:TARGET_DIR``
    (files matched by stem). ``bands``: ``{"input": {...}, "target": {...}}`` band selection
    fields (bands, scaling, sensor) that replace the model's, for files laid out otherwise."""
    src0 = base.data.sources[0].model_dump(mode="json")
    keep = {k: {**src0[k], **{f: v for f, v in (bands or {}).get(k, {}).items() if v is not None}}
            for k in ("input", "target")}
    out = []
    for i, arg in enumerate(pairs):
        name = f"pairs{i + 1}"
        a, sep, b = arg.partition(":")
        if not sep:
            if not Path(arg).exists():
                raise BandbridgeError(f"{arg}: not a file; give FILE (input and target bands), "
                                      "IN:TARGET files or IN_DIR:TARGET_DIR folders")
            out.append({"name": name, "layout": "multiband", "files": [str(Path(arg).resolve())],
                        **keep})
            continue
        pa, pb = Path(a), Path(b)
        if pa.is_dir() and pb.is_dir():
            out.append({"name": name, "layout": "paired", "input_dir": str(pa.resolve()),
                        "target_dir": str(pb.resolve()), **keep})
        elif pa.is_file() and pb.is_file():
            out.append({"name": name, "layout": "paired",
                        "pairs": [[str(pa.resolve()), str(pb.resolve())]], **keep})
        else:
            bad = a if not (pa.is_file() or pa.is_dir()) else b
            raise BandbridgeError(f"{arg}: {bad} not found (or one side a file and the other a "
                                  "folder); give IN:TARGET files or IN_DIR:TARGET_DIR folders")
    return out


def parse_region(region: str | None) -> tuple[str, float, float]:
    """``rows:A:B`` / ``cols:A:B`` (fractions) → the band of every pair that may be used."""
    if not region:
        return ("rows", 0.0, 1.0)
    try:
        axis, a, b = region.split(":")
        lo, hi = float(a), float(b)
    except ValueError:
        raise BandbridgeError(f"--region {region}: expected rows:START:END or cols:START:END "
                              "(fractions, e.g. rows:0:0.5)") from None
    if axis not in ("rows", "cols") or not 0 <= lo < hi <= 1:
        raise BandbridgeError(f"--region {region}: the axis is rows or cols and "
                              "0 <= START < END <= 1")
    return axis, lo, hi


def region_split(region: tuple[str, float, float], parts=FRACTIONS) -> dict:
    """A source's split: bands of ``region`` (axis, start, end) cut by ``parts`` fractions."""
    axis, lo, hi = region
    return {"region_axis": axis, "regions": {
        k: [lo + (hi - lo) * a, lo + (hi - lo) * b] for k, (a, b) in parts.items()}}


def adapt_config(base: Config, sources: list[dict], minutes: float, seed: int = 0,
                 name: str | None = None, context: bool = True) -> Config:
    """The fine-tune's config: the model's own network and scalings, the user's ``sources``
    (each with its split), a context anchor, the pixel loss only, no radiometric augmentation
    (the user's own sensor is the calibration to learn), bounded in time. ``context=False``: the
    plain linear anchor and no fine-tuning (zero steps: the run is its refitted start, and
    :func:`fine_tune` leaves its residual at zero)."""
    d = base.model_dump(mode="json")
    d["name"] = name or f"{base.name}-adapted"
    d["data"].update(sources=sources, augment={}, resample=[1],
                     samples_per_epoch=max(32, 4 * d["data"]["batch_size"]))
    d["data"]["patch_size"] = min(d["data"]["patch_size"], 128)
    d["model"]["generator"]["args"]["anchor"] = CONTEXT_ANCHOR if context else True
    # tiles must overlap by the anchor's half window on each side to stay seamless
    d["inference"]["overlap"] = max(d["inference"]["overlap"], 2 * (max(CONTEXT_ANCHOR["windows"]) // 2 + 10))
    d["loss"].update(lambda_adv=0.0, lambda_emd=0.0, lambda_index=0.0)
    d["optim"].update(lr_g=1e-4, schedule={"kind": "constant"})
    d["train"].update(max_epochs=10_000, max_steps=-1 if context else 0, max_minutes=minutes, monitor="val/l1",
                      monitor_mode="min", keep_checkpoints=1, seed=seed, image_samples=0)
    return build_config(d)


def split_by_image(cfg: Config) -> list[dict] | None:
    """The sources with whole images held out for validation and test when there are enough
    pairs (else None: each pair is split by rows)."""
    from bandbridge.data.items import discover
    ids = sorted({it.id for items in discover(cfg.data).values() for it in items})
    if len(ids) < MIN_PAIRS_BY_IMAGE:
        return None
    n = max(1, round(0.2 * len(ids)))
    split = {"val": ids[-2 * n:-n], "test": ids[-n:], "default": "train"}
    return [{**s.model_dump(mode="json"), "split": split} for s in cfg.data.sources]


def fine_tune(cfg: Config, work: Path, init_from: Path | None) -> Path:
    """Train ``cfg`` into ``work`` (from ``init_from``'s residual, or from scratch); the run. A
    config of zero steps (``adapt_config(context=False)``) is its refitted linear anchor alone:
    ``init_from`` is not used, so the residual stays zero."""
    import os
    from bandbridge.workflows import runner
    os.environ.pop(runner.RUN_DIR_ENV, None)  # a fresh run folder for each fine-tune
    init = init_from if cfg.train.max_steps else None
    try:
        return runner.train(cfg, runs_root=str(work), init_from=str(init) if init else None)
    finally:
        os.environ.pop(runner.RUN_DIR_ENV, None)


def adapt(model: str, pairs: list[str], output: str, minutes: float = 5.0,
          region: str | None = None, overwrite: bool = False, seed: int = 0,
          bands: dict | None = None, within_scene: bool = False) -> dict:
    """Adapt ``model`` to ``pairs``; writes a bundle to ``output``. Returns the card's summary.
    ``within_scene``: the pairs are part of the scenes to be predicted, so held-out rows of them
    may choose the context anchor and the fine-tune (else only held-out images may)."""
    from bandbridge.evaluation.evaluate import evaluate
    if not pairs:
        raise BandbridgeError("adapt needs PAIRS: FILE, IN:TARGET or IN_DIR:TARGET_DIR")
    if minutes <= 0:
        raise BandbridgeError(f"--minutes {minutes:g}: give a positive number of minutes")
    out = Path(output)
    if out.exists() and not overwrite:
        raise BandbridgeError(f"{out}: exists; pass --overwrite to replace it")
    check_writable(out.parent, "-o/--output")
    from bandbridge.spec import resolve_model_folder
    folder = resolve_model_folder(Path(model))
    bundle = load_model(folder)
    base = bundle.config
    if base.task.kind != "translation" or getattr(bundle.generator, "spectral", None) is None:
        raise BandbridgeError(f"{model}: adapt re-calibrates an anchored translation model "
                              "(rgb2nir-*, rgb2thermal, sar2optical or a run of their presets)")
    sources = pair_sources(pairs, base, bands)
    for src in sources:
        src["split"] = region_split(parse_region(region))
    cfg = adapt_config(base, sources, minutes, seed, f"{folder.name}-adapted")
    by_image = None if region else split_by_image(cfg)
    cfg = adapt_config(base, by_image or sources, minutes, seed, cfg.name,
                       context=bool(by_image) or within_scene)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent if out.parent.exists() else None))
    try:
        run = fine_tune(cfg, work, folder)
        best = run / "model" / "best"
        # never hand back worse than the model as it was: compared on the validation part
        val = evaluate(best, split="val", others={"zero-shot": folder},
                       with_baselines=False).summary["methods"]
        keep = "adapted" if val["model"]["mae"] <= val["zero-shot"]["mae"] else "zero-shot"
        res = evaluate(best, split="test", others={"zero-shot": folder})
        kept = (f"{keep} model (validation MAE {val['model']['mae']:.4g} adapted, "
                f"{val['zero-shot']['mae']:.4g} zero-shot)")
        card = adapt_card(model, pairs, cfg, res, run, kept)
        tmp = out.with_name(f".{out.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(best if keep == "adapted" else folder, tmp)
        (tmp / "MODEL_CARD.md").write_text(card)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"card": card, "summary": res.summary, "table": res.table}


def adapt_card(model: str, pairs: list[str], cfg: Config, res, run: Path, kept: str) -> str:
    import json
    s = json.loads((run / "summary.json").read_text())
    base = json.loads((run / "baseline.json").read_text())
    ms = res.summary["methods"]
    order = [m for m in ("zero-shot", "linear", "ridge-context", "gbm-context", "mean", "model")
             if m in ms]
    keys = [k for k in ("mae", "rmse", "psnr", "pearson_r", "ndvi_mae") if k in ms["model"]]
    lines = ["| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for m in order:
        label = {"model": "**adapted**", "linear": "linear map (same adapt pixels)",
                 "ridge-context": "context ridge (same adapt pixels)",
                 "gbm-context": "gradient boosting on context (same adapt pixels)",
                 "zero-shot": f"zero-shot ({model})", "mean": "constant"}[m]
        lines.append(f"| {label} | " + " | ".join(f"{ms[m][k]:.4g}" for k in keys) + " |")
    p = res.summary["protocol"]
    anchor = base.get("anchor", {})
    return "\n".join([
        f"# {cfg.name}", "",
        f"`bandbridge adapt -m {model} {' '.join(pairs)}`: {model} re-calibrated to these pairs.", "",
        f"- Split: {'whole images' if any(src.split.val for src in cfg.data.sources) else 'bands of rows of each pair'}"
        " — adapt / validation (early stopping, anchor penalty) / test (this table, chose nothing).",
        f"- Anchor: {anchor.get('kind', 'linear')}, chosen `{anchor.get('chosen', 'linear')}` on validation."
        + ("" if cfg.train.max_steps else " Validation rows come from the adapt images "
           "themselves, which cannot show how a context fit or a fine-tune carries over to other "
           "images: the plain linear anchor alone — no residual, no fine-tune (`--within-scene` if you will predict "
           "these same scenes; four or more pairs hold out whole images)."),
        f"- Fine-tune: {s['epochs']} epochs, {s['global_step']} steps, {s['fit_seconds']:.0f} s; "
        f"validation L1 {s['val_start'].get('l1', float('nan')):.4f} at the start.",
        f"- Kept: the {kept}; the table scores the adapted model either way.",
        f"- Test part: {p['images']} image(s), {p['valid_pixels']} valid pixels, "
        f"{p['target_units']}; mean over images.", "", *lines, ""])
