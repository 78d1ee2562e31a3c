"""The one tag schema of a fit at the place's output, written from each band's decision
(``place/contract.BandDecision``) and from nothing else: per band its route (the bare word) and the route in
words, why, the route's held-out error and the baseline's (the best upsampling's, or the earlier date's as
it is) on the same held-out pixels with the baseline's name, the unit the figures are in, the learner and
the test at the output's scale; per file, the kind. Written on the output's bands as GDAL metadata and read
back by :func:`read` (what the records, the benchmarks and the page read)."""

from __future__ import annotations

from bandbridge.inference.place.contract import BandDecision

KIND = "bandbridge_kind"
ROUTE = "bandbridge_route"  # the bare route word: fit, linear, lanczos+correction, upsampled…
BAND_KEYS = (ROUTE, "bandbridge_route_words", "bandbridge_why", "bandbridge_heldout_error",
             "bandbridge_baseline_error", "bandbridge_baseline", "bandbridge_error_unit", "bandbridge_learner",
             "bandbridge_output_scale")
NOT_TESTED = "not tested (the band takes no guided route)"


def band_tags(d: BandDecision) -> dict[str, str]:
    """One band's tags from its decision (NaN errors written ``nan``: not measured)."""
    return dict(zip(BAND_KEYS, (d.route, d.words, d.why, f"{d.heldout:.6g}", f"{d.baseline:.6g}", d.baseline_name,
                                d.unit, d.learner or "none", d.scale or NOT_TESTED)))


def write(dataset, kind: str, decisions: list[BandDecision], first: int = 1) -> None:
    """The schema onto an open rasterio ``dataset``: its ``len(decisions)`` bands from band ``first``."""
    dataset.update_tags(**{KIND: kind})
    for i, d in enumerate(decisions, first):
        dataset.update_tags(i, **band_tags(d))


def read(path) -> tuple[str, list[dict[str, str]]]:
    """``(kind, per band the schema's tags)`` of a written output (bands without them left out)."""
    import rasterio
    with rasterio.open(path) as d:
        return d.tags().get(KIND, ""), [t for i in d.indexes if ROUTE in (t := {k: v for k, v in d.tags(i).items()
                                                                                  if k in BAND_KEYS})]


def band(path, i: int = -1) -> dict[str, str]:
    """The schema's tags of the ``i``-th tagged band of ``path`` (default the last: the reference's band)."""
    return read(path)[1][i]
