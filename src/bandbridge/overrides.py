"""Config dicts before validation: deep merges (presets over their ``base:``) and dotted
``key.path=value`` overrides (``--set``). Plain dicts in, new dicts out; nothing is mutated."""

from __future__ import annotations

import copy

import yaml

from bandbridge.errors import BandbridgeError


def deep_merge(base: dict, over: dict) -> dict:
    """``base`` with ``over`` merged in: nested dicts merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else copy.deepcopy(v)
    return out


def apply_overrides(d: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (value parsed as YAML) to a config dict."""
    d = copy.deepcopy(d)
    for item in overrides:
        if "=" not in item:
            raise BandbridgeError(f"override '{item}' must look like key.path=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = d
        parts = key.strip().split(".")
        for i, p in enumerate(parts):
            here = ".".join(parts[:i]) or "the config"
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not p.isdigit():
                    raise BandbridgeError(f"override '{key}': {here} is a list; index it with a "
                                          f"number (0–{len(node) - 1})")
                if int(p) >= len(node):
                    raise BandbridgeError(f"override '{key}': index {p} is out of range ({here} has "
                                          f"{len(node)} entr{'y' if len(node) == 1 else 'ies'}, "
                                          f"0–{len(node) - 1})")
                if last:
                    node[int(p)] = value
                else:
                    node = node[int(p)]
            elif isinstance(node, dict):
                if last:
                    node[p] = value
                else:
                    node = node.setdefault(p, {})
            else:
                raise BandbridgeError(f"override '{key}': {here} is a value ({node!r}), not a "
                                      f"section; it has no '{p}'")
    return d
