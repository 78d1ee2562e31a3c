"""``policy`` is the one home of every decision constant (issue 83): each constant it defines has a
rule (``policy/rules*.py``: what it decides, where, what set it), each rule names only policy's own
constants and a function that exists, no other module defines a constant of the same name, and the
manual's table (``docs/policy.md``) is what ``policy/table.py`` generates from them. A rename that
leaves a rule behind, or a threshold kept beside its data, fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import bandbridge
from bandbridge import policy
from bandbridge.policy.rules import rules
from bandbridge.policy.table import table

PACKAGE = Path(bandbridge.__file__).parent
REPO = PACKAGE.parents[1]
SCRIPTS = REPO / "scripts"  # the repository's own scripts (ship_rule.py)


def _constants() -> set[str]:
    return {n for n in vars(policy) if re.fullmatch(r"[A-Z][A-Z0-9_]*", n)}


def _modules(stem: str) -> list[str]:
    """The package's modules whose file is ``stem.py`` or ``…/stem.py`` (dotted names)."""
    found = [p for p in PACKAGE.rglob("*.py") if p.as_posix().endswith(("/" + stem + ".py", "/" + stem + "/__init__.py"))]
    return ["bandbridge." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
            for p in found]


def _resolves(ref: str) -> bool:
    """Whether ``room/module.name`` (or ``scripts/name.function``) exists."""
    path, _, attr = ref.rpartition(".")
    if not path:
        return False
    if path.startswith("scripts/"):  # a script is read, not imported (it is no module of the package)
        script = SCRIPTS / (path.removeprefix("scripts/") + ".py")
        return script.is_file() and re.search(rf"^(def|class) {attr}\b|^{attr} =", script.read_text(),
                                              re.MULTILINE) is not None
    return any(hasattr(importlib.import_module(name), attr) for name in _modules(path))


def test_every_constant_has_a_rule_and_every_rule_names_policys_own() -> None:
    named = {n for r in rules() for n in r.names}
    assert not _constants() - named - {"EPS"}, "constants without a rule in policy/rules*.py"
    assert not named - _constants(), "rules naming what policy does not define"


def test_every_rule_is_decided_where_it_says() -> None:
    missing = [r.where for r in rules() if not _resolves(r.where)]
    assert not missing, f"policy's rules name functions that do not exist: {missing}"


def test_no_other_module_defines_a_policy_constant() -> None:
    names = "|".join(sorted(_constants() - {"EPS"}))
    found = [f"{p.relative_to(PACKAGE)}: {m.group(1)}" for p in sorted(PACKAGE.rglob("*.py"))
             if "policy" not in p.relative_to(PACKAGE).parts[:1]
             for m in re.finditer(rf"^(?:[A-Z_]+, )*({names})(?:, [A-Z_]+)* = ", p.read_text(), re.M)]
    assert not found, f"defined beside their data instead of in policy: {found}"


def test_the_manuals_table_is_generated_from_policy() -> None:
    page = REPO / "docs" / "policy.md"
    assert page.read_text() == table(), "run: python -m bandbridge.policy.table docs/policy.md"


def test_a_wrong_name_is_caught() -> None:
    assert _resolves("inference/place/sharpen_shift.central") and not _resolves("nowhere/module.name")
    assert _resolves("scripts/ship_rule.decide") and not _resolves("scripts/ship_rule.undecided")
    assert not _resolves("learners/guided.no_such_rule")
