"""``bandbridge fill``'s inputs opened from their headers and paired: the scene, ``--mask``, the dates before and
after it (nearest first, a cube's nearest clear steps), and Sentinel-1 now, then, later and at every date that has
its own (``--sar-earlier``, ``--sar-later`` one per date, or a SAR cube's steps). Refusals are one line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_read import earlier_steps, sar_step
from bandbridge.inference.place.fill_rows import KNOWN_CLEAR, RowReader, open_rows
from bandbridge.learners.fill_fit import nearest_first
from bandbridge.policy import EARLIER_STEPS, SAR_DAYS


@dataclass
class Inputs:
    """Every input opened (headers only) and checked: the scene, ``--mask``, the earlier dates
    (nearest first) with their days before the scene, SAR now, then and at the nearest later date
    (``--sar-later`` paired with it, or a SAR cube's step nearest it), and the notes to say."""

    scene: RowReader
    mask: RowReader | None
    earlier: list[RowReader]
    days: list[int | None]
    sar: list[RowReader | None]
    notes: list[str] = field(default_factory=list)
    later: list[RowReader] = field(default_factory=list)
    later_days: list[int | None] = field(default_factory=list)
    earlier_sar: list[RowReader | None] = field(default_factory=list)  # per earlier date its own SAR (None: none)
    later_sar: list[RowReader | None] = field(default_factory=list)  # per later date

    def dates(self) -> tuple[list[RowReader], list[int | None]]:
        """Every date nearest first, with its days before the scene (negative: after)."""
        return nearest_first(self.earlier + self.later, self.days + [None if d is None else -d for d in self.later_days])

    def dates_sar(self) -> list[RowReader | None]:
        """Per date of :meth:`dates` (nearest first) its own SAR, None where it has none."""
        own = {id(r): s for r, s in [*zip(self.earlier, self.earlier_sar), *zip(self.later, self.later_sar)]}
        return [own.get(id(r)) for r in self.dates()[0]]

    def sar_all(self) -> list[RowReader | None]:
        """SAR now, then, later (:attr:`sar`) and after them every other date's own, each file once."""
        out = list(self.sar)
        for s in self.dates_sar():
            if s is not None and not any(s is q for q in out):
                out.append(s)
        return out

    def dated_slots(self) -> list[int | None] | None:
        """Per date (:meth:`dates`) the index of its own SAR in :meth:`sar_all`; None unless SAR now is given
        and two dates or more have their own (then the SAR of each pixel's base date is a channel)."""
        own, every = self.dates_sar(), self.sar_all()
        return None if self.sar[0] is None or sum(s is not None for s in own) < 2 else \
            [None if s is None else next(k for k, q in enumerate(every) if q is s) for s in own]


def known_clear(items: list[str]) -> tuple[list[str], set[str]]:
    """``-e FILE#clear`` (``--later`` too): a date the user knows is clear, which needs no cloud mask; ``items``
    without the mark, and those that bore it."""
    plain = [x[:-len(KNOWN_CLEAR)] if x.lower().endswith(KNOWN_CLEAR) else x for x in items]
    return plain, {p for p, x in zip(plain, items) if p != x}


def open_inputs(scene: str, earlier: list[str], sar: str | None, sar_earlier: str | list[str] | None,
                mask: str | None, later: list[str] = (), sar_later: list[str] = (),
                clear: set[str] = frozenset()) -> Inputs:
    """Every input's header opened and the flags checked; ``sar_earlier``: SAR at the nearest earlier date, or one
    per ``--earlier`` in order; ``sar_later``: one per ``later`` date, in order; ``clear``: the dates known clear
    (:func:`known_clear`; ``check_sar_later`` passed). SAR "then" is the nearest earlier date's, "later" the nearest
    later date's."""
    pairs = [x for x in ([sar_earlier] if isinstance(sar_earlier, str) else sar_earlier or []) if x]
    if len(pairs) > max(len(earlier), 1):
        raise BandbridgeError(f"--sar-earlier {pairs[len(earlier)]}: {len(pairs)} --sar-earlier for {len(earlier)} "
                              "--earlier; give one --sar-earlier, or one per --earlier date in the same order")
    sar_earlier = pairs[0] if pairs else None
    if not earlier and sar_earlier:
        raise BandbridgeError(f"--sar-earlier {sar_earlier}: given without --earlier; give the earlier clear scene "
                              "it stands beside with --earlier too")
    if sar_earlier and not sar:
        raise BandbridgeError(f"--sar-earlier {sar_earlier}: given without --sar; give the scene's own SAR with "
                              "--sar too")
    s = open_rows(scene, "")
    when = s.layer.when
    dated = []
    for k, item in ((k, x) for k, e in enumerate(earlier) for x in earlier_steps(s.layer, e, EARLIER_STEPS)):
        r = open_rows(item, "--earlier", known_clear=earlier[k] in clear)
        days = (when - r.layer.when).days if when and r.layer.when else None
        if days is not None and days <= 0:
            raise BandbridgeError(f"--earlier {item}: dated {r.layer.when}, not before the scene's {when}; give a "
                                  "date before the scene (are the scene and --earlier swapped?)")
        dated.append((r, days, k))
    dated.sort(key=lambda t: (t[1] is None, t[1] or 0))  # nearest first: the base is, per pixel, the nearest
    out = Inputs(s, open_rows(mask, "--mask", False) if mask else None, [d[0] for d in dated], [d[1] for d in dated],
                 [None, None, None])
    for item in later:
        if is_cube(item) and not parse_ref(item).date:
            raise BandbridgeError(f"--later {item}: a cube without its date; name the step after the scene "
                                  "(cube.nc@DATE), one --later per date")
        r = open_rows(item, "--later", known_clear=item in clear)
        days = (r.layer.when - when).days if when and r.layer.when else None
        if days is None or days <= 0:
            raise BandbridgeError(f"--later {item}: dated {r.layer.when or 'nowhere'}, not after the scene's "
                                  f"{when or '(no date)'}; give a date after the scene (both dated: the interpolation "
                                  "weighs them by days)")
        out.later.append(r)
        out.later_days.append(days)
    if sar:
        out.sar[0] = _sar(sar, when, "--sar", out.notes)
        if sar_earlier:
            then = pairs[dated[0][2]] if len(pairs) > 1 else sar_earlier
            out.sar[1] = _sar(then, dated[0][0].layer.when, "--sar-earlier", out.notes)
            a, b = out.sar[0].layer.when, out.sar[1].layer.when  # swapped, the change would be read backwards
            if a and b and a < b:
                raise BandbridgeError(f"--sar {sar}: dated {a}, before --sar-earlier {then}'s {b}; --sar is the "
                                      f"scene's date's ({when or '?'}), --sar-earlier the earlier date's "
                                      f"({dated[0][0].layer.when or '?'}): are the two swapped?")
        paired = range(len(sar_later)) if sar_later else range(len(later)) if _series(sar) else range(0)
        out.sar[2] = _later_sar(out, min(paired, key=lambda k: out.later_days[k]), sar, sar_later, when) \
            if paired else None  # SAR "later": the nearest later date's that has one
        _every_date(out, dated, pairs, sar, sar_later, when)
    return out


def _every_date(inp: Inputs, dated: list, pairs: list[str], sar: str, sar_later: list[str], when) -> None:
    """Each date's own SAR: its ``--sar-earlier`` (``--sar-later``) where one is given per date, the
    nearest earlier (later) date's SAR then (later), or where ``--sar`` is a time-series cube its step nearest
    the date (not the scene's own)."""
    cube = _series(sar)
    for i, (r, _, k) in enumerate(dated):
        item = pairs[k] if len(pairs) > 1 else None
        own = inp.sar[1] if i == 0 else None
        if own is None and item is None and cube and sar_step(r.layer.when, sar) != sar_step(when, sar):
            item = sar
        inp.earlier_sar.append(own if own is not None else _sar(item, r.layer.when, "--sar-earlier" if item != sar
                                                                else "--sar", inp.notes) if item else None)
    nearest = min(range(len(inp.later)), key=lambda j: inp.later_days[j]) if inp.later else None
    inp.later_sar += [inp.sar[2] if j == nearest and inp.sar[2] is not None else
                      _later_sar(inp, j, sar, sar_later, when) for j in range(len(inp.later))]


def check_sar_later(later: list[str], sar: str | None, sar_later: list[str]) -> None:
    """Refuse ``--sar-later`` without ``--later`` or ``--sar``, or more of them than ``--later`` dates."""
    if not sar_later:
        return
    what = f"--sar-later {sar_later[0]}"
    if not later:
        raise BandbridgeError(f"{what}: given without --later; give the later clear scene it stands beside with "
                              "--later (one --sar-later per --later, in the same order)")
    if len(sar_later) > len(later):
        raise BandbridgeError(f"--sar-later {sar_later[len(later)]}: {len(sar_later)} --sar-later for {len(later)} "
                              "--later; give one --sar-later per --later date, in the same order")
    if not sar:
        raise BandbridgeError(f"{what}: given without --sar; give the scene's own SAR with --sar too (the fit reads "
                              "SAR later as its change since the scene)")


def _series(sar: str) -> bool:
    """Whether ``--sar`` is a time-series cube (every date in it)."""
    return is_cube(sar) and not parse_ref(sar).date


def _later_sar(inp: Inputs, j: int, sar: str, sar_later: list[str], when) -> RowReader | None:
    """The ``j``-th later date's own SAR: its ``--sar-later`` (paired in order), or where ``--sar`` is a
    time-series cube, its step nearest that date (None where that is the scene's own)."""
    target = inp.later[j].layer.when
    if j < len(sar_later):
        return _sar(sar_later[j], target, "--sar-later", inp.notes)
    if _series(sar) and sar_step(target, sar) != sar_step(when, sar):
        return _sar(sar, target, "--sar", inp.notes)
    return None


def _sar(item: str, target, flag: str, notes: list[str]) -> RowReader:
    r = open_rows(sar_step(target, item), flag, False)
    when = r.layer.when
    if when and target and abs((when - target).days) > SAR_DAYS:
        notes.append(f"{flag} {item}: dated {when}, {abs((when - target).days)} days from {target} (the gain from "
                     f"SAR was measured within {SAR_DAYS}); the held-out check still decides")
    return r
