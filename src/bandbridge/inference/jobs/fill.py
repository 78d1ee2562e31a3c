"""``bandbridge fill`` as one job: every input checked and read onto the scene's grid
(``fill_read.py``) before any work, the gap filled by the route that held out best
(``learners/gapfill.py``), then the scene written once through the one writer
(``inference/core/outputs.opened``: temporary name, COG, read back, renamed into place).

The output holds the scene's data bands in their own type and units, on its own grid, with the gap
filled, and one more band, ``FILLED``: 1 where the scene is as observed, 2 where this filled it,
0 where neither (no data, or a gap pixel no earlier date is clear at). Its tags say the route, why,
and every route's held-out MAE on the clear part (``BANDBRIDGE_FILL_*``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from rasterio.windows import Window

from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_output_file
from bandbridge.inference.core.outputs import opened
from bandbridge.inference.core.writer import output_profile
from bandbridge.inference.jobs.fill_read import (earlier_on, earlier_steps, gap_of, read_layer, sar_on, sar_step,
                                                 snow_is_ground)
from bandbridge.learners.gapfill import Filled, Stack, fill
from bandbridge.policy import FILL_SNOW_MIN, SAR_DAYS

OBSERVED, FILLED = 1, 2  # the FILLED band's codes (0: no data, neither)
EARLIER_STEPS = 3  # a time-series cube as --earlier: its nearest steps before the scene that are
# at least half clear (a judgement: the nearest clear one per pixel is the base, and the held-out
# check decides whether the others help as features)


@dataclass
class FillJob:
    """A fill, read and checked: the stack on the scene's grid and what the lines say of it."""

    stack: Stack
    scene: object  # fill_read.Layer
    masked_by: str
    notes: list[str]


SAR_ALONE = ("none: the gap from Sentinel-1 alone, fitted on the clear part where that holds out better than a "
             "constant, else left as observed (on the WorldCereal protocol SAR alone scored 0.0314 against 0.0232 "
             "for an earlier date's per-band map: give an earlier clear date with --earlier where you have one)")


def prepare(scene: str, earlier: list[str], sar: str | None = None, sar_earlier: str | None = None,
            mask: str | None = None) -> FillJob | None:
    """Every input read onto ``scene``'s grid and checked (one line, :class:`BandbridgeError`,
    on a mistake); None when the gap holds no pixel (nothing to do)."""
    s = read_layer(scene, "")
    if not s.valid.any():
        raise BandbridgeError(f"{scene}: every pixel is no data; give a scene that holds data")
    clear, gap, by = gap_of(s, mask)
    if not gap.any():
        return None
    if not earlier and not sar:
        raise BandbridgeError(f"{scene}: {int(gap.sum()):,} pixel(s) to fill and no --earlier; give an earlier "
                              "clear scene of the place with --earlier (or at least the scene's Sentinel-1 with --sar)")
    if not earlier and sar_earlier:
        raise BandbridgeError(f"--sar-earlier {sar_earlier}: given without --earlier; give the earlier clear scene "
                              "it stands beside with --earlier too")
    # nearest first: the base is, per pixel, the nearest date clear there
    items = [x for e in earlier for x in earlier_steps(s, e, EARLIER_STEPS)]
    snow_ok, dropped = snow_is_ground(s, clear), []
    dated = sorted((earlier_on(s, e, snow_ok, dropped) for e in items), key=lambda t: (t[1] is None, t[1] or 0))
    dated = [d for d in dated if np.isfinite(d[0]).all(0)[s.valid].any()]  # not all snow
    if not earlier:  # SAR alone: no pixel has an earlier date, so gapfill fits SAR where it holds out
        dated = [(np.full(s.values.shape, np.nan, np.float32), None, None)]
    elif not dated:
        raise BandbridgeError(f"--earlier {earlier[0]}: every clear pixel of it is SCL snow, and the scene's clear "
                              f"part shows none (under {FILL_SNOW_MIN:.0%}): no picture of the ground; give an "
                              "earlier date without snow")
    notes = [f"the gap: {int(gap.sum()):,} pixel(s) ({gap.mean():.0%}) by {by}, dilated; "
             f"{int(clear.sum()):,} clear pixel(s) to fit on",
             "earlier: " + (", ".join(f"{w or '?'} ({'?' if d is None else d} d before)" for _, d, w in dated)
                            if earlier else SAR_ALONE)]
    if dropped:
        notes.append(f"snow: SCL calls {float(s.snow[clear].mean()):.1%} of the scene's clear part snow (under "
                     f"{FILL_SNOW_MIN:.0%}), so earlier snow is not taken for the ground under the gap: "
                     + ", ".join(f"{w or '?'} ({share:.0%} of it)" for w, share in dropped))
    now = then = None
    if sar_earlier and not sar:
        raise BandbridgeError(f"--sar-earlier {sar_earlier}: given without --sar; give the scene's own SAR with "
                              "--sar too")
    if sar:
        now, when = sar_on(s, sar_step(s.when, sar), "--sar")
        _near(notes, "--sar", sar, when, s.when)
        if sar_earlier:
            then, when = sar_on(s, sar_step(dated[0][2], sar_earlier), "--sar-earlier")
            _near(notes, "--sar-earlier", sar_earlier, when, dated[0][2])
    stack = Stack(s.values.copy(), clear, gap, [d[0] for d in dated], [d[1] for d in dated], now, then)
    return FillJob(stack, s, by, notes)


def _near(notes: list[str], flag: str, item: str, when, target) -> None:
    """A note where the SAR's date is more than :data:`~bandbridge.policy.SAR_DAYS` from the
    optical date it stands beside (the SAR gain was measured within that)."""
    if when and target and abs((when - target).days) > SAR_DAYS:
        notes.append(f"{flag} {item}: dated {when}, {abs((when - target).days)} days from {target} (the gain from "
                     f"SAR was measured within {SAR_DAYS}); the held-out check still decides")


def run_fill(scene: str, out: str, earlier: list[str], sar: str | None = None, sar_earlier: str | None = None,
             mask: str | None = None, overwrite: bool = False, cog: bool = True, seed: int = 0,
             say: Callable[[str], None] = print) -> Filled | None:
    """Fill ``scene``'s cloud gap and write it to ``out``; None (nothing written) when there is no
    gap. ``say`` hears each line (the notes, the route, the held-out errors)."""
    dest = Path(out)
    inputs = [Path(str(p).split("@")[0]) for p in [scene, *earlier, sar, sar_earlier, mask] if p]
    check_output_file(dest, inputs, overwrite)
    job = prepare(scene, earlier, sar, sar_earlier, mask)
    if job is None:
        say(f"{scene}: no cloud, shadow or masked pixel: nothing to fill, nothing written")
        return None
    for n in job.notes:
        say(n)
    done = fill(job.stack)
    if not earlier:  # SAR alone: the route is the SAR fit or nothing, not an earlier date's
        said = done.why.split("; ", 1)
        done.route, done.why = (("sar", said[1]) if len(said) > 1 and not done.unfillable else
                                ("none", "no earlier date, and SAR alone did not hold out better than a constant on "
                                 "the clear part (or it is too small to fit on): the gap left as observed"))
    say(f"route: {done.why}")
    if done.unfillable:
        say(f"{done.unfillable:,} gap pixel(s) have no clear earlier date: left as observed, FILLED 0 there")
    write(job, done, dest, overwrite, cog)
    say(f"written to {dest}")
    return done


def _stored(values: np.ndarray, dtype: str, nodata: float | None, valid: np.ndarray) -> np.ndarray:
    """Float values in the scene's type: rounded and clipped to its range for integers (above the
    nodata value where that is the type's floor), NaN → nodata."""
    if np.dtype(dtype).kind == "f":
        return np.where(valid, values, np.nan).astype(np.float32 if dtype == "float64" else dtype)
    info = np.iinfo(dtype)
    lo = info.min + 1 if nodata is not None and nodata == info.min else info.min
    v = np.clip(np.rint(np.nan_to_num(values, nan=0)), lo, info.max)
    return np.where(valid, v, nodata if nodata is not None else 0).astype(dtype)


def write(job: FillJob, done: Filled, dest: Path, overwrite: bool, cog: bool = True) -> None:
    """The filled scene and its ``FILLED`` band through the one writer (atomic, COG)."""
    s = job.scene
    dtype = "float32" if s.dtype in ("float64", "float16") else s.dtype
    valid = s.valid | done.filled
    code = np.where(done.filled, FILLED, np.where(s.valid & ~job.stack.gap, OBSERVED, 0))
    h, w = valid.shape
    prof = output_profile(s.grid.crs, s.grid.transform, h, w, len(s.names) + 1, dtype)
    if s.nodata is not None and np.isfinite(s.nodata):
        prof["nodata"] = s.nodata
    if dtype != "float32":  # integer nodata below the FILLED codes' range would hide "observed"
        prof["nodata"] = prof.get("nodata", 0)
    data = _stored(done.values, dtype, prof.get("nodata"), valid)
    code = code.astype(dtype)

    def setup(r) -> None:
        r.main.descriptions = (*s.names, "FILLED")
        r.main.update_tags(**tags(job, done))

    try:
        with opened([dest], prof, {}, overwrite, cog=cog, setup=setup) as r:
            r.write(Window(0, 0, w, h), np.concatenate([data, code[None]]), [], valid)
    except BandbridgeError:
        raise
    except Exception as e:  # noqa: BLE001 - the writer's own failures are one line already
        raise BandbridgeError(f"--output {dest}: writing failed ({e})") from None


def tags(job: FillJob, done: Filled) -> dict[str, str]:
    """What the output says of the fill (GDAL metadata)."""
    t = {"BANDBRIDGE_FILL_ROUTE": done.route, "BANDBRIDGE_FILL_WHY": done.why,
         "BANDBRIDGE_FILL_MASK": job.masked_by, "BANDBRIDGE_FILL_PIXELS": str(int(done.filled.sum())),
         "BANDBRIDGE_FILL_CLEAR_PIXELS": str(done.clear_pixels),
         "BANDBRIDGE_FILL_EARLIER_DAYS": "none" if done.route in ("sar", "none") else  # no earlier date given
         ",".join("?" if d is None else str(d) for d in job.stack.days),
         "BANDBRIDGE_FILL_SAR": "now and then" if job.stack.sar_then is not None else
         "now" if job.stack.sar_now is not None else "none",
         "BANDBRIDGE_FILL_BAND": f"FILLED: {OBSERVED} observed, {FILLED} filled, 0 no data"}
    for k, v in done.mae.items():
        t[f"BANDBRIDGE_FILL_MAE_{k.upper().replace('-', '_')}"] = f"{v:.6g}"
    if done.chosen:
        t["BANDBRIDGE_FILL_LEARNER"] = f"{done.chosen} on {done.features}"
    return t
