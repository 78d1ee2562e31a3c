"""What a sharpener is scored beside: the field's baselines on arrays, each one plain function
``(guides (G, H, W), reference (T, h, w), ratio) → (T, H, W)`` with ``H = h · ratio``,
``W = w · ratio`` (the guides on the fine grid, the bands to sharpen on the coarse one, every
pixel valid; the caller cuts both to whole cells):

- the **upsamplings** (:data:`UPSAMPLING`): the reference upsampled by nearest, bilinear, cubic
  convolution (``cubic``: GDAL's, Keys' a = −0.5), the interpolating cubic B-spline (``bspline``)
  and Lanczos (a = 3), ``data/grids.upsample_onto``'s: what a user has without any guide;
- ``tsharp``: TsHARP-style (Agam et al. 2007): each target regressed on all the guides at the
  coarse scale (least squares with an intercept), the map applied to the fine guides, the coarse
  residual added back cell by cell;
- ``dms``: DMS-style, the data mining sharpener (Gao, Kustas and Anderson 2012; pyDMS): a tree
  ensemble (LightGBM's boosted trees through ``learners/gbm.py``, where pyDMS bags regression
  trees) fitted on the coarse cells whose guides are most homogeneous inside them, applied to
  the fine guides, then the residual correction (written here from the paper, no pyDMS code;
  the global model only: pyDMS's local models in moving windows, weighted in, are left out);
- ``gsa`` and ``brovey``: pansharpening by component substitution (Aiazzi et al. 2007's adaptive
  Gram-Schmidt; the Brovey transform), the guides' mean taken as the pan band.

The residual correction of ``tsharp`` and ``dms`` adds the coarse residual upsampled, then what
is left of it cell by cell, so the output averages back to the reference exactly (added cell by
cell alone, the cell edges show).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from affine import Affine

from bandbridge.data.grids import GDAL_NAMES, Grid, block_mean, upsample_onto
from bandbridge.errors import BandbridgeError

HOMOGENEOUS_SHARE = 0.8  # DMS trains on this share of the coarse cells, the most homogeneous (Gao 2012: 80 %)
DMS_TREES = dict(n_estimators=100, num_leaves=15, min_child_samples=10)  # small: a few thousand cells
DMS_MARGIN = 0.5  # the trees' target range: the reference's, widened by this share each side
EPS = 1e-9  # a ratio's denominator never below this (a black pixel in Brovey's intensity)


def _check(guides: np.ndarray, reference: np.ndarray, ratio: int) -> None:
    g, t = guides.shape, reference.shape
    if len(g) != 3 or len(t) != 3 or g[1:] != (t[1] * ratio, t[2] * ratio):
        raise BandbridgeError(f"sharpen baseline: guides {g} must be (G, h·{ratio}, w·{ratio}) for "
                              f"a reference (T, h, w) {t}; cut both to whole cells first")


def upsampled(method: str) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    """The baseline that upsamples the reference by ``method`` onto the guides' grid (the guides unused)."""
    def up(guides: np.ndarray, reference: np.ndarray, ratio: int) -> np.ndarray:
        _check(guides, reference, ratio)
        fine = Grid(None, Affine.identity(), guides.shape[1], guides.shape[2])
        return upsample_onto(reference, fine.coarser(ratio), fine, method)
    up.__name__ = method
    return up


UPSAMPLING = {m: upsampled(m) for m in GDAL_NAMES}  # nearest, bilinear, cubic, bspline, lanczos
cubic = UPSAMPLING["cubic"]


def consistent(fine: np.ndarray, reference: np.ndarray, ratio: int) -> np.ndarray:
    """The residual correction: ``fine (T, H, W)`` plus its coarse residual ``reference −
    block_mean(fine)`` upsampled (cubic, so no cell edge shows), plus what of the residual the
    cubic leaves in each cell, on its pixels, so that the block means equal the reference."""
    fine = fine + cubic(fine, reference - block_mean(fine, ratio)[0], ratio)
    rest = reference - block_mean(fine, ratio)[0]  # each cell's, repeated over its ratio × ratio block
    return (fine + np.repeat(np.repeat(rest, ratio, axis=1), ratio, axis=2)).astype(np.float32)


def _design(x: np.ndarray) -> np.ndarray:
    """``(N, G + 1)``: the pixels of ``x (G, …)`` as rows, and a column of ones."""
    rows = x.reshape(x.shape[0], -1).T.astype(np.float64)
    return np.hstack([rows, np.ones((len(rows), 1))])


def tsharp(guides: np.ndarray, reference: np.ndarray, ratio: int) -> np.ndarray:
    """TsHARP-style: every target a least-squares linear map of all the guides fitted on the
    coarse cells (the guides averaged onto them), applied to the fine guides, plus the residual."""
    _check(guides, reference, ratio)
    beta, *_ = np.linalg.lstsq(_design(block_mean(guides, ratio)[0]),
                               reference.reshape(reference.shape[0], -1).T.astype(np.float64), rcond=None)
    fine = (_design(guides) @ beta).T.reshape(reference.shape[0], *guides.shape[1:]).astype(np.float32)
    return consistent(fine, reference, ratio)


def homogeneous_cells(guides: np.ndarray, ratio: int, share: float = HOMOGENEOUS_SHARE) -> np.ndarray:
    """Bool ``(h, w)``: the ``share`` of the coarse cells whose guides vary least inside them,
    by the coefficient of variation averaged over the guides (Gao 2012's selection)."""
    mean = block_mean(guides, ratio)[0].astype(np.float64)
    sq = block_mean(guides.astype(np.float64) ** 2, ratio)[0]
    std = np.sqrt(np.clip(sq - mean**2, 0, None))
    cv = (std / np.maximum(np.abs(mean), EPS)).mean(0)
    return cv <= np.quantile(cv, share)


def dms(guides: np.ndarray, reference: np.ndarray, ratio: int) -> np.ndarray:
    """DMS-style: boosted trees per target on the guides, fitted on the homogeneous coarse cells
    (the guides averaged onto them) and applied to the fine guides, then the residual correction.
    Targets are mapped to [0, 1] over the reference's range widened by ``DMS_MARGIN`` each side
    (the learner predicts model values in [0, 1])."""
    from bandbridge.learners.gbm import GBM
    _check(guides, reference, ratio)
    keep = homogeneous_cells(guides, ratio).reshape(-1)
    X = block_mean(guides, ratio)[0].reshape(guides.shape[0], -1).T[keep]
    fine = np.empty((reference.shape[0], *guides.shape[1:]), np.float32)
    pixels = guides.reshape(guides.shape[0], -1).T
    for k, band in enumerate(reference):
        lo, hi = float(band.min()), float(band.max())
        lo, hi = lo - DMS_MARGIN * (hi - lo), hi + DMS_MARGIN * (hi - lo) + EPS
        y = ((band.reshape(-1)[keep] - lo) / (hi - lo))[:, None]
        trees = GBM(context=False, **DMS_TREES).fit(X, y, guides.shape[0])
        fine[k] = (trees.predict(pixels, guides.shape[0])[:, 0] * (hi - lo) + lo).reshape(guides.shape[1:])
    return consistent(fine, reference, ratio)


def _pan_and_upsampled(guides: np.ndarray, reference: np.ndarray, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    return guides.mean(0, dtype=np.float64), cubic(guides, reference, ratio).astype(np.float64)


def _equalised(pan: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """The pan with the intensity's mean and standard deviation (the toolboxes' equalisation)."""
    return (pan - pan.mean()) * (intensity.std() / max(pan.std(), EPS)) + intensity.mean()


def gsa(guides: np.ndarray, reference: np.ndarray, ratio: int) -> np.ndarray:
    """Adaptive Gram-Schmidt (GSA): the intensity the MS bands' least-squares combination with
    the pan averaged onto the coarse cells, on the upsampled MS; each band plus its gain
    cov(MS_k, I) / var(I) times the detail, the equalised pan minus the intensity."""
    pan, up = _pan_and_upsampled(guides, reference, ratio)
    alpha, *_ = np.linalg.lstsq(_design(reference), block_mean(pan[None], ratio)[0].reshape(-1), rcond=None)
    intensity = (_design(up) @ alpha).reshape(pan.shape)
    detail = _equalised(pan, intensity) - intensity
    centred = intensity - intensity.mean()
    gains = [((b - b.mean()) * centred).mean() / max(float(centred.var()), EPS) for b in up]
    return np.stack([b + g * detail for b, g in zip(up, gains)]).astype(np.float32)


def brovey(guides: np.ndarray, reference: np.ndarray, ratio: int) -> np.ndarray:
    """The Brovey transform: each upsampled MS band times the equalised pan over the intensity,
    the MS bands' mean."""
    pan, up = _pan_and_upsampled(guides, reference, ratio)
    intensity = up.mean(0)
    return (up * (_equalised(pan, intensity) / np.maximum(intensity, EPS))).astype(np.float32)


Baseline = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
BASELINES: dict[str, Baseline] = UPSAMPLING | {"tsharp": tsharp, "dms": dms}
PANSHARPENING: dict[str, Baseline] = BASELINES | {"gsa": gsa, "brovey": brovey}
