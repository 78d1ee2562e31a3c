"""The sharpener's work file and last pass, :data:`~bandbridge.inference.core.outputs.ROWS` rows at
a time, through the one writer (``core/outputs.py``):

- the **work file** the fit's bundle reads: the targets' upsampled reference (cubic, the fit's
  anchor) then the guides, in model values, on the finest guide's grid;
- the **output**: each band by its route — the engine's output for a fitted band, the reference
  upsampled by one of ``upsampling.UPSAMPLERS`` for the others — with the **consistency
  correction** where the band's check kept it (the residual ``r − mean_k(output)`` of every clear
  cell, the cell means gathered in a first pass, interpolated bilinearly onto the rows, and what
  the interpolated residual's own cell means miss added flat per cell: exact), kept in the band's range
  (``reference_finish.band_bounds``, predict's rule too) and stored in the reference's type, scale and
  offset, one band per target, tagged per band; nodata where a guide is unknown or the reference's cell
  is (cloud, fill: nothing to sharpen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bandbridge.data.grids import Grid, residual
from bandbridge.inference.core.outputs import Strip, opened, write_strips
from bandbridge.inference.core.writer import FAST_DEFLATE, nodata_of, output_profile
from bandbridge.inference.place.bundle import Part
from bandbridge.inference.place.fields import FAST, Lattice, read_rows, write_rows
from bandbridge.inference.place.reference_finish import band_bounds, clamped
from bandbridge.learners.sharpen_network import NETWORK

# the fit's, the network's and both's (one pass: :func:`bundles`) outputs in the run's work folder
FIT_OUT, NETWORK_OUT, BOTH_OUT = "first.tif", "network.tif", "both.tif"


def write_channels(g, gunits, s, out: Path, beside=None) -> Path:
    """The bundle's input: ``s``'s filled reference upsampled (cubic; on a lattice with its edge cells
    held beyond the edge, as the fit's own anchor was made) onto the guides' grid, then the guides
    (``g.read``) in model values (``gunits``), float32, NaN where a guide is unknown; then ``beside``'s bands
    (``sharpen_network.Beside``: what the network reads beside the guides) upsampled the same way."""
    from bandbridge.policy import REFERENCE_UPSAMPLING
    fine = g.fine
    nb = 0 if beside is None else len(beside.names)
    prof = output_profile(fine.crs, fine.transform, fine.height, fine.width, s.filled.shape[0] + len(g.bands) + nb,
                          "float32", 1, FAST)
    prof["interleave"] = "band"  # each band's blocks its own: written in parts, read with no transposition
    lattice = Lattice.of(fine, s.grid)
    near = None if beside is None else Lattice.of(fine, beside.grid)
    return write_rows(out, prof, lambda a, b: (lattice.up(s.filled, a, b, REFERENCE_UPSAMPLING),
                                               gunits.to_model(g.read(a, b)[0], inplace=True))
                      + (() if near is None else (near.up(beside.values, a, b, REFERENCE_UPSAMPLING),)))


class Rows:
    """The output's rows in model values, band by band by route, before and after the correction."""

    def __init__(self, plan, s, first: Path | None, coarse: tuple[np.ndarray, np.ndarray] | None = None,
                 network: Path | None = None):
        self.g, self.s, self.first, self.network = plan.guides, s, first, network
        self.fine: Grid = plan.guides.fine
        self.res = None
        self.known: tuple[int, int, np.ndarray] | None = None  # the last rows raw() read the guides' validity of
        self.lattice = Lattice.of(self.fine, s.grid)
        if any(b.corrected for b in s.bands):  # each cell's mean of the uncorrected output: a first pass, or none
            m = self.cell_means(coarse)
            if m is None:
                m, _ = self.lattice.means(lambda a, b: (lambda v: (v, np.isfinite(v).all(0)))(self.raw(a, b)))
            self.res = residual(s.filled, m, s.seen[None])
            del m  # not held through the residual's own pass below
            # what the smooth residual's own cell means miss, added flat per cell: the output then averages
            # back to the reference exactly (the bilinear residual alone left up to 119 DN on a test band)
            u = np.nan_to_num(self.lattice.up_means(self.res, "bilinear"), copy=False)
            self.rest = np.subtract(self.res, u, out=u).astype(np.float32, copy=False)

    def cell_means(self, coarse: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
        """``(Ct, h, w)``: each cell's mean of :meth:`raw`'s bands with no pass over the fine grid, where
        that is exact (None where not): on a lattice, no band from the engine, and, where a band takes
        its line, the guides valid on every pixel (``coarse``: their cell means in stored values and
        cover, ``sharpen.decided``'): a line is affine, so its cell mean is the line of the guides'
        cell means; an interpolation's is :meth:`Lattice.up_means` (no second read of the guides)."""
        s, lat = self.s, self.lattice
        if coarse is None or not isinstance(lat, Lattice) or any(b.base in ("fit", NETWORK) for b in s.bands):
            return None
        lined = [i for i, b in enumerate(s.bands) if b.base == "regression"]
        x_c, cover = coarse
        if lined and not np.array_equal(np.round(cover * lat.k ** 2), lat.pixels_per_cell()):
            return None  # a guide unknown somewhere: the line's cells average over fewer pixels than the cell's
        m = np.empty(s.filled.shape, np.float32)
        if lined:
            m[lined] = s.lines.apply(s.guide_units.to_model(x_c))[lined]
            if getattr(s, "low", None) is not None:
                m[lined] += lat.up_means(s.low[lined], "cubic")
        for i, b in enumerate(s.bands):
            if b.base != "regression":
                m[i] = lat.up_means(s.filled[i:i + 1], b.base)[0]
            elif b.share < 1:  # a share of the line's detail: the cell mean of the blend is the blend of the means
                u = lat.up_means(s.filled[i:i + 1], plain_upsampling(b))[0]
                m[i] = u + b.share * (m[i] - u)
        return m

    def raw(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` of every band by its route, uncorrected ``(Ct, b − a, W)``."""
        s = self.s
        out = np.empty((len(s.bands), b - a, self.fine.width), np.float32)
        fitted = net = None
        lined = [i for i, band in enumerate(s.bands) if band.base == "regression"]
        if lined:  # the bands' lines on the guides' rows (learners/sharpen_routes.py), every band's in one product
            xs = self.g.read(a, b)[0]
            self.known = (a, b, np.isfinite(xs).all(0))
            on = s.lines.apply(s.guide_units.to_model(xs))  # every band's at once (a band at a time: 6×)
            low = None if getattr(s, "low", None) is None else self.lattice.up(s.low[lined], a, b, "cubic")
            for j, i in enumerate(lined):  # band by band in place: no strip-sized copy of a fancy index
                out[i] = on[i]
                if low is not None:  # the lines' low-pass: the reference less the line averaged
                    out[i] += low[j]
        for i, band in enumerate(s.bands):
            if band.base == "fit":
                fitted = fitted or self.engine(self.first, a, b, False)
                out[i] = fitted[0][fitted[1][i]]
            elif band.base == NETWORK:  # the network's bundle's output (place/sharpen_network.py)
                net = net or self.engine(self.network, a, b, True)
                out[i] = net[0][net[1][i]]
            elif band.base != "regression":  # an upsampling (upsampling.UPSAMPLERS)
                out[i] = self.lattice.up(s.filled[i:i + 1], a, b, band.base)[0]
            if band.guided and band.share < 1:  # the share of the route's detail the output's scale supports
                u = self.lattice.up(s.filled[i:i + 1], a, b, plain_upsampling(band))[0]
                out[i] -= u  # u + share·(out − u), in place: the same operations, no strip-sized temporaries
                out[i] *= band.share
                out[i] += u
        return out

    def engine(self, path: Path, a: int, b: int, network: bool) -> tuple[np.ndarray, dict[int, int]]:
        """Rows ``[a, b)`` of an engine's output ``(n, b − a, W)`` for the ``n`` targets that take it, and each one's
        place in it: only their bands are read, of the file's own or, where the fit and the network ran as one
        bundle (``sharpen.bundles``: the fit's bands, then the network's), of its half (the pair's strip whole:
        twice a strip's bytes, 0.54 GB at 10980²)."""
        s = self.s
        want = [i for i, band in enumerate(s.bands) if band.base == (NETWORK if network else "fit")]
        half = len(s.bands) if network and self.first == self.network else 0
        v = read_rows(path, self.fine.width, a, b, [half + i + 1 for i in want])
        self.known = (a, b, np.isfinite(v).all(0))
        return v, {i: j for j, i in enumerate(want)}

    def guided(self, a: int, b: int) -> np.ndarray:
        """``(b − a, W)``: where every guide is known on rows ``[a, b)``. The engine's output is NaN
        exactly there (its reader's mask of the work file, whose guides are NaN where unknown), as are
        the guides a line reads: the rows :meth:`raw` read last say it, and the guides are read again
        only where no band read them."""
        if self.known is not None and self.known[:2] == (a, b):
            return self.known[2]
        return self.g.read(a, b)[1]

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` with the correction where a band's check kept it (model values): the
        residual interpolated bilinearly, and what its cell means miss, flat per cell."""
        v = self.raw(a, b)
        if self.res is not None:  # a band at a time, on a view of the field: a list's index copied the whole field
            for i in (i for i, band in enumerate(self.s.bands) if band.corrected):  # at every strip (10980²: 0.72 GB)
                fix = self.lattice.up(self.res[i:i + 1], a, b, "bilinear")[0]
                fix += self.lattice.up(self.rest[i:i + 1], a, b, "nearest")[0]
                v[i] += fix
        return v


def plain_upsampling(band) -> str:
    """The interpolation a guided band's detail is measured from (the upsampled route it had without the
    guides, else the best held out), with no correction: what a share of 0 leaves."""
    return (band.unguided or best_upsampling(band)).removesuffix("+correction")


def stored_units(t) -> list[str]:
    """Each target's stored unit, the one every number on a line carries: ``DN`` for an integer type, else
    its units tag (``K``, ``reflectance``), else ``stored units``."""
    if np.dtype(t.dtype).kind in "iu":
        return ["DN"] * len(t.names)
    return [(t.units[i] if i < len(t.units) and t.units[i] else "stored units") for i in range(len(t.names))]


def best_upsampling(band) -> str:
    """The upsampled route (``+correction`` or not) of ``band`` (``learners/sharpen.BandRoute``) that
    held out best at the reference's scale."""
    from bandbridge.learners.sharpen import UPSAMPLERS
    return min((m for m in band.heldout if m.startswith(UPSAMPLERS)), key=band.heldout.get)


def decisions(s, units: list[str]) -> list:
    """Each target's decision (``place/contract.BandDecision``) from the sharpener's ``s``
    (``learners/sharpen.Sharpening``), its errors in the reference's stored ``units``; its baseline the
    upsampling it takes without the guides (the best held out, or the one it had before its line)."""
    from bandbridge.inference.place.contract import BandDecision
    from bandbridge.learners.sharpen import route_words
    out = []
    for b, u in zip(s.bands, units):
        own = b.unguided or best_upsampling(b)
        fitted = s.fitted and b.base == "fit"  # what the fit's learner serves; the network's band: the network
        learner = s.chosen if fitted else "s2-residual (the bundled Sentinel-2 network)" if b.base == NETWORK else ""
        out.append(BandDecision(b.name, b.route, route_words(b.route), b.stored(), b.stored(own), own, u, b.why,
                                learner, b.share, b.scale if b.guided else "",
                                {"transfer": b.stored(scale="transfer"), **b.octaves, **b.checks}))
    return out


def value_bounds(t) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` each written band of the targets ``t`` is kept within (``reference_finish.band_bounds``)."""
    ends = [(float(np.min(v, where=t.valid, initial=np.inf)), float(np.max(v, where=t.valid, initial=-np.inf)))
            for v in t.values]  # each band's extremes (no float64 copy of its clear cells)
    signed = [bool(t.valid.any()) and min(a * sc + of, b * sc + of) < 0  # a negative physical value (dB, °C):
              for (a, b), sc, of in zip(ends, t.scales, t.offsets)]  # then it is not clipped at 0
    return band_bounds(t.values, t.valid, t.k, t.dtype, t.scales, t.offsets, signed, t.bits)


def finish(plan, s, first: Path | None, bounds: tuple[np.ndarray, np.ndarray], tick=lambda: None,
           coarse: tuple[np.ndarray, np.ndarray] | None = None, network: Path | None = None) -> None:
    """Write ``plan``'s output from the decision ``s`` (and the engine's output ``first`` where a band took
    the fit, ``network`` where one took the network), within ``bounds`` (:func:`value_bounds`); ``coarse``:
    :meth:`Rows.cell_means`'s."""
    from bandbridge.inference.place.tags import write as write_tags
    from bandbridge.learners.octaves import words
    t, fine = plan.targets, plan.guides.fine
    rows = Rows(plan, s, first, coarse, network)
    lo, hi = bounds
    unit = stored_units(t)
    nodata = nodata_of(t.dtype, t.nodata)
    main = output_profile(fine.crs, fine.transform, fine.height, fine.width, len(t.names), t.dtype, 1, FAST_DEFLATE)
    extra = output_profile(fine.crs, fine.transform, fine.height, fine.width, 1, "float32", 1, None)

    def setup(r) -> None:
        r.main.descriptions = tuple(t.names)
        r.main.scales, r.main.offsets = list(t.scales), list(t.offsets)
        if any(t.units):
            r.main.units = tuple(t.units)
        write_tags(r.main, "sharpen", decisions(s, unit))
        for i, b in enumerate(s.bands, 1):
            r.main.update_tags(i, bandbridge_heldout_scale=f"the reference's own cells (its stored unit: {unit[i - 1]})",
                               bandbridge_shift=plan.registered or "not measured",
                               bandbridge_range=f"{lo[i - 1]:.6g} to {hi[i - 1]:.6g} {unit[i - 1]}",
                               bandbridge_octaves=words(b.octaves))
        r.main.update_tags(bandbridge_reference=Path(t.path).name, bandbridge_reference_bands=",".join(t.names),
                           bandbridge_guides=",".join(plan.guides.names), bandbridge_k=f"{t.k:.3f}",
                           bandbridge_learner=s.chosen if s.fitted else "none (no band took the fit)",
                           bandbridge_shift=plan.registered or "not measured")

    seen = t.valid.astype(np.float32)[None]

    def strip(a: int, b: int) -> Strip:
        """Rows ``[a, b)``: nodata where a guide is unknown or the reference's cell is (nothing to sharpen)."""
        stored = clamped(s.units.to_stored(rows.rows(a, b), inplace=True), lo, hi)  # the band's range
        ok = rows.guided(a, b)
        cell = rows.lattice.up(seen, a, b, "nearest")[0] > 0.5
        return Strip(stored, ok & cell & np.isfinite(stored).all(0))

    with opened([plan.output], main | {"nodata": nodata}, extra, True, plan.cog, None, setup) as rasters:
        write_strips(rasters, fine.height, fine.width, strip, t.dtype, nodata, tick)


def fit_part(s, plan) -> Part:
    """The decision's fit as one module with one output per target (``Anchored(learner, FillBase)``: the
    work file's upsampled reference bands the anchor, the guides after them, read as they are fed
    (``fill_fit.fed``)) and its bundle's blocks."""
    import torch

    from bandbridge.learners.fill_fit import FEED
    from bandbridge.learners.guided import HALF
    from bandbridge.learners.saved import learner_value
    from bandbridge.models.anchored import Anchored
    from bandbridge.models.fill_base import FillBase
    t, g = plan.targets, plan.guides
    names = [f"{n} upsampled" for n in t.names] + g.names
    k, c = len(names), len(t.names)
    base = FillBase(k, c, c, HALF)  # each target its own upsampled band, as it is fed: a·span, a·feed's low
    base.a.copy_(torch.full((c,), FEED[1] - FEED[0], dtype=torch.float32))
    base.d.copy_(torch.full((c,), FEED[0], dtype=torch.float32))
    module = Anchored(s.learner.module(k, c), base, None, True, k).eval()
    record = {"reference": Path(t.path).name, "k": round(float(t.k), 3), "learner": s.chosen, "cells": s.cells,
              "routes": {b.name: b.route for b in s.bands}}
    return Part(module, "fill-fit", {"bands": list(range(k)), "scaling": "minmax", "vmin": FEED[0], "vmax": FEED[1],
                                     "band_names": names},
                {"bands": list(t.names), "scaling": "minmax", "vmin": 0.0, "vmax": 1.0},
                {"name": "fill-base", "args": {"bands": c, "half": HALF},
                 "learner": learner_value(s.learner.generator())}, ("fill_fit", record))


def bundles(plan, s, networked: bool, work: Path) -> list[tuple[object, Path, str]]:
    """The engine's bundles of the decision ``s`` over the one work file, each ``(spec, output, note)``: the fit's
    and the network's joined into one (``place/bundle.save_joined``: one pass reads each tile once for both)
    where torch's tracer exports both (so every backend serves the pair as it serves each); else each its own."""
    from bandbridge.inference.place.bundle import save_joined
    from bandbridge.inference.place.sharpen_network import network_part
    from bandbridge.learners.registry import traceable
    parts = ([("the sharpener's fit", fit_part(s, plan), FIT_OUT, "fit")] if s.fitted else []) + (
        [("the Sentinel-2 network", network_part(plan.network, s, plan.targets.names, plan.guides.names),
          NETWORK_OUT, "network")] if networked else [])
    if len(parts) == 2 and all(traceable(p.module) for _, p, _, _ in parts):
        return [(save_joined(work / "both", [p for _, p, _, _ in parts]), work / BOTH_OUT,
                 "the sharpener's fit and the Sentinel-2 network, one pass")]
    return [(p.save(work / folder), work / out, note) for note, p, out, folder in parts]
