"""Cloud gaps filled: ``fill`` (one scene) and ``gaps`` (the WorldCereal evaluation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Optional

import typer

from bandbridge.cli.app import command_line, fail, out
from bandbridge.cli.options import EngineFlags, Overwrite, engine_options, flag_groups
from bandbridge.cli.predict import Preview
from bandbridge.cli.progress import displayed


@dataclass(frozen=True)
class SourceFlags:
    """What ``fill`` fills from: the other dates (``-e``, ``--later``) and Sentinel-1 (``--sar`` and its dates)."""
    earlier: Annotated[list[str], typer.Option(
        "--earlier", "-e", help="an earlier clear scene of the place with its "
        "cloud mask (as the scene's), or FILE#clear for one you know is clear (repeat "
        "for more dates: the nearest clear one per pixel is the base; without "
        "one, --sar alone fills where it holds out); or found for you over the "
        "scene's footprint: stac, stac:COLLECTION, a STAC API URL (#COLLECTION "
        "after it; a URL here is always an API to search, never an Item or a "
        "raster) or a catalog.json (the nearest Items before it at least half "
        "clear there by their SCL, read by window; the run names them)")] = field(default_factory=list)
    later: Annotated[list[str], typer.Option(
        "--later", help="a later clear scene of the place (repeat for more dates; "
        "a cube step cube.nc@DATE; FILE#clear as -e takes it): per pixel the nearest clear date on either side is the "
        "base, and where dates on both sides are clear their interpolation in time is a "
        "route the held-out check may choose; or stac… as -e takes it, after the scene")] = field(default_factory=list)
    sar: Annotated[Optional[str], typer.Option(
        "--sar", help="Sentinel-1 VV, VH at the scene's date (dB, linear or "
        "openEO DN); or stac… as -e takes it (default collection sentinel-1-grd): "
        "the Item nearest the scene's date, and the one nearest the nearest earlier "
        "date as --sar-earlier")] = None
    sar_earlier: Annotated[list[str], typer.Option(
        "--sar-earlier", help="Sentinel-1 at the nearest earlier date (or "
        "stac… as --sar takes it); or one per --earlier, in the same order (repeat): "
        "the SAR of each pixel's base date and its change to now are then features "
        "the held-out check keeps where they help. A SAR cube given with --sar "
        "gives its step nearest each date itself")] = field(default_factory=list)
    sar_later: Annotated[list[str], typer.Option(
        "--sar-later", help="Sentinel-1 at a --later date (repeat: one per "
        "--later, in the same order; needs --sar): the nearest later date's and its "
        "change since the scene are features the held-out check keeps where they "
        "help, with the later dates. A SAR cube given with --sar gives its step "
        "nearest that date itself")] = field(default_factory=list)


@flag_groups
def fill(
    scene: str = typer.Argument(..., help="the cloudy scene: a raster with its SCL or QA_PIXEL band (in it or a "
                                "file beside it), or a cube step 'cube.nc@DATE#scl=SCL_CUBE.nc'"),
    sources: SourceFlags = SourceFlags(),
    mask: Optional[str] = typer.Option(None, "--mask", help="the gap as a one-band raster file (nonzero: fill), "
                                       "instead of the scene's own SCL or QA_PIXEL; filled as given"),
    dilate: Optional[int] = typer.Option(None, "--dilate", min=0, metavar="PX", help="grow the gap by PX pixels "
                                         "before filling (default: 4 for the scene's own SCL or QA_PIXEL, whose "
                                         "cloud edges they miss; 0 for --mask)"),
    output: str = typer.Option(..., "--output", "-o", help="the filled scene (GeoTIFF, COG): its bands in its own "
                               "type, scale, offset and nodata, then FILLED (1 observed, 2 filled, 0 no data)"),
    overwrite: Overwrite = False, no_cog: bool = typer.Option(False, "--no-cog", help="a plain tiled GeoTIFF instead of a COG"),
    engine: EngineFlags = EngineFlags(),
    plan: bool = typer.Option(False, "--plan", help="print the fill's decisions (the gap, the dates, the backend, "
                              "the tiles, the memory) and exit without writing anything"),
    preview: Preview = None,
) -> None:
    """Fill a scene's cloud gaps from an earlier clear date and Sentinel-1, fitted on its clear part.

    The route (a fit by the learner-selection core, the earlier date linear per band, or as it
    is) is the one with the lowest held-out error on a spread sample of the scene's clear pixels;
    it is printed and in the output's tags with every route's error. The fit is saved as a model
    and predicted by the engine (--backend, --workers, --scheduler) only on the tiles that hold
    pixels to fill; the scene is read and written by strips, never whole."""
    from bandbridge.cli.evaluate import quiet_libraries
    from bandbridge.fileio import writing
    from bandbridge.inference.core.preview import previewed
    from bandbridge.inference.place import contract, kinds, runner  # the kind's request, on the one runner
    s = sources
    request = contract.FillRequest(scene, output, s.earlier, s.sar, s.sar_earlier, mask, overwrite, not no_cog, 0,
                                   s.later, s.sar_later, None, dilate)
    served = engine_options(engine)
    with quiet_libraries(), writing(output), displayed() as add, previewed(  # -o's full disk: one line; progress
            preview, [scene, *s.earlier, *s.later, s.sar, *s.sar_earlier, *s.sar_later, mask], output, overwrite,
            "fill", plan):
        runner.run(kinds.KINDS["fill"], request, served, lambda line: out.print(line, highlight=False), plan, add)


def gaps(
    data: str = typer.Option(..., "--data", help="the development data root (holds worldcereal/)"),
    output: str = typer.Option(..., "--output", "-o", help="folder for gaps.json and gaps.md (the project's "
                               "record: docs/results)"),
    pairs: Optional[int] = typer.Option(None, "--pairs", min=1, help="only the first N date pairs of each sample"),
    sources: bool = typer.Option(True, "--sources/--no-sources", help="also score the SEN12MS-CR triplets and "
                                 "openEO-gfmap's site (gaps_sources.json, .md)"),
    overwrite: Overwrite = False,
) -> None:
    """Score `fill` on the WorldCereal time series (seeded discs and real SCL masks over clear dates),
    the SEN12MS-CR triplets (real clouds) and openEO-gfmap's site.

    Beside the earlier date as is, linear per band, the median of the clear dates, temporal
    interpolation, `sar2optical` and the fit without SAR; MAE by days between the dates, PSNR, SSIM,
    SAM and MAE over the cloud area and the whole image, and realism of the filled pixels."""
    from bandbridge.cli.evaluate import quiet_libraries
    from bandbridge.evaluation.gaps import RECORDS, check_run, run_gaps, save
    from bandbridge.evaluation.gaps_sources import run_sources, save_sources
    if not output.strip():  # Path('') is the folder the command runs in
        fail(f"--output '{output}': an empty path; give the folder for the records (docs/results for the project's)")
    check_run(data, output, overwrite, RECORDS + (("gaps_sources.json", "gaps_sources.md") if sources else ()))
    say = lambda s: out.print(s, highlight=False)  # noqa: E731
    with quiet_libraries():
        record = run_gaps(data, say=say, limit=pairs)
        if not record["rows"]:
            fail(f"--data {data}: no date pair of the protocol found under worldcereal/")
        command = command_line()
        out.print(f"written to {save(record, output, command, overwrite=overwrite)}", highlight=False)
        if sources:  # SEN12MS-CR's real clouds and openEO-gfmap's site: gaps_sources.json/.md
            out.print(f"written to {save_sources(run_sources(data, say=say), output, command, overwrite)} "
                      "(gaps_sources)", highlight=False)
