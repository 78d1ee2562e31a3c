"""The per-user cache: ONNX graphs of bundles (fp32 and int8) and backend choices, keyed by what
they depend on.

A model's key hashes its files (weights, model.yaml, check sample), so a retrained bundle in
the same folder is a new model. A machine's key hashes the CPU model and the flags that change
kernel choice, the thread count and the versions of the libraries that run the network, so a
choice measured elsewhere, or before an upgrade, is never reused. Built artefacts carry the
SHA-256 of their bytes beside them and are rebuilt when it does not match (a damaged file is
never reused). The folder is the platform's user cache directory
(``platformdirs.user_cache_dir("bandbridge")``: ``~/.cache/bandbridge`` on Linux);
``BANDBRIDGE_CACHE`` moves it; ``bandbridge cache clear`` empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from importlib import metadata
from pathlib import Path
from typing import Callable

from bandbridge.fileio import atomic_write_bytes, sha256_file
from bandbridge.machine import cpu_flags
from bandbridge.spec import BUNDLE_META

_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "avx_vnni", "fma")


_FALLBACK: list[Path] = []  # this process's private cache, when the configured one cannot be used


def configured_dir() -> Path:
    """Where the cache lives: ``BANDBRIDGE_CACHE``, else the platform's user cache folder."""
    env = os.environ.get("BANDBRIDGE_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir
    return Path(user_cache_dir("bandbridge", appauthor=False))


def cache_dir(create: bool = True) -> Path:
    """The cache folder, created. A cache is never an error: when the configured folder cannot be
    made or written (a file, read-only, another user's), this process works in a private
    temporary folder instead (removed at exit) and says so once."""
    base = configured_dir()
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(record, indent=1).encode())
    except OSError:
        pass


def artefact(path: Path, build: Callable[[Path], None]) -> Path:
    """A built file of the cache, verified: reused only while its bytes match the SHA-256
    recorded when it was built; otherwise (absent, truncated, altered) built again by
    ``build(path)``, which must write ``path`` atomically."""
    stamp = path.with_name(path.name + ".sha256")
    if path.is_file() and stamp.is_file():
        try:
            if stamp.read_text().strip() == sha256_file(path):
                return path
        except OSError:
            pass
    try:
        for f in (path, stamp):
            if f.is_file() or f.is_symlink():
                f.unlink()
        if path.exists() or stamp.exists():  # a folder where the file belongs: not ours to delete
            raise IsADirectoryError(f"{path} is in the way")
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path)
        atomic_write_bytes(stamp, sha256_file(path).encode())
        return path
    except OSError as e:  # a damaged or unwritable cache: built in this process's own folder
        alt = fallback(f"{path.parent} ({e.strerror or e})") / path.parent.name / path.name
        if not alt.is_file():
            alt.parent.mkdir(parents=True, exist_ok=True)
            build(alt)
        return alt


def entries() -> list[dict]:
    """What the cache holds: one row per backend choice (model, choice, date), per measure of a
    backend's forward memory and per model's built graphs, with sizes in bytes."""
    base = cache_dir(create=False)
    rows = []
    for p in sorted((base / "choice").glob("*.json")) if (base / "choice").is_dir() else []:
        rec = read_json(p) or {}
        rows.append({"kind": "choice", "path": str(p), "model": rec.get("model", "?"),
                     "choice": f"{rec.get('backend', '?')} {rec.get('precision', '?')}",
                     "measured": rec.get("measured", "?"), "load": rec.get("load"),
                     "provisional": rec.get("provisional"), "bytes": p.stat().st_size})
    for p in sorted((base / "memory").glob("*.json")) if (base / "memory").is_dir() else []:
        rec = read_json(p) or {}
        rows.append({"kind": "memory", "path": str(p), "model": rec.get("model", "?"),
                     "choice": f"{rec.get('backend', '?')} {rec.get('precision', '?')}: "
                               f"{rec.get('bytes_per_px', '?')} B/px",
                     "measured": rec.get("measured", "?"), "bytes": p.stat().st_size})
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


def clear() -> tuple[int, int, int]:
    """Empty the cache of what bandbridge wrote (choices, memory measures, graphs, checks, STAC VRTs); anything
    else in the folder stays. ``(entries removed, bytes freed, files left alone)``."""
    rows = entries()
    base = cache_dir(create=False)
    freed = left = 0
    for sub, pattern in OWN.items():
        root = base / sub
        if not root.is_dir() or root.is_symlink():
            continue
        for f in sorted(root.rglob("*"), reverse=True):  # files first, then their folders
            rel = f.relative_to(root).as_posix()
            if f.is_file() and not f.is_symlink() and pattern.fullmatch(rel):
                freed += f.stat().st_size
                f.unlink()
            elif f.is_dir() and not f.is_symlink():
                try:
                    f.rmdir()  # only when emptied
                except OSError:
                    pass
            else:
                left += 1
        try:
            root.rmdir()
        except OSError:
            pass
    return len(rows), freed, left


def forget(folder: Path) -> None:
    """Remove what this cache holds of one model made for one run (a reference fit): its graphs and
    its records, by the files' names and ``OWN``'s patterns only (nothing else is touched)."""
    base = cache_dir(create=False)
    if not base.is_dir():
        return
    try:
        key = model_key(Path(folder))
    except OSError:
        return
    for sub, pattern in OWN.items():
        root = base / sub
        if not root.is_dir() or root.is_symlink():
            continue
        for f in sorted(root.glob(f"{key}*"), reverse=True):
            for g in sorted(f.rglob("*"), reverse=True) if f.is_dir() and not f.is_symlink() else []:
                if g.is_file() and not g.is_symlink() and pattern.fullmatch(g.relative_to(root).as_posix()):
                    g.unlink()
            if f.is_dir() and not f.is_symlink():
                try:
                    f.rmdir()
                except OSError:
                    pass
            elif f.is_file() and not f.is_symlink() and pattern.fullmatch(f.relative_to(root).as_posix()):
                f.unlink()
