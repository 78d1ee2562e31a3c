"""The one tag schema of a fit at the place's output: per band, its route, the route's held-out
error and the best upsampling's (or the kind's plain baseline's) on the same held-out pixels, in the
unit the figures are in; per file, the kind. Written on the output's bands as GDAL metadata."""

from __future__ import annotations

from dataclasses import dataclass

KIND = "bandbridge_kind"
BAND_KEYS = ("bandbridge_route", "bandbridge_heldout_error", "bandbridge_baseline_error", "bandbridge_error_unit")


@dataclass(frozen=True)
class BandTags:
    """One band's: ``route`` (the kind's word), ``heldout`` its held-out MAE, ``baseline`` the best
    upsampling's (sharpen, reference) or the plain earlier date's (fill) on the same pixels, ``unit``
    what both are in (NaN: not measured)."""

    route: str
    heldout: float
    baseline: float
    unit: str

    def tags(self) -> dict[str, str]:
        return dict(zip(BAND_KEYS, (self.route, f"{self.heldout:.6g}", f"{self.baseline:.6g}", self.unit)))


def write(dataset, kind: str, bands: list[BandTags], first: int = 1) -> None:
    """The schema onto an open rasterio ``dataset`` (its ``len(bands)`` bands from band ``first``)."""
    dataset.update_tags(**{KIND: kind})
    for i, b in enumerate(bands, first):
        dataset.update_tags(i, **b.tags())


def read(path) -> tuple[str, list[dict[str, str]]]:
    """``(kind, per band the schema's tags)`` of a written output (bands without them left out)."""
    import rasterio
    with rasterio.open(path) as d:
        return d.tags().get(KIND, ""), [t for i in d.indexes if BAND_KEYS[0] in (t := {k: v for k, v in
                                                                                     d.tags(i).items() if k in BAND_KEYS})]
