"""The page's one display rule, the same for every panel (input, output, real band, NDVI).

A *band set* is what one panel shows: the input's red, green, blue (or its first band), the
synthetic band(s), the real band(s). Each set is stretched linearly between the ``PERCENTILES``
of its valid pixels, one range for all bands of the set so colours keep their balance, in the
set's physical units (reflectance, DN, dB). A set that holds the same bands in the same units as
another shares that one's range instead of its own: a super-resolution output is shown with its
input's range, a synthetic band with the real band's range when the upload carries it — or both
with the union of their ranges when the synthetic falls mostly outside the real one's, said in
the title (``stretch.py``, the rule `compare` draws by too). Single bands are drawn in gray with
a colour bar in their units; NDVI on a fixed −1…+1 scale; a class raster (the fill's FILLED
band) in one colour per class with a legend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandbridge.bands import Scaling, band_role, find_role
from bandbridge.data.reader import read_decimated
from bandbridge.inference.core.writer import decode
from bandbridge.stretch import Stretch, shared_stretch, stretch

MAX_SIDE = 1024  # panels are read at most this many pixels a side (decimated, never resampled)
STORED = Scaling("stored", 0.0, 1.0, units="stored values")  # read as written, decoded after
SHOWN_SIDE = 400  # pixels a side a small RGB panel is enlarged to (colour-bar panels are drawn so)


@dataclass(frozen=True)
class BandSet:
    """What one panel shows: ``data (C, h, w)`` physical values (NaN = nodata), their band roles
    and units."""

    data: np.ndarray
    roles: tuple[str, ...]
    units: str

    def same_kind(self, other: "BandSet | None") -> bool:
        """Same bands in the same units: one may be shown on the other's range."""
        return other is not None and self.roles == other.roles and self.units == other.units


def stretch_of(bands: BandSet) -> Stretch:
    """The set's ``PERCENTILES`` over all its valid values (one range for all its bands)."""
    return stretch(bands.data, bands.units)


def shared_of(shown: BandSet, reference: BandSet) -> Stretch:
    """The reference's range for both sets, or their union when ``shown`` falls outside it
    (stretch.shared_stretch: a synthetic band outside the real one's range is never blank)."""
    return shared_stretch(shown.data, reference.data, shown.units)


def display_bands(roles: list[str]) -> list[int]:
    """Which of ``roles`` a panel shows: red, green, blue where all three are there, else the
    first band that is no alpha."""
    rgb = [find_role(roles, r) for r in ("red", "green", "blue")]
    return rgb if None not in rgb else [next((i for i, r in enumerate(roles) if r != "alpha"), 0)]


def read_set(path: str | Path, scaling: Scaling, bands: list[int], roles: list[str]) -> BandSet:
    """``bands`` (0-based) of ``path``, whose roles are ``roles``, read by ``scaling`` at most
    ``MAX_SIDE`` a side, in the scaling's physical units."""
    view = read_decimated(path, scaling, bands, max_side=MAX_SIDE)
    scale, offset, units = scaling.physical
    data = view.data * scale + offset
    data[:, ~view.mask] = np.nan
    return BandSet(data, tuple(roles), units)


def read_scaled(path: str | Path, bands: list[int], info, of: list[int] | None = None) -> np.ndarray:
    """``bands`` (0-based) of ``path`` at most ``MAX_SIDE`` a side, nodata NaN, scaled as ``info``
    (``data/reader.raster_info``) states for the bands ``of`` (default: ``bands``): an output in its
    input's type and units (the fill's, the sharpener's) is read with its input's scales, ``of``
    naming the input's bands."""
    view = read_decimated(path, STORED, bands, max_side=MAX_SIDE)
    data = np.stack([view.data[k] * info.scales[b] + info.offsets[b] for k, b in enumerate(of or bands)])
    data[:, ~view.mask] = np.nan
    return data.astype(np.float32)


def read_output(path: str | Path, dtype: str, target: Scaling, names: list[str]) -> BandSet:
    """An output GeoTIFF as ``bandbridge predict`` wrote it (``dtype``, see writer.encode), in the
    target's physical units; red, green, blue (or the first band) of ``names``."""
    roles = [band_role(n) for n in names]
    show = display_bands(roles)
    view = read_decimated(path, STORED, show, max_side=MAX_SIDE)
    model = decode(view.data, dtype)
    model[:, ~view.mask] = np.nan
    scale, offset, units = target.physical
    return BandSet(model * scale + offset, tuple(roles[i] for i in show), units)


def read_index(path: str | Path) -> np.ndarray:
    """A float32 index raster (NaN = nodata) as written, at most ``MAX_SIDE`` a side: ``(h, w)``."""
    view = read_decimated(path, STORED, [0], max_side=MAX_SIDE)
    return np.where(view.mask, view.data[0], np.nan)


def render(bands: BandSet, stretch: Stretch, title: str) -> np.ndarray:
    """``(h, w, 3)`` uint8: three bands as RGB, one band in gray with a colour bar labelled
    ``title`` and the units; nodata light gray."""
    a = np.clip((bands.data - stretch.lo) / (stretch.hi - stretch.lo), 0, 1)
    if a.shape[0] >= 3:
        rgb = np.nan_to_num(a[:3], nan=0.8).transpose(1, 2, 0)
        return (rgb * 255).round().astype(np.uint8)
    return _with_colourbar(bands.data[0], "gray", stretch.lo, stretch.hi,
                           f"{title} ({stretch.units})")


def render_shown(bands: BandSet, stretch: Stretch, title: str) -> np.ndarray:
    """``render``'s picture, a small RGB panel enlarged (nearest, whole pixels) to about
    ``SHOWN_SIDE`` a side so it is not a thumbnail beside the colour-bar panels."""
    img = render(bands, stretch, title)
    k = max(1, SHOWN_SIDE // max(img.shape[:2]))
    return img.repeat(k, 0).repeat(k, 1) if bands.data.shape[0] >= 3 and k > 1 else img


def render_index(values: np.ndarray, name: str = "NDVI") -> np.ndarray:
    """An index ``(h, w)`` on its fixed −1…+1 scale (red → green) with a colour bar."""
    return _with_colourbar(values, "RdYlGn", -1.0, 1.0, f"{name} (unitless, −1…+1)")


def render_error(values: np.ndarray, units: str) -> np.ndarray:
    """``predict --confidence``'s expected absolute error ``(h, w)`` from 0 (light) to its 99th
    percentile (dark red), with a colour bar in the output's ``units``."""
    hi = float(np.nanpercentile(values, 99)) if np.isfinite(values).any() else 1.0
    return _with_colourbar(values, "Reds", 0.0, max(hi, 1e-6), f"expected |error| ({units})")


def render_classes(codes: np.ndarray, classes: tuple[tuple[int, str, tuple[float, float, float]], ...],
                   title: str) -> np.ndarray:
    """A class raster ``(h, w)`` (integer codes; NaN and codes not in ``classes`` light gray) in one
    colour per class ``(code, name, rgb)`` with a legend of the classes under ``title``, not a
    colour bar: a continuous bar over a few codes reads as a quantity between them."""
    from matplotlib.patches import Patch
    rgb = np.full((*codes.shape, 3), 0.8)
    for code, _, colour in classes:
        rgb[codes == code] = colour
    h, w = codes.shape
    fig, ax = _figure(h, w)
    ax.imshow(rgb, interpolation="nearest")
    fig.legend(handles=[Patch(facecolor=c, edgecolor="0.3", label=f"{k}: {name}") for k, name, c in classes],
               title=title, loc="outside right center", frameon=False)
    return _drawn(fig)


def _figure(h: int, w: int):
    """A figure for a ``(h, w)`` panel at about the image's own size (400–1024 px wide) with room
    for a colour bar or legend on its right, and its axes (no frame)."""
    from matplotlib.figure import Figure
    zoom = min(max(400 / max(h, w), 1.0), MAX_SIDE / max(h, w))
    dpi = 100
    fig = Figure(figsize=(w * zoom / dpi + 1.3, h * zoom / dpi + 0.3), dpi=dpi,
                 layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    return fig, ax


def _drawn(fig) -> np.ndarray:
    """The figure's pixels: ``(H, W, 3)`` uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _with_colourbar(a: np.ndarray, cmap: str, lo: float, hi: float, label: str) -> np.ndarray:
    """``a (h, w)`` drawn by matplotlib between ``lo`` and ``hi`` beside a labelled colour bar,
    at about the image's own size (400–1024 px wide): ``(H, W, 3)`` uint8."""
    from matplotlib import colormaps
    fig, ax = _figure(*a.shape)
    cm = colormaps[cmap].with_extremes(bad=(0.8, 0.8, 0.8))  # nodata: light gray
    im = ax.imshow(np.ma.masked_invalid(a), cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
    fig.colorbar(im, ax=ax, label=label, fraction=0.05, pad=0.02)
    return _drawn(fig)
