"""Discover the items (input file, target file) of each source and assign them to splits."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandbridge.config import DataConfig, Source, SplitSpec
from bandbridge.errors import BandbridgeError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    """One pair. For multiband sources ``input_path == target_path``; ``id`` names it in splits."""

    id: str
    input_path: str
    target_path: str
    source: int  # index into DataConfig.sources


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _expand(pattern: str, root: Path) -> list[str]:
    """Glob ``pattern`` under root; ``x.npy[*]`` expands to one entry per scene of a 4-D array."""
    star = pattern.endswith(".npy[*]")
    base = pattern[:-3] if star else pattern
    full = base if Path(base).is_absolute() else str(root / base)
    hits = sorted(glob.glob(full)) if glob.has_magic(base) else ([full] if Path(full).exists() else [])
    if not star:
        return hits
    out = []
    for h in hits:
        n = np.load(h, mmap_mode="r").shape[0]
        out += [f"{h}[{k}]" for k in range(n)]
    return out


def _paired(src: Source, root: Path, split: str | None) -> list[tuple[str, str, str]]:
    def listing(d: str, pat: str) -> dict[str, str]:
        d = d.replace("{split}", split) if split else d
        folder = root / d
        if not folder.is_dir():
            return {}
        out = {}
        key = re.compile(src.pair_key) if src.pair_key else None
        for p in sorted(folder.iterdir()):
            if not fnmatch.fnmatch(p.name, pat) or p.suffix.lower() not in \
                    {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy"}:
                continue
            m = key.match(p.stem) if key else None
            if key and not m:
                continue
            out[m.group(1) if m else p.stem] = str(p)
        return out

    a = listing(src.input_dir or "", src.input_glob)
    b = listing(src.target_dir or "", src.target_glob)
    return [(k, a[k], b[k]) for k in sorted(a.keys() & b.keys())]


def _hash_unit(key: str, seed: int = 0) -> float:
    h = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(h[:12], 16) / 16**12


def _matches(item_id: str, patterns: list[str]) -> bool:
    return any(p in item_id or fnmatch.fnmatchcase(item_id, p) for p in patterns)


def assign_split(item_id: str, spec: SplitSpec, listed: dict[str, str] | None = None) -> str:
    """Which split an item goes to (or 'skip'). Groups (scene, site) never straddle splits."""
    if listed is not None and item_id in listed:
        return listed[item_id]
    for s in ("test", "val", "train"):
        if _matches(item_id, getattr(spec, s)):
            return s
    if spec.val_fraction or spec.test_fraction:
        key = item_id
        if spec.group:
            m = re.search(spec.group, item_id)
            key = m.group(1) if m and m.groups() else (m.group(0) if m else item_id)
        u = _hash_unit(key)
        if u < spec.test_fraction:
            return "test"
        if u < spec.test_fraction + spec.val_fraction:
            return "val"
        return "train"
    return spec.default


def _split_file(path: str, root: Path) -> dict[str, str]:
    p = Path(path) if Path(path).is_absolute() else root / path
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


def discover(cfg: DataConfig) -> dict[str, list[Item]]:
    """All items of all sources, by split. Raises when a source finds nothing or a file lands in
    two splits."""
    root = Path(cfg.root)
    if not cfg.sources:
        raise BandbridgeError("data.sources is empty: name a recipe or describe a source")
    by_split: dict[str, list[Item]] = {s: [] for s in SPLITS}
    for si, src in enumerate(cfg.sources):
        label = src.name or f"source {si}"
        listed = _split_file(src.split.file, root) if src.split.file else None
        found = 0
        if src.layout == "multiband":
            if not src.files:
                raise BandbridgeError(f"data source '{label}': layout multiband needs 'files'")
            for pat in src.files:
                for f in _expand(pat, root):
                    iid = _rel(f, root)
                    s = assign_split(iid, src.split, listed)
                    found += 1
                    if s != "skip":
                        by_split[s].append(Item(iid, f, f, si))
        else:
            if not src.input_dir or not src.target_dir:
                raise BandbridgeError(f"data source '{label}': layout paired needs input_dir "
                                      "and target_dir")
            per_folder = "{split}" in src.input_dir
            for split in (SPLITS if per_folder else (None,)):
                for key, a, b in _paired(src, root, split):
                    s = split or assign_split(key, src.split, listed)
                    found += 1
                    if s != "skip":
                        by_split[s].append(Item(key, a, b, si))
        if not found:
            where = src.files or [src.input_dir, src.target_dir]
            raise BandbridgeError(
                f"data source '{label}': no files found for {where} under root '{root}'. "
                "Check data.root (--data PATH) and the source's paths/patterns")
    check_disjoint(by_split)
    return by_split


def check_disjoint(by_split: dict[str, list[Item]]) -> None:
    """Fail if any file feeds two splits (that would leak neighbouring crops into validation)."""
    seen: dict[str, str] = {}
    for s, items in by_split.items():
        for it in items:
            for f in {it.input_path, it.target_path}:
                if seen.setdefault(f, s) != s:
                    raise BandbridgeError(f"{f} is in both the '{seen[f]}' and '{s}' splits; "
                                          "fix the source's split patterns")
