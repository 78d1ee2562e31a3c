"""What a run reads, named or implied, and the one guard of every file a command writes against it.

A name a user gives implies more than itself: a band, product or SAFE folder (a file written inside
one becomes one of its inputs), the SAFE around a file named inside it, a VRT's sources (recursively,
as GDAL resolves them, whatever the VRT's suffix), a STAC Item's local assets, a cube reference's
``#scl=`` and ``#grid=`` files, and the sidecars GDAL opens beside a raster. :func:`paths_read` lists
them for one name; :func:`check_output_file` refuses, before any work, an output that is any of them
(the same path, a link or a hard link to it) or lies inside a folder among them. Only the standard
library reads the VRTs and Items here: nothing is opened by GDAL, nothing is fetched.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import unquote, urlparse

from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_output_suffix, check_writable, inside, path_kind

_NPY_STEP = re.compile(r"\[\d+\]$")  # ``stack.npy[3]``: one array of a 4-D stack
SIDECARS = (".aux.xml", ".ovr", ".msk")  # what GDAL opens beside a raster of that name
HEAD = 256  # bytes looked at to tell a VRT (GDAL opens one by its content, named .tif or not) or JSON


def paths_read(item: str | Path) -> list[Path]:
    """Every file and folder a name makes a run read: a cube reference's cube and its ``#scl=`` and
    ``#grid=`` files; a folder and every file under it; the ``.SAFE`` folder around a path inside
    one; a VRT's sources and a STAC Item's local assets (each expanded in turn); the sidecars beside
    a raster (``.aux.xml``, ``.ovr``, ``.msk``); a name that is not there, or no local path, as
    itself. Files a command finds beside an input by its own rule (``fill``'s SCL) are the
    command's to add."""
    if is_cube(item):
        ref = parse_ref(item)
        return [ref.path, *(ref.file(f) for f in (ref.scl, ref.grid) if f)]
    out, todo, seen = [], [Path(_NPY_STEP.sub("", str(item)))], set()
    while todo:  # a stack, not recursion: a chain of VRTs any length, each file once (cycles end)
        p = todo.pop()
        key = os.path.abspath(p)
        if key in seen:
            continue
        seen.add(key)
        out.append(p)
        todo.extend(reversed(_implied(p)))
    return out


def _local(name: str) -> bool:
    """Whether ``name`` is a plain local path (not a URL, a GDAL ``/vsi…`` address or a connection
    string with options; those are the readers' to accept or refuse)."""
    return bool(name) and "://" not in name and not name.startswith("/vsi") and "?" not in name


def _implied(p: Path) -> list[Path]:
    """What reading ``p`` reads besides itself (one step)."""
    if not _local(str(p)):
        return []
    safe = [a for a in Path(os.path.abspath(p)).parents if a.suffix.upper() == ".SAFE"][:1]
    kind = path_kind(p)
    if kind == "a folder":
        return safe + sorted(Path(d) / f for d, _, fs in os.walk(p) for f in fs)
    if kind is not None or not p.is_file():
        return safe
    try:
        with open(p, "rb") as f:
            head = f.read(HEAD).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return safe
    found = (_vrt_sources(p) if head.startswith(b"<VRTDataset") else
             _item_assets(p) if head.startswith(b"{") else [])
    return safe + found + [q for q in (Path(f"{p}{s}") for s in SIDECARS) if q.exists()]


def _vrt_sources(vrt: Path) -> list[Path]:
    """A VRT's source files as GDAL resolves them: ``relativeToVRT="1"`` against its folder, any
    other relative name against the working folder."""
    try:
        root = ET.parse(vrt).getroot()
    except (ET.ParseError, OSError, ValueError):
        return []  # not a VRT GDAL reads either: the reader refuses it
    out = []
    for el in root.iter("SourceFilename"):
        name = (el.text or "").strip()
        if not _local(name):
            continue
        rel = (el.get("relativeToVRT") or el.get("relativetoVRT") or "0").strip() == "1"
        out.append(vrt.parent / name if rel and not Path(name).is_absolute() else Path(name))
    return out


def _item_assets(item: Path) -> list[Path]:
    """A STAC Item's local asset files: relative hrefs against the Item's folder, absolute paths and
    ``file://`` URLs as they say (any other href is no local file)."""
    try:
        d = json.loads(item.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError):  # not JSON, or nested past Python's depth
        return []
    assets = d.get("assets") if isinstance(d, dict) else None
    out = []
    for a in (assets.values() if isinstance(assets, dict) else []):
        href = a.get("href") if isinstance(a, dict) else None
        if isinstance(href, str) and href.startswith("file://"):
            href = unquote(urlparse(href).path)
        if isinstance(href, str) and _local(href):
            out.append(Path(href) if Path(href).is_absolute() else item.parent / href)
    return out


@dataclass
class Reads:
    """Every path a run reads, each with the name the user gave that implies it: looked up by
    resolved path and by file identity (a link or hard link to an input is the input)."""

    by_path: dict = field(default_factory=dict)  # resolved path -> (path, named)
    by_id: dict = field(default_factory=dict)  # (st_dev, st_ino) -> (path, named)
    folders: list = field(default_factory=list)  # (resolved folder, named)

    def add(self, named: str, path: Path) -> None:
        self.by_path.setdefault(path.resolve(), (path, named))
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return
        self.by_id.setdefault((st.st_dev, st.st_ino), (path, named))
        if path.is_dir():
            self.folders.append((path.resolve(), named))

    def file_at(self, out: Path) -> tuple[Path, str] | None:
        """The input ``out`` is (by its resolved path, or its file if it exists), else None."""
        try:
            st = os.stat(out)
            hit = self.by_id.get((st.st_dev, st.st_ino))
        except (OSError, ValueError):
            hit = None
        return hit or self.by_path.get(out.resolve())

    def folder_holding(self, out: Path) -> str | None:
        """The name of the input folder ``out`` lies in (or is), else None."""
        r = out.resolve()
        return next((named for folder, named in self.folders if inside(r, folder)), None)


def read_by(names: Sequence[str | Path | None]) -> Reads:
    """What a run reads given ``names`` as the user gave them (None skipped): each expanded by
    :func:`paths_read`. Made once for a run that checks many outputs (``predict`` of a folder)."""
    r = Reads()
    for n in names:
        if n is not None and str(n) != "":
            for p in paths_read(n):
                r.add(str(n), p)
    return r


def check_output_file(path: Path, inputs: Sequence[str | Path | None] | Reads, overwrite: bool,
                      flag: str = "--output", formats: dict[str, str] | None = None, command: str = "") -> None:
    """The one output guard: refuse, before any work and in one line naming ``flag``, an output file
    named for another format than the command writes (``formats``, ``fileio.check_output_suffix``),
    that is anything the run reads (``inputs`` as the user named them, or :func:`read_by` of them:
    the same path, a link or a hard link), lies inside a folder it reads (a band folder, a product,
    a SAFE), is a folder, exists without ``--overwrite``, or lies in a folder that cannot be written."""
    path = Path(path)
    if formats:
        check_output_suffix(path, formats, command, flag)
    read = inputs if isinstance(inputs, Reads) else read_by(inputs)
    hit = read.file_at(path)
    if hit is not None and not path.is_dir():  # a folder: said below
        src, named = hit
        via = "" if Path(named) == src else f" (read through {named})"
        raise BandbridgeError(f"{flag} {path} is the input file {src}{via}; writing it would destroy the input: "
                              "choose another output path")
    folder = read.folder_holding(path)
    if folder is not None:
        raise BandbridgeError(f"{flag} {path} is inside {folder}, a folder this run reads (a band folder, product or "
                              "SAFE: a file written there becomes one of its inputs): choose another output path")
    if path.is_dir():
        raise BandbridgeError(f"{flag} {path} is a folder; give a file path (e.g. {path / 'out.tif'}) or, for "
                              "several inputs, a folder without the .tif suffix")
    if path.exists() and not overwrite:
        raise BandbridgeError(f"{flag} {path} already exists; add --overwrite to replace it (or choose another path)")
    check_writable(path.parent, flag)
