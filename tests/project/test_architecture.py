"""The package's imports go one way: every import — at module level or inside a function —
points to the importer's own room or to a lower layer, and no modules import each other round a
cycle. The layer order is the one ``docs/ARCHITECTURE.md`` states (a test below keeps the two
equal). The checker reads the source with ``ast``; it imports nothing it checks."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
PACKAGE = "bandbridge"
DOC = REPO / "docs" / "ARCHITECTURE.md"

# Bottom to top. A room is files (``errors.py``) and folders (``data/``) of the package; an
# import may go to its own room or to a room of a lower layer, never up and never sideways.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"foundation": ("__init__.py", "errors.py", "fileio.py", "config.py", "data_config.py", "overrides.py", "bands.py", "radiometry.py", "stretch.py", "machine.py", "presets.py", "progress.py", "policy/")},
    {"data": ("data/",), "models": ("models/",), "losses": ("losses/",), "fid_inception": ("fid_inception.py",)},
    {"metrics": ("metrics.py", "realism.py"), "learners": ("learners/",)},
    {"saved model": ("spec.py", "generators.py", "bundle.py")},
    {"inference core": ("inference/__init__.py", "inference/core/")},
    {"inference runtime": ("inference/runtime/",)},
    {"inference interop": ("inference/interop/",)},
    {"inference jobs": ("inference/jobs/",)},
    {"inference place": ("inference/place/",)},
    {"training": ("training/",), "evaluation": ("evaluation/",), "bench": ("bench.py", "bench_row.py", "bench_report.py", "mosaics.py")},
    {"workflows": ("workflows/",)},
    {"demo": ("demo/",)},  # above workflows: "calibrate with a pair" runs adapt
    {"cli": ("cli/",)},
]

MAX_LINES = 400  # a module of a few hundred lines, with one job its name says
MAX_FUNCTION_LINES = 60  # a function or method, from its ``def`` to its last line, docstring included
MAX_PARAMETERS = 11  # more travel together: a request, an options record, or a CLI command's group of flags
WIDE_ROOMS = ("inference/place", "cli")  # where a function's parameters are held to MAX_PARAMETERS
WIDE_ALLOWED = ("cli/predict.py:predict",)  # its flags are its own options records' fields, built in its body

# Rooms above the inference runtime that still never import it: they run no model.
RUNTIME_FREE = ("training",)

# Rooms that must never reach these libraries, through any chain of the package's own imports.
FORBIDDEN = {("inference core", "inference runtime", "inference interop", "inference jobs", "inference place"):
             ("lightning",)}


@dataclass(frozen=True)
class Edge:
    src: str  # importing file, relative to the package folder
    line: int
    dst: str  # imported file of the package, relative to it
    text: str  # the import as written


def _module_file(root: Path, parts: list[str]) -> str | None:
    """The package file a dotted module path names (a module or a package's __init__), if any."""
    base = root.joinpath(*parts)
    files = ([base.with_suffix(".py")] if parts else []) + [base / "__init__.py"]
    return next((f.relative_to(root).as_posix() for f in files if f.is_file()), None)


def _from_module(node: ast.ImportFrom, pkg: list[str], package: str) -> list[str]:
    """The dotted module a ``from ... import`` reads, relative ones resolved from ``pkg``."""
    if node.level:  # relative: from the importer's package upwards
        return [package, *pkg[: len(pkg) - node.level + 1]] + (node.module.split(".") if node.module else [])
    return node.module.split(".")


@lru_cache(maxsize=None)
def imports(root: Path, package: str = PACKAGE) -> tuple[list[Edge], dict[str, set[str]]]:
    """Every import in the package below ``root`` (module level and inside functions alike):
    the edges to its own files, and each file's outside top-level imports."""
    edges, outside = [], {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        pkg = rel.split("/")[:-1]  # the importer's package, below the top one
        source = path.read_text()
        outside[rel] = set()
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name.split(".") for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = _from_module(node, pkg, package)
                # ``from a import b``: the module a.b where b is one, else a itself
                targets = [mod + [a.name] for a in node.names]
                targets = [t if t[0] == package and _module_file(root, t[1:]) else mod for t in targets]
            else:
                continue
            text = ast.get_source_segment(source, node) or ""
            for t in targets:
                if t[0] != package:
                    outside[rel].add(t[0])
                    continue
                dst = _module_file(root, t[1:])
                edge = Edge(rel, node.lineno, dst, " ".join(text.split()))
                if dst is not None and dst != rel and edge not in edges:
                    edges.append(edge)
    return edges, outside


def room_of(rel: str, layers=LAYERS) -> tuple[int, str] | None:
    """``(layer, room)`` of a package file: the room naming it, or its longest folder."""
    best = None
    for i, rooms in enumerate(layers):
        for name, members in rooms.items():
            for m in members:
                if rel == m or (m.endswith("/") and rel.startswith(m)):
                    if best is None or len(m) > best[0]:
                        best = (len(m), i, name)
    return None if best is None else best[1:]


def back_edges(root: Path, layers=LAYERS, package: str = PACKAGE) -> list[str]:
    """One line per import that goes up a layer or sideways to another room of its layer."""
    bad = []
    for e in imports(root, package)[0]:
        a, b = room_of(e.src, layers), room_of(e.dst, layers)
        if a is None or b is None or a[1] == b[1] or b[0] < a[0]:
            continue
        how = "a higher layer" if b[0] > a[0] else "another room of its own layer"
        bad.append(f"{package}/{e.src}:{e.line}: `{e.text}`: {a[1]} (layer {a[0]}) imports "
                   f"{b[1]} (layer {b[0]}), {how}")
    return bad


def cycles(root: Path, package: str = PACKAGE) -> list[str]:
    """One line per tangle of files that import each other: its shortest cycle, import by import."""
    edges = imports(root, package)[0]
    graph: dict[str, list[str]] = {}
    for e in edges:
        graph.setdefault(e.src, []).append(e.dst)
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for g in groups:
        best = min((_cycle_through(graph, g, v) for v in sorted(g)), key=len)
        steps = [next(e for e in edges if e.src == a and e.dst == b) for a, b in zip(best, best[1:])]
        out.append(f"a cycle of {len(best) - 1} modules ({len(g)} tangled): "
                   + " → ".join(f"{package}/{e.src}:{e.line} `{e.text}`" for e in steps)
                   + f" → {package}/{best[-1]}")
    return out


def _cycle_through(graph: dict[str, list[str]], group: set[str], start: str) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    prev, todo = {start: None}, [start]
    while todo:
        nxt = []
        for v in todo:
            for w in graph.get(v, ()):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return path[::-1] + [start]
                if w in group and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        todo = nxt
    raise AssertionError(f"{start} is in a tangle but on no cycle")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def private_crossings(root: Path, package: str = PACKAGE) -> list[str]:
    """One line per private name (``_x``) a module takes from another module of the package:
    imported by name (``from a import _x``) or read off an imported module (``a._x``). What
    another module uses gets a public name."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        modules = set()  # the names that stand for modules of the package in this file
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {a.asname or package for a in node.names if a.name.split(".")[0] == package}
            elif isinstance(node, ast.ImportFrom):
                mod = _from_module(node, rel.split("/")[:-1], package)
                for a in node.names if mod[0] == package else ():
                    if _module_file(root, mod[1:] + [a.name]):
                        modules.add(a.asname or a.name)
                    elif _private(a.name):
                        bad.append(f"{package}/{rel}:{node.lineno}: imports {a.name} from {'.'.join(mod)}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                base = node.value
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in modules:
                    bad.append(f"{package}/{rel}:{node.lineno}: reads {ast.unparse(node)}")
    return bad


def runtime_imports(root: Path, layers=LAYERS, package: str = PACKAGE) -> list[str]:
    """One line per import of the inference runtime by a room that runs no model: the layers
    below it and training (whose precision comes from ``machine.py``)."""
    runtime = room_of("inference/runtime/", layers)[0]
    bad = []
    for e in imports(root, package)[0]:
        a, b = room_of(e.src, layers), room_of(e.dst, layers)
        if a and b and b[1] == "inference runtime" and (a[0] < runtime or a[1] in RUNTIME_FREE):
            bad.append(f"{package}/{e.src}:{e.line}: `{e.text}`: {a[1]} imports the inference runtime")
    return bad


def unassigned(root: Path, layers=LAYERS) -> list[str]:
    return [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.py"))
            if room_of(p.relative_to(root).as_posix(), layers) is None]


def reaches(root: Path, start: str, package: str = PACKAGE) -> set[str]:
    """Outside top-level packages that ``start`` imports, directly or through the package's files."""
    edges, outside = imports(root, package)
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.src, set()).add(e.dst)
    seen, todo = {start}, [start]
    while todo:
        f = todo.pop()
        parents = ["/".join(f.split("/")[:i] + ["__init__.py"]) for i in range(f.count("/") + 1)]
        for w in [*graph.get(f, ()), *parents]:  # importing a module runs its packages' __init__
            if w not in seen and (root / w).is_file():
                seen.add(w)
                todo.append(w)
    return set().union(*(outside.get(f, set()) for f in seen))


# --- the package as it is ---------------------------------------------------------------------

def test_every_module_has_a_room():
    assert unassigned(SRC / PACKAGE) == []


def test_no_import_goes_up_a_layer_or_sideways():
    bad = back_edges(SRC / PACKAGE)
    assert not bad, "imports against the layer order (docs/ARCHITECTURE.md):\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(SRC / PACKAGE)
    assert not found, "modules importing each other:\n" + "\n".join(found)


def test_no_private_name_crosses_modules():
    bad = private_crossings(SRC / PACKAGE)
    assert not bad, "private names used by another module (give them a public name):\n" + "\n".join(bad)


def test_no_lower_layer_imports_the_inference_runtime():
    bad = runtime_imports(SRC / PACKAGE)
    assert not bad, "\n".join(bad)


def test_inference_never_reaches_lightning():
    root = SRC / PACKAGE
    for rooms, libs in FORBIDDEN.items():
        for p in sorted(root.rglob("*.py")):
            rel = p.relative_to(root).as_posix()
            hit = sorted(reaches(root, rel) & set(libs)) if room_of(rel)[1] in rooms else []
            assert not hit, f"{PACKAGE}/{rel} reaches {', '.join(hit)} through the package's imports"


def test_no_module_is_over_the_line_limit():
    big = {p.relative_to(SRC).as_posix(): n for p in sorted(SRC.rglob("*.py"))
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split them by job): {big}"


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``file:line:name (n lines)`` of every function or method under ``root`` (nested ones too)
    longer than ``limit`` lines, counted from its ``def`` to its last line (decorators not counted)."""
    found = []
    for p in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(), filename=str(p))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    (n := node.end_lineno - node.lineno + 1) > limit:
                found.append(f"{p.relative_to(root.parent).as_posix()}:{node.lineno}:{node.name} ({n} lines)")
    return found


def test_no_function_is_over_the_line_limit():
    long = long_functions(SRC / PACKAGE)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them by step):\n" + "\n".join(long)


def wide_functions(root: Path, rooms: tuple[str, ...] = WIDE_ROOMS, limit: int = MAX_PARAMETERS,
                   allowed: tuple[str, ...] = WIDE_ALLOWED) -> list[str]:
    """``file:line:name (n parameters)`` of every function or method (nested ones too) in the ``rooms``
    below ``root`` taking more than ``limit`` parameters (positional, keyword-only, ``*args`` and
    ``**kwargs`` each counted), except those ``allowed`` names as ``file:name``, the file below ``root``."""
    found = []
    for p in sorted(q for room in rooms for q in (root / room).rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(), filename=str(p))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            a = node.args
            n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
            if n > limit and f"{p.relative_to(root).as_posix()}:{node.name}" not in allowed:
                found.append(f"{p.relative_to(root.parent).as_posix()}:{node.lineno}:{node.name} ({n} parameters)")
    return found


def test_no_function_of_the_place_or_the_cli_takes_too_many_parameters():
    wide = wide_functions(SRC / PACKAGE)
    assert not wide, (f"functions taking over {MAX_PARAMETERS} parameters (pass a request or an options dataclass; "
                      f"a command, a group of its flags: cli/options.py:flag_groups):\n" + "\n".join(wide))


def test_the_architecture_document_states_this_layer_order():
    """docs/ARCHITECTURE.md's table: one row per room, `| layer | room | files | purpose |`."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in DOC.read_text().splitlines() if re.match(r"^\|\s*\d+\s*\|", line)]
    stated = {(int(r[0]), r[1].strip("*` ")): tuple(re.findall(r"`([^`]+)`", r[2])) for r in rows}
    want = {(i, name): members for i, rooms in enumerate(LAYERS) for name, members in rooms.items()}
    assert stated == want
    assert all(len(r) >= 4 and r[3] for r in rows), "every room has its one-line purpose"


# --- the checker itself: it must be able to fail ----------------------------------------------

TOY_LAYERS = [{"base": ("__init__.py", "errors.py")}, {"models": ("models/",), "data": ("data/",)},
              {"cli": ("cli/",)}]


def _toy(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for rel, text in {"__init__.py": "", "errors.py": "", "models/__init__.py": "",
                      "data/__init__.py": "", "cli/__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_long_function_or_method_is_named_with_its_file_line_and_length(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(58))
    root = _toy(tmp_path, {"models/net.py": f"def ok():\n    \"\"\"Doc.\"\"\"\n{body}\n\n\nclass Net:\n"
                                             f"    @staticmethod\n    def forward():\n        \"\"\"Doc.\"\"\"\n"
                                             + body.replace("    ", "        ") + "\n        return x0\n"})
    assert long_functions(root) == ["bandbridge/models/net.py:65:forward (61 lines)"]


def test_a_wide_function_is_named_with_its_file_line_and_count_unless_allowed(tmp_path):
    root = _toy(tmp_path, {"cli/main.py": "def ok(a, b, c, d, e, f, g, h, i, j, k):\n    pass\n\n\n"
                                          "def wide(a, b, /, c, *d, e, f, g, h, i, j, k, **m):\n    pass\n\n\n"
                                          "def allowed(a, b, c, d, e, f, g, h, i, j, k, m):\n    pass\n"})
    assert wide_functions(root, ("cli",), allowed=("cli/main.py:allowed",)) == \
        ["bandbridge/cli/main.py:5:wide (12 parameters)"]
    assert wide_functions(root, ("models",)) == []  # only the rooms asked for


def test_a_lazy_import_up_a_layer_is_caught_with_its_file_line_and_layers(tmp_path):
    root = _toy(tmp_path, {
        "models/net.py": "from bandbridge.errors import *\n\n\ndef f():\n    from bandbridge.cli import main\n",
        "cli/main.py": "from bandbridge.models import net\n"})
    bad = back_edges(root, TOY_LAYERS)
    assert len(bad) == 1
    assert bad[0].startswith("bandbridge/models/net.py:5: `from bandbridge.cli import main`")
    assert "models (layer 1) imports cli (layer 2), a higher layer" in bad[0]


def test_a_sideways_import_and_a_relative_one_are_caught(tmp_path):
    root = _toy(tmp_path, {"models/net.py": "import bandbridge.data.reader\n",
                           "data/reader.py": "from ..cli import app\n", "cli/app.py": ""})
    bad = back_edges(root, TOY_LAYERS)
    assert any("models/net.py:1" in b and "another room of its own layer" in b for b in bad)
    assert any("data/reader.py:1" in b and "data (layer 1) imports cli (layer 2)" in b for b in bad)


def test_a_cycle_is_caught_and_an_unassigned_module_is_named(tmp_path):
    root = _toy(tmp_path, {"models/a.py": "def f():\n    from bandbridge.models import b\n",
                           "models/b.py": "from bandbridge.models.a import f\n", "stray.py": ""})
    assert back_edges(root, TOY_LAYERS) == []
    found = cycles(root)
    assert found == ["a cycle of 2 modules (2 tangled): bandbridge/models/a.py:2 `from bandbridge.models "
                     "import b` → bandbridge/models/b.py:1 `from bandbridge.models.a import f` → "
                     "bandbridge/models/a.py"]
    assert unassigned(root, TOY_LAYERS) == ["stray.py"]


def test_a_library_reached_through_the_package_is_found(tmp_path):
    root = _toy(tmp_path, {"models/a.py": "def f():\n    from bandbridge.data import b\n",
                           "data/b.py": "import lightning as L\n", "cli/c.py": "import numpy\n",
                           "data/d/__init__.py": "import lightning\n", "data/d/e.py": ""})
    assert "lightning" in reaches(root, "models/a.py") and "numpy" not in reaches(root, "models/a.py")
    assert "lightning" in reaches(root, "data/d/e.py")  # through its package's __init__


def test_a_private_name_taken_from_another_module_is_caught(tmp_path):
    root = _toy(tmp_path, {"data/reader.py": "def _pick(): pass\ndef read(): _pick()\n",
                           "models/net.py": "from bandbridge.data.reader import _pick, read\n",
                           "cli/main.py": "from bandbridge.data import reader\nimport bandbridge.data.reader\n"
                                          "reader._pick()\nbandbridge.data.reader._pick()\nreader.__name__\n"})
    assert private_crossings(root) == ["bandbridge/cli/main.py:3: reads reader._pick",
                                       "bandbridge/cli/main.py:4: reads bandbridge.data.reader._pick",
                                       "bandbridge/models/net.py:1: imports _pick from bandbridge.data.reader"]


def test_the_runtime_imported_from_below_or_from_training_is_caught(tmp_path):
    layers = [{"base": ("__init__.py", "errors.py")}, {"data": ("data/",)},
              {"inference runtime": ("inference/",)}, {"training": ("training.py",), "cli": ("cli/",)}]
    root = _toy(tmp_path, {"inference/__init__.py": "", "inference/select.py": "",
                           "training.py": "def f():\n    from bandbridge.inference import select\n",
                           "cli/main.py": "from bandbridge.inference.select import *\n"})
    assert runtime_imports(root, layers) == ["bandbridge/training.py:2: `from bandbridge.inference import select`: "
                                             "training imports the inference runtime"]
