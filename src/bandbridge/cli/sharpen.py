"""``sharpen``: every band of a coarse raster sharpened by every band of a fine one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

import typer

from bandbridge.cli.app import out
from bandbridge.cli.options import EngineFlags, Network, Overwrite, engine_options, flag_groups
from bandbridge.cli.options import reference_shift as reference_shift_form
from bandbridge.cli.predict import Cog, Preview


def _names(value: Optional[str]) -> list[str] | None:
    return None if value is None else [t.strip() for t in value.split(",") if t.strip()]


@dataclass(frozen=True)
class BandFlags:
    """Which bands: the guides, the reference's bands sharpened, and a model's output as one more guide."""
    guides: Annotated[Optional[str], typer.Option("--guides", help="only these guide bands, e.g. B02,B03,B04,B08")] = None
    bands: Annotated[Optional[str], typer.Option("--bands", help="only these reference bands, in this order, e.g. "
                                                 "B05,B11 (bands on several grids: a run per grid, one output)")] = None
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="a model whose zero-shot output on FINE is "
                                                 "one more guide, named by it: -m s2-prior (the bundled Sentinel-2 "
                                                 "band prior: its 20 m and 60 m bands from the 10 m ones) or -m "
                                                 "rgb2nir; the fit decides how much it helps (`bandbridge models` "
                                                 "lists them)")] = None


@flag_groups
def sharpen(
    fine: list[str] = typer.Argument(..., help="the guides: fine rasters, band folders (one .tif per band), "
                                     "product folders (Landsat with its MTL, Sentinel-2 SAFE or band files) or "
                                     "a STAC Item (its JSON or URL); files on other grids are warped onto the "
                                     "finest"),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help="the coarse raster, band folder, "
                                            "product folder or STAC Item (JSON or URL) whose bands are sharpened; "
                                            "left out: FINE alone, a stack on one grid (its resampled bands found "
                                            "and sharpened from its native ones) or a product folder"),
    output: str = typer.Option(..., "--output", "-o", help="the sharpened bands (GeoTIFF on the finest guide's "
                               "grid, in the reference's type, scale and offset)"),
    which: BandFlags = BandFlags(), overwrite: Overwrite = False, cog: Cog = False, engine: EngineFlags = EngineFlags(),
    reference_shift: str = typer.Option("auto", "--reference-shift", callback=reference_shift_form, help="the reference's grid against the "
                                        "guides': auto (half a pixel on strong evidence is a corner/centre "
                                        "convention error: corrected and said), none (as its files state it), "
                                        "or X,Y (moved by X columns and Y rows of its own pixels, e.g. 0.5,0.5)"),
    plan: bool = typer.Option(False, "--plan", help="print per band the guides and the route candidates, the "
                              "backend and the tiles, and exit without writing anything"),
    preview: Preview = None, network: Network = False,
) -> None:
    """Sharpen every band of a coarse raster onto the grid of fine guide bands, fitted on the scene.

    Wald's protocol at the reference's scale: one fit for all bands by the learner-selection core,
    and a route per band (the fit, or the reference upsampled by nearest, bilinear, cubic, B-spline or Lanczos
    interpolation, with or without the consistency correction) by its held-out error at the
    reference's scale and one Wald step down. The fit is saved as a model and served by the
    engine (--backend, --workers, --scheduler); the output is tagged per band. Product folders are
    read as they are: a Landsat folder in reflectance and kelvin by its MTL (its OLI bands the
    guides, its thermal bands the targets, written in K), a Sentinel-2 folder at each band's native
    resolution (its 10 m bands the guides, its 20 m and 60 m bands the targets), a STAC Item (its
    JSON or URL) as the product it describes (its band assets read by window). Targets on several
    grids (the 20 m and 60 m bands) take a run per grid, each its own Wald protocol and routes,
    written into one output in the reference's band order."""
    from bandbridge.cli.evaluate import quiet_libraries
    from bandbridge.cli.progress import displayed
    from bandbridge.fileio import writing
    from bandbridge.inference.core.preview import previewed
    from bandbridge.inference.interop.stac_bands import forget
    from bandbridge.inference.place import contract, kinds, runner  # the kind's request, on the one runner
    from bandbridge.inference.place.sharpen_read import item_lines
    from bandbridge.inference.place.sharpen_stack import resolved
    served = engine_options(engine)
    request = contract.SharpenRequest(fine, reference, output, _names(which.guides), _names(which.bands), overwrite,
                                      which.model, cog, reference_shift=reference_shift, network=network)
    forget()  # a STAC Item's URL read afresh each run (then once in it)
    say = lambda s: out.print(s, highlight=False)  # noqa: E731
    with quiet_libraries(), writing(output), previewed(preview, [*fine, reference], output, overwrite, "sharpen",
                                                       plan), displayed():  # -o's full disk: one line; progress
        for line in item_lines(fine, reference or fine[0]):  # a STAC Item's id and the asset of each band
            say(line)
        with resolved(request, say) as run:  # a stack or a product alone read as the kind reads it
            runner.run(kinds.KINDS["sharpen"], run, served, say, plan)

