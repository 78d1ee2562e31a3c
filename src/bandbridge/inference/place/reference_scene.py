"""One fit over the scene a folder of tiles makes (``predict FOLDER --reference REF``): the tiles
that share one reference, one model and one pixel grid are predicted as their mosaic (a GDAL VRT)
— one registration, one decision at the reference's scale on every clear cell they hold together,
one engine job — and each tile's output is cut from the scene's.

One fit, not one per tile: a tile alone may hold too few cells to fit on (``benchmarks/reference_tiles.py``:
NAIP's tiles fitted once over the scene erred less than tile by tile at every k). Tiles that share no grid, cover less than :data:`~bandbridge.policy.SCENE_COVER` of their
bounding box (scattered tiles: the mosaic would be mostly holes), or leave holes in it without a
nodata value (the mosaic would read them as black pixels) are fitted one by one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandbridge.data.reader import raster_info
from bandbridge.inference.core.writer import PICTURES
from bandbridge.policy import SCENE_COVER


@dataclass
class Scene:
    """Inputs predicted as one mosaic: their indices among the jobs and their windows in it."""

    members: list[int]
    windows: list[tuple[int, int, int, int]]  # (row, column, height, width) of each in the mosaic
    height: int
    width: int
    transform: object  # the mosaic's Affine

    def words(self, jobs: list) -> str:
        return f"one fit over the scene of {len(self.members)} inputs ({', '.join(jobs[i].src.name for i in self.members)})"


def _key(job) -> tuple | None:
    """What inputs must share to be one scene, or None for one that cannot join any (a picture
    output, a band folder, a file GDAL cannot stack)."""
    src = Path(job.src)
    if job.dst.suffix.lower() in PICTURES or not src.is_file() or src.suffix.lower() == ".npy":
        return None
    info = raster_info(src)
    t = info.transform
    if not info.driver or info.crs is None or t is None or t.b or t.d:
        return None
    read = job.opts.read
    return (job.spec.folder, str(info.crs), round(t.a, 9), round(t.e, 9), len(info.bands), info.dtype, info.nodata,
            tuple(read.bands), tuple(read.names or ()), read.scaling, read.vmin, read.vmax, read.sensor)


def scenes(jobs: list, searched: bool) -> list[Scene]:
    """The groups of two or more ``jobs`` predicted as one scene (``searched``: the reference is
    found per footprint by STAC search, so each input keeps its own)."""
    if searched or len(jobs) < 2:
        return []
    groups: dict = {}
    for i, job in enumerate(jobs):
        k = _key(job)
        if k is not None:
            groups.setdefault(k, []).append(i)
    out = []
    for members in groups.values():
        if len(members) > 1 and (s := _mosaic(jobs, members)) is not None:
            out.append(s)
    return out


def _mosaic(jobs: list, members: list[int]) -> Scene | None:
    """The members' windows in their bounding box, or None where their pixels do not fall on one
    lattice, cover less than :data:`~bandbridge.policy.SCENE_COVER` of it, or leave holes in it
    without a nodata value to mark them."""
    infos = [raster_info(jobs[i].src) for i in members]
    t0 = infos[0].transform
    x0 = min(i.transform.c for i in infos)
    y0 = max(i.transform.f for i in infos) if t0.e < 0 else min(i.transform.f for i in infos)
    offs = []
    for info in infos:
        col, row = (info.transform.c - x0) / t0.a, (info.transform.f - y0) / t0.e
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            return None
        offs.append((int(round(row)), int(round(col)), info.height, info.width))
    h = max(r + hh for r, _, hh, _ in offs)
    w = max(c + ww for _, c, _, ww in offs)
    covered = np.zeros((h, w), bool)
    for r, c, hh, ww in offs:
        covered[r:r + hh, c:c + ww] = True
    if covered.mean() < SCENE_COVER or (not covered.all() and infos[0].nodata is None):
        return None  # mostly holes; or holes a VRT would read as pixels of value 0 (no nodata to mark them)
    from rasterio.transform import Affine
    return Scene(members, offs, h, w, Affine(t0.a, 0.0, x0, 0.0, t0.e, y0))


def scene_job(jobs: list, scene: Scene, work: Path):
    """The job predicting ``scene``: its members' bands in one VRT, written into ``work``."""
    from bandbridge.inference.interop.vrt import Band, Source, write_vrt
    first = jobs[scene.members[0]]
    info = raster_info(first.src)
    bands = [Band(info.dtype, [Source(jobs[i].src, b + 1, (c, r, ww, hh)) for i, (r, c, hh, ww) in zip(scene.members, scene.windows)],
                  info.nodata, info.descriptions[b] if b < len(info.descriptions) else None)
             for b in range(len(info.bands))]
    vrt = write_vrt(work / f"the scene of {len(scene.members)} inputs.vrt", scene.width, scene.height, info.crs, scene.transform, bands)
    return dataclasses.replace(first, src=vrt, dst=work / "scene.tif", size=(scene.height, scene.width),
                               opts=dataclasses.replace(first.opts, cog=False, replace=True))


def cut(scene_dst: Path, extras: list[str], job, window: tuple[int, int, int, int], tags: dict) -> list[Path]:
    """Write ``job``'s output (and its ``extras``, the index names) as its ``window`` of the scene's
    output ``scene_dst``, by the one strip pass (``core/outputs.write_strips``); returns the extra
    outputs written."""
    from contextlib import ExitStack

    import rasterio
    from rasterio.windows import Window

    from bandbridge.inference.core.outputs import Strip, opened, write_strips
    from bandbridge.inference.core.writer import nodata_of, output_profile
    r0, c0, h, w = window
    srcs = [scene_dst] + [scene_dst.with_name(f"{scene_dst.stem}_{k}{scene_dst.suffix}") for k in extras]
    paths = [job.dst] + [job.dst.with_name(f"{job.dst.stem}_{k}{job.dst.suffix}") for k in extras]
    info = raster_info(job.src)
    co = None if job.opts.cog else job.opts.creation
    with rasterio.open(srcs[0]) as s:
        main = output_profile(info.crs, info.transform, h, w, s.count, s.dtypes[0], 1, co) | {"nodata": s.nodata}
        desc, scales, offsets, own = s.descriptions, s.scales, s.offsets, s.tags()
        band_tags = [s.tags(i) for i in range(1, s.count + 1)]
    extra = output_profile(info.crs, info.transform, h, w, 1, "float32", 1, co)
    nd = nodata_of(main["dtype"], main["nodata"])

    def setup(r) -> None:
        r.main.descriptions, r.main.scales, r.main.offsets = desc, scales, offsets
        for d, k in zip(r.extras, extras):
            d.descriptions = (k,)
        for i, t in enumerate(band_tags, 1):
            r.main.update_tags(i, **t)
        for d in [r.main, *r.extras]:
            d.update_tags(**(own | tags | {"bandbridge_source": job.src.name}))

    with ExitStack() as stack:
        handles = [stack.enter_context(rasterio.open(p)) for p in srcs]

        def strip(a: int, b: int) -> Strip:  # the scene's rows as stored, its nodata where the finish wrote it
            win = Window(c0, r0 + a, w, b - a)
            v = handles[0].read(window=win)
            return Strip(v, np.isfinite(v[-1]) & (v[-1] != nd), [hd.read(1, window=win) for hd in handles[1:]])
        rasters = stack.enter_context(opened(paths, main, extra, job.opts.replace, job.opts.cog, job.opts.creation,
                                             setup))
        write_strips(rasters, h, w, strip, main["dtype"], main["nodata"])
    return paths[1:]
