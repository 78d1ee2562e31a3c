"""Every rule policy.py's table names must exist where it says: a function ``room/module.name``,
a constant ``module.NAME`` kept beside its data, or a constant of policy itself (``:data:`NAME```).
A rename that leaves the table behind fails here, so the table cannot go stale unseen."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import bandbridge
from bandbridge import policy

PACKAGE = Path(bandbridge.__file__).parent
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"  # the repository's own scripts (ship_rule.py)
_TICKED = re.compile(r"``([A-Za-z_][\w/]*(?:\.[A-Za-z_]\w*)?)``")
_DATA = re.compile(r":data:`([A-Z_]+)`")


FILES = (".py", ".json", ".md", ".txt")  # ``benchmarks/wald.py``, ``docs/results/wald.json``: files, not rules


def _table() -> str:
    """The table and the prose around it: every rule the module's docstring names."""
    return policy.__doc__


def _modules(stem: str) -> list[str]:
    """The package's modules whose file is ``stem.py`` or ``…/stem.py`` (dotted names)."""
    rel = stem + ".py"
    found = [p for p in PACKAGE.rglob("*.py") if p.as_posix().endswith("/" + rel)]
    return ["bandbridge." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in found]


def _resolves(ref: str) -> bool:
    path, _, attr = ref.rpartition(".")
    if not path:  # a bare name (``PEAK_BUDGET``): some module of the package defines it
        return False
    if path.startswith("scripts/"):  # a script is read, not imported (it is no module of the package)
        script = SCRIPTS / (path.removeprefix("scripts/") + ".py")
        return script.is_file() and re.search(rf"^(def|class) {attr}\b|^{attr} =", script.read_text(),
                                              re.MULTILINE) is not None
    for name in _modules(path):
        mod = importlib.import_module(name)
        if not attr or hasattr(mod, attr):
            return True
    return False


def test_the_table_has_rows() -> None:
    assert len(_TICKED.findall(_table())) > 60


def test_every_named_function_and_constant_exists() -> None:
    refs = [r for r in _TICKED.findall(_table()) if "." in r and not r.endswith(FILES)]
    missing = [r for r in refs if not _resolves(r)]
    assert not missing, f"policy.py's table names what does not exist: {missing}"


def test_every_policy_constant_exists() -> None:
    missing = [n for n in _DATA.findall(_table()) if not hasattr(policy, n)]
    assert not missing, missing


def test_a_wrong_name_is_caught() -> None:
    assert _resolves("sharpen.DECIDE_CELLS") and not _resolves("sharpen.NO_SUCH_RULE")
    assert _resolves("inference/place/sharpen_shift.central") and not _resolves("nowhere/module.name")
    assert _resolves("scripts/ship_rule.decide") and not _resolves("scripts/ship_rule.undecided")
