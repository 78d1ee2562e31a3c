"""A datacube reference, parsed: ``CUBE.nc[@DATE][#scl[=FILE]][#grid=FILE]`` says what to read.

- ``@DATE``: the time step whose ISO time starts with DATE (``2018-05-01`` or
  ``2018-05-01T10:53:28``); left out for a cube without time (or with a single step).
- ``#scl``: pixels the Sentinel-2 scene classification (SCL) does not call clear are invalid;
  clear = 4 vegetation, 5 bare soil, 6 water, 11 snow. ``#scl=FILE``: SCL from a companion cube
  with the same time steps, resampled (nearest) onto this grid (WorldCereal's 20 m file).
- ``#grid=FILE``: this cube resampled (nearest) onto FILE's grid (20 m S1 onto 10 m S2).

FILE is taken as given (relative to the folder the command runs in) where it is there, else relative to the
cube's folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bandbridge.errors import BandbridgeError

_REF = re.compile(r"^(?P<path>.+?\.(?:nc|nc4|zarr))(?=@|#|$)(?:@(?P<date>[^#]*))?"
                  r"(?P<opts>(?:#[^#]*)*)$", re.IGNORECASE)


@dataclass(frozen=True)
class CubeRef:
    """A parsed cube reference (see the module docstring)."""

    path: Path
    date: str | None = None
    scl: str | None = None  # None: no cloud mask; "": the cube's own SCL; else a companion file
    grid: str | None = None

    def file(self, name: str) -> Path:
        """A companion file named in an option: as given where it is there (the shell's folder, as every other
        path is), else relative to the cube's folder (issue 98: a name beside the cube was the only one taken)."""
        p = Path(name)
        return p if p.is_absolute() or p.exists() else self.path.parent / p

    def __str__(self) -> str:
        s = str(self.path) + (f"@{self.date}" if self.date else "")
        if self.scl is not None:
            s += "#scl" + (f"={self.scl}" if self.scl else "")
        return s + (f"#grid={self.grid}" if self.grid else "")


def is_cube(path: str | Path) -> bool:
    """True for a NetCDF/Zarr path or cube reference (``x.nc``, ``x.nc@2018-05-01#scl``)."""
    return _REF.match(str(path)) is not None


def input_ref(item: str) -> Path | None:
    """An input argument that is a cube reference (``cube.nc@DATE``, a ``.zarr`` store), as the
    path the reader takes; None for anything else. A missing cube file or a Zarr store without
    its reader is one line here, before any work."""
    if not is_cube(item):
        return None
    ref = parse_ref(item)
    if not ref.path.exists():
        raise BandbridgeError(f"{ref.path}: no such datacube file" +
                              (f" (for '{item}')" if str(ref.path) != item else "") +
                              "; check the path")
    if ref.path.suffix.lower() == ".zarr":
        import importlib.util
        if importlib.util.find_spec("zarr") is None:
            raise BandbridgeError(f"{ref.path}: reading Zarr stores needs zarr: pip install zarr "
                                  "(and 'bandbridge[cube]')")
    return Path(item)


def parse_ref(path: str | Path) -> CubeRef:
    """Split a cube reference into file, date and options."""
    m = _REF.match(str(path))
    if not m:
        raise BandbridgeError(f"{path}: not a datacube path (.nc, .nc4 or .zarr)")
    scl = grid = None
    for opt in filter(None, m.group("opts").split("#")):
        key, eq, val = opt.partition("=")
        if key == "scl":
            scl = val
        elif key == "grid" and val:
            grid = val
        else:
            raise BandbridgeError(f"{path}: unknown cube option '#{opt}'; use #scl, #scl=FILE "
                                  "or #grid=FILE")
    return CubeRef(Path(m.group("path")), m.group("date") or None, scl, grid)
