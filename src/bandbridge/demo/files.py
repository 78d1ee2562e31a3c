"""What the page lets in and what it leaves behind: only files the page itself received (one
check, :func:`received`), upload limits checked from the header before anything is decoded, no
server path in what it says (:func:`no_paths`), one temporary folder per request, removed after
the request, by a timer and at shutdown, and Gradio's own copies of uploads and results in a
folder of the server's, removed at shutdown (:meth:`Workdirs.gradio_folder`)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from bandbridge.data.reader import raster_info
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_size, size_text
from bandbridge.policy import DEMO_MAX_MPIX as MAX_MPIX  # output pixels per request (policy's table)
from bandbridge.policy import DEMO_UPLOAD_MB as MAX_MB  # an upload's size (policy's table)

TMP_PREFIX = "bandbridge-demo-"
GRADIO_PREFIX = "bandbridge-gradio-"  # a server's Gradio folder: lives as long as the server, so
# not this prefix's request folders' (another server's sweep would take a quiet one after an hour)
SWEEP_EVERY_S = 300.0  # request folders older than this are removed by the timer
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")  # what the page's file boxes take
# A file's first bytes for each of them: GDAL opens by content, not name, and a ".tif" holding a
# VRT's XML reads whatever server files it names.
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# The folders of an absolute path (any run of "/name" ending in "/"; not inside a URL or a
# fraction such as "MPix/s"): cut, so only the file's name is left.
FOLDERS = re.compile(r"(?<![\w.:/\\~-])(?:/[^\s/`'\"()\[\],;]+)+/(?=[^\s/])")


def received(path: str | Path, folders: Iterable[str | Path], what: str = "image") -> Path:
    """``path`` (resolved) when it is a file the page itself received: inside one of ``folders``
    (Gradio's upload folder, this server's request folders) and a PNG, JPEG or TIFF by its
    content; else one line refusing it that names no server path. Gradio's own check depends on
    its version, and no version looks inside an upload, so every file a handler is handed comes
    here first."""
    p = Path(path)
    try:
        real = p.resolve(strict=True)  # links and ".." followed: where the bytes really are
        inside = real.is_file() and any(real.is_relative_to(Path(f).resolve()) for f in folders)
    except (OSError, RuntimeError):  # missing, unreadable, a link loop
        inside = False
    if not inside:
        raise BandbridgeError(f"{p.name}: not a file uploaded to this page; upload the {what} "
                              "in its box")
    with open(real, "rb") as f:
        head = f.read(8)
    if real.suffix.lower() not in SUFFIXES or not head.startswith(MAGIC):
        raise BandbridgeError(f"{p.name}: cannot read this file as a raster here: the page takes "
                              "PNG, JPEG and GeoTIFF files, by their content (use `bandbridge "
                              "predict` for other formats)")
    return real


def no_paths(text: str, folders: Iterable[str | Path] = ()) -> str:
    """``text`` with every server path cut to its file's name: the folders in ``folders`` first
    (they may hold spaces), then any other absolute path's folders. The page shows the names a
    user gave, never where the server keeps them."""
    for f in sorted({str(f).rstrip("/\\") for f in folders if f}, key=len, reverse=True):
        # the folder itself (not a longer name it begins) and the folders under it
        text = re.sub(re.escape(f) + r"(?![\w.-])(?:[/\\](?:[^\s/\\]+[/\\])*)?", "", text)
    return FOLDERS.sub("", text)


def check_upload(path: str | Path, scale: int = 1, max_mpix: float = MAX_MPIX,
                 tool: str = "bandbridge predict"):
    """The upload's header, or one line refusing it: too many MB, or more than ``max_mpix`` of
    output (×``scale``² for super-resolution), naming the ``tool`` without these limits. Nothing
    is decoded."""
    path = Path(path)
    mb = path.stat().st_size / 1e6
    if mb > MAX_MB:
        raise BandbridgeError(f"{path.name} is {mb:.0f} MB; the demo takes files up to {MAX_MB} MB "
                              f"(use `{tool}` for large rasters)")
    info = raster_info(path)  # a clear message for files that are not rasters
    check_pixels(path.name, info, scale, max_mpix, tool)
    return info


def check_pixels(name: str, info, scale: int = 1, max_mpix: float = MAX_MPIX,
                 tool: str = "bandbridge predict") -> None:
    """Refuse more than ``max_mpix`` of output (×``scale``² for super-resolution) from a header
    (the one size check, ``fileio.check_size``)."""
    at = f"{info.height * info.width * scale ** 2 / 1e6:.0f} MPix at ×{scale}; " if scale > 1 else ""
    check_size(name, info.width, info.height, max_mpix * 1e6 / scale ** 2,
               f"{at}the demo takes up to {max_mpix:g} MPix", f"use `{tool}`")


def check_min_side(name: str, info, min_side: int, model: str) -> None:
    """Refuse an image smaller than the model's generator can run on."""
    if min(info.height, info.width) < min_side:
        raise BandbridgeError(f"{name} is {size_text(info.width, info.height)}; {model} needs at "
                              f"least {min_side} px a side: use a larger image")


class Workdirs:
    """The request folders of one server: made per request, removed after the request, by a
    timer (folders older than ``max_age_s``: API calls never run the per-request clean-up) and
    all at :meth:`close` (shutdown)."""

    def __init__(self, max_age_s: float = SWEEP_EVERY_S):
        self.max_age_s, self.made = max_age_s, set()
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._timer: threading.Thread | None = None
        self.gradio: Path | None = None
        self._gradio_env: str | None = None

    def gradio_folder(self) -> Path:
        """A folder of this server's own for Gradio's copies of uploads and results, made in the
        ``GRADIO_TEMP_DIR`` the user set (else TMPDIR) and set as ``GRADIO_TEMP_DIR`` (before
        Gradio is imported: some of its modules read it then); removed, and the variable
        restored, at :meth:`close`. Gradio's default, TMPDIR/gradio, is shared by every Gradio
        app on the machine and kept users' scenes after the server stopped (issue 77)."""
        self._gradio_env = os.environ.get("GRADIO_TEMP_DIR")
        parent = Path(self._gradio_env or tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        self.gradio = Path(tempfile.mkdtemp(prefix=GRADIO_PREFIX, dir=parent))
        os.environ["GRADIO_TEMP_DIR"] = str(self.gradio)
        self._inductor = "TORCHINDUCTOR_CACHE_DIR" not in os.environ  # torch's compile cache: torch made it in
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(self.gradio / "torchinductor"))  # TMPDIR: in ours
        return self.gradio

    def make(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        with self._lock:
            self.made.add(d)
        return d

    def remove(self, workdir: str | Path | None) -> None:
        """Delete one request's folder (after Gradio has copied its results into its cache)."""
        if workdir and Path(workdir).name.startswith(TMP_PREFIX):
            shutil.rmtree(workdir, ignore_errors=True)
            with self._lock:
                self.made.discard(Path(workdir))

    def folders(self) -> list[Path]:
        """This server's request folders now."""
        with self._lock:
            return list(self.made)

    def sweep(self) -> None:
        """Delete this server's folders older than ``max_age_s``, and any server's older than
        an hour (a server killed before its shutdown)."""
        now = time.time()
        for d in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
            try:
                age = now - d.stat().st_mtime
                if d.is_dir() and (age > 3600 or (d in self.made and age > self.max_age_s)):
                    self.remove(d)
            except OSError:  # another server's folder, vanished meanwhile
                pass

    def start(self, every_s: float = SWEEP_EVERY_S) -> None:
        """Sweep every ``every_s`` seconds in a daemon thread until :meth:`close`."""
        def loop() -> None:
            while not self._stop.wait(every_s):
                self.sweep()
        self._timer = threading.Thread(target=loop, name="bandbridge-demo-sweep", daemon=True)
        self._timer.start()

    def close(self) -> None:
        """Stop the timer and delete every folder this server made, its Gradio folder too."""
        self._stop.set()
        for d in self.folders():
            self.remove(d)
        if self.gradio is not None:
            shutil.rmtree(self.gradio, ignore_errors=True)
            if self._inductor:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            if os.environ.get("GRADIO_TEMP_DIR") == str(self.gradio):
                if self._gradio_env is None:
                    os.environ.pop("GRADIO_TEMP_DIR", None)
                else:
                    os.environ["GRADIO_TEMP_DIR"] = self._gradio_env
            self.gradio = None
