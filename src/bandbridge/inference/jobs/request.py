"""``bandbridge predict``'s flags as one call (:func:`predict_flags`): the prediction's options, the
reference's and the cluster's built from the flags as typed, the reference's companion flags
checked, then :func:`~bandbridge.inference.jobs.predict.predict` run. The command parses, calls
this, and prints what comes back; a mistake in the flags is one line (:class:`BandbridgeError`)."""

from __future__ import annotations

from typing import Callable, ContextManager

from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.core.writer import parse_creation_options
from bandbridge.inference.jobs.predict import Cluster, Outcome, no_bar, predict
from bandbridge.inference.jobs.reference import ReferenceOptions

REFERENCE_FLAGS = ("--reference-mask, --reference-date and --reference-band go with --reference; add "
                   "--reference FILE")


def reference_of(reference: str | None, mask: str | None = None, date: str | None = None,
                 band: str | None = None) -> ReferenceOptions | None:
    """``--reference`` and its companions as options (None without ``--reference``); a companion
    given without it is refused."""
    if reference is None and (mask or date or band):
        raise BandbridgeError(REFERENCE_FLAGS)
    return ReferenceOptions(source=reference, mask=mask, date=date, band=band) if reference else None


def predict_flags(inputs: list[str], model: str, output: str, ov: Overrides = Overrides(), *,
                  overwrite: bool = False, backend: str = "auto", precision: str = "auto",
                  tile: int | None = None, overlap: int | None = None, batch_size: int | None = None,
                  dtype: str = "auto", append: bool = False, index: str | None = None, cog: bool = False,
                  confidence: bool = False, creation: list[str] | tuple[str, ...] = (),
                  sensor: str | None = None, threads: int | None = None, compile: bool = False,
                  workers: int | None = None, scheduler: str | None = None, retries: int = 2,
                  strips: int | None = None, summary: str | None = None, stac: bool = False,
                  reference: str | None = None, reference_mask: str | None = None,
                  reference_date: str | None = None, reference_band: str | None = None,
                  plan: bool = False, say: Callable[[str], None] = lambda line: None,
                  bars: Callable[[str | None], ContextManager] | None = None) -> Outcome | None:
    """``bandbridge predict`` with its flags as typed (``index`` a comma list, ``creation`` the
    ``-co KEY=VALUE`` items): the outcome to report, or None after ``plan`` (the plan said, nothing
    written). ``bars(unit)`` opens the progress display (``"tiles"`` here, None on a cluster)."""
    opts = PredictOptions(tile=tile, overlap=overlap, batch_size=batch_size, dtype=dtype, append=append,
                          indices=tuple(k.strip() for k in index.split(",")) if index else (), cog=cog,
                          creation=parse_creation_options(creation), sensor=sensor, confidence=confidence)
    ref = reference_of(reference, reference_mask, reference_date, reference_band)
    cluster = Cluster(workers=workers, scheduler=scheduler, retries=retries, strips=strips, summary=summary)
    bar = no_bar if bars is None else (lambda: bars(None if cluster.used else "tiles"))
    done = predict(inputs, model, output, opts, ov, overwrite=overwrite, backend=backend, precision=precision,
                   threads=threads, compile=compile, cluster=cluster, stac=stac, say=say, bar=bar,
                   reference=ref, plan_only=plan)
    return None if plan else done
