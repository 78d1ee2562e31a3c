"""Which split each item goes to: id patterns, a split file, or fractions of whole groups (a
groups CSV, a regex, frame-number blocks, or by default the groups of near-copies found in the
names, images and footprints), so that correlated items — frames of one sequence, tiles of one
scene, dates of one site — never straddle splits."""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import re
from pathlib import Path

from bandbridge.config import SplitSpec
from bandbridge.errors import BandbridgeError

SPLITS = ("train", "val", "test")


def _hash_unit(key: str, seed: int = 0) -> float:
    h = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(h[:12], 16) / 16**12


def _matches(item_id: str, patterns: list[str]) -> bool:
    return any(p in item_id or fnmatch.fnmatchcase(item_id, p) for p in patterns)


def check_regions(spec: SplitSpec, label: str) -> None:
    """Regions lie in [0, 1], start before they end and never share a pixel."""
    spans = sorted(spec.regions.values())
    if any(not 0 <= a < b <= 1 for a, b in spans):
        raise BandbridgeError(f"data source '{label}': split.regions {spans}: each must satisfy "
                              "0 <= start < end <= 1")
    if any(a < b for (_, b), (a, _) in zip(spans, spans[1:])):
        raise BandbridgeError(f"data source '{label}': split.regions overlap: a pixel would be "
                              "in two splits")


def assign_split(item_id: str, spec: SplitSpec, listed: dict[str, str] | None = None,
                 key: str | None = None, by_group: dict[str, str] | None = None) -> str:
    """Which split an item goes to (or 'skip'). Groups (scene, site, sequence: ``key``, from
    :func:`group_keys`; the id itself when none is given) never straddle splits. ``by_group``:
    the fractions' split of each group (:func:`fraction_splits`), else a stable hash per group."""
    if listed is not None and item_id in listed:
        return listed[item_id]
    for s in ("test", "val", "train"):
        if _matches(item_id, getattr(spec, s)):
            return s
    if spec.val_fraction or spec.test_fraction:
        if by_group is not None and (key or item_id) in by_group:
            return by_group[key or item_id]
        u = _hash_unit(key or item_id)
        if u < spec.test_fraction:
            return "test"
        if u < spec.test_fraction + spec.val_fraction:
            return "val"
        return "train"
    return spec.default


def fraction_splits(keys: dict[str, str], spec: SplitSpec) -> dict[str, str] | None:
    """Whole found groups dealt to test, then validation, then training, in a stable hash order,
    until each split holds its fraction of the items (at least one group each fraction asks
    for, and one for training). None when there are too few groups for that: the split then
    falls back to frame-number blocks within the groups, and validation sees the same scenes."""
    if not (spec.val_fraction or spec.test_fraction):
        return None
    sizes: dict[str, int] = {}
    for g in keys.values():
        sizes[g] = sizes.get(g, 0) + 1
    wanted = [(s, f) for s, f in (("test", spec.test_fraction), ("val", spec.val_fraction)) if f]
    if len(sizes) < len(wanted) + 1:
        return None
    order = sorted(sizes, key=_hash_unit)
    out, n, at = {}, len(keys), 0
    for s, f in wanted:
        got = 0
        while at < len(order) - 1 and (got == 0 or got + sizes[order[at]] / 2 <= f * n):
            out[order[at]] = s
            got += sizes[order[at]]
            at += 1
    for g in order[at:]:
        out[g] = "train"
    return out if "train" in out.values() else None


_LAST_NUMBER = re.compile(r"(\d+)(?=\D*$)")


def group_keys(ids: list[str], spec: SplitSpec, root: Path, label: str,
               paths: list[str | None] | None = None) -> dict[str, str]:
    """The group key of each item id: the ``groups_file`` CSV's group, else the ``group``
    regex's match, else its frame-number block when ``frame_blocks`` is set, else the groups of
    near-copies found in the names, images (``paths``: each id's input file) and footprints
    (data/found_groups.py). Ids a CSV does not list are their own group."""
    if spec.groups_file:
        listed = _groups_csv(spec.groups_file, root, label)
        return {i: listed.get(i, listed.get(Path(i).stem, i)) for i in ids}
    if spec.group:
        keys = {}
        for i in ids:
            m = re.search(spec.group, i)
            keys[i] = m.group(1) if m and m.groups() else (m.group(0) if m else i)
        return keys
    if spec.frame_blocks is None:
        from bandbridge.data.found_groups import find_groups
        return find_groups(ids, paths)
    return frame_block_keys(ids, spec.frame_blocks)


def frame_block_keys(ids: list[str], blocks: int) -> dict[str, str]:
    """Ids that differ only in their last number, cut per prefix into ``blocks`` runs of
    consecutive numbers, each run one key (0: every id its own key)."""
    keys = {i: i for i in ids}
    if blocks:
        runs: dict[str, list[tuple[int, str]]] = {}
        for i in ids:
            m = _LAST_NUMBER.search(i)
            if m:
                runs.setdefault(i[:m.start()] + "#" + i[m.end():], []).append((int(m.group(1)), i))
        for prefix, numbered in runs.items():
            numbered.sort()
            n = len(numbered)
            for rank, (_, i) in enumerate(numbered):  # equal-count runs of consecutive numbers
                keys[i] = f"{prefix}@{rank * blocks // n}"
    return keys


def _regular(p: Path, key: str, give: str) -> None:
    """Refuse a config's file that exists but is no regular file: a FIFO or a device would block
    the run reading it."""
    if p.exists() and not p.is_file():
        raise BandbridgeError(f"{key} {p}: not a regular file; give {give}")


def _groups_csv(path: str, root: Path, label: str) -> dict[str, str]:
    """``{file name and stem: group}`` of a groups CSV (columns ``file``, ``group``)."""
    p = Path(path) if Path(path).is_absolute() else root / path
    _regular(p, f"data source '{label}': split.groups_file", "a CSV with columns file,group (path relative to data.root)")
    try:
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise BandbridgeError(f"data source '{label}': split.groups_file {p}: not found; give a "
                              "CSV with columns file,group (path relative to data.root)") from None
    if not rows or not {"file", "group"} <= set(rows[0]):
        raise BandbridgeError(f"data source '{label}': split.groups_file {p}: needs a header "
                              "with columns 'file' and 'group'")
    out = {}
    for r in rows:
        name = Path(r["file"]).name
        out[name] = out[Path(name).stem] = r["group"]
    return out


def read_split_file(path: str, root: Path) -> dict[str, str]:
    """A split file (JSON ``{split: [ids]}``, relative to ``root``) as ``{id: split}``."""
    p = Path(path) if Path(path).is_absolute() else root / path
    _regular(p, "split.file", "a JSON file of ids per split")
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise BandbridgeError(f"split file {p}: not found") from None
    except json.JSONDecodeError as e:
        raise BandbridgeError(f"split file {p}: not valid JSON ({e})") from None
    out = {}
    for s, ids in d.items():
        if s not in SPLITS:
            raise BandbridgeError(f"split file {p}: unknown split '{s}' (use train/val/test)")
        out.update({str(i): s for i in ids})
    return out
