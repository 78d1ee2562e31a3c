"""Files a user can trust: checked before any work, written to a temporary file and renamed, with
the normal mode for the user's umask (0644 under 022), and no leftovers from killed runs.

Temporary files are hidden and end in ``.partial`` (``.nir.tif.<host>-<pid>.<random>.partial``):
no reader of this tool takes them for rasters, and the next write into the same folder removes
those whose process on this host is gone (a shared folder's other hosts keep theirs).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from bandbridge.errors import BandbridgeError

PARTIAL = ".partial"
HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname().split(".")[0]) or "host"


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc), else by the
    classic set-and-restore."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    m = os.umask(0o022)
    os.umask(m)
    return m


def normal_mode(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``open(..., "w")`` would have (mkstemp makes 0600)."""
    os.chmod(path, 0o666 & ~umask())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path) -> None:
    """Delete temporary files and folders (strips) of killed runs (their process is gone) in
    ``folder``."""
    for p in folder.glob(f".*{PARTIAL}"):
        parts = p.name.split(".")  # .<name>.<host>-<pid>.<random>.partial
        host, _, pid = parts[-3].rpartition("-") if len(parts) > 3 else ("", "", "")
        if host == HOST and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def temp_folder_beside(path: Path, kind: str) -> Path:
    """A new hidden temporary folder in ``path``'s folder, named like the temporary files (so a
    killed run's folder is removed by the next write there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-{kind}.{HOST}-{os.getpid()}.",
                                 suffix=PARTIAL))


def safe_name(text: str, fallback: str = "item") -> str:
    """``text`` as one file name: anything but letters, digits, ``-``, ``_`` and single inner
    dots becomes ``_`` (so no ``/``, ``..`` component or absolute path survives); at most 120
    characters. For names read from files (a STAC id), which are untrusted."""
    s = re.sub(r"[^A-Za-z0-9._-]+|\.{2,}", "_", str(text)).strip("._")[:120].strip("._")
    return s or fallback


def file_size_limit() -> int | None:
    """Bytes a file this process writes may reach (``ulimit -f``), or None when unlimited."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, ValueError, OSError):  # not on this platform
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def size_limit_text(limit: int) -> str:
    """What the file-size limit ``limit`` (bytes) means and its fix, in the user's shell's words."""
    return (f"a file may be at most {limit / 1e6:.3g} MB here (this shell's file-size limit, ulimit -f "
            f"{limit // 1024}): raise it (ulimit -f unlimited)")


_FULL = ("No space left on device", "Free disk space available is")  # the OS's and GDAL's words
_WRITE_FAILED = ("Write failed", "Write error", "TIFFAppendToStrip", "_tiffWriteProc")  # GDAL's, no cause given


def _failed_write(e: BaseException) -> bool:
    """A write GDAL failed without saying why (its error or a cause in the chain), or a work file of
    this run (a temporary of ours) that does not read back: what a full disk or a file-size limit
    leaves when GDAL only logged the write's own error."""
    text = " ".join(str(x) for x in (e, e.__cause__, e.__context__) if x is not None)
    ours = f"{os.path.join(tempfile.gettempdir(), 'bandbridge-')}" in text or PARTIAL in text
    return any(k in text for k in _WRITE_FAILED) or (ours and "cannot read" in text)


def disk_full_message(e: BaseException, out: str | Path | None = None) -> str | None:
    """One line for a write that ran out of room, naming ``out`` (else the error's file), or None
    for any other error: a full disk (ENOSPC, GDAL's words for it) or this process's file-size limit
    (EFBIG, "File too large", or a write GDAL failed while such a limit is set: GDAL reports a cut
    file as a failed write or a corrupt one, never the cause)."""
    text = str(e)
    code = e.errno if isinstance(e, OSError) else None
    where = f"{out}: " if out else (f"{e.filename}: " if isinstance(e, OSError) and e.filename else "")
    first = text.splitlines()[0][:200] if text else errno.errorcode.get(code or 0, type(e).__name__)
    if code == errno.ENOSPC or any(k in text for k in _FULL):
        return (f"{where}no space left on the device ({first}); free some space or choose an output "
                "folder on another disk (nothing was left half-written)")
    limit, too_large = file_size_limit(), code == errno.EFBIG or "File too large" in text
    if limit is not None and (too_large or _failed_write(e)):
        return f"{where}not written: {size_limit_text(limit)} (nothing was left half-written)"
    if too_large:  # no limit of ours: the filesystem's own largest file (FAT32's 4 GB)
        return (f"{where}the file grew past the largest this filesystem holds ({first}); choose an output "
                "folder on another disk (nothing was left half-written)")
    return None


@contextmanager
def writing(out: str | Path) -> Iterator[None]:
    """Any write inside that runs out of room (the output, or a work file the run reads back) as one
    line naming ``out`` (:func:`disk_full_message`); any other error passes as it is."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - only what disk_full_message recognises is turned
        said = disk_full_message(e, out)
        if said is None:
            raise
        raise BandbridgeError(said) from None


def size_text(width: int, height: int) -> str:
    """A raster's size as GDAL states it: width first."""
    return f"{width}×{height} px (width×height)"


def check_size(what: str, width: int, height: int, most_px: float, why: str, fix: str) -> None:
    """Refuse, from a header and before anything is read, a raster of more than ``most_px``
    pixels: one line naming ``what`` (the flag and file), its size, ``why`` that is the most (the
    rule, stated with its figures) and the ``fix``. The one size check of what a command or the
    web page reads whole."""
    if width * height > most_px:
        raise BandbridgeError(f"{what} is {size_text(width, height)}; {why}: {fix}")


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_SPECIAL = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
            (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def path_kind(path: str | Path) -> str | None:
    """What ``path`` is when it is no regular file: ``"a folder"``, ``"a named pipe (FIFO)"``,
    ``"a socket"``, ``"a character device"`` or ``"a block device"`` (links followed); None for a
    regular file, and for what is not there or no local path (a URL, a GDAL ``/vsi…`` address),
    which the caller refuses in its own words."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    return next((name for test, name in _SPECIAL if test(mode)), "no regular file")


def check_regular(path: str | Path, flag: str = "", folder_ok: bool = False, what: str = "file") -> None:
    """Refuse, before it is opened, a path the user gave that is no regular file: a pipe, socket
    or device (reading one waits for a writer or never ends) and, unless ``folder_ok``, a folder.
    One line naming ``flag`` and the path and the fix; ``what`` names the file expected."""
    kind = path_kind(path)
    if kind is None or (folder_ok and kind == "a folder"):
        return
    where = f"{flag} {path}" if flag else f"{path}"
    if kind == "a folder":
        raise BandbridgeError(f"{where} is a folder; give the path of the {what} itself")
    raise BandbridgeError(f"{where} is {kind}, not a regular file (reading it would wait for a writer "
                          f"or never end); save the data to a file and give that {what}'s path")


def is_temporary(path: Path) -> bool:
    """A hidden file or a leftover of an interrupted write: never an input."""
    return path.name.startswith(".") or PARTIAL in path.name


def temp_beside(path: Path) -> Path:
    """An empty hidden temporary file in ``path``'s folder (created, so the name is ours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent)
    try:
        fd, t = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{HOST}-{os.getpid()}.",
                                 suffix=PARTIAL)
    except OSError as e:
        raise BandbridgeError(f"{path}: cannot write in {path.parent} ({e.strerror}); choose an "
                              "output folder you can write to") from None
    os.close(fd)
    return Path(t)


@contextmanager
def atomic_paths(paths: Sequence[Path], replace: bool = True) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; on success give them the normal mode and
    rename them all into place, on any failure (or interrupt) delete them. Without ``replace``, a
    path that exists by then (another run wrote it meanwhile) is refused and nothing is placed;
    each file is placed by a hard link, which never replaces what is there."""
    temps: list[Path] = []
    try:
        for p in paths:
            temps.append(temp_beside(p))
        yield temps
        def taken(p: Path) -> BandbridgeError:
            return BandbridgeError(f"{p}: written by another run while this one ran; pass --overwrite "
                                   "to replace it, or choose another -o")
        if not replace and (there := [p for p in paths if os.path.lexists(p)]):
            raise taken(there[0])
        for t, p in zip(temps, paths):
            normal_mode(t)
            if replace:
                os.replace(t, p)
                continue
            try:
                os.link(t, p)
            except FileExistsError:
                raise taken(p) from None
            except OSError:  # a filesystem without hard links: the rename, just checked above
                os.replace(t, p)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file (normal mode, renamed when complete)."""
    with atomic_paths([Path(path)]) as (tmp,):
        tmp.write_bytes(data)


def check_writable(folder: Path, flag: str) -> None:
    """Refuse an output folder that cannot be written (probed with a file created and deleted in
    its nearest existing ancestor, which also catches read-only and special filesystems)."""
    d = folder
    while not d.exists() and d != d.parent:
        d = d.parent
    if not d.is_dir():
        raise BandbridgeError(f"{flag} {folder}: {d} is a file, not a folder; choose another "
                              "output path")
    try:
        fd, t = tempfile.mkstemp(dir=d, prefix=".bandbridge-probe.", suffix=PARTIAL)
    except OSError as e:
        raise BandbridgeError(f"{flag} {folder}: cannot write in {d} ({e.strerror}); choose an "
                              "output folder you can write to") from None
    os.close(fd)
    os.unlink(t)


def check_output_suffix(path: Path, formats: dict[str, str], command: str, flag: str = "--output") -> str:
    """The format ``path``'s suffix names among ``formats`` (suffix → what the command writes
    there, e.g. ``{".tif": "GeoTIFF"}``), or a one-line refusal before any work: a name that does
    not end in one of them would be written in another format than it says (a GeoTIFF named
    ``.vrt`` or ``.nc``) or fail at the end (a picture of bands a picture cannot hold)."""
    fmt = formats.get(path.suffix.lower())
    if fmt is None:
        kinds = ", ".join(f"{v} ({', '.join(k for k, w in formats.items() if w == v)})"
                          for v in dict.fromkeys(formats.values()))
        first = next(iter(formats))
        raise BandbridgeError(f"{flag} {path}: {command} writes {kinds} files, not "
                              f"{path.suffix or 'a name without a suffix'}; name it "
                              f"{path.with_suffix(first).name if path.suffix else path.name + first}")
    return fmt


def inside(inner: Path, outer: Path) -> bool:
    """Whether ``inner`` is ``outer`` or lies inside it (both resolved)."""
    return inner == outer or outer in inner.parents


def check_output_folder(path: Path, keep: Sequence[Path], overwrite: bool, flag: str,
                        own: Callable[[Path], bool]) -> Path:
    """The resolved output folder, or a one-line refusal before any work: a link, a file, a
    folder that is or holds anything in ``keep`` (the inputs, the model being read), an existing
    folder without ``--overwrite``, or one holding anything ``own`` does not recognise as this
    tool's (``--overwrite`` never deletes what the tool did not write)."""
    p = Path(path)
    if p.is_symlink():
        raise BandbridgeError(f"{flag} {path} is a link; give the folder's own path (a link's "
                              "target is not replaced through it)")
    p = p.resolve()  # a/sub/.. is a: checked as what it is
    if p.exists() and not p.is_dir():
        raise BandbridgeError(f"{flag} {path} is a file; give a folder path for the bundle")
    for k in keep:
        if inside(Path(k).resolve(), p):
            how = "is" if Path(k).resolve() == p else "holds"
            raise BandbridgeError(f"{flag} {path} {how} {k}, which this command reads; replacing "
                                  "it would delete it: choose another output folder")
    if p.exists():
        if not overwrite:
            raise BandbridgeError(f"{flag} {path} exists; pass --overwrite to replace it (or "
                                  "choose another folder)")
        foreign = sorted(c.name for c in p.iterdir() if not own(c))
        if foreign:
            raise BandbridgeError(f"{flag} {path} holds files bandbridge did not write "
                                  f"({', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''}); "
                                  "--overwrite replaces only its own bundles: choose another folder")
    check_writable(p.parent, flag)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by the CLI's handler so that it unwinds like Ctrl-C and every temporary
    file is removed."""
