"""When the upload also holds the band the model makes (a 4-band R,G,B,NIR GeoTIFF for an
RGB→NIR model): the real band beside the synthetic one, and the model's scores beside two
per-pixel linear maps — the bundle's own (fitted on its training data; the anchor the model
started from) and one fitted on this very image (it sees the answer: the calibration a user
could reach with pairs of their own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bandbridge.bands import (Scaling, band_role, get_scaling, is_single_nir, judged_by_realism,
                             same_family)
from bandbridge.data.reader import read_raster
from bandbridge.learners.baselines import SAMPLE_PIXELS, LinearBaseline
from bandbridge.inference.core.interpret import Interpretation
from bandbridge.inference.core.look import Look
from bandbridge.metrics import band_metrics
from bandbridge.realism import image_scores
from bandbridge.spec import ModelSpec

COLUMNS = {"mae": "MAE", "rmse": "RMSE", "psnr": "PSNR (dB)", "pearson_r": "r",
           "ndvi_mae": "NDVI MAE", "contrast": "contrast (1 = real)", "swd": "SWD (realism)"}


@dataclass(frozen=True)
class Truth:
    """Where the real target bands are in the upload and how to read them."""

    bands: list[int]  # 0-based file band per model output band
    scaling: str
    vmin: float | None = None
    vmax: float | None = None

    @property
    def reader(self) -> Scaling:
        return get_scaling(self.scaling, self.vmin, self.vmax)


def find_truth(look: Look, reading: Interpretation, spec: ModelSpec) -> Truth | None:
    """The upload's bands with the roles of the model's outputs, other than its inputs (None:
    the upload does not carry them, or the outputs have no known roles)."""
    if spec.scale != 1:  # a super-resolution target is another grid: never in the upload
        return None
    want = [band_role(b) for b in spec.target_names]
    free = [i for i in range(len(look.roles)) if i not in reading.bands]
    found = [next((i for i in free if look.roles[i] == r), None) for r in want]
    if "other" in want or None in found or len(set(found)) != len(found):
        return None
    t = spec.target
    # The real band is stored like the input when the model's two sides are of one kind (an
    # 8-bit NIR beside 8-bit RGB), else as the model's target was (compare reads it so too).
    r = reading if same_family(t.scaling, spec.input.scaling) else t
    return Truth(found, r.scaling, r.vmin, r.vmax)


def score_table(src: Path, spec: ModelSpec, reading: Interpretation, truth: Truth,
                pred: np.ndarray) -> str:
    """Markdown: MAE, RMSE, PSNR, Pearson r (and NDVI MAE for NIR; contrast and SWD for
    image-like targets) of the model's ``pred``
    ``(Ct, H, W)`` model values (NaN = nodata) and of the two linear maps, against the real band,
    in its physical units over pixels valid in input and target."""
    x = read_raster(src, get_scaling(reading.scaling, reading.vmin, reading.vmax), reading.bands)
    y = read_raster(src, truth.reader, truth.bands)
    m = torch.from_numpy(x.mask & y.mask & np.isfinite(pred).all(0))
    xt, yt = torch.from_numpy(x.data), torch.from_numpy(y.data)
    scale, offset, units = truth.reader.physical
    nir = is_single_nir(spec.target_names)

    image_like = judged_by_realism(spec.input_names, spec.target_names)

    def score(p: torch.Tensor) -> dict[str, float]:
        out = band_metrics(p, yt, m, scale, offset, xt if nir else None, reading.names)
        return out | (image_scores(p, yt, m) if image_like else {})  # thermal, optical from SAR

    rows = {"model": score(torch.from_numpy(np.nan_to_num(pred)))}
    anchor = spec.linear_baseline(x.data)
    if anchor is not None:
        rows["linear map of the bundle (its training data)"] = score(torch.from_numpy(anchor))
    X, Y = xt[:, m].T, yt[:, m].T
    step = max(1, len(X) // SAMPLE_PIXELS)  # as many pixels as every baseline is fitted on
    own = LinearBaseline().fit(X[::step], Y[::step])
    rows["linear map fitted on this image (sees the real band)"] = score(own(xt))
    keys = [k for k in COLUMNS if k in rows["model"]]
    lines = ["| | " + " | ".join(COLUMNS[k] for k in keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [f"| {name} | " + " | ".join(f"{s[k]:.4g}" for k in keys) + " |"
              for name, s in rows.items()]
    return (f"**Against the real {', '.join(spec.target_names)} in the upload** ({units}; "
            f"{int(m.sum())} valid pixels; PSNR over a range of {scale:g}):\n\n" + "\n".join(lines))
