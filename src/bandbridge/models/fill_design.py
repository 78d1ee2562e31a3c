"""``bandbridge fill``'s design computed per tile from the raw inputs stacked on the scene's grid, so
that the fit's bundle reads a VRT of the inputs (no copy of the tile): ``Designed(design, inner)``
is ``inner(FillDesign(x))``, ``inner`` the fit's ``Anchored(learner, FillBase)``.

The stack's channels (``inference/place/fill_stack.write_stack`` writes its VRT; every value read through
the bundle's ``minmax`` over ``feed``, which this module undoes first):

- each date, nearest first: the scene's bands in model values (the per-band affine of ``Units``,
  applied by the VRT's source scaling); a band the date lacks reads 0;
- each SAR file: VV, VH as ``raw · scale + offset`` (its dB, linear power or DN as stored, scaled
  into ``[0, 1]`` over the dB range ``[sar_lo, sar_hi]``: the dB conversion, a log, is done here);
- the flags: per pixel one bit a date (clear there by its own cloud mask, its snow rule and its
  values) and two a SAR file (VV, VH hold a value), ``bits`` bits a band, each band read as
  ``flags / 2**bits``.

From them the design (``fill_fit.channels_of``'s channel order): per pixel the nearest date
clear there (the base), the other dates (the base where not clear), the dates before and after
interpolated in time, SAR now, then, their difference, SAR later and its change since now, in model
values; no value (no date clear, a SAR hole) as ``fill_fit`` fills it. Tensors only; every op
exports to ONNX (where, floor, remainder, log).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sar_scale(kind: str, lo: float, hi: float) -> tuple[float, float]:
    """``(scale, offset)`` that put a SAR file's stored values over the dB range ``[lo, hi]`` into
    about ``[0, 1]`` (``kind``: ``db``, linear ``power``, or ``dn`` with dB = 20·log10(DN) − 83), so that
    the bundle's ``minmax`` over its feed (which holds [0, 1]) cuts nothing the dB map keeps."""
    if kind == "db":
        return 1.0 / (hi - lo), -lo / (hi - lo)
    if kind == "power":
        return 10.0 ** (-hi / 10.0), 0.0
    return 10.0 ** (-(hi + 83.0) / 20.0), 0.0


def all_channels(cfg: dict) -> int:
    """The whole design's channel count (``fill_fit.channels_of``'s order)."""
    c, nd = cfg["bands"], len(cfg["dates"])
    n = c * (max(nd, 1) + bool(cfg["sides"]))
    if cfg["now"] is not None:
        n += 2 + (4 if cfg["then"] is not None else 0) + (4 if cfg["later"] is not None else 0)
        n += 4 if cfg.get("dated") else 0
    return n


class FillDesign(nn.Module):
    """The stack ``(B, C, H, W)`` as fed (every date's bands, two a SAR file, the flag bands) (``minmax`` over ``feed``) → the design's
    ``channels`` ``(B, k, H, W)``: fed again (``fed=True``, what the learner reads) or in model
    values (``fed=False``: the fit's sample and the last pass read it so). ``cfg`` is JSON (saved in
    the bundle's ``model.generator.args.design``): ``bands``, ``dates`` (per date ``days`` before the
    scene, negative after, None unknown, and ``present`` per band), ``sides`` (the interpolation is a
    channel), ``sar`` (per file ``kind`` db/power/dn, ``scale``, ``offset``, ``hole`` its VV, VH
    model value for no data), ``now``/``then``/``later`` (indices into ``sar`` or None), ``bits``,
    ``dated`` (optional: per date the index into ``sar`` of its own SAR, None: none; the SAR of each pixel's
    base date is then a channel pair), ``feed``, ``lo``/``hi`` (SAR dB → [0, 1]), ``half``, ``channels``."""

    def __init__(self, cfg: dict, fed: bool = True):
        super().__init__()
        self.cfg, self.fed = dict(cfg), fed
        self.c, self.nd, self.ns = cfg["bands"], len(cfg["dates"]), len(cfg["sar"])
        self.f0, self.f1 = (float(v) for v in cfg["feed"])
        self.half = float(cfg["half"])
        self.register_buffer("present", torch.tensor([[bool(p) for p in d["present"]] for d in cfg["dates"]]
                                                     or [[True] * self.c], dtype=torch.bool), persistent=False)
        self.channels = [int(i) for i in cfg["channels"]]

    def _bit(self, flags: Tensor, k: int) -> Tensor:
        """Bit ``k`` of the flags (``(B, bands, H, W)`` integers as floats) as a bool ``(B, 1, H, W)``."""
        bits = int(self.cfg["bits"])
        band = flags[:, k // bits:k // bits + 1]
        return torch.remainder(torch.floor(band / float(2 ** (k % bits))), 2.0) > 0.5

    def _sar(self, v: Tensor, s: dict, ok_vv: Tensor, ok_vh: Tensor) -> Tensor:
        """One SAR file's VV, VH ``(B, 2, H, W)`` (scaled raw) → [0, 1] model values, holes at ``hole``."""
        raw = (v - float(s["offset"])) / float(s["scale"])
        if s["kind"] != "db":
            pos = torch.where(raw > 0, raw, torch.ones_like(raw))
            db = (20.0 if s["kind"] == "dn" else 10.0) * torch.log(pos) / math.log(10.0) - (83.0 if s["kind"] == "dn"
                                                                                               else 0.0)
        else:
            db = raw
        lo, hi = float(self.cfg["lo"]), float(self.cfg["hi"])
        m = torch.clamp((db - lo) / (hi - lo), 0.0, 1.0)
        hole = torch.tensor(s["hole"], dtype=m.dtype, device=m.device)[None, :, None, None]
        ok = torch.cat([ok_vv, ok_vh], 1)
        return torch.where(ok, m, hole.expand_as(m))

    def forward(self, x: Tensor) -> Tensor:
        x = x * (self.f1 - self.f0) + self.f0  # the bundle's minmax undone: model values, scaled raw, flags
        c, nd, ns = self.c, self.nd, self.ns
        k0 = c * nd + 2 * ns
        flags = torch.round(x[:, k0:] * float(2 ** int(self.cfg["bits"])))
        dates = [x[:, i * c:(i + 1) * c] for i in range(nd)]
        clear = [self._bit(flags, i) for i in range(nd)]
        nan = x.new_full((x.shape[0], c, x.shape[2], x.shape[3]), float("nan"))
        base = nan
        for i in reversed(range(nd)):  # the nearest date clear there: every band of it held
            if bool(self.present[i].all()):
                base = torch.where(clear[i], dates[i], base)
        parts = [base]
        for i in range(1, nd):  # the other dates, the base where not clear (a band a date lacks: the base)
            ok = clear[i] & self.present[i][None, :, None, None]
            parts.append(torch.where(ok, dates[i], base))
        if self.cfg["sides"]:
            parts.append(torch.where(torch.isfinite(b := self._between(dates, clear)), b, base))
        if not nd:
            parts = [nan]
        s = self.cfg["sar"]
        sar = [self._sar(x[:, c * nd + 2 * j:c * nd + 2 * j + 2], s[j], self._bit(flags, nd + 2 * j),
                         self._bit(flags, nd + 2 * j + 1)) for j in range(ns)]
        now, then, later = (self.cfg[k] for k in ("now", "then", "later"))
        if now is not None:
            parts.append(sar[now])
            if then is not None:
                parts += [sar[then], torch.clamp(sar[now] - sar[then] + self.half, 0.0, 1.0)]
            if later is not None:
                parts += [sar[later], torch.clamp(sar[later] - sar[now] + self.half, 0.0, 1.0)]
            if self.cfg.get("dated"):  # per pixel the SAR of the base's date (tests/inference/test_fill_design.dated)
                d = self._dated(sar, clear, sar[then] if then is not None else sar[now])
                parts += [d, torch.clamp(sar[now] - d + self.half, 0.0, 1.0)]
        d = torch.cat(parts, 1)[:, self.channels]
        d = torch.where(torch.isnan(d), torch.full_like(d, self.half), d)
        if not self.fed:
            return d
        return (torch.clamp(d, self.f0, self.f1) - self.f0) / (self.f1 - self.f0)

    def _dated(self, sar: list[Tensor], clear: list[Tensor], fallback: Tensor) -> Tensor:
        """The SAR of the date the base is from (``cfg["dated"]``: per date its SAR file's index, None:
        none, ``fallback`` there and where no date is clear)."""
        v = fallback
        for i in reversed(range(self.nd)):
            if bool(self.present[i].all()):
                j = self.cfg["dated"][i]
                v = torch.where(clear[i], sar[j] if j is not None else fallback, v)
        return v

    def _between(self, dates: list[Tensor], clear: list[Tensor]) -> Tensor:
        """``fill_fit.interpolate``: per pixel the nearest clear date before and after, weighed by days;
        NaN where a side has none (or its date is unknown)."""
        days = [d["days"] for d in self.cfg["dates"]]
        nan = torch.full_like(dates[0], float("nan"))

        def side(keep) -> tuple[Tensor, Tensor]:
            v, t = nan, nan[:, :1]
            for i in reversed([i for i, d in enumerate(days) if d is not None and keep(d)]):
                if bool(self.present[i].all()):
                    v = torch.where(clear[i], dates[i], v)
                    t = torch.where(clear[i], torch.full_like(t, float(abs(days[i]))), t)
            return v, t
        b, tb = side(lambda d: d > 0)
        a, ta = side(lambda d: d < 0)
        return b + (a - b) * (tb / (tb + ta))


class Designed(nn.Module):
    """``inner(FillDesign(cfg)(x))``: the fill's fit on the raw stack (see the module docstring)."""

    def __init__(self, cfg: dict, inner: nn.Module):
        super().__init__()
        self.design, self.inner = FillDesign(cfg), inner

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.inner(self.design(x))
