"""`bandbridge evaluate`: a model and its baselines on one held-out split, by a stated protocol.

Protocol: each image of the split is predicted whole (no tiles); metrics are computed on the
target's physical scale (reflectance, DN or dB; the data range is stated) over valid pixels only,
then averaged over images. Baselines are fitted on the model's own training split and scored on
the same images. Super-resolution adds PSNR/SSIM on RGB and on Y with a border crop of `scale`.
A source of another sensor (a stored depth none of the model's pairs had) is scored on what
``predict`` gives it: the bundle's zero-shot floor (inference/core/route.floor_instead).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bandbridge.bands import get_scaling, is_single_nir, judged_by_realism
from bandbridge.bundle import Bundle, load_model
from bandbridge.fileio import atomic_write_bytes
from bandbridge.config import Config, build_config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.data.datasets import LoadedPair
from bandbridge.errors import BandbridgeError
from bandbridge.learners.baselines import fit_baselines
from bandbridge.metrics import band_metrics, sr_metrics
from bandbridge.realism import contrast_ratio, sliced_wasserstein
from bandbridge.progress import Progress, steps

LOWER_IS_BETTER = ("mae", "rmse", "sam_deg", "fid", "kid", "swd")
FLAT = "flat (own mean)"  # each band's own mean over valid pixels, everywhere: what a flat output scores


@dataclass
class EvalResult:
    rows: list[dict]  # one per (image, method)
    summary: dict
    table: str  # Markdown
    samples: list[dict] = field(default_factory=list)  # a few images with every prediction


def with_data(cfg: Config, root: str | None, recipes: list[str] | None) -> Config:
    """A model's config reading its data from ``root`` and, with ``recipes``, those sources instead."""
    d = cfg.model_dump(mode="json")
    if root:
        d["data"]["root"] = root
    if recipes:
        d["data"]["sources"] = list(recipes)
    return build_config(d)


def _physical(sel) -> tuple[float, float, str]:
    """A band selection's model value → physical units: scale (= the data range), offset, units."""
    return get_scaling(sel.scaling, sel.vmin, sel.vmax).physical


def score_pair(pair: LoadedPair, pred: torch.Tensor, task: str, scale: int,
               image_like: bool = False) -> dict[str, float]:
    """All metrics of one prediction ``(Ct, H, W)`` (model values) against its pair; for an
    image-like target the contrast ratio too (``realism.py``)."""
    src = pair.source
    unit, offset, _ = _physical(src.target)
    nir = task == "translation" and is_single_nir([str(b) for b in (src.target.bands or [])])
    out = band_metrics(pred, pair.y, pair.mask[0], unit, offset, pair.x if nir else None,
                       [str(b) for b in (src.input.bands or [])])
    if task == "super_resolution" and pred.shape[0] == 3:
        out.update(sr_metrics(pred, pair.y, scale))
    if image_like:
        out["contrast"] = contrast_ratio(pred, pair.y, pair.mask[0])
    return out


def add_swd(summary: dict, preds: dict[str, list], pairs: list[LoadedPair]) -> None:
    """Each method's sliced Wasserstein distance to the real targets (a set measure, like FID)."""
    reals, masks = [p.y.float() for p in pairs], [p.mask[0].bool() for p in pairs]
    for method, outs in preds.items():
        summary["methods"][method]["swd"] = sliced_wasserstein([o.float() for o in outs], reals, masks)["swd"]


def evaluate(model: str | Path, data_root: str | None = None, split: str = "test",
             recipes: list[str] | None = None, out_dir: str | Path | None = None,
             fid_weights: str | None = None, keep_samples: int = 4,
             others: dict[str, str | Path] | None = None,
             with_baselines: bool = True, progress: Progress | None = None) -> EvalResult:
    """Score ``model`` (and ``others``: more models by name, e.g. the zero-shot model an
    adaptation started from) with its baselines (unless ``with_baselines`` is False: models
    only) on ``split``; ``progress`` counts the baseline fits and the images scored."""
    bundle: Bundle = load_model(model)
    train_cfg = with_data(bundle.config, data_root, None)
    eval_cfg = with_data(bundle.config, data_root, recipes)
    task, scale = train_cfg.task.kind, train_cfg.task.scale
    src0 = train_cfg.data.sources[0]
    image_like = task == "translation" and judged_by_realism(src0.input.bands, src0.target.bands)
    pairs = _eval_pairs(eval_cfg, split, bundle, progress)
    # The same look at the values as predict's, once per source: one line each, and a refusal
    # when a declared scaling would saturate the data.
    from bandbridge.inference.core.interpret import reading_lines
    seen = reading_lines(pairs, bundle.info.get("inputs_seen"), Path(str(model)).name)
    baselines, train_pairs = _baselines(train_cfg, with_baselines, progress)
    named = {"model": model, **(others or {})}
    models = {"model": bundle, **{name: load_model(m) for name, m in (others or {}).items()}}
    served = {name: floors_for(m, pairs) for name, m in named.items()}  # what predict gives them
    for b in [*models.values(), *(f for f, _ in served.values() if f is not None)]:
        b.generator.eval()
    for name, (_, notes) in served.items():
        seen += [f"{source}: {note}" for source, note in notes.items()]
    rows, samples, fid_pairs = [], [], {}  # fid_pairs: each method's predictions, in order
    scored = steps(progress, f"scoring the {split} split's images", len(pairs))
    for k, pair in enumerate(pairs):
        preds = {name: predict_whole(served[name][0] if pair.source.name in served[name][1] else b, pair)
                 for name, b in models.items()}
        for b in baselines:
            preds[b.name] = b(pair.x)
        if image_like:  # the flat output a per-pixel error rewards, given its one best value (an oracle)
            m = pair.mask[0].bool()
            preds[FLAT] = torch.stack([torch.full(b.shape, float(b[m].mean()) if m.any() else 0.0)
                                       for b in pair.y.float()])
        for method, pred in preds.items():
            rows.append({"id": pair.item.id, "source": pair.source.name, "method": method,
                         **score_pair(pair, pred, task, scale, image_like)})
            fid_pairs.setdefault(method, []).append(pred)
        if k < keep_samples:
            samples.append({"pair": pair, "preds": preds})
        scored()
    methods = list(dict.fromkeys(r["method"] for r in rows))
    summary = summarize(rows, methods)
    if image_like:
        add_swd(summary, fid_pairs, pairs)
    if fid_weights is not None:
        from bandbridge.evaluation.fid import fid_kid
        real = [p.y for p in pairs]
        for method in methods:
            summary["methods"][method].update(fid_kid(real, fid_pairs[method], fid_weights))
    summary["protocol"] = _protocol(split, pairs, train_pairs, seen, model, task, scale, image_like)
    table = markdown_table(summary, methods)
    result = EvalResult(rows, summary, table, samples)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


def _eval_pairs(eval_cfg, split: str, bundle: Bundle, progress: Progress | None) -> list[LoadedPair]:
    """The ``split`` of the evaluation data, refused when empty or of other band counts than the model's."""
    read = steps(progress, f"reading the {split} split", 1)  # a line at once: reading can take a while
    pairs = PairedDataModule(eval_cfg).load_split(split)
    read()
    if not pairs:
        raise BandbridgeError(f"the '{split}' split of the evaluation data is empty; choose "
                              "--split train/val/test or other --recipe data")
    for p in pairs:
        if p.x.shape[0] != bundle.in_channels or p.y.shape[0] != bundle.out_channels:
            raise BandbridgeError(
                f"{p.item.input_path}: {p.x.shape[0]} input / {p.y.shape[0]} target bands, but "
                f"the model takes {bundle.in_channels} and makes {bundle.out_channels}; select "
                "matching bands in the evaluation data")
    return pairs


def _baselines(train_cfg, with_baselines: bool, progress: Progress | None) -> tuple[list, list[LoadedPair]]:
    """The baselines (none unless ``with_baselines``) and the training pairs they were fitted on."""
    task, scale = train_cfg.task.kind, train_cfg.task.scale
    # Per-pixel baselines are fitted on the training split; SR's (bicubic, nearest) need nothing.
    fitted = task == "translation" and with_baselines
    fitted_one = steps(progress if with_baselines else None,
                       "reading the training split and fitting the baselines on it", 1)
    train_dm = PairedDataModule(train_cfg)
    train_pairs = train_dm.load_split("train") if fitted else []
    val_pairs = train_dm.load_split("val") if fitted else []
    baselines = fit_baselines(task, scale, train_pairs, val_pairs) \
        if with_baselines and (train_pairs or task != "translation") else []
    fitted_one()
    return baselines, train_pairs


def _protocol(split: str, pairs: list[LoadedPair], train_pairs: list[LoadedPair], seen: list[str],
              model, task: str, scale: int, image_like: bool) -> dict:
    """How the scores were made: the split, its images and pixels, units, the baselines' data, the
    inputs' readings, and the realism and super-resolution protocols where they apply."""
    tsel = pairs[0].source.target
    data_range, _, units = _physical(tsel)
    return {
        "split": split, "images": len(pairs), "groups": len({p.group for p in pairs}),
        "valid_pixels": int(sum(int(p.mask.sum()) for p in pairs)),
        "sources": sorted({p.source.name for p in pairs}), "target_units": units,
        "data_range": data_range, "averaging": "mean over images of per-image metrics",
        "baselines_fitted_on": f"train split of {sorted({p.source.name for p in train_pairs})} "
                               f"({len(train_pairs)} images, {len({p.group for p in train_pairs})} groups)" if train_pairs else "none",
        "inputs": seen, "model": str(model), "task": task, "scale": scale,
        "realism": ("an image-like target: swd = sliced Wasserstein distance of 7x7 Laplacian-pyramid "
                    "patches to the real targets (lower is more alike; units of the real patches' "
                    "standard deviation), contrast = std of the output over the real image's "
                    f"(1 = real); '{FLAT}' = each image's own mean everywhere") if image_like else None,
        "sr_protocol": f"border crop {scale} px; Y = BT.601 luma (16–235)" if task == "super_resolution" else None}


def floors_for(model: str | Path, pairs: list[LoadedPair]) -> tuple[Bundle | None, dict[str, str]]:
    """``(the floor bundle, {source: note})``: the sources of ``pairs`` whose files come from
    another sensor than ``model``'s training pairs, which ``predict`` gives to the floor the
    bundle holds (judged on each source's first input file, as its reading line is)."""
    from bandbridge.data.reader import raster_info
    from bandbridge.inference.core.interpret import source_firsts
    from bandbridge.inference.core.route import floor_instead
    from bandbridge.spec import resolve_model_folder
    try:
        folder = resolve_model_folder(model)
    except BandbridgeError:  # a checkpoint: no bundle folder, no floor
        return None, {}
    notes, sub = {}, None
    for p in source_firsts(pairs):
        try:
            dtype = raster_info(p.item.input_path).dtype
        except (BandbridgeError, OSError):  # a band folder or cube: no one stored type
            continue
        if (served := floor_instead(folder, dtype)) is not None:
            sub, notes[p.source.name] = served
    return (load_model(sub) if sub is not None else None), notes


@torch.inference_mode()
def predict_whole(bundle: Bundle, pair: LoadedPair) -> torch.Tensor:
    """The bundle's output on the whole image of ``pair`` ``(Ct, H·s, W·s)`` in [0, 1], with the
    context of the image's centre (its statistics are the whole image's)."""
    h, w = pair.x.shape[1:]
    ctx = torch.tensor([pair.context(h / 2, w / 2, bundle.config.sensors)])
    return bundle.generator(pair.x[None].float(), ctx)[0].clamp(0, 1)


def summarize(rows: list[dict], methods: list[str]) -> dict:
    out: dict = {"methods": {}}
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        keys = [k for k in mine[0] if k not in ("id", "source", "method")]
        out["methods"][m] = {k: sum(r[k] for r in mine) / len(mine) for k in keys}
    return out


def markdown_table(summary: dict, methods: list[str]) -> str:
    """Metrics as rows; the model, each baseline, and the model's gain over each baseline."""
    ms = summary["methods"]
    base = [m for m in methods if m != "model"]
    keys = list(ms["model"])
    head = ["metric", "model", *base, *[f"gain vs {b}" for b in base]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in keys:
        sign = -1 if k.split("_")[-1] in LOWER_IS_BETTER or k in LOWER_IS_BETTER else 1
        gains = [(abs(1 - ms[b][k]) - abs(1 - ms["model"][k])) if k == "contrast"  # 1 is best
                 else sign * (ms["model"][k] - ms[b][k]) for b in base if k in ms[b]]
        cells = [k, _num(ms["model"][k]), *[_num(ms[b].get(k, float("nan"))) for b in base],
                 *[_num(g, "+") for g in gains]]
        lines.append("| " + " | ".join(cells) + " |")
    proto = summary.get("protocol") or {}
    held = (f"; {proto['split']} split: {proto['images']} image(s) in {proto['groups']} group(s) "
            "of near-copies") if "groups" in proto else ""
    return ("\n".join(lines) + f"\n\n(gain > 0: the model is better; error metrics and SWD are "
            f"negated{held})\n")


def _num(v: float, sign: str = "") -> str:
    """A table cell: 4 significant digits, or n/a for a metric undefined here (NaN)."""
    return "n/a" if v != v else f"{v:{sign}.4g}"


def write_outputs(result: EvalResult, out: Path) -> None:
    keys = list(dict.fromkeys(k for r in result.rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(result.rows)
    atomic_write_bytes(out / "per_image.csv", buf.getvalue().encode())
    atomic_write_bytes(out / "summary.json", json.dumps(result.summary, indent=1).encode())
    proto = "\n".join(f"- {k}: {v}" for k, v in result.summary["protocol"].items() if v is not None)
    atomic_write_bytes(out / "metrics.md", f"# Evaluation\n\n{proto}\n\n{result.table}".encode())
