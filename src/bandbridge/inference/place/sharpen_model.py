"""A model's zero-shot output as one more guide of ``bandbridge sharpen`` (``-m``): the model runs
on the fine raster, planned as plain predict plans it and served by the runner like any job (here or
on Dask), to a work file in the run's work folder (deleted with it), and its band(s) join the guides,
named by the model (``rgb2nir``; ``sar2optical_B04`` … where it makes several). The sharpener's fit then
decides, held out, how much of it to use: a model output that carries nothing of a target costs that
target nothing.

The model's input is the one fine raster as it is stored where ``FINE`` is one file (a bundle picks
its model by the file's type and values: ``rgb2nir`` an 8-bit aerial file's, a reflectance file's);
where ``FINE`` is several files, a folder or a STAC Item, a work file stacking the guide bands on the finest grid,
each described by its name (a product's bands in reflectance: Sentinel-2's, Landsat's OLI bands).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.sharpen_read import Band, Guides, grid_of, one_raster

MODEL_OUTPUT = "model_guide.tif"  # the model's output in the run's work folder
MODEL_INPUT = "model_input.tif"  # the guides stacked, where FINE is not one raster file
# the band prior's pass measured at 10980² (docs/results/sharpen_speed_prior.json: 120.56 MPix, 9.31 T multiply-adds
# in 89.2 s, OpenVINO fp32 on a 2-core VM): multiply-adds a second, the plan's estimate from a prior's work
PRIOR_MACS_S = 9.31e12 / 89.2
PRIOR_MEASURED = "OpenVINO fp32 on 2 cores, docs/results/sharpen_speed_prior.json"
PREDICT_FLAGS = ("--band-names", "--bands", "--scaling", "--vmin", "--sensor")  # predict's, which sharpen lacks


def prior_models() -> dict[str, Path]:
    """The bundled priors by name (``bandbridge/priors``): guides of ``-m`` only, never a band a user is
    given (their levels are not trusted: ``models/band_prior.py``), so not in predict's zoo."""
    from bandbridge.spec import BUNDLE_META, zoo_dir
    d = zoo_dir().parent / "priors"
    return {p.name: p for p in sorted(d.iterdir()) if (p / BUNDLE_META).exists()} if d.is_dir() else {}


def bundled_prior(model: str) -> Path | None:
    """The folder of the bundled prior ``model`` names (not a path that exists), else None."""
    return None if Path(model).exists() else prior_models().get(str(model))


def guide_model_folder(model: str) -> Path:
    """``-m``'s bundle: a bundled prior by name, else the folder ``spec.resolve_model_folder`` finds."""
    from bandbridge.spec import resolve_model_folder
    return bundled_prior(model) or resolve_model_folder(model)


def _base(model: str) -> str:
    return Path(model).name if Path(model).exists() else str(model)


def guide_names(model: str, outputs: list[str]) -> list[str]:
    """The guide name of each output band: the model's name, with the band's where it makes several."""
    return [_base(model)] if len(outputs) == 1 else [f"{_base(model)}_{o}" for o in outputs]


def with_model(g: Guides, fine: list[str], model: str) -> Guides:
    """``g`` with the model's output band(s) as guides (their file is made by :func:`run_model`), on
    the grid of the model's input. Refused in one line: a model that is not a bundle or bundled
    name, a super-resolution model (its output lies on another grid), a name a guide has already."""
    from bandbridge.spec import read_spec
    try:
        spec = read_spec(guide_model_folder(model))
    except BandbridgeError as e:
        raise BandbridgeError(f"-m {with_priors(str(e), model)}") from None
    if getattr(spec, "scale", 1) not in (1, None):
        raise BandbridgeError(f"-m {model}: a ×{spec.scale} super-resolution model's output lies on another grid "
                              "than its input; give a model that makes a band on its input's grid (rgb2nir, …)")
    names = guide_names(model, spec.target_names)
    taken = [n for n in names if n in g.names]
    if taken:
        raise BandbridgeError(f"-m {model}: a guide band is named {taken[0]} already; rename that file's band")
    src = one_raster(fine)
    grid = grid_of(src) if src else g.fine
    work = Path(MODEL_OUTPUT)  # a placeholder until run_model writes it in the run's work folder
    bands = [Band(work, i + 1, n) for i, n in enumerate(names)]
    return Guides(g.bands + bands, g.grids + [grid] * len(bands), g.fine)


def for_targets(g: Guides, model: str, targets: list[str]) -> Guides:
    """``g`` without the model's bands that are another band than the run's targets, where some of its
    bands are targets (a prior of the reference's own bands, ``s2-prior_B11`` for B11): the B01 and B09 of
    a prior are not guides of the 20 m bands, and each guide costs a line its cells (a 60 m band of a
    small scene has 49). A model none of whose bands is a target keeps them all (``rgb2nir``)."""
    mine = {i: b.name.removeprefix(f"{_base(model)}_") for i, b in enumerate(g.bands) if b.path == Path(MODEL_OUTPUT)}
    if not set(mine.values()) & set(targets):
        return g
    drop = {i for i, band in mine.items() if band not in targets}
    return Guides([b for i, b in enumerate(g.bands) if i not in drop],
                  [q for i, q in enumerate(g.grids) if i not in drop], g.fine)


def plan_model(src: Path | None, model: str, output: Path, engine):
    """``model`` on ``src`` (the one fine raster, or the guides stacked: :func:`stack_guides`), planned as
    plain predict plans it (``jobs/plan.make_plan``: its backend and tiles); None where ``src`` is (FINE
    several files, a folder or an Item: planned at the run, once they are stacked)."""
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.jobs.plan import make_plan
    if src is None:
        return None
    # a prior by its folder (predict does not know its name); another model as given (its routing by the file)
    try:
        p = make_plan([str(src)], str(bundled_prior(model) or model), str(output), PredictOptions(dtype="float32",
                      replace=True), overwrite=True, backend=engine.backend, precision=engine.precision,
                      threads=engine.threads, cluster=engine.cluster)
    except BandbridgeError as e:
        raise BandbridgeError(sharpen_words(str(e), model, src)) from None
    if not p.jobs:  # refused on a cluster run (make_plan lists it)
        raise BandbridgeError(sharpen_words(f"-m {model}: the model cannot run on {src.name} ({p.failed[0][1]})",
                                            model, src))
    return p


def sharpen_words(said: str, model: str, src: Path) -> str:
    """A refusal of predict's planning in sharpen's words: the run's work file named as the guides stacked,
    and predict's advice (its flags, which sharpen lacks) replaced by sharpen's own."""
    said = said.replace(str(src), src.name if src.name != MODEL_INPUT else "the guides stacked")
    cut = min((said.find(f) for f in PREDICT_FLAGS if f in said), default=-1)
    if cut >= 0:
        head = said[:cut]
        said = head[:head.rfind("; ")] if "; " in head else head.rstrip(" ,(")
        said += ("; name FINE's bands as the model reads them (their descriptions: B02, B03, B04, B08 for s2-prior), "
                 "give FINE as a Sentinel-2 folder or stack, or leave -m out")
    return said if said.startswith("-m ") else f"-m {model}: {said}"


def with_priors(said: str, model: str) -> str:
    """An unknown model's line with the bundled priors among the names it lists and, where the name is near
    one, that one offered first."""
    from bandbridge.presets import closest
    priors = list(prior_models())
    near = closest(model, priors)
    if not priors or "nor a bundled model (" not in said:
        return said
    said = said.replace("nor a bundled model (", f"nor a bundled model or sharpen prior ({', '.join(priors)}, ", 1)
    rest = said.removeprefix(f"{model}: ")
    return f"{model}: did you mean {near}? It is {rest}" if near and "did you mean" not in said else said


def model_lines(mp, model: str, pixels: int) -> list[str]:
    """The model's guide in the plan: what runs on what, its tiles and backend (``mp``: :func:`plan_model`),
    and a network prior's work on the ``pixels`` of the fine grid."""
    from bandbridge.spec import read_spec
    cost = prior_cost(read_spec(guide_model_folder(model)), pixels)
    if mp is None:
        return [f"the model's guide: {model} on the guides stacked, planned at the run as plain predict plans it"] + cost
    job = mp.jobs[0]
    d = mp.backends[job.spec.folder]
    return [f"the model's guide: {job.note}; tiles: {mp.tiles(job)}", f"  its backend: {d.line(job.spec.name)}"] + cost


def prior_cost(spec, pixels: int) -> list[str]:
    """A band prior's work, in multiply-adds (a network's cost in work, not seconds), and that leaving
    ``-m`` out leaves it out; nothing for another model."""
    g = spec.config.model.generator
    if g.name != "band-prior":
        return []
    from bandbridge.models.band_prior import multiply_adds
    n = multiply_adds(spec.in_channels, spec.out_channels, g.args.get("nf", 32), g.args.get("n_blocks", 4))
    return [f"  its work: {n:,} multiply-adds a pixel, {n * pixels / 1e12:.3g} T on {pixels / 1e6:.3g} MPix: about "
            f"{seconds(n * pixels / PRIOR_MACS_S)} s at the rate measured at 10980² ({PRIOR_MACS_S / 1e9:.0f} G a second, "
            f"{PRIOR_MEASURED}; more cores take less); without -m the prior is left out"]


def seconds(s: float) -> str:
    """Seconds in words: two figures under ten, whole ones above."""
    return f"{s:.2g}" if s < 10 else f"{s:,.0f}"


def run_model(plan, work: Path, serve, say: Callable[[str], None]) -> Path:
    """The model's job (planned, or planned now on the guides stacked: :func:`stack_guides`) into
    ``work/MODEL_OUTPUT``, served through the runner's ``serve`` (here or on Dask), and the plan's model
    guide bands pointed at it; that file's path."""
    from bandbridge.inference.place.engine import own_output
    g = plan.guides
    mine = [i for i, b in enumerate(g.bands) if b.path == Path(MODEL_OUTPUT)]
    dst = work / MODEL_OUTPUT
    a = getattr(plan, "given", None) or g  # FINE's guides before a target was left out: the model reads them all
    own = Guides([b for b in a.bands if b.path != Path(MODEL_OUTPUT)],
                 [q for b, q in zip(a.bands, a.grids) if b.path != Path(MODEL_OUTPUT)], a.fine)
    mp = plan.model_plan or plan_model(stack_guides(own, work / MODEL_INPUT), plan.model, dst, plan.engine)
    job = mp.jobs[0]
    say(f"the model's guide: {plan.model} on {job.src.name}: {job.note}")
    serve([own_output(job, mp, dst, f"{job.src.name}, the model's guide")], mp.backends[job.spec.folder])
    for i in mine:
        g.bands[i] = replace(g.bands[i], path=dst)
    return dst


def stack_guides(g: Guides, out: Path) -> Path:
    """The guide bands of ``g`` on its finest grid, float32 (physical values where their product
    states them), each described by its name: the model's input where FINE is not one raster."""
    from bandbridge.inference.core.writer import output_profile
    from bandbridge.inference.place.fields import FAST, write_rows
    f = g.fine
    prof = output_profile(f.crs, f.transform, f.height, f.width, len(g.bands), "float32", 1, FAST)
    return write_rows(out, prof | {"nodata": float("nan")}, lambda a, b: [g.read(a, b)[0]], g.names)
