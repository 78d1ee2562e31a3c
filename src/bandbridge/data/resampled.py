"""Which bands of a stack on one grid were resampled onto it from a coarser grid, and which are
native: what SNAP, Earth Engine and SEN12MS store (every Sentinel-2 band on the 10 m grid).

Two kinds of evidence, both said: the band's **name** (``B05``…``B12`` are 20 m, ``B01``/``B09``/``B10``
60 m: ``sentinel2.RESOLUTION``; 13 or 12 unnamed bands are read in L1C's or L2A's order, as SEN12MS and
Earth Engine store them) and its **pixels**: *blocky* (nearest-resampled: constant ``k × k`` blocks on
the grid, :func:`sentinel2.block_phase` finds where they start) or *smooth* (bilinear/cubic-resampled,
or reprojected: the band's spectrum falls towards the coarse grid's Nyquist frequency by
:data:`policy.SMOOTH_STEEPER` more than the native bands' does). Where a band's name and pixels
disagree, or no band is native, the stack is refused in one line (:func:`check`).

A stack found so is then read by ``sharpen`` as a product: each resampled band averaged back onto its
own grid (``FileBand.cell``/``phase``), registered here for the run (:func:`reading`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from bandbridge.data.products import FileBand
from bandbridge.data.sentinel2 import RESOLUTION, band_code, block_phase
from bandbridge.errors import BandbridgeError

L1C = list(RESOLUTION)  # 13 bands: B01 … B8A, B09, B10, B11, B12
L2A = [b for b in L1C if b != "B10"]  # 12: no cirrus
KS = (6, 3, 2)  # the coarser grids a band may come from, in fine pixels a side, tried largest first
SAMPLE = 512  # the window the pixels are judged on (a multiple of every k), a side


@dataclass(frozen=True)
class Found:
    """One band as found: its ``name``, what its name says (``named_k``: 1 native, 0 nothing) and what its
    pixels say (``k`` 1 native; ``how`` ``native``, ``blocky`` or ``smooth``), where its cells start
    (``phase``, rows and columns) and ``why``, in words."""

    name: str
    named_k: int
    k: int
    how: str
    phase: tuple[int, int]
    why: str

    @property
    def resampled(self) -> bool:
        return self.k > 1


def stack_names(descriptions: list[str | None], count: int) -> tuple[list[str], str]:
    """The bands' names and how they were found: every band a Sentinel-2 name in its description, or 13
    (12) unnamed bands in L1C's (L2A's) order; else the descriptions or ``BAND1…``, and no S2 name."""
    codes = [band_code(d) if d else None for d in descriptions]
    if all(codes):
        return [str(c) for c in codes], "named in the file"
    if not any(descriptions) and count in (12, 13):
        order = L1C if count == 13 else L2A
        return order, f"{count} unnamed bands read in Sentinel-2 {'L1C' if count == 13 else 'L2A'}'s order " \
                      f"({', '.join(order)}), as SEN12MS and Earth Engine store them"
    return [d or f"BAND{i + 1}" for i, d in enumerate(descriptions)], "not named as Sentinel-2 bands"


def named_k(name: str, pixel_m: float | None) -> int:
    """How many of the grid's pixels a side a Sentinel-2 band's native pixel spans (1: native or finer;
    0: not a Sentinel-2 name, or a grid whose pixel size is unknown)."""
    if name not in RESOLUTION or not pixel_m:
        return 0
    k = RESOLUTION[name] / pixel_m
    return int(round(k)) if k >= 1.5 and abs(k - round(k)) < 0.05 * k else 1


def slopes(x: np.ndarray, k: int) -> float:
    """The log-log slope of a band's power spectrum over the octave below the Nyquist frequency of a
    grid ``k`` times coarser (max-norm frequency; Hann window): a band interpolated from that grid falls
    off there far faster than one that holds its detail."""
    x = np.nan_to_num(x - np.nanmean(x))
    h, w = x.shape
    p = np.abs(np.fft.fft2(x * np.outer(np.hanning(h), np.hanning(w)))) ** 2
    f = np.maximum(np.abs(np.fft.fftfreq(h))[:, None], np.abs(np.fft.fftfreq(w))[None, :])
    edges = np.geomspace(0.25 / k, 0.5 / k, 5)
    at = [(np.log10(np.sqrt(a * b)), np.log10(p[(f >= a) & (f < b)].mean() + 1e-30)) for a, b in zip(edges, edges[1:])]
    return float(np.polyfit(*zip(*at), 1)[0])


def blocky(x: np.ndarray, k: int) -> tuple[int, int] | None:
    """Where ``k × k`` blocks of one value start (rows, columns), or None."""
    r, c = block_phase(x, k, 0), block_phase(x, k, 1)
    return None if r is None or c is None else (r, c)


def find(sample: np.ndarray, names: list[str], pixel_m: float | None, at: tuple[int, int] = (0, 0)) -> list[Found]:
    """Every band of ``sample`` ``(C, h, w)`` (a window of the stack starting at pixel ``at``) as
    :class:`Found`: blocky at its named ``k`` (or any, largest first), else smooth at it by its slope
    against the native bands' (the others named native; unnamed: those a first pass found native)."""
    nk = [named_k(n, pixel_m) for n in names]
    out: list[Found | None] = [None] * len(names)
    for i, x in enumerate(sample):
        for k in ([nk[i]] if nk[i] > 1 else []) + [q for q in KS if q != nk[i]]:
            ph = blocky(x, k)
            if ph is not None and np.ptp(x) > 0:
                phase = ((ph[0] + at[0]) % k, (ph[1] + at[1]) % k)
                out[i] = Found(names[i], nk[i], k, "blocky", phase, f"constant {k}×{k} blocks from row {phase[0]}, "
                               f"column {phase[1]} (nearest-resampled)")
                break
    ks = sorted({k for k in nk if k > 1} | ({2, 6} if not any(nk) else set()))
    s = {k: [slopes(x, k) for x in sample] for k in ks}
    guess = nk if any(nk) else [f.k if f else 1 for f in smooth(s, nk, out, ks, names)]  # no names: two passes
    return [f or Found(names[i], nk[i], 1, "native", (0, 0), "neither blocks nor a spectrum cut below the grid's")
            for i, f in enumerate(smooth(s, guess, out, ks, names, nk))]


def smooth(s: dict[int, list[float]], nk: list[int], out: list, ks: list[int], names: list[str],
           said: list[int] | None = None) -> list:
    """``out`` with each band not yet found smooth where, at its ``nk`` (else every ``k`` of ``ks``), its slope
    lies :data:`policy.SMOOTH_STEEPER` under the median of the other bands ``nk`` says native."""
    from bandbridge.policy import SMOOTH_STEEPER
    res = list(out)
    for i in range(len(names)):
        if res[i] is not None:
            continue
        steep = []
        for k in ([nk[i]] if nk[i] > 1 else ks):
            ref = [v for j, v in enumerate(s[k]) if j != i and nk[j] == 1 and out[j] is None]
            if ref and s[k][i] <= np.median(ref) - SMOOTH_STEEPER:
                steep.append((s[k][i] - float(np.median(ref)), k, float(np.median(ref))))
        if steep:
            _, k, ref = min(steep)
            res[i] = Found(names[i], (said or nk)[i], k, "smooth", (0, 0), f"its spectrum falls towards the {k}-pixel "
                           f"grid's Nyquist frequency with slope {s[k][i]:.1f} against the native bands' {ref:.1f} "
                           "(interpolated)")
    return res


def with_phase(found: list[Found], transform, pixel: float | None) -> list[Found]:
    """Smooth bands' phase from the grid's coordinates where they lie on the coarse lattice (a tile's
    60 m grid starts on whole 60 m: Sentinel-2's tiling), else (0, 0) as said."""
    out = []
    for f in found:
        if f.how != "smooth" or not pixel:
            out.append(f)
            continue
        cell = f.k * pixel
        at = [(transform.f % cell) / pixel, (-transform.c % cell) / pixel]  # pixels from the corner to a cell edge
        on = all(abs(a - round(a)) < 1e-3 for a in at)
        ph = (int(round(at[0])) % f.k, int(round(at[1])) % f.k) if on else (0, 0)
        out.append(replace(f, phase=ph, why=f.why + (f"; cells from row {ph[0]}, column {ph[1]} by the grid's "
                                                     "coordinates" if on else "; cells from the grid's corner")))
    return out


def check(path: str, found: list[Found]) -> None:
    """Refuse in one line a stack with no native band (by names, else pixels), or whose names and pixels
    disagree on a band, or with nothing resampled."""
    if all(f.named_k > 1 for f in found) or not any(not f.resampled for f in found):
        raise BandbridgeError(f"{path}: every band was resampled onto its grid ({', '.join(f.name for f in found)}): "
                              "no native band to sharpen them from; give the native bands as FINE and the coarse "
                              "ones with --reference")
    for f in found:
        if f.named_k > 1 and f.k != f.named_k:
            raise BandbridgeError(
                f"{path}: its band {f.name} is {f.named_k} pixels a side coarser by its name, but its pixels "
                f"{'say ' + str(f.k) + ' (' + f.why + ')' if f.resampled else 'hold detail to the grid (' + f.why + ')'}"
                "; name the bands as they are (their descriptions), or give the coarse band with --reference")
        if f.named_k == 1 and f.resampled:
            raise BandbridgeError(f"{path}: its band {f.name} is native to this grid by its name, but its pixels "
                                  f"hold {f.why}; name the bands as they are (their descriptions), or give the "
                                  "coarse band with --reference")
    if not any(f.resampled for f in found):
        raise BandbridgeError(f"{path}: no band was resampled onto its grid (by names and pixels: "
                              f"{', '.join(f.name for f in found)} native): nothing to sharpen; give a coarser "
                              "band with --reference")


_STACKS: dict[Path, list[FileBand]] = {}


@contextmanager
def reading(path: str | Path, bands: list[FileBand]) -> Iterator[None]:
    """While open: ``path`` read as ``bands`` (each resampled band averaged back onto its own grid by its
    ``cell`` and ``phase``) by :func:`registered`, the one reading of the stack's run."""
    key = Path(path).resolve()
    _STACKS[key] = bands
    try:
        yield
    finally:
        _STACKS.pop(key, None)


def registered(path: str | Path) -> list[FileBand] | None:
    """The bands a stack under :func:`reading` is read as, else None."""
    return _STACKS.get(Path(path).resolve()) if _STACKS else None
