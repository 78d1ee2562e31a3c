"""The per-user cache: ONNX graphs of bundles (fp32 and int8) and backend choices, keyed by what
they depend on.

A model's key hashes its files (weights, model.yaml, check sample), so a retrained bundle in
the same folder is a new model. A machine's key hashes the CPU model and the flags that change
kernel choice, the thread count and the versions of the libraries that run the network, so a
choice measured elsewhere, or before an upgrade, is never reused. Built artefacts carry the
SHA-256 of their bytes beside them and are rebuilt when it does not match (a damaged file, or a
stamp that is no digest, is never reused); they are built in a folder of the process's own and
copied in, so a ``cache clear`` from another shell never pulls a file from under a build or a
load. The folder is the platform's user cache directory
(``platformdirs.user_cache_dir("bandbridge")``: ``~/.cache/bandbridge`` on Linux);
``BANDBRIDGE_CACHE`` moves it; ``bandbridge cache clear`` empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import Callable

from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_write_bytes, normal_mode, sha256_file, temp_beside, temp_folder_beside
from bandbridge.machine import cpu_flags
from bandbridge.spec import BUNDLE_META

_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "avx_vnni", "fma")


_FALLBACK: list[Path] = []  # this process's private cache, when the configured one cannot be used


def cache_dir(create: bool = True) -> Path:
    """The cache folder, created. A cache is never an error: when the configured folder cannot be
    made or written (a file, read-only, another user's), this process works in a private
    temporary folder instead (removed at exit) and says so once."""
    from platformdirs import user_cache_dir  # the configured folder: BANDBRIDGE_CACHE, else the platform's
    base = Path(os.environ.get("BANDBRIDGE_CACHE") or user_cache_dir("bandbridge", appauthor=False))
    if not create:
        return base
    if _FALLBACK:
        return _FALLBACK[0]
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return base
    except OSError as e:
        return fallback(f"{base} ({e.strerror or e})")


def fallback(why: str) -> Path:
    """This process's private cache folder (made once, removed at exit), with one note."""
    if not _FALLBACK:
        import atexit
        import sys
        import tempfile
        d = Path(tempfile.mkdtemp(prefix="bandbridge-cache-"))
        atexit.register(shutil.rmtree, d, True)
        _FALLBACK.append(d)
        sys.stderr.write(f"note: the cache folder cannot be used: {why}; working without it "
                         "(set BANDBRIDGE_CACHE to a folder you can write)\n")
    return _FALLBACK[0]


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def model_key(folder: Path) -> str:
    """Hash of the files that define a model (weights or ONNX graph, model.yaml, check sample)."""
    names = ("generator.safetensors", "model.onnx", BUNDLE_META, "check.safetensors")
    return _digest([n.encode() + (folder / n).read_bytes() for n in names if (folder / n).exists()])


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "-"


def machine_key(threads: int | None) -> str:
    """Hash of the CPU (model name, kernel-relevant flags), threads and library versions."""
    model, flags = cpu_flags()
    libs = [f"{p}={_version(p)}" for p in ("bandbridge", "torch", "onnxruntime", "openvino")]
    have = [f for f in _FLAGS if f in flags]
    return _digest([model.encode(), " ".join(have).encode(), str(threads or os.cpu_count()).encode(),
                    " ".join(libs).encode()])


def record_path(kind: str, folder: Path, threads: int | None, backend: str, precision: str) -> Path:
    """Where a per-model, per-machine record of one backend and precision lives: ``kind`` is the
    sub-folder (``choice``, ``verified``, ``memory``), the name the model's and machine's keys."""
    return cache_dir() / kind / f"{model_key(folder)}-{machine_key(threads)}-{backend}-{precision}.json"


def read_json(path: Path) -> dict | None:
    """A cached JSON record (an object), or None when absent, unreadable or of another shape (a
    cache is never an error: what it saved is measured again)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_json(path: Path, record: dict) -> None:
    """Record ``record`` in the cache; a record that cannot be written is skipped (the work it
    saves is redone next time), never an error."""
    with suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(record, indent=1).encode())


_MINE: dict[Path, tuple[Path, str]] = {}  # artefacts this process built: its own copy and its SHA-256
_OWN: list[Path] = []  # the folder of those copies (hidden in the cache, removed at exit)


def _intact(path: Path, digest: str | None = None) -> bool:
    """Whether ``path`` is a file whose bytes match ``digest``, else the SHA-256 in the stamp
    beside it. A stamp of any other content (random bytes, another digest, a folder) or a file
    that cannot be read is no match: the entry counts as absent."""
    try:
        if not path.is_file():
            return False
        want = digest.encode() if digest else path.with_name(path.name + ".sha256").read_bytes().strip()
        return want == sha256_file(path).encode()
    except OSError:
        return False


def _own_folder() -> Path:
    """This process's folder of the artefacts it built, made again where it was removed: hidden in
    the cache, which ``cache clear`` never empties (a killed run's is removed by the next), else
    the system's temporary folder."""
    if _OWN and _OWN[0].is_dir():
        return _OWN[0]
    import atexit
    import tempfile
    try:
        d = temp_folder_beside(cache_dir() / "built", "artefacts")
    except OSError:
        d = Path(tempfile.mkdtemp(prefix="bandbridge-built-"))
    atexit.register(shutil.rmtree, d, True)
    _OWN[:] = [d]
    return d


def _build_own(path: Path, build: Callable[[Path], None]) -> tuple[Path, str]:
    """``build`` run into a new folder of this process's own (nothing else writes or removes it):
    ``(the file, its SHA-256)``. A build that fails other than by a refusal of the user's runs once
    more: a file it read was removed under it (the int8 build's fp32 graph, by a cache cleared from
    another shell; onnx says so by its own ValidationError), and the second finds it again."""
    import tempfile
    for attempt in (1, 2):
        d = Path(tempfile.mkdtemp(dir=_own_folder(), prefix=f"{path.parent.name}-"))
        try:
            build(d / path.name)
            return d / path.name, sha256_file(d / path.name)
        except Exception as e:
            shutil.rmtree(d, ignore_errors=True)
            if attempt == 2 or isinstance(e, BandbridgeError):
                raise


def _place(own: Path, path: Path, digest: str) -> None:
    """Copy what was built beside ``own`` (the file last) into ``path``'s folder, each through a
    temporary file renamed into place, then the stamp; the folder is made again where it was
    removed meanwhile (two tries). Raises OSError when the cache cannot hold it."""
    files = sorted((f for f in own.parent.iterdir() if f.is_file() and f != own), key=lambda f: f.name) + [own]
    for attempt in (1, 2):
        try:
            for f in files:
                t = temp_beside(path.with_name(f.name))
                try:
                    shutil.copyfile(f, t)
                    normal_mode(t)
                    os.replace(t, path.with_name(f.name))
                finally:
                    t.unlink(missing_ok=True)
            atomic_write_bytes(path.with_name(path.name + ".sha256"), digest.encode())
            return
        except (FileNotFoundError, BandbridgeError) as e:  # the folder removed between making and writing it
            if attempt == 2:
                raise OSError(str(e)) from None


def artefact(path: Path, build: Callable[[Path], None]) -> Path:
    """A built file of the cache, verified: reused only while its bytes match the SHA-256 stamped
    beside it when it was built. Otherwise (absent, truncated, altered, its stamp unreadable) it is
    built by ``build(file)`` into a folder of this process's own and copied into the cache, each
    file renamed into place. The path returned is there to be read: the cache's, or this process's
    own copy where the cache cannot hold it or lost it since this process handed it out (a
    ``cache clear`` from another shell); a cached file that vanished is never built twice by one
    process."""
    path = Path(path)
    if _intact(path):
        return path
    mine = _MINE.get(path)
    if mine is not None and not _intact(*mine):
        mine = None
    gone = mine is not None and not path.exists()  # handed out, then cleared under this process
    if mine is None:
        mine = _MINE[path] = _build_own(path, build)
    try:
        if path.exists() and not path.is_file():  # a folder where the file belongs: not ours to delete
            raise IsADirectoryError(f"{path} is in the way")
        _place(mine[0], path, mine[1])
    except OSError as e:  # a damaged or unwritable cache: this process's own copy serves
        fallback(f"{path.parent} ({e.strerror or e})")
        return mine[0]
    return mine[0] if gone else path


def entries() -> list[dict]:
    """What the cache holds: one row per backend choice (model, choice, date), per measure of a
    backend's forward memory and per model's built graphs, with sizes in bytes."""
    base = cache_dir(create=False)
    rows = []
    for kind in ("choice", "memory"):
        for p in sorted((base / kind).glob("*.json")) if (base / kind).is_dir() else []:
            rec = read_json(p) or {}
            per_px = f": {rec.get('bytes_per_px', '?')} B/px" if kind == "memory" else ""
            rows.append({"kind": kind, "path": str(p), "model": rec.get("model", "?"),
                         "choice": f"{rec.get('backend', '?')} {rec.get('precision', '?')}{per_px}",
                         "measured": rec.get("measured", "?"), "load": rec.get("load"),
                         "provisional": rec.get("provisional"), "bytes": p.stat().st_size})
    for d in sorted((base / "onnx").glob("*")) if (base / "onnx").is_dir() else []:
        if not (d.is_dir() and re.fullmatch(_KEY, d.name)):  # not an entry of ours
            continue
        files = [f for f in d.rglob("*") if f.is_file()]
        rows.append({"kind": "graphs", "path": str(d), "model": d.name,
                     "choice": ", ".join(sorted(f.name for f in files if f.suffix == ".onnx")),
                     "measured": "", "bytes": sum(f.stat().st_size for f in files)})
    return rows


# What the cache writes, by sub-folder: only these are ever deleted by `cache clear`.
_KEY = r"[0-9a-f]{16}"
_RECORD = re.compile(rf"{_KEY}-{_KEY}-\w+-\w+\.json")  # record_path's names
OWN = {"choice": _RECORD, "verified": _RECORD, "memory": _RECORD,
       "onnx": re.compile(rf"{_KEY}/(model(-int8)?\.onnx(\.sha256|\.data)?|metadata\.json|model\.yaml"
                          r"|check\.safetensors)"),
       "stac": re.compile(rf"{_KEY}/(item\.json|[^/]+\.vrt)")}


def _sweep(root: Path, pattern: re.Pattern, paths) -> tuple[int, int]:
    """Remove each of ``paths`` (files before their folders) that is a file ``pattern`` names under
    ``root`` or a folder left empty; links and other files stay: ``(bytes freed, files left)``."""
    freed = left = 0
    for f in paths:
        if f.is_file() and not f.is_symlink() and pattern.fullmatch(f.relative_to(root).as_posix()):
            freed += f.stat().st_size
            f.unlink()
        elif f.is_dir() and not f.is_symlink():
            with suppress(OSError):
                f.rmdir()  # only when emptied
        else:
            left += 1
    return freed, left


def clear() -> tuple[int, int, int]:
    """Empty the cache of what bandbridge wrote (choices, memory measures, graphs, checks, STAC VRTs); anything
    else in the folder stays. ``(entries removed, bytes freed, files left alone)``."""
    rows = entries()
    base = cache_dir(create=False)
    freed = left = 0
    for sub, pattern in OWN.items():
        root = base / sub
        if root.is_dir() and not root.is_symlink():
            f, n = _sweep(root, pattern, [*sorted(root.rglob("*"), reverse=True), root])
            freed, left = freed + f, left + n
    return len(rows), freed, left


def forget(folder: Path) -> None:
    """Remove what this cache holds of one model made for one run (a reference fit): its graphs and
    its records, by the files' names and ``OWN``'s patterns only (nothing else is touched)."""
    base = cache_dir(create=False)
    try:
        key = model_key(Path(folder))
    except OSError:
        return
    for p in [p for p in _MINE if p.parent.name == key]:  # this process's own copies of its graphs
        shutil.rmtree(_MINE.pop(p)[0].parent, ignore_errors=True)
    if not base.is_dir():
        return
    for sub, pattern in OWN.items():
        root = base / sub
        for f in sorted(root.glob(f"{key}*"), reverse=True) if root.is_dir() and not root.is_symlink() else []:
            inside = sorted(f.rglob("*"), reverse=True) if f.is_dir() and not f.is_symlink() else []
            _sweep(root, pattern, [*inside, f])
