"""The scripts and benchmarks (`scripts/`, `benchmarks/`) are not all run by the suite, but
every name they import from bandbridge must exist: a refactor that moves a name breaks them
silently otherwise. A script stands alone on the installed package (issue 59)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bandbridge_name_a_script_imports_exists(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bandbridge"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(
                    f"{node.module}.{alias.name}") is not None, \
                    f"{path.name}: from {node.module} import {alias.name}: no such name"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bandbridge"):
                    importlib.import_module(alias.name)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_script_stands_alone_on_the_installed_package(path):
    """A script or benchmark runs as ``python scripts/NAME.py`` with bandbridge installed: it
    leaves ``sys.path`` alone, imports no other script and no private (``_name``) of the package,
    at the top or inside a function."""
    siblings = {p.stem for p in FILES}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
            pytest.fail(f"{path.name}:{node.lineno}: sys.path")
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in siblings and node.level == 0, \
                f"{path.name}:{node.lineno}: imports another script ({node.module})"
            if (node.module or "").startswith("bandbridge"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private and not any(p.startswith("_") for p in node.module.split(".")), \
                    f"{path.name}:{node.lineno}: private name from {node.module}: {private}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in siblings, f"{path.name}:{node.lineno}: imports {alias.name}"
