"""A bundle's LightGBM text models are data, never a program: before LightGBM's native parser
sees one, this module's own parser reads it into arrays and checks every index and size a
prediction follows (feature indices within the features the learner computes, child links that
form one tree with no cycle, one value per leaf, finite numbers, no categorical splits, one
regression output), and hands LightGBM only the header and trees it checked (``tree_sizes``,
which LightGBM uses as byte offsets, and the trailing sections dropped).

A damaged or hostile text (``objective=multiclass``, ``split_feature=9999``, ``num_class=7``, a
flipped byte) is one :class:`BandbridgeError`, never a crash in native code or another raster.
"""

from __future__ import annotations

import math

from bandbridge.errors import BandbridgeError

HEADER = {"tree", "version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
          "objective", "feature_names", "feature_infos", "tree_sizes", "average_output"}
INNER = ("split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child",
         "internal_value", "internal_weight", "internal_count")  # one value per internal node
LEAF = ("leaf_value", "leaf_weight", "leaf_count")  # one value per leaf
TREE = {"Tree", "num_leaves", "num_cat", "is_linear", "shrinkage", *INNER, *LEAF}
REQUIRED = ("version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx", "objective")
OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "quantile", "mape")
MAX_TREES = 100_000
MAX_LEAVES = 1 << 17


def _fail(where: str, why: str) -> None:
    raise BandbridgeError(f"{where}: its LightGBM trees are not a model this project wrote ({why}); "
                          "the bundle is damaged or altered: copy it again or re-export it")


def _numbers(where: str, key: str, value: str, n: int, ints: bool) -> list:
    parts = value.split()
    if len(parts) != n:
        _fail(where, f"'{key}' holds {len(parts)} values where the tree needs {n}")
    try:
        out = [int(p) for p in parts] if ints else [float(p) for p in parts]
    except ValueError:
        _fail(where, f"'{key}' holds a value that is not a number")
    if not ints and not all(math.isfinite(v) for v in out):
        _fail(where, f"'{key}' holds a value that is not finite")
    return out


def _check_tree(where: str, t: dict[str, str], n_features: int) -> None:
    unknown = sorted(set(t) - TREE)
    if unknown:
        _fail(where, f"unknown tree field '{unknown[0]}'")
    try:
        leaves = int(t.get("num_leaves", ""))
    except ValueError:
        _fail(where, "a tree without a number of leaves")
    if not 1 <= leaves <= MAX_LEAVES:
        _fail(where, f"a tree of {leaves} leaves")
    if t.get("num_cat", "0").strip() != "0" or t.get("is_linear", "0").strip() != "0":
        _fail(where, "categorical or linear trees")
    _numbers(where, "leaf_value", t.get("leaf_value", ""), leaves, ints=False)
    for key in LEAF[1:]:
        if key in t and (leaves > 1 or t[key].strip()):  # a one-leaf tree (a stump LightGBM could not
            # split: the fill's SAR fit on a flat band) is written with these two empty
            _numbers(where, key, t[key], leaves, ints=False)
    if leaves == 1:
        return
    inner = leaves - 1
    for key in INNER:
        if key in t or key in ("split_feature", "threshold", "decision_type", "left_child", "right_child"):
            _numbers(where, key, t.get(key, ""), inner, ints=key in ("split_feature", "decision_type",
                                                                       "left_child", "right_child"))
    feats = _numbers(where, "split_feature", t["split_feature"], inner, ints=True)
    if not all(0 <= f < n_features for f in feats):
        _fail(where, f"a split on feature {next(f for f in feats if not 0 <= f < n_features)}, "
                     f"where the learner computes {n_features}")
    if any(d & 1 for d in _numbers(where, "decision_type", t["decision_type"], inner, ints=True)):
        _fail(where, "a categorical split")
    # the child links: node 0 is the root, every other node and every leaf the child of exactly
    # one node (so a walk from the root ends at a leaf: no cycle, no index out of bounds)
    seen_nodes, seen_leaves = [0] * inner, [0] * leaves
    for key in ("left_child", "right_child"):
        for c in _numbers(where, key, t[key], inner, ints=True):
            if c >= 0:
                if c >= inner or c == 0:
                    _fail(where, f"a child link to node {c}")
                seen_nodes[c] += 1
            else:
                if ~c >= leaves:
                    _fail(where, f"a child link to leaf {~c} of {leaves}")
                seen_leaves[~c] += 1
    if any(k != 1 for k in seen_nodes[1:]) or any(k != 1 for k in seen_leaves):
        _fail(where, "child links that do not form one tree")
    # parents before children is how LightGBM writes them; with links a tree, a walk terminates


def checked_tree_text(raw: bytes, n_features: int, where: str) -> str:
    """``raw`` (one band's LightGBM text model) checked as the module says, returned as the text
    LightGBM is given: its header without ``tree_sizes`` and its trees, up to ``end of trees``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        _fail(where, "bytes that are not text")
    head, sep, rest = text.partition("\nTree=")
    if not sep:
        _fail(where, "no tree")
    body, end, _ = rest.partition("\nend of trees")
    if not end:
        _fail(where, "no 'end of trees'")
    header: dict[str, str] = {}
    for line in head.splitlines():
        if not line.strip():
            continue
        key, eq, value = line.partition("=")
        if key not in HEADER or (not eq and key != "tree"):
            _fail(where, f"unknown header line '{line[:40]}'")
        header[key] = value
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        _fail(where, f"no '{missing[0]}' line in its header")
    if header.get("objective", "").split(" ")[0] not in OBJECTIVES:
        _fail(where, f"objective '{header.get('objective', '')[:40]}', not a regression")
    for key, want in (("num_class", "1"), ("num_tree_per_iteration", "1"),
                      ("max_feature_idx", str(n_features - 1))):
        if header.get(key, "").strip() != want:
            _fail(where, f"{key}={header.get(key, '(missing)')[:20]} where this learner needs {want}")
    blocks = ("Tree=" + body).split("\n\n")
    trees = [b for b in blocks if b.strip()]
    if not 1 <= len(trees) <= MAX_TREES:
        _fail(where, f"{len(trees)} trees")
    for i, block in enumerate(trees):
        fields: dict[str, str] = {}
        for line in block.strip().splitlines():
            key, eq, value = line.partition("=")
            if not eq or key in fields:
                _fail(where, f"tree {i}: a line '{line[:40]}'")
            fields[key] = value
        if fields.get("Tree") != str(i):
            _fail(where, f"tree {i} numbered '{fields.get('Tree', '')[:10]}'")
        _check_tree(f"{where} (tree {i})", fields, n_features)
    kept = "\n".join(line for line in head.splitlines() if not line.startswith("tree_sizes="))
    return kept + "\n\n" + "\n\n".join(b.strip() for b in trees) + "\n\nend of trees\n"


def booster(text: str, where: str):
    """LightGBM's booster of a checked text (:func:`checked_tree_text`); anything LightGBM still
    refuses is the same one line."""
    import lightgbm as lgb
    try:
        return lgb.Booster(model_str=text)
    except Exception as e:  # noqa: BLE001 - LightGBMError or a ValueError from its parser
        _fail(where, str(e).splitlines()[0][:80] if str(e) else type(e).__name__)
