"""What ``bandbridge fill`` plans before any work but the scan: its own lines (the gap, the dates, what the bundle
reads) and the one plan block (``place/plan.Block``: the route as the plan can tell it, the backend and tiles the
fit's bundle will run on, which the run then records, and the memory it is planned under, :func:`memory`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bandbridge.inference.core.tiling import plan_tiles
from bandbridge.inference.place.engine import OVERLAP, decide, strip_bytes, tile_for, where
from bandbridge.inference.place.fill_strips import ROWS
from bandbridge.inference.place.plan import Block, Disk, Memory
from bandbridge.learners.fill_regions import plan_text
from bandbridge.policy import FILL_FIT_BYTES, FILL_FIT_PX_BYTES, FORWARD_PX


def memory(h: int, w: int, bands: int, dates: int, sar: int, resident: float, tile: int, scanned: bool = False,
           regions: bool = False) -> Memory:
    """The run's memory plan (bytes): ``resident`` (now); held to the end, the whole-scene masks (5 B a pixel, 8
    before the scan, 1 more for ``regions``); then the flags' pass (two strips of every input, the dates, base and
    interpolation, float32 ×1.5), the fit (:data:`FILL_FIT_BYTES`, :data:`FILL_FIT_PX_BYTES` a pixel) and the
    engine (a ``tile``-high strip of stack and output ×3, one forward of :data:`FORWARD_PX`: stack, design ×3,
    five features a channel, float32 ×2)."""
    channels = bands * max(dates, 1) + sar
    raw = bands * dates + sar + 1
    strip = 2 * 1.5 * 4 * ROWS * w * (bands * (2 * dates + 3) + sar)
    engine = (strip_bytes(tile + 2 * OVERLAP, w, raw + bands)
              + 2 * 4 * FORWARD_PX * (raw + 3 * channels + 5 * channels))
    held = (5.0 if scanned else 8.0) * h * w + float(regions) * h * w
    return Memory(resident, held, {"the flags' pass": strip, "the fit": FILL_FIT_BYTES + FILL_FIT_PX_BYTES * h * w,
                                   "the engine's tiles": engine})


@dataclass
class FillPlan:
    """A fill as planned (``place/runner``'s plan): the output, the block, the kind's own lines and
    what the fit starts from (the scan ``sc``, the opened inputs ``inp``, the request)."""

    output: Path
    block: Block
    said: list[str]
    sc: object
    inp: object
    request: object
    has_earlier: bool
    found_tags: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The kind's own lines, what the fit's bundle reads (``fill_stack.py``: the inputs as they are, or written
        onto the scene's grid first), then the block."""
        from bandbridge.inference.place.fill_stack import direct
        readers = self.inp.dates()[0] + [s for s in self.inp.sar_all() if s is not None]
        copied = [f"{r.flag} {r.item}" for r in readers if not direct(r, self.sc.scene.layer.grid)]
        return [*self.said, "stack: the fit's bundle reads a VRT of the inputs and a flag raster of 1-2 bytes a pixel "
                "(which dates are clear, which SAR values hold), its design computed per tile: no copy of the tile"
                + (f"; written onto the scene's grid first (a cube's time step or a .npy: GDAL names no other): "
                   f"{', '.join(copied)}" if copied else ""), *self.block.lines()]


def block(sc, inp, engine) -> Block:
    """The fill's plan block: its route as the plan can tell it, the backend (``engine.decide`` for
    the gap), the tiles holding the gap and the memory (:func:`memory`, after the scan)."""
    from bandbridge.inference.runtime.memory import resident_bytes
    h, w = sc.valid.shape
    tile = tile_for(h, w)
    p = plan_tiles(h, w, tile, OVERLAP)  # the engine's tiling: how many tiles hold a gap pixel
    hit = sum(bool(sc.gap[r:r + p.tile_h, c:c + p.tile_w].any()) for r in p.rows for c in p.cols)
    nd, sar = len(inp.earlier), sum(n for n, s in zip((2, 4, 4), inp.sar) if s is not None)  # now, then, later
    sar += 4 if inp.dated_slots() else 0  # the SAR of each pixel's base date and its change
    mem = memory(h, w, len(inp.scene.layer.names), nd, sar, float(resident_bytes() or 0), tile, scanned=True,
                 regions=bool(inp.earlier) and bool(inp.later))
    route = ("per gap region, by the dates clear there (known once they are read), the candidate that holds out "
             "best on the clear pixels of the same kind: " + plan_text(bool(inp.earlier), bool(inp.later))
             + ("; no date clear: the SAR fit where it holds out better than a constant, else left"
                if inp.sar[0] is not None else ""))
    return Block(route, decide(int(sc.gap.sum()), engine), tile, where(engine), mem,
                 f"{hit} of {p.n_tiles} tile(s) hold gap pixels: only they (and those round the gap's edge the edge "
                 "pass reads) are predicted", disk(sc, inp))


def disk(sc, inp) -> Disk:
    """The fill's work files (``fill.py``'s ``work``): the flag raster (2 B a pixel) and the tiles' masks (1 B each),
    the fit's output (float32 a band, the scene's grid) and the SAR fit's, and every input the VRT cannot name
    as it is, written onto the scene's grid first (``fill_stack.direct``: float32 a band)."""
    from bandbridge.inference.place.fill_stack import direct
    h, w = sc.valid.shape
    px, bands = float(h * w), len(inp.scene.layer.names)
    readers = inp.dates()[0] + [s for s in inp.sar_all() if s is not None]
    copied = sum(len(r.data) for r in readers if not direct(r, sc.scene.layer.grid))
    return Disk({"the flag raster and masks": 4 * px, "the fit's output": 4 * px * bands,
                 "the SAR fit's output": 4 * px * bands if inp.sar[0] is not None else 0.0,
                 "inputs written onto the scene's grid": 4 * px * copied})
