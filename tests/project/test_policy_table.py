"""``policy`` is the one home of every decision constant (issue 83): each constant it defines has a
rule (``policy/rules*.py``: what it decides, where, what set it), each rule names only policy's own
constants and a function that exists, no other module defines a constant of the same name, and the
manual's table (``docs/policy.md``) is what ``policy/table.py`` generates from them, and every other
module-level number is mechanics said in :data:`MECHANICS` (issue 97). A rename that leaves a rule
behind, or a threshold kept beside its data, fails here."""

from __future__ import annotations

import ast
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


# --- numbers beside their data: every module-level number outside policy is mechanics, said here ---------------

# The module-level numbers outside ``policy/`` that decide nothing a user gets, each with why it is mechanics and not
# a rule: ``{file: {"NAME [NAME …]": why}}``. A new number that decides what a user gets goes to policy with its Rule.
MECHANICS = {
    "bands.py": {"EPS": "a division's floor", "QA_FILL_BIT": "Landsat QA_PIXEL's fill bit: the format"},
    "cli/progress.py": {"EVERY DELAY": "when progress lines print"},
    "data/cube.py": {"BLOCK_BYTES BLOCK_STEPS": "a block read's memory: the values are the same"},
    "data/domain.py": {"BLOCKS": "how the training range is sampled (the guard's limits: GUARD_DEFAULTS)"},
    "data/grids.py": {"BSPLINE_PAD": "the farthest a tap reaches: padding"},
    "data/landsat.py": {"TIRS_CELL OLI_PIXEL": "Landsat's 100 m thermal band as whole 30 m pixels: the sensor"},
    "data/products.py": {"ALIGN_TOLERANCE": "float round-off of one lattice's corners"},
    "data/reader.py": {"STREAM_CACHE_BYTES": "GDAL's cache: memory"},
    "data/reads.py": {"HEAD": "the bytes GDAL reads to tell a VRT"},
    "data/resampled.py": {"SAMPLE": "the window a band is judged on (SMOOTH_STEEPER judges)"},
    "data/seen.py": {"PIXELS": "pixels kept for a record's statistics: a sample"},
    "data/sentinel2.py": {"QUANTIFICATION": "Sentinel-2's format",
                          "BLOCK_SHARE": "a nearest repeat's blocks are equal: the stack's layout, no close call"},
    "data/unpaired.py": {"B_STREAM": "a random stream's offset"},
    "demo/display.py": {"MAX_SIDE SHOWN_SIDE": "a panel's pixels read and drawn"},
    "demo/files.py": {"SWEEP_EVERY_S": "when old request folders are removed"},
    "evaluation/confidence.py": {"PIXELS KNOTS": "the expected-error fit's sample and spline: its record measures it"},
    "evaluation/floor_cases.py": {"LIMIT PER_SOURCE": "the floor record's bound and sample"},
    "evaluation/gaps.py": {"CLEAR REAL_EVERY SEED WORKERS": "the gaps record's protocol"},
    "evaluation/gaps_dates.py": {"MEDIAN_DAYS": "a baseline's season in the gaps record"},
    "evaluation/gaps_sources.py": {"SCALE": "the sources' format", "DISCS": "the gaps record's protocol"},
    "evaluation/sharpen_baselines.py": {"HOMOGENEOUS_SHARE DMS_MARGIN": "a published baseline's settings",
                                        "EPS": "a division's floor"},
    "evaluation/sharpen_cases.py": {"CASE_MIN_CELLS WILDFIRE": "the sharpening record's protocol"},
    "models/s2_residual.py": {"BETWEEN": "Sentinel-2's geometry: its 20 m bands over its 10 m grid"},
    "inference/core/confidence.py": {"WINDOW": "a feature's window: the error model's definition"},
    "inference/core/doubts.py": {"LEVELS_8BIT": "8 bits' top value", "STEP_TOL": "float32 round-off of k/255"},
    "inference/core/outputs.py": {"ROWS": "a strip's rows: memory"},
    "inference/core/preview.py": {"STRIP_ROWS": "a strip's rows: memory"},
    "inference/core/tiling.py": {"TILE_CAP": "the largest tile unasked: memory and speed"},
    "inference/interop/qgis.py": {"QGIS_TILE": "Deepness's default tile in an export"},
    "inference/interop/stac_bands.py": {"WAVELENGTH_TOLERANCE": "under half the spacing of the red-edge centres"},
    "inference/jobs/distributed.py": {"HANDSHAKE_S": "a Dask handshake's wait"},
    "inference/place/fill_checks.py": {"LOOK_SIDE": "how much of a file is looked at: cost"},
    "inference/place/fill_finish.py": {"OBSERVED FILLED": "the FILLED band's codes: the format"},
    "inference/place/fill_rows.py": {"MARGIN": "read padding", "SNOW_SCL": "the SCL's snow class: the format",
                                     "READ_BYTES_PER_BAND READ_BYTES_PER_PX": "the memory plan's bytes"},
    "inference/place/fill_strips.py": {"ROWS": "a strip's rows: memory", "SAMPLE_PX": "a sample's size for estimates"},
    "inference/place/reference_finish.py": {"ROUNDS": "an iteration's passes"},
    "inference/place/sharpen_model.py": {"PRIOR_MACS_S": "a measured speed: the plan's estimate"},
    "inference/place/sharpen_network.py": {"NETWORK_MACS_S": "a measured speed: the plan's estimate"},
    "inference/place/sharpen_same.py": {"ROWS": "the rows a comparison samples (SAME_BAND_SPREAD judges)"},
    "inference/place/sharpen_stack.py": {"M_PER_DEGREE": "the Earth's size",
                                         "NO_CRS_PIXEL": "a convention the run states, no threshold"},
    "inference/runtime/memory.py": {"MEASURE_TILE": "the measuring forward's tile", "NO_LIMIT": "cgroup v1's format"},
    "inference/runtime/quantize.py": {"FP32_TAIL_CONVS": "the int8 graph's shape (GATE_REL_TOL decides its use)"},
    "inference/runtime/select.py": {"PROBE_TILE PROBE_BUDGET MIN_PROBE_TILE FORWARDS":
                                    "the backend probe's cost: speed (GATE_REL_TOL guards the output)"},
    "learners/base.py": {"MAX_WINDOW": "a saved learner's sanity bound", "CONTEXT_COST": "the order of costs"},
    "learners/baselines.py": {"SAMPLE_PIXELS": "a fit's sample"},
    "learners/fill_regions.py": {"NONE BEFORE AFTER BOTH": "codes"},
    "learners/fill_sar.py": {"SAR_LO SAR_HI": "dB to [0, 1]: bands.py's sar_db scaling"},
    "learners/floor.py": {"PIXELS": "a fit's sample", "IRLS_STEPS MINIMAX_ROUNDS MINIMAX_RATE": "a solver's iterations",
                          "EPS": "a division's floor"},
    "learners/folds.py": {"FOLDS MAX_PIXELS": "how the held-out error is measured, no threshold"},
    "learners/gbm.py": {"CHUNK": "memory", "TREE_OPSET": "ONNX's format", "MAX_TREE_BYTES": "a model file's sanity bound"},
    "learners/guided.py": {"LO HI": "a fill's values mapped into [0, 1]", "HALF": "the residual's offset"},
    "learners/upsampling.py": {"PAD": "edge padding"},
    "learners/lad.py": {"ITERATIONS": "a solver's iterations"},
    "learners/mlp.py": {"HIDDEN STEPS BATCH": "the learner's hyperparameters (the held-out check chooses it)"},
    "learners/scene_fit.py": {"WHOLE_PX": "memory", "BLOCK": "a sampled block's side"},
    "learners/area.py": {"STRIP_PX": "memory: the fine features held at once"},
    "learners/select.py": {"FIT_PIXELS": "a fit's sample", "FIT_THREADS": "threads",
                           "BLEND": "the blend candidate's definition (the held-out check chooses it)"},
    "learners/student.py": {"STEPS BATCH HIDDEN DISTIL_PIXELS": "the student's training (STUDENT_WITHIN decides)"},
    "learners/tree_text.py": {"MAX_TREES MAX_LEAVES": "a model file's sanity bounds"},
    "losses/distribution.py": {"QUANTILES": "a loss's resolution"},
    "machine.py": {"LOAD_WINDOW": "how long the load is sampled"},
    "models/anchor.py": {"CONTEXT_BASE": "a layout"},
    "models/channel_map.py": {"ZERO ONE": "markers in a gather's layout"},
    "models/features.py": {"SHIFT": "float precision of sums of squares"},
    "models/geoclip.py": {"A1 A2 A3 A4 SF": "the Equal Earth projection's published coefficients"},
    "radiometry.py": {"STATS_MAX_SIDE": "statistics' decimation: cost"},
    "realism.py": {"PATCH PATCHES_PER_IMAGE DIRECTIONS REPEATS COARSEST": "the metric's definition (Karras et al.)"},
    "workflows/best.py": {"LEARNER_TILE": "a tile"},
    "workflows/console.py": {"EPOCHS_BY_TIME": "no epoch limit: the clock stops the run"},
    "workflows/s2_prior.py": {"S2_MTF": "the prior's training degradation, from the literature"},
}


def _number(node: ast.expr) -> bool:
    """A number literal, or arithmetic of them (``256 * 2**20``, ``-30.0``, ``1 << 20``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _number(node.operand)
    return isinstance(node, ast.BinOp) and _number(node.left) and _number(node.right)


def numbers(root: Path) -> set[tuple[str, str]]:
    """``(file, NAME)`` of every module-level ``NAME = <number>`` (and ``A, B = <number>, <number>``) under
    ``root`` but in ``policy/``."""
    found = set()
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith("policy/"):
            continue
        for s in ast.parse(p.read_text()).body:
            target, value = (s.targets[0], s.value) if isinstance(s, ast.Assign) and len(s.targets) == 1 else \
                (s.target, s.value) if isinstance(s, ast.AnnAssign) and s.value is not None else (None, None)
            pairs = [(target, value)] if isinstance(target, ast.Name) else \
                list(zip(target.elts, value.elts)) if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) else []
            found |= {(rel, t.id) for t, v in pairs if isinstance(t, ast.Name) and _number(v)}
    return found


def _allowed() -> set[tuple[str, str]]:
    return {(f, n) for f, names in MECHANICS.items() for key in names for n in key.split()}


def test_no_number_that_decides_what_a_user_gets_stands_beside_its_data() -> None:
    found, allowed = numbers(PACKAGE), _allowed()
    assert not found - allowed, ("module-level numbers outside policy: move each that decides what a user gets to "
                                 "policy with its Rule, or say in MECHANICS why it is mechanics: "
                                 + ", ".join(f"{f}:{n}" for f, n in sorted(found - allowed)))
    assert not allowed - found, f"MECHANICS names what is gone: {sorted(allowed - found)}"


def test_a_number_beside_its_data_is_found(tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "__init__.py").write_text("RULE = 0.5\n")
    (tmp_path / "m.py").write_text("import re\nROWS = 512\nA, B = -1.0, 2 ** 20\nNAME = 'x'\nT = (1, 2)\n"
                                   "ON = True\nx: int = 3\n\n\ndef f():\n    LOCAL = 4\n")
    assert numbers(tmp_path) == {("m.py", "ROWS"), ("m.py", "A"), ("m.py", "B"), ("m.py", "x")}
