"""What a run reads, named or implied, and the one guard of every file a command writes against it.

A name a user gives implies more than itself: a band, product or SAFE folder (a file written inside
one becomes one of its inputs), the SAFE around a file named inside it, a VRT's sources (recursively,
as GDAL resolves them, whatever the VRT's suffix), a STAC Item's local assets, a cube reference's
``#scl=`` and ``#grid=`` files, and the sidecars GDAL opens beside a raster. :func:`paths_read` lists
them for one name; :func:`check_output_file` refuses, before any work, an output that is any of them
(the same path, a link or a hard link to it) or lies inside a folder among them. Only the standard
library reads the VRTs and Items here: nothing is opened by GDAL, nothing is fetched.

It is also the one guard of every VRT a run opens (issue 98), at any depth: one named, a local
Item's asset, a source of another VRT, one written in the cache for an Item. Its sources are held
to the rules ``inference/interop/stac_io.py`` holds an href to: a local file, ``/vsicurl/`` of an
http(s) URL or ``/vsis3/``; never GDAL's options form ``/vsi…?OPTIONS`` anywhere in it (its
``header_file=`` reads a local file and sends it as a header), another ``/vsi…`` path, a connection
string (``HDF5:``, ``vrt://``, a bare ``http://`` GDAL would download and open as any format) or
inline XML. :func:`paths_read` refuses such a VRT (so every command's output guard does, before any
work); :func:`check_open`, called by the reader before GDAL opens a file, refuses it too and opens
each network source as GeoTIFF or JPEG 2000 only (:data:`NETWORK_FORMATS`: a VRT served as
``B05.tif`` would name sources of its own). A VRT this module cannot parse is refused, not passed.
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
HEAD = 4096  # bytes looked at to tell a VRT (GDAL opens one by its content, named .tif or not: "<VRTDataset" in
# its first 1024 bytes, after a comment or an XML declaration too) or JSON
VRT_MARK = b"<VRTDataset"
NETWORK_FORMATS = ("GTiff", "COG", "JP2OpenJPEG")  # GDAL's drivers of formats that name no other file
_OPTIONS = re.compile(r"/vsi[A-Za-z0-9_]*\?")  # GDAL's /vsicurl?header_file=FILE&url=… form (any handler)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-_]*:")  # a connection string's (HDF5:, GTIFF_DIR:, vrt://, http:)
_NETWORK = re.compile(r"/vsicurl/(?i:https?)://[A-Za-z0-9.\-_\[\]:]+(/|$)|/vsis3/[a-z0-9][a-z0-9.\-_]*/")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SOURCES_READ = "local files, /vsicurl/http(s)://… and /vsis3/…: replace that source, or give its file"


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
        todo.extend(reversed(_implied(p, str(item))))
    return out


def _local(name: str) -> bool:
    """Whether ``name`` is a plain local path (not a URL, a GDAL ``/vsi…`` address or a connection
    string with options; those are the readers' to accept or refuse)."""
    return bool(name) and "://" not in name and not name.startswith("/vsi") and "?" not in name


def _implied(p: Path, via: str | None = None) -> list[Path]:
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
    found = (vrt_sources(p, via)[0] if _vrt_head(head) else _item_assets(p) if head.startswith(b"{") else [])
    return safe + found + [q for q in (Path(f"{p}{s}") for s in SIDECARS) if q.exists()]


def _vrt_head(head: bytes) -> bool:
    """Whether a file's first bytes make GDAL read it as a VRT: the mark before any NUL byte (GDAL's
    test is a C string search of its header; a GeoTIFF's own bytes hold NULs from the fourth on)."""
    return VRT_MARK in head.split(b"\0", 1)[0]


def _is_vrt(p: Path) -> bool:
    """Whether GDAL opens the local file ``p`` as a VRT (by its content, whatever its name)."""
    try:
        with open(p, "rb") as f:
            return _vrt_head(f.read(HEAD))
    except OSError:
        return False


def _refuse(vrt: Path, name: str, why: str, via: str | None = None):
    shown, through = _CONTROL.sub("", name)[:200], f" (read through {via})" if via and via != str(vrt) else ""
    raise BandbridgeError(f"{vrt}{through}: its source '{shown}' is {why}, which bandbridge never hands GDAL; the "
                          f"sources of a VRT it reads are {SOURCES_READ}")


def _parsed(vrt: Path) -> tuple[object, str]:
    """``(the VRT's XML root, its text)``, refused in one line where it holds a DTD (whose entities
    GDAL does not expand as a parser does) or cannot be parsed (GDAL's parser is more lenient: what
    is not checked is not passed); ``(None, "")`` where it cannot be read (GDAL cannot either)."""
    try:
        data = vrt.read_bytes()
    except OSError:
        return None, ""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise BandbridgeError(f"{vrt}: a VRT with a DTD (<!DOCTYPE/<!ENTITY), whose entities are not checked; "
                              "write its sources out")
    try:
        return ET.fromstring(data), data.decode("utf-8", "replace")
    except (ET.ParseError, ValueError) as e:
        raise BandbridgeError(f"{vrt}: a VRT whose XML cannot be checked ({str(e)[:120]}); fix it (GDAL's own "
                              "gdalbuildvrt writes one that can)") from None


def vrt_sources(vrt: Path, via: str | None = None) -> tuple[list[Path], list[str]]:
    """``(local files, network sources)`` a VRT names, each held to the rules above (a refusal one
    line naming the VRT and the source): a local name as GDAL resolves it (``relativeToVRT="1"``
    against the VRT's folder, any other relative name against the working folder; GDAL reads the
    XML's names and attributes in any case); ``via``: the name the user gave, said where it is another."""
    root, text = _parsed(vrt)
    local: list[Path] = []
    network: list[str] = []
    for el in root.iter() if root is not None else ():
        for v in [el.text or "", el.tail or "", *el.attrib.values()]:  # entities decoded: what GDAL reads
            if _OPTIONS.search(v):
                _refuse(vrt, v.strip(), "GDAL's options form (/vsi…?…)", via)
        if el.tag.rsplit("}", 1)[-1].lower() not in ("sourcefilename", "sourcedataset"):
            continue
        name = (el.text or "").strip()
        if not name:
            continue
        if _CONTROL.search(name) or "<" in name:
            _refuse(vrt, name, "a name with control characters or XML (GDAL reads inline XML as a VRT)", via)
        if _NETWORK.match(name):
            network.append(name)
            continue
        if name.startswith("/vsi"):
            _refuse(vrt, name, "a GDAL virtual file path other than /vsicurl/http(s)://… and /vsis3/…", via)
        if _SCHEME.match(name):
            _refuse(vrt, name, "a connection string or URL (a URL is read as /vsicurl/URL)", via)
        rel = {k.lower(): v for k, v in el.attrib.items()}.get("relativetovrt", "0").strip() == "1"
        path = vrt.parent / name if rel and not Path(name).is_absolute() else Path(name)
        if os.path.normpath(path).startswith("/vsi"):  # ../../vsicurl/… climbs to GDAL's root
            _refuse(vrt, name, "a path that resolves to a GDAL virtual file path (/vsi…)", via)
        local.append(path)
    if m := _OPTIONS.search(text):  # anywhere else (a comment): what no parser shows is not passed either
        _refuse(vrt, text[m.start():m.start() + 120].split("<")[0], "GDAL's options form (/vsi…?…)", via)
    return local, network


_CHECKED: dict = {}  # what check_open passed: a local VRT by (path, mtime, size), a network source by name


def check_open(name: str | Path) -> None:
    """The one guard before GDAL opens ``name`` to read it (the reader's ``formats.open_raster``, an
    Item's asset): every local VRT of its chain (:func:`vrt_sources`, recursively, each file once)
    held to the rules, and every network source in it, or ``name`` itself over the network, opened
    as GeoTIFF or JPEG 2000 only; a refusal is one line naming the file and the source."""
    if _OPTIONS.search(str(name)):
        raise BandbridgeError(f"{str(name)[:200]}: GDAL's options form (/vsi…?…), which bandbridge never hands GDAL; "
                              "give the file, or its URL")
    todo, seen = [(str(name), None)], set()
    while todo:
        n, parent = todo.pop()
        if _NETWORK.match(n):
            _network_format(n, parent)
            continue
        if n in seen or n.startswith("/vsi") or not _is_vrt(Path(n)):
            continue  # no local VRT (a raster GDAL reads as itself; what is not there, GDAL says so)
        seen.add(n)
        try:
            st = os.stat(n)
            key = (os.path.abspath(n), st.st_mtime_ns, st.st_size)
        except OSError:
            continue
        if key not in _CHECKED:
            local, network = vrt_sources(Path(n), str(name))
            _CHECKED[key] = [*network, *(str(q) for q in local)]
        todo.extend((q, n) for q in _CHECKED[key])


def _network_format(source: str, vrt: str | None) -> None:
    """Refuse a network source GDAL does not open as GeoTIFF or JPEG 2000 (its drivers only: a VRT or
    any format naming other files never opens); one line naming the source."""
    if source in _CHECKED:
        return
    import rasterio
    why = ""
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):  # no listing of the URL's folder
        for driver in ("GTiff", "JP2OpenJPEG"):
            try:
                with rasterio.open(source, driver=driver):
                    _CHECKED[source] = True
                    return
            except (rasterio.errors.RasterioError, ValueError) as e:
                why = why or str(e).splitlines()[0][:160]
    said = f"{vrt}: its source '{source}'" if vrt else source
    raise BandbridgeError(f"{said}: a file over the network is read as GeoTIFF or JPEG 2000 only (another format, a "
                          f"VRT served as .tif, can name local files to read and send), and GDAL opens it as neither "
                          f"({why}); check the URL and the network, or give the file")


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
