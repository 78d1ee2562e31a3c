"""Groups of near-copies found when the user names none, so that no split, fold or
leave-one-out rule scores a model on near-copies of its training items.

Three cues link two items; the groups are the connected components of the links:

- **names**: ids that differ only in their numbers (``FLIR_00012``, ``DHV_Fire_part1_0026``,
  ``tanzania_20170305``) are one family. A family whose numbers fill at least ``GROUP_DENSE`` of
  their range is one collection (one counter over consecutive shots: a video's frames, a photo
  set's categories ``country_0000 … country_0070``): one group. A sparser family (one counter
  over a dataset's many drives, dates of a site) is cut where the counter jumps: neighbours in
  numeric order are linked unless their step is more than ``GROUP_BREAK`` times the family's median
  step and more than ``GROUP_MIN_STEP``.
- **images**: a perceptual hash (``imagehash.phash``, 64 bits) of each input image's thumbnail;
  two images within ``NEAR_COPY`` bits are near-copies whatever their names. Measured on the
  dev data (RoadScene, TNO, EPFL photos): pairs from different scenes or categories are never
  closer than 18 bits (0.1st percentile), so 6 bits joins only true near-copies; frames of one
  moving sequence are often 20–30 bits apart, which is why names are the first cue.
- **footprints**: georeferenced rasters in one CRS whose footprints overlap by at least
  ``SAME_PLACE`` of the smaller one (dates of one site, tiles of one scene's overlap).

Names are read one way: a leading counter that steps by one continues the sequence
(``part1`` → ``part2``), so scenes numbered in their names (``scene1_0001``, ``scene2_0001``) are
one group. A user's ``split.group`` regex or ``split.groups_file`` replaces all of this
(data/splits.py), and ``split.frame_blocks`` restores the frame-number blocks of earlier
releases.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from bandbridge.policy import GROUP_BREAK, GROUP_DENSE, GROUP_MIN_STEP, IMAGE_CUE_MAX, NEAR_COPY, SAME_PLACE

_NUM = re.compile(r"\d+")


class _Links:
    """Union-find over item indices."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def name_links(ids: list[str]) -> list[tuple[int, int]]:
    """Links between ids of one name family (the id with every digit run replaced by ``#``)
    that are neighbours in numeric order with no break between them."""
    fams: dict[str, list[tuple[tuple[int, ...], int]]] = {}
    for k, i in enumerate(ids):
        nums = tuple(int(n) for n in _NUM.findall(i))
        if nums:
            fams.setdefault(_NUM.sub("#", i), []).append((nums, k))
    links = []
    for members in fams.values():
        members.sort()
        # the step at the first number that differs (part1_0026 → part2_0000: one step of the part counter)
        steps = [next((abs(y - x) for x, y in zip(a, b) if x != y), 0) for (a, _), (b, _) in zip(members, members[1:])]
        if not steps:
            continue
        if len(members) / (1 + sum(steps)) >= GROUP_DENSE:  # one counter over one collection
            limit = float("inf")
        else:
            limit = max(GROUP_MIN_STEP, GROUP_BREAK * float(np.median(steps)))
        links += [(members[j][1], members[j + 1][1]) for j, s in enumerate(steps) if s <= limit]
    return links


def raster_cues(paths: list[str | None], hashes: bool = True
                ) -> tuple[list[int | None], list[tuple[str, tuple[float, ...]] | None]]:
    """Each file opened once: ``(hashes, places)`` — the 64-bit perceptual hash of its thumbnail
    (``hashes=False``: none read) and ``(crs, (left, bottom, right, top))`` when it is
    georeferenced; None where a file cannot be read (a cube's time step, a missing file)."""
    import rasterio
    out_h: list[int | None] = []
    out_p: list = []
    for p in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # non-georeferenced PNG/JPEG
                ds = rasterio.open(p)
            with ds:
                out_p.append((ds.crs.to_string(), tuple(ds.bounds)) if ds.crs else None)
                out_h.append(_phash(ds) if hashes else None)
        except Exception:  # noqa: BLE001 - not a plain raster: names still link it
            out_h.append(None)
            out_p.append(None)
    return out_h, out_p


def _phash(ds) -> int:
    """``imagehash.phash`` of an open raster's 64² average-resampled gray thumbnail."""
    import imagehash
    from PIL import Image
    from rasterio.enums import Resampling
    bands = list(range(1, min(ds.count, 3) + 1))
    a = np.nan_to_num(ds.read(bands, out_shape=(len(bands), 64, 64),
                              resampling=Resampling.average).astype(np.float32).mean(0))
    lo, hi = float(a.min()), float(a.max())
    g = ((a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)).astype(np.uint8)
    bits = imagehash.phash(Image.fromarray(g)).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def image_links(hashes: list[int | None]) -> list[tuple[int, int]]:
    """Links between images whose hashes are within ``NEAR_COPY`` bits."""
    have = [k for k, h in enumerate(hashes) if h is not None]
    if len(have) < 2:
        return []
    h = np.array([hashes[k] for k in have], dtype=np.uint64)
    links = []
    for a in range(len(h)):
        x = np.bitwise_xor(h[a], h[a + 1:])
        bits = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
        links += [(have[a], have[a + 1 + j]) for j in np.flatnonzero(bits <= NEAR_COPY)]
    return links


def place_links(places: list) -> list[tuple[int, int]]:
    """Links between rasters in one CRS whose footprints overlap by ``SAME_PLACE`` of the
    smaller one."""
    links = []
    geo = [(k, c, b) for k, p in enumerate(places) if p is not None for c, b in [p]]
    for n, (i, ci, (l1, b1, r1, t1)) in enumerate(geo):
        for j, cj, (l2, b2, r2, t2) in geo[n + 1:]:
            if ci != cj:
                continue
            w, h = min(r1, r2) - max(l1, l2), min(t1, t2) - max(b1, b2)
            small = min((r1 - l1) * (t1 - b1), (r2 - l2) * (t2 - b2))
            if w > 0 and h > 0 and small > 0 and w * h >= SAME_PLACE * small:
                links.append((i, j))
    return links


def find_groups(ids: list[str], paths: list[str | None] | None = None) -> dict[str, str]:
    """``{id: group key}``: the connected components of the name, image and footprint links;
    a group's key is its first id in sorted order. ``paths``: each id's input image (None, or
    no list: names only)."""
    order = sorted(range(len(ids)), key=lambda k: ids[k])
    ids = [ids[k] for k in order]
    paths = [paths[k] for k in order] if paths is not None else [None] * len(ids)
    links = _Links(len(ids))
    found = name_links(ids)
    if any(p is not None for p in paths):
        hashes, places = raster_cues(paths, hashes=len(ids) <= IMAGE_CUE_MAX)
        found += place_links(places) + image_links(hashes)
    for i, j in found:
        links.join(i, j)
    return {i: ids[links.find(k)] for k, i in enumerate(ids)}


def blind_validation(train: list, val: list) -> str | None:
    """The one line a run prints when its validation cannot see other scenes — every
    validation group (``LoadedPair.group``: source/group) also trains, or all items are one
    group — else None."""
    tg, vg = {p.group for p in train}, {p.group for p in val}
    if len(tg | vg) >= 2 and not (val and vg <= tg):
        return None
    n = len({p.item.id for p in train + val})
    return (f"validation cannot see other scenes: {n} item(s), {len(tg | vg)} group(s)"
            + (", every validation group also trains" if len(tg | vg) >= 2 else ""))


def group_counts(pairs_by_split: dict[str, list]) -> dict[str, int]:
    """``{split: groups}`` of loaded pairs — what evaluation tables and run summaries state."""
    return {s: len({p.group for p in ps}) for s, ps in pairs_by_split.items() if ps}


def group_lines(pairs_by_split: dict[str, list]) -> list[str]:
    """One line per source: its items and groups per split, and what made the groups."""
    by_source: dict[str, dict[str, list]] = {}
    for s, ps in pairs_by_split.items():
        for p in ps:
            by_source.setdefault(p.source.name, {}).setdefault(s, []).append(p)
    out = []
    for name, splits in by_source.items():
        sp = next(iter(splits.values()))[0].source.split
        rule = ("split.groups_file" if sp.groups_file else "split.group" if sp.group else
                f"frame_blocks {sp.frame_blocks}" if sp.frame_blocks is not None else
                "found in names, images and footprints")
        per = ", ".join(f"{s} {len({p.item.id for p in ps})} item(s) / {len({p.group for p in ps})} "
                        f"group(s)" for s, ps in splits.items())
        out.append(f"groups of {name} ({rule}): {per}")
    return out


def group_members(pairs_by_split: dict[str, list]) -> dict[str, dict[str, dict[str, list[str]]]]:
    """``{source: {split: {group: [item ids]}}}``: the run's ``groups.json``."""
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for s, ps in pairs_by_split.items():
        for p in ps:
            ids = out.setdefault(p.source.name, {}).setdefault(s, {}).setdefault(
                p.item.group or p.item.id, [])
            if p.item.id not in ids:
                ids.append(p.item.id)
    return out
