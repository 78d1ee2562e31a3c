"""What a prediction is asked: the user's flags (:class:`PredictOptions`), how the input is read
(:class:`InputReading`, decided by ``interpret``) and which part of the raster one call predicts
(:class:`StripControl`, the Dask strips' and the memory bound's). Keyword construction only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class InputReading:
    """The input read otherwise than the model's own selection says; None keeps the model's."""

    bands: list[str | int] | None = None  # the file's bands, per model input band
    names: list[str] | None = None  # names/roles of the selected bands (descriptions, indices)
    scaling: str | None = None
    vmin: float | None = None  # with scaling (minmax, sar_db)
    vmax: float | None = None
    sensor: str | None = None  # band-folder naming kept with bands (landsat8 …)


@dataclass(frozen=True, kw_only=True)
class StripControl:
    """The rows one call predicts and the widest column block it holds at once."""

    block_px: int = 4096  # widest column block processed at once (bounds memory)
    rows: tuple[int, int] | None = None  # only input rows [r0, r1): a strip, on the whole raster's tiles
    only: str | None = None  # a one-band raster on the input's grid: only the tiles whose extent holds a
    # nonzero pixel of it run (the fill's gap); the others add nothing, and their pixels are not to be used


@dataclass(kw_only=True)
class PredictOptions:
    """The user's flags, with how the input is read and which rows run."""

    tile: int | None = None  # input pixels; default: the model's inference.tile
    overlap: int | None = None
    batch_size: int | None = None  # tiles per forward; None: about 1 MPix per batch (≤ 16 tiles)
    dtype: str = "auto"
    append: bool = False
    indices: tuple[str, ...] = ()
    cog: bool = False
    creation: dict[str, str] = field(default_factory=dict)  # -co KEY=VALUE: GDAL creation options
    sensor: str | None = None  # sensor name for models with sensor/GSD conditioning
    confidence: bool = False  # also write <output>_error.tif: expected |error| per pixel
    replace: bool = True  # an output that appeared while this run wrote it is replaced (predict
    # sets it from --overwrite: without it, another run's output is never replaced)
    read: InputReading = InputReading()
    strip: StripControl = StripControl()
