"""The contract of a fit at the place, in types: what goes in (each kind's frozen request, built by its
command), what a kind is (:class:`Kind`, run by ``place/runner.run``), and what comes out (one
:class:`BandDecision` per output band, the tags' one source, and the :class:`Outcome`).

A leaf module: the kinds, the runner, the tags and the commands import it, and it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol


class Kind(Protocol):
    """A kind of the fit at the place (``place/kinds.KINDS``): ``plan`` makes every refusal before any work
    and returns the plan (None: nothing to do), ``fit`` returns the fitted object whose ``jobs`` the runner
    serves on the engine, ``finish`` writes the output from the engine's ``rows``."""

    name: str

    def plan(self, request, engine, say: Callable[[str], None]): ...

    def fit(self, plan, work: Path, serve: Callable[[list], list[dict]], say: Callable[[str], None], add): ...

    def finish(self, plan, fitted, rows: list[dict], say: Callable[[str], None], add): ...


@dataclass(frozen=True)
class BandDecision:
    """What a kind decided for one output band, the one source of its tags (``place/tags.py``).

    ``route`` the kind's word (``fit``, ``linear``, ``upsampled``, …) and ``words`` it in a phrase; ``heldout``
    the route's held-out MAE and ``baseline`` that of the baseline named ``baseline_name`` (the best
    upsampling, or the earlier date as it is) on the same pixels, both in ``unit`` (NaN: not measured);
    ``why`` the decision in a phrase; ``learner`` the fit's learner ("" where no fit serves the band);
    ``share`` the share of its guided route's detail the band takes and ``scale`` the test at the output's
    scale in words (``learners/transfer.py``; "" where not run); ``checks`` the route's further checks by name
    (the sharpener's: ``transfer``, its MAE one Wald step down in ``unit``, and its octaves' gains over the best
    upsampling, ``learners/octaves.py``; the fill's: every route's held-out MAE on the clear part by route, in
    ``unit``)."""

    band: str
    route: str
    words: str
    heldout: float
    baseline: float
    baseline_name: str
    unit: str
    why: str
    learner: str = ""
    share: float = 1.0
    scale: str = ""
    checks: dict[str, float] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a run did: the ``output`` written, a :class:`BandDecision` per band in the output's order, the
    engine's ``rows`` (one per job) and the run's wall ``seconds``."""

    output: Path
    decisions: list[BandDecision] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class FillRequest:
    """``bandbridge fill SCENE -o OUT …`` as the fill kind takes it (``place/fill.py``). ``later``: clear dates
    after the scene; ``sar_later``: SAR at them, in order; ``route``: this route fills the gap whatever the
    check says (``bandbridge gaps``' forced columns); ``dilate``: px the gap grows by (None: the scan's
    default)."""

    scene: str
    out: str
    earlier: tuple[str, ...] = ()
    sar: str | None = None
    sar_earlier: str | tuple[str, ...] | None = None
    mask: str | None = None
    overwrite: bool = False
    cog: bool = True
    seed: int = 0
    later: tuple[str, ...] = ()
    sar_later: tuple[str, ...] = ()
    route: str | None = None
    dilate: int | None = None

    def __post_init__(self) -> None:  # lists given as a command's options kept as tuples: the request is frozen
        for name in ("earlier", "later", "sar_later"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        if self.sar_earlier is not None and not isinstance(self.sar_earlier, str):
            object.__setattr__(self, "sar_earlier", tuple(self.sar_earlier))


@dataclass(frozen=True)
class SharpenRequest:
    """``bandbridge sharpen FINE… --reference REF -o OUT`` for targets on one grid as the sharpen kind takes it
    (``place/sharpen.py``): ``guides``/``bands`` only these; ``model`` a model whose output is one more guide
    (``-m``); ``cog`` a Cloud-Optimized GeoTIFF; ``reference_shift`` ``--reference-shift`` (``auto``, ``none`` or
    ``(dy, dx)``); ``detail`` the share of a guided route's detail every guided band takes (None: the test at
    the output's scale decides); ``network`` the bundled Sentinel-2 network offered as a route (``--network``; a
    folder: that bundle of it)."""

    fine: tuple[str, ...]
    reference: str | None  # None: FINE alone, a stack or a product (the command's ``sharpen_stack.sharpen_any``)
    output: str
    guides: tuple[str, ...] | None = None
    bands: tuple[str, ...] | None = None
    overwrite: bool = False
    model: str | None = None
    cog: bool = False
    seed: int = 0
    reference_shift: str | tuple = "auto"
    detail: float | None = None
    network: bool | str = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "fine", tuple(self.fine))
        for name in ("guides", "bands"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
