"""`bandbridge adapt`: a model re-calibrated to a user's own pairs by the strongest small-data
learner, chosen by spatial cross-validation (``learners/``), refitted on every pixel given.

All the pairs' valid pixels (``--region``: a band of each) are pooled. The candidates — the
constant, the linear map, the context ridge over its penalty grid, gradient boosting on the bands
and on the context features, a per-pixel MLP — are fitted fold by fold (whole groups of images
held out when the pairs hold two or more groups, else blocks of each image's longer side with a
buffer of the largest context window) and scored on the held-out pixels; the model as it was
(zero-shot) is scored on the very same pixels. Whichever has the lowest out-of-fold MAE is what
adapt hands back: the zero-shot model unchanged, or the chosen learner refitted on all pixels.

One group of images (one pair, or near-copies) cannot show how a fit carries over to *other*
scenes, and measured it does not (``scripts/one_image_transfer.py``: a context ridge fitted on one
image loses a median 23–41 % MAE to the linear map on the source's other images). So with one group adapt keeps
the simplest learners (constant, linear map) unless ``--within-scene`` says the pairs are part of
the very scenes to be predicted, where held-out blocks of them are the right test; the card says
what the others scored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bandbridge.bands import band_role
from bandbridge.bundle import WEIGHTS, load_model, rename_bundle, save_bundle
from bandbridge.config import Config, build_config
from bandbridge.data.found_groups import find_groups
from bandbridge.data.reads import paths_read
from bandbridge.data.seen import from_pairs
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_write_bytes, check_output_folder, sha256_file
from bandbridge.learners.base import family
from bandbridge.learners.folds import pair_pixels
from bandbridge.learners.linear import least_squares
from bandbridge.learners.record import LearnerRecord, traded_line, unit_of
from bandbridge.learners.registry import candidates
from bandbridge.learners.select import choose
from bandbridge.policy import ONE_GROUP, one_group
from bandbridge.progress import steps
from bandbridge.spec import ZOO_ALIASES, read_spec, resolve_model_folder, zoo_models
from bandbridge.workflows.best import copy_without_floor, learner_config, replace
from bandbridge.workflows.pairs import (own_bundle_file, pair_paths, pair_sources, reference_pairs,
                                        settle_readings)

ALL_ROWS = {"train": (0.0, 1.0)}  # every pixel of each pair (of its --region band)
LABELS = {"zero-shot": "zero-shot ({model})", "constant": "constant", "linear": "linear map",
          "ridge-context": "context ridge (best penalty)", "gbm-bands": "gradient boosting on the bands",
          "gbm-context": "gradient boosting on context", "mlp-context": "per-pixel MLP on context"}


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


def region_split(region: tuple[str, float, float], parts: dict) -> dict:
    """A source's split: bands of ``region`` (axis, start, end) cut by ``parts`` fractions."""
    axis, lo, hi = region
    return {"region_axis": axis, "regions": {
        k: [lo + (hi - lo) * a, lo + (hi - lo) * b] for k, (a, b) in parts.items()}}


def user_config(base: Config, sources: list[dict], name: str) -> Config:
    """The base model's config with the user's ``sources`` (each with its split)."""
    d = base.model_dump(mode="json")
    d["name"] = name
    d["data"].update(sources=sources, augment={}, resample=[1])
    return build_config(d)


def select_on_pairs(bundle, pairs: list, within_scene: bool, budget_s: float | None = None,
                    progress=None):
    """The learner :class:`~bandbridge.learners.select.Selection` on ``pairs`` with the model as
    it was (``bundle``) scored on the same held-out pixels as ``zero-shot``, the one-group note
    (None when the pairs hold two or more groups or ``within_scene``) and the number of groups of
    near-copies the pairs hold."""
    from bandbridge.evaluation.evaluate import predict_whole
    for p in pairs:
        if p.x.shape[0] != bundle.in_channels or p.y.shape[0] != bundle.out_channels:
            raise BandbridgeError(f"{p.item.input_path}: {p.x.shape[0]} input / {p.y.shape[0]} "
                                  f"target bands, the model takes {bundle.in_channels} and makes "
                                  f"{bundle.out_channels}; select them with --bands/--target-bands")
    zs = []
    scored = steps(progress, f"the model as it was, on {len(pairs)} pair(s)", len(pairs))
    for p in pairs:
        zs.append(predict_whole(bundle, p))
        scored()
    # within the scenes to be predicted, held-out blocks of each image are the test; else whole
    # groups of near-copies when there are two or more — found across every pair given (each
    # PAIRS argument is its own source, but two dates of one place are one group whatever their
    # arguments: data/found_groups.py)
    files = sorted({p.item.input_path for p in pairs})
    keys = find_groups(files, files)
    found = [keys[p.item.input_path] for p in pairs]
    groups = ["scenes"] * len(pairs) if within_scene else found
    px, (zero,) = pair_pixels(pairs, groups, extra=zs)
    one = len(set(groups)) < 2 and not within_scene
    note = None
    if one:
        others = sorted({LABELS.get(c.family, c.family) for c in candidates() if c.name not in ONE_GROUP})
        note = (f"validation cannot see other scenes: {len(pairs)} item(s), 1 group — only the "
                "constant or the linear map (or the model as it was) may be kept, so only they "
                "were fitted; --within-scene, if you will predict these same scenes, would also "
                f"try the {', the '.join(others)} and their blend")
    # candidates that may not be kept are not fitted
    sel = choose(px, fixed={"zero-shot": zero}, budget_s=budget_s, allowed=one_group(one),
                 progress=progress)
    return sel, note, len(set(found))


def adapt(model: str, pairs: list[str], output: str, minutes: float = 5.0,
          region: str | None = None, overwrite: bool = False,
          bands: dict | None = None, within_scene: bool = False, progress=None,
          say=None, reference: str | None = None, stated: list[str] | None = None) -> dict:
    """Adapt ``model`` to ``pairs``; writes a bundle to ``output`` (the zero-shot model's copy, or
    the chosen learner). ``minutes`` bounds the search. Returns the card, its summary and the
    :class:`~bandbridge.learners.select.Selection`. ``progress``: ``bandbridge.progress``'s
    ``add(what, total)``; ``say`` hears how each pair is read (predict's line, CHECK included).
    ``reference``: a coarse raster of the target band over the images (``pairs`` are then images
    alone): the pairs are the images averaged onto its grid and the reference itself. ``stated``:
    the pairs as the card's command gives them (default ``pairs``)."""
    if reference is not None:
        role = band_role(read_spec(resolve_model_folder(Path(model))).target_names[0])
        with tempfile.TemporaryDirectory(prefix="bandbridge-refpairs-") as d:
            made = reference_pairs(pairs, reference, role, Path(d))
            if say:
                say(f"pairs from --reference {reference}: {len(made)} image(s) averaged onto its grid, "
                    f"its {role} band the target")
            return adapt(model, made, output, minutes, region, overwrite, bands, True, progress, say,
                         stated=[*pairs, "--reference", reference])
    if not pairs:
        raise BandbridgeError("adapt needs PAIRS: FILE, IN:TARGET or IN_DIR:TARGET_DIR")
    if minutes <= 0:
        raise BandbridgeError(f"--minutes {minutes:g}: give a positive number of minutes")
    folder = resolve_model_folder(Path(model))
    out = check_output_folder(Path(output), [q for x in [*pair_paths(pairs), folder] for q in paths_read(x)], overwrite,
                              "-o/--output", own_bundle_file(Path(output)))  # a pair's VRT sources kept too
    bundle = load_model(folder)
    base = bundle.config
    if base.task.kind != "translation":
        raise BandbridgeError(f"{model}: adapt re-calibrates a translation model (rgb2nir-*, "
                              "rgb2thermal, sar2optical or a run of their presets)")
    sources = pair_sources(pairs, base, bands)
    for line in settle_readings(sources, read_spec(folder), bands):  # predict's reading lines, before any fit
        if say:
            say(line)
    for src in sources:
        src["split"] = region_split(parse_region(region), ALL_ROWS)
    zoo = {Path(f).resolve(): n for n, f in zoo_models().items() if n not in ZOO_ALIASES}  # a bundled name
    name = f"{zoo.get(folder.resolve(), base.name)}-adapted"  # as a user calls the model, else its config's
    command = " ".join(["bandbridge adapt -m", model, *(stated or pairs), *read_flags(bands)]
                       + ([f"--region {region}"] if region else [])
                       + ([f"--minutes {minutes:g}"] if minutes != 5.0 else [])
                       + (["--within-scene"] if within_scene else []))

    def write(tmp: Path) -> dict:  # the bundle and its card, moved into `out` whole (best.replace)
        summary, sel = adapt_bundle(folder, bundle, sources, name, tmp, within_scene, 60 * minutes,
                                    progress=progress)
        card = adapt_card(command, summary["name"], summary)
        atomic_write_bytes(tmp / "MODEL_CARD.md", card.encode())
        return {"card": card, "summary": summary, "selection": sel}
    return replace(out, write)


def adapt_bundle(folder: Path, bundle, sources: list[dict], name: str, dest: Path,
                 within_scene: bool, budget_s: float | None, copy_zero_shot: bool = True,
                 progress=None) -> tuple[dict, object]:
    """Choose on the ``train`` pairs of ``sources`` and write the bundle into ``dest``: a copy of
    ``folder`` (zero-shot kept; ``copy_zero_shot=False``: the best learner even then, for
    ``loso --shots`` to score) or the chosen learner. Returns the card's summary and the
    selection. ``progress`` (``bandbridge.progress``) counts the zero-shot predictions and the
    fits."""
    base = bundle.config
    read = steps(progress, f"reading {len(sources)} pair source(s)", 1)
    from bandbridge.data.datamodule import PairedDataModule
    user_pairs = PairedDataModule(user_config(base, sources, name)).load_split("train")  # as training reads them
    if not user_pairs:
        raise BandbridgeError("PAIRS: no valid pixels in the pairs given (all nodata?)")
    read()
    sel, note, groups = select_on_pairs(bundle, user_pairs, within_scene, budget_s, progress)
    keep = "zero-shot" if sel.winner == "zero-shot" else family(sel.chosen)
    summary = card_summary(sel, user_pairs, keep, note, str(folder.name), groups)
    if keep == "zero-shot" and copy_zero_shot:
        # without the floor files of another sensor would get: the model is kept for what it
        # scored on the user's own pairs, whatever their stored depth
        copy_without_floor(folder, dest)
    else:
        rule = "chosen by spatial cross-validation on the user's pairs, refitted on every pixel"
        record = LearnerRecord.of(sel, rule, user_pairs[0].source.target).to_dict() | {  # and what adapt kept
            k: summary[k] for k in ("kept", "note", "worse_than_zero_shot", "images", "groups", "model")}
        coef = sel.fitted.coef_ if sel.chosen == "linear" else least_squares(  # (Ci + 1, Ct), on every pixel
            *(np.concatenate([getattr(p, k)[:, p.mask[0]].T.numpy() for p in user_pairs]) for k in "xy"))
        info = {"epoch": -1, "learner": record, "baseline": {"linear": coef.tolist()},
                "inputs_seen": from_pairs(user_pairs)}  # how the pairs read: predict compares files to it
        save_bundle(dest, sel.fitted.module(bundle.in_channels, bundle.out_channels),
                    learner_config(user_config(base, sources, name), sel.fitted.generator()), bundle.in_channels,
                    bundle.out_channels, **info)
    summary["name"] = name_by_content(dest, name)
    return summary, sel


def name_by_content(dest: Path, name: str) -> str:
    """``name`` + the first 8 hex digits of the written weights' hash, set in ``dest``'s
    ``model.yaml``: two adaptations never share a name, and a copy kept as it was says so."""
    full = f"{name}-{sha256_file(dest / WEIGHTS)[:8]}"
    rename_bundle(dest, full)
    return full


def card_summary(sel, pairs: list, keep: str, note: str | None, model: str, groups: int) -> dict:
    """Out-of-fold MAE per family (model values and the target's units), what was kept, how."""
    scale, units = unit_of(pairs[0].source.target)
    fams = sel.families()
    methods = {m: {"mae": v * scale, "mae_model_units": v} for m, v in fams.items()}
    zs = fams.get("zero-shot")
    worse = zs is not None and keep != "zero-shot" and fams[keep] > zs
    return {"kept": keep, "chosen": sel.chosen, "methods": methods, "note": note,
            "worse_than_zero_shot": bool(worse), "folds": sel.folds, "skipped": sel.skipped,
            "pixels": sel.pixels, "valid_pixels": sel.total, "target_units": units,
            "images": len(pairs), "groups": groups,
            "seconds": round(sel.seconds, 1), "model": model,
            "traded": sel.traded and {k: v * scale if k.endswith("_mae") else v for k, v in sel.traded.items()}}


def read_flags(bands: dict | None) -> list[str]:
    """The reading flags a command line gave (``bands``: the CLI's input/target selections), as
    the card's command writes them: the command that ran, so that it can run again."""
    if not bands:
        return []
    i, t = bands.get("input") or {}, bands.get("target") or {}
    join = lambda v: ",".join(str(x) for x in v)  # noqa: E731
    return [f for flag, v in (("--bands", i.get("bands")), ("--target-bands", t.get("bands")),
                              ("--band-names", i.get("band_names")), ("--scaling", i.get("scaling")),
                              ("--sensor", i.get("sensor"))) if v
            for f in (flag, join(v) if isinstance(v, list) else str(v))]


def adapt_card(command: str, name: str, summary: dict) -> str:
    """The bundle's card: the out-of-fold table, its bold row the model handed back."""
    ms, keep, model = summary["methods"], summary["kept"], summary["model"]
    lines = [f"| method | out-of-fold MAE ({summary['target_units']}) | vs linear map |", "|---|---|---|"]
    lin = ms.get("linear", {}).get("mae")
    for m, v in ms.items():
        label = LABELS.get(m, m).format(model=model)
        label = f"**{label} — kept**" if m == keep else label
        vs = f"{(v['mae'] / lin - 1) * 100:+.1f} %" if lin else ""
        lines.append(f"| {label} | {v['mae']:.4g} | {vs} |")
    kept = (f"the zero-shot model ({model} as it was)" if keep == "zero-shot" else
            f"{LABELS.get(keep, keep).format(model=model)} (`{summary['chosen']}`), refitted on "
            f"{summary['pixels']} of {summary['valid_pixels']} valid pixels")
    loud = ["", f"**Warning:** what is kept scored worse than {model} as it was on the held-out "
            "pixels."] if summary["worse_than_zero_shot"] else []
    traded = summary.get("traded")
    # a trade among the learners is what was kept only where a learner was kept: one card, one answer
    trade = traded_line(traded, summary["target_units"]) if keep != "zero-shot" else [
        f"- No learner is kept: the lowest, `{traded['best']}` ({traded['best_oof_mae']:.4g}), and `{traded['kept']}` "
        f"({traded['kept_oof_mae']:.4g}), cheaper to serve within the folds' noise; neither scored below "
        "the zero-shot model."] if traded else []
    return "\n".join([
        f"# {name}", "",
        f"`{command}`: {model} re-calibrated to these pairs.", "",
        f"- Choice: {len(summary['folds'])}-fold spatial cross-validation on {summary['images']} "
        f"image(s) in {summary['groups']} group(s); each fold: {summary['folds'][0]}. The table is "
        "out-of-fold: every score is on pixels the fit never saw.",
        *([f"- {summary['note'][0].upper()}{summary['note'][1:]}."] if summary["note"] else []),
        *([f"- Not measured within --minutes: {', '.join(summary['skipped'])}."] if summary["skipped"] else []),
        f"- Kept: {kept}.", *trade, *loud, "",
        *lines, ""])

