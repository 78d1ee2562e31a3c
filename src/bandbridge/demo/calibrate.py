""""Calibrate with a pair": the chosen model adapted to one pair of the user's own (an input and
its real target band, in one file or two) by ``bandbridge adapt`` (workflows/adapt.py: the best
small-data learner by spatial cross-validation, or the model as it was when it scores better on
the same held-out pixels), bounded so that a click stays within about a minute, and adapt's
out-of-fold table — its bold row is what the page then translates with."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from bandbridge.bands import FAMILY, band_role, same_family
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.interpret import Overrides, interpret
from bandbridge.inference.core.look import look_at
# the pair's pixels (its input side) the page takes, the band of its rows used (adapt's fits and checks scale with
# it) and adapt's search budget in reference minutes (policy.LEARNER_WORK): policy's table
from bandbridge.policy import DEMO_ADAPT_MINUTES as MINUTES, DEMO_PAIR_MAX_MPIX as MAX_PAIR_MPIX
from bandbridge.policy import DEMO_PAIR_USE_MPIX as USE_MPIX
from bandbridge.spec import FLOOR_DIR, ModelSpec
from bandbridge.demo.files import check_upload
from bandbridge.demo.truth import find_truth


@dataclass
class Calibration:
    folder: Path  # the bundle adapt wrote: the calibrated model, or the model as it was
    adapted: bool  # False when the model as it was scored better and was kept
    table: str  # Markdown: adapt's out-of-fold table and what the page translates with
    seconds: float


def _names(n: int, at: dict[int, str]) -> list[str]:
    """Names for every band of a file: the model's band names at the bands ``at`` feeds, a
    neutral one elsewhere (so the model's own band selection picks exactly those)."""
    return [at.get(i, f"BAND{i + 1}") for i in range(n)]


def pair_bands(spec: ModelSpec, pair: Path, target: Path | None,
               ov: Overrides = Overrides()) -> tuple[list[str], dict]:
    """``(PAIRS, bands)`` for :func:`~bandbridge.workflows.adapt.adapt`: the pair's bands found
    as the page finds an upload's (roles, scaling), named so that the model's own selection
    reads them. ``target``: the real band as a second file, else it is found in ``pair``."""
    look = look_at(pair, ov.band_names)
    reading = interpret(pair, spec, ov, look)
    if len(set(reading.bands)) != len(reading.bands):
        raise BandbridgeError(f"{pair.name}: one band would feed several of {spec.name}'s inputs; "
                              "calibrate with an image that has each input band")
    feeds = dict(zip(reading.bands, spec.input_names))
    inp = {"bands": spec.input_names, "scaling": reading.scaling, "vmin": reading.vmin,
           "vmax": reading.vmax}
    want = ", ".join(spec.target_names)
    if target is None:
        truth = find_truth(look, reading, spec)
        if truth is None:
            raise BandbridgeError(
                f"{pair.name}: a calibration pair needs the real {want} beside the input; this "
                f"file's bands are {', '.join(look.roles)} ({look.how}): add the real band as the "
                "pair's second file")
        feeds |= dict(zip(truth.bands, spec.target_names))
        names = _names(len(look.names), feeds)
        return [str(pair)], {"input": {**inp, "band_names": names},
                             "target": {"bands": spec.target_names, "band_names": names,
                                        "scaling": truth.scaling, "vmin": truth.vmin,
                                        "vmax": truth.vmax}}
    tl = look_at(target)
    data = [i for i, r in enumerate(tl.roles) if r != "alpha"]
    roles = [band_role(b) for b in spec.target_names]
    found = [tl.roles.index(r) if r in tl.roles else None for r in roles]
    if None in found and len(data) == len(roles):  # a file of just the model's bands, in its order,
        # unless its bands are described as others (compare's own check: a red band is no real NIR)
        from bandbridge.evaluation.compare import check_stated_roles
        check_stated_roles(Path(target.name), replace(tl, roles=[tl.roles[i] for i in data]), roles, spec.name)
        found = data
    if None in found:
        raise BandbridgeError(f"{target.name}: the real band file holds {', '.join(tl.roles)} "
                              f"({tl.how}); {spec.name} makes {want}: give a file of just those")
    t = spec.target
    if FAMILY.get(t.scaling) and not same_family(tl.scaling, t.scaling):
        raise BandbridgeError(f"{target.name}: the real band looks like {tl.family or tl.why}, but "
                              f"{spec.name} makes {FAMILY[t.scaling]}; calibrate a model that "
                              "makes such values")
    scaling = tl.scaling if FAMILY.get(t.scaling) else t.scaling
    return [f"{pair}:{target}"], {
        "input": {**inp, "band_names": _names(len(look.names), feeds)},
        "target": {"bands": spec.target_names, "scaling": scaling, "vmin": t.vmin, "vmax": t.vmax,
                   "band_names": _names(len(tl.names), dict(zip(found, spec.target_names)))}}


def calibrate(folder: Path, spec: ModelSpec, pair: Path, target: Path | None, workdir: Path,
              ov: Overrides = Overrides(), within_scene: bool = False,
              minutes: float = MINUTES) -> Calibration:
    """Adapt the model in ``folder`` to the pair into ``workdir/calibrated``; the table is adapt's
    out-of-fold table (the model as it was and every learner, on the same held-out pixels).
    ``within_scene``: the image to translate is part of the pair's scene, so adapt may keep any
    learner (else, with one pair, the constant or the linear map: see workflows/adapt.py)."""
    from bandbridge.workflows.adapt import adapt
    t0 = time.perf_counter()
    info = check_upload(pair, max_mpix=MAX_PAIR_MPIX, tool="bandbridge adapt")
    if target is not None:
        check_upload(target, max_mpix=MAX_PAIR_MPIX, tool="bandbridge adapt")
    if min(info.height, info.width) < 64:
        raise BandbridgeError(f"{pair.name}: a calibration pair needs at least 64 px a side "
                              "(its rows are split into adapt, validation and test parts)")
    pairs, bands = pair_bands(spec, pair, target, ov)
    use = min(1.0, USE_MPIX * 1e6 / (info.height * info.width))
    rows = None if use == 1 else f"rows:0:{use:.4f}"  # the top rows, at most USE_MPIX
    out = workdir / "calibrated"
    res = adapt(str(folder), pairs, str(out), minutes=minutes, bands=bands,
                within_scene=within_scene, region=rows)  # the core's one thread policy: select.py
    adapted = res["summary"]["kept"] != "zero-shot"
    floor = (Path(folder) / FLOOR_DIR).is_dir()
    return Calibration(out, adapted, before_after(res["summary"], res["card"], spec.name, use, floor),
                       time.perf_counter() - t0)


def before_after(summary: dict, card: str, model: str, used: float = 1.0,
                 floor: bool = False) -> str:
    """Markdown: adapt's out-of-fold table (its bold row the kept model) and one line saying which
    model the page now translates with, in the card's words and by the name the status and the
    download give it: the bundle adapt wrote (``summary["name"]``), a copy even of the model as it
    was. ``floor``: the model as it was falls back to a floor for files of another sensor, which
    the copy, kept for what it scored on the pair, does not."""
    from bandbridge.workflows.adapt import LABELS
    keep, runs = summary["kept"], summary["name"]
    table = [ln for ln in card.splitlines() if ln.startswith("|")]
    how = next((ln[2:] for ln in card.splitlines() if ln.startswith("- Choice:")), "")
    note = summary.get("note")
    if keep == "zero-shot":
        kept = (f"{model} as it was scored better on the pair's held-out pixels than every fit "
                f"on the pair, and is kept: adapt's copy of it, **{runs}**, translates your image"
                + (" (without the fallback to its floor for files of another sensor: it was "
                   "scored without it)" if floor else "") + ".")
    else:
        kept = (f"The calibrated model, **{runs}** — {LABELS.get(keep, keep)} fitted on the "
                "pair — translates your image.")
    if summary.get("skipped"):
        how += f" Not measured within the page's {MINUTES:g} min: {', '.join(summary['skipped'])}."
    part = "the pair" if used == 1 else f"the top {used:.0%} of the pair's rows"
    return (f"**Calibrated {model} on {part}.** {kept} {how}"
            + (" " + note[0].upper() + note[1:].replace(
                "--within-scene", "tick 'the image to translate is part of the pair's scene'") + "."
               if note else "")
            + "\n\n" + "\n".join(table))
