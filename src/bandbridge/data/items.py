"""Discover the items (input file, target file) of each source and assign them to splits."""

from __future__ import annotations

import fnmatch
import glob
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bandbridge.bands import get_scaling
from bandbridge.config import BandSel, DataConfig, Source, SplitSpec
from bandbridge.data.reader import raster_info, select_bands
from bandbridge.errors import BandbridgeError
from bandbridge.data.splits import (SPLITS, assign_split, check_regions, fraction_splits, frame_block_keys,
                                   group_keys, read_split_file)

IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy"}  # what a folder listing reads


@dataclass(frozen=True)
class Item:
    """One pair. For multiband sources ``input_path == target_path``; ``id`` names it in splits."""

    id: str
    input_path: str
    target_path: str
    source: int  # index into DataConfig.sources
    region: tuple[str, float, float] | None = None  # ('rows' | 'cols', start, end) fractions
    group: str = ""  # the split's group key (scene, site, sequence): what validation scores apart

    @property
    def label(self) -> str:
        """The id, with the region when the item is one band of a scene."""
        if self.region is None:
            return self.id
        axis, a, b = self.region
        return f"{self.id} [{axis} {a:g}–{b:g}]"


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _under(p: str, root: Path) -> Path:
    """``p`` as given when absolute, else under ``root``."""
    return Path(p) if Path(p).is_absolute() else root / p


def _expand(pattern: str, root: Path) -> list[str]:
    """Glob ``pattern`` under root; ``x.npy[*]`` expands to one entry per scene of a 4-D array."""
    one = re.fullmatch(r"(.*\.npy)\[(\d+)\]", pattern)  # one scene of a stack, named
    if one:
        full = _under(one.group(1), root)
        return [f"{full}[{one.group(2)}]"] if full.exists() else []
    star = pattern.endswith(".npy[*]")
    base = pattern[:-3] if star else pattern
    full = str(_under(base, root))
    hits = sorted(glob.glob(full)) if glob.has_magic(base) else ([full] if Path(full).exists() else [])
    if not star:
        return hits
    out = []
    for h in hits:
        n = np.load(h, mmap_mode="r").shape[0]
        out += [f"{h}[{k}]" for k in range(n)]
    return out


def _path(p: str, root: Path) -> str:
    full = _under(p, root)
    if not full.exists():
        raise BandbridgeError(f"{full}: file not found; check the pair's path")
    return str(full)


def _paired(src: Source, root: Path, split: str | None) -> list[tuple[str, str, str]]:
    def listing(d: str, pat: str) -> dict[str, str]:
        d = d.replace("{split}", split) if split else d
        folder = root / d
        if not folder.is_dir():
            return {}
        out = {}
        key = re.compile(src.pair_key) if src.pair_key else None
        for p in sorted(folder.iterdir()):
            if not fnmatch.fnmatch(p.name, pat) or p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            m = key.match(p.stem) if key else None
            if key and not m:
                continue
            out[m.group(1) if m else p.stem] = str(p)
        return out

    if src.pairs:  # explicit (input, target) files: the input's stem names the pair
        return [(Path(a).stem, _path(a, root), _path(b, root)) for a, b in src.pairs]
    a = listing(src.input_dir or "", src.input_glob)
    b = listing(src.target_dir or "", src.target_glob)
    lone = sorted([a[k] for k in a.keys() - b.keys()] + [b[k] for k in b.keys() - a.keys()])
    if lone:  # a silently dropped file would shrink a split unseen, or empty it with a wrong blame
        shown = ", ".join(_rel(f, root) for f in lone[:5]) + (f" and {len(lone) - 5} more" if len(lone) > 5 else "")
        raise BandbridgeError(
            f"data source '{src.name or src.input_dir}': {len(lone)} file(s) without a partner in "
            f"the other folder ({shown}); add the partners, remove them, or set pair_key (a regex "
            "whose first group is the shared id) or input_glob/target_glob")
    return [(k, a[k], b[k]) for k in sorted(a.keys() & b.keys())]


def _cube_keys(patterns: list[str], src: Source, root: Path, label: str) -> dict[str, str]:
    """{pair key: cube} of ``patterns``: the ``pair_key`` regex's first group searched in the path
    under root, or the cube's folder."""
    key = re.compile(src.pair_key) if src.pair_key else None
    out: dict[str, str] = {}
    for f in (f for pat in patterns for f in _expand(pat, root)):
        rel = _rel(f, root)
        m = key.search(rel) if key else None
        if key and not m:
            continue
        k = (m.group(1) if m.groups() else m.group(0)) if m else str(Path(rel).parent)
        if k in out:
            raise BandbridgeError(f"data source '{label}': {out[k]} and {f} share the pair key "
                                  f"'{k}'; set pair_key to a regex that tells them apart")
        out[k] = f
    return out


def _steps(ref: str, sel: BandSel, min_clear: float) -> list[tuple[str, object]]:
    """(date label, time) of the time steps of cube ``ref`` with ≥ min_clear usable pixels."""
    from bandbridge.data.cube import step_fractions
    info = raster_info(ref, sel.band_names, sel.sensor, sel.bands)
    idx = select_bands(info.bands, sel.bands, ref)
    zero = get_scaling(sel.scaling, sel.vmin, sel.vmax).zero_is_nodata
    return [(lab, t) for lab, t, f in step_fractions(ref, idx, zero) if f >= min_clear]


def _datacube(src: Source, root: Path, label: str) -> list[tuple[str, str, str]]:
    """(id, input reference, target reference) of each usable time step (see ``Source``): one
    cube per item (``files``), or each usable target date with the nearest usable input date
    within ``pair_days`` of the input cube with the same pair key, on the target's grid."""
    from bandbridge.data.cube_dataset import same_grid
    from bandbridge.data.cube_ref import CubeRef

    def target_ref(f: str) -> CubeRef:
        scl = None
        if src.cloud_mask == "SCL":
            scl = ""
            if src.cloud_mask_file:
                hits = sorted(Path(f).parent.glob(src.cloud_mask_file))
                if len(hits) != 1:
                    raise BandbridgeError(
                        f"data source '{label}': cloud_mask_file '{src.cloud_mask_file}' matches "
                        f"{len(hits)} files beside {f}; it must name exactly one")
                scl = hits[0].name
        return CubeRef(Path(f), scl=scl)

    def at(ref: CubeRef, date: str) -> str:
        return str(replace(ref, date=date or None))

    if src.files and (src.input_files or src.target_files):
        raise BandbridgeError(f"data source '{label}': give either files or "
                              "input_files/target_files, not both")
    out = []
    if src.files:
        for f in (f for pat in src.files for f in _expand(pat, root)):
            ref = target_ref(f)
            usable = set(_steps(str(ref), src.input, src.min_clear))
            for d, t in _steps(str(ref), src.target, src.min_clear):
                if (d, t) in usable:
                    out.append((_rel(f, root) + (f"@{d}" if d else ""), at(ref, d), at(ref, d)))
        return out
    if not src.input_files or not src.target_files:
        raise BandbridgeError(f"data source '{label}': layout datacube needs 'files', or "
                              "'input_files' and 'target_files'")
    ins = _cube_keys(src.input_files, src, root, label)
    tgs = _cube_keys(src.target_files, src, root, label)
    days = np.timedelta64(int(src.pair_days * 86400), "s")
    for k in sorted(ins.keys() & tgs.keys()):
        tref = target_ref(tgs[k])
        iref = CubeRef(Path(ins[k]))
        if not same_grid(ins[k], tgs[k]):
            g = Path(tgs[k])
            iref = replace(iref, grid=g.name if g.parent == Path(ins[k]).parent else str(g))
        inputs = _steps(str(replace(iref, grid=None)), src.input, src.min_clear)
        for d, t in _steps(str(tref), src.target, src.min_clear):
            if t is None:  # a cube without time pairs with an input cube without time
                near = [(days * 0, di) for di, ti in inputs if ti is None]
            else:
                near = [(abs(ti - t), di) for di, ti in inputs
                        if ti is not None and abs(ti - t) <= days]
            if near:  # the nearest input date
                out.append((_rel(tgs[k], root) + (f"@{d}" if d else ""), at(iref, min(near)[1]),
                            at(tref, d)))
    return out


def _add(by_split: dict[str, list[Item]], s: str, item: Item, spec: SplitSpec) -> None:
    """File ``item`` under split ``s``, or under every split of ``spec.regions`` (one band each)."""
    if spec.regions:
        for split, (a, b) in spec.regions.items():
            by_split[split].append(replace(item, region=(spec.region_axis, a, b)))
    elif s != "skip":
        by_split[s].append(item)


def discover(cfg: DataConfig) -> dict[str, list[Item]]:
    """All items of all sources, by split. Raises when a source finds nothing or a file lands in
    two splits."""
    root = Path(cfg.root)
    if not cfg.sources:
        raise BandbridgeError("data.sources is empty: name a recipe or describe a source")
    by_split: dict[str, list[Item]] = {s: [] for s in SPLITS}
    for si, src in enumerate(cfg.sources):
        label = src.name or f"source {si}"
        listed = read_split_file(src.split.file, root) if src.split.file else None
        check_regions(src.split, label)
        if src.layout == "unpaired":  # no pairs at all: data/unpaired.py reads each side
            continue
        found = _source_items(src, root, label)  # (id, input, target, split from its folder)
        keys = group_keys([f[0] for f in found], src.split, root, label, [f[1] for f in found])
        split_keys, by_group = split_plan(keys, src.split)
        for iid, a, b, folder_split in found:
            s = folder_split or assign_split(iid, src.split, listed, split_keys[iid], by_group)
            _add(by_split, s, Item(iid, a, b, si, group=keys[iid]), src.split)
        if not found:
            where = src.files or src.input_files + src.target_files or [src.input_dir,
                                                                         src.target_dir]
            if src.layout == "datacube":
                raise BandbridgeError(
                    f"data source '{label}': no cube time step found for {where} under root "
                    f"'{root}' with ≥ {src.min_clear:g} usable pixels"
                    + (f" and an input within {src.pair_days:g} days" if src.input_files else "")
                    + ". Check data.root (--data PATH), the patterns, min_clear and pair_days")
            raise BandbridgeError(
                f"data source '{label}': no files found for {where} under root '{root}'. "
                "Check data.root (--data PATH) and the source's paths/patterns")
    check_disjoint(by_split)
    return by_split


def _source_items(src: Source, root: Path, label: str) -> list[tuple[str, str, str, str | None]]:
    """``(id, input path, target path, split named by its folder or None)`` of each item."""
    if src.layout in ("multiband", "hr"):  # hr: the target file alone (input made from it)
        if not src.files:
            raise BandbridgeError(f"data source '{label}': layout {src.layout} needs 'files'")
        return [(_rel(f, root), f, f, None) for pat in src.files for f in _expand(pat, root)]
    if src.layout == "datacube":
        return [(iid, a, b, None) for iid, a, b in _datacube(src, root, label)]
    if not src.pairs and (not src.input_dir or not src.target_dir):
        raise BandbridgeError(f"data source '{label}': layout paired needs input_dir "
                              "and target_dir")
    per_folder = "{split}" in (src.input_dir or "")
    return [(key, a, b, split) for split in (SPLITS if per_folder else (None,))
            for key, a, b in _paired(src, root, split)]


def side_files(src: Source, root: Path, side: str) -> list[str]:
    """The images of one side (``input`` or ``target``) of an unpaired source: its globs
    (``input_files``), else the files of its folder (``input_dir``) matching ``input_glob``."""
    globs, folder, pat = (getattr(src, f"{side}_{k}") for k in ("files", "dir", "glob"))
    if globs:
        return sorted({f for g in globs for f in _expand(g, root)})
    d = _under(folder or "", root)
    if not folder or not d.is_dir():
        return []
    return [str(p) for p in sorted(d.iterdir())
            if fnmatch.fnmatch(p.name, pat) and p.suffix.lower() in IMAGE_SUFFIXES]


def discover_unpaired(cfg: DataConfig) -> dict[str, dict[str, list[Item]]]:
    """Each split's input images and target images of the layout 'unpaired' sources, listed
    apart (``{split: {"input": [...], "target": [...]}}``; an item's two paths are its one file).
    A file's split comes from its stem, so a registered partner, where one exists, shares it."""
    root = Path(cfg.root)
    out: dict[str, dict[str, list[Item]]] = {s: {"input": [], "target": []} for s in SPLITS}
    for si, src in enumerate(cfg.sources):
        label = src.name or f"source {si}"
        if src.layout != "unpaired":
            raise BandbridgeError(f"data source '{label}': model.kind cyclegan reads layout "
                                  f"'unpaired' sources, this one is '{src.layout}'; set layout: "
                                  "unpaired (input_dir and target_dir are then read apart)")
        listed = read_split_file(src.split.file, root) if src.split.file else None
        check_regions(src.split, label)
        files = {side: side_files(src, root, side) for side in ("input", "target")}
        for side in files:
            if not files[side]:
                where = getattr(src, f"{side}_files") or getattr(src, f"{side}_dir")
                raise BandbridgeError(
                    f"data source '{label}': no {side} images found for {where!r} under root "
                    f"'{root}'; check data.root (--data PATH) and {side}_dir/{side}_glob or "
                    f"{side}_files")
        # keys over both sides' stems: a registered partner falls in its partner's group
        stems = {Path(f).stem: f for side in ("target", "input") for f in files[side]}
        ids = sorted(stems)  # an input file stands for its registered partner's images
        keys = group_keys(ids, src.split, root, label, [stems[i] for i in ids])
        split_keys, by_group = split_plan(keys, src.split)
        for side in files:
            by_split = {s: out[s][side] for s in SPLITS}  # the same lists: filed in place
            for f in files[side]:
                iid = Path(f).stem
                _add(by_split, assign_split(iid, src.split, listed, split_keys[iid], by_group),
                     Item(iid, f, f, si), src.split)
    return out


def split_plan(keys: dict[str, str], spec) -> tuple[dict[str, str], dict[str, str] | None]:
    """The keys the split deals by and, for found groups, each group's split. With too few
    found groups for the fractions, frame-number blocks within them: validation then sees the
    same scenes (the run says so: found_groups.blind_validation)."""
    if spec.frame_blocks is not None or spec.group or spec.groups_file:
        return keys, None
    by_group = fraction_splits(keys, spec)
    if by_group is None and (spec.val_fraction or spec.test_fraction):
        return frame_block_keys(list(keys), 20), None
    return keys, by_group


def check_disjoint(by_split: dict[str, list[Item]]) -> None:
    """Fail if any file's pixels feed two splits (that would leak neighbouring crops into
    validation); regions of one file in different splits must not overlap."""
    seen: dict[str, list[tuple[str, Item]]] = {}
    for s, items in by_split.items():
        for it in items:
            for f in {it.input_path, it.target_path}:
                for s2, other in seen.setdefault(f, []):
                    if s2 != s and _overlap(it, other):
                        raise BandbridgeError(f"{f} is in both the '{s2}' and '{s}' splits; "
                                              "fix the source's split patterns or regions")
                seen[f].append((s, it))


def _overlap(a: Item, b: Item) -> bool:
    if a.region is None or b.region is None or a.region[0] != b.region[0]:
        return True
    return a.region[1] < b.region[2] and b.region[1] < a.region[2]
