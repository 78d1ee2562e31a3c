"""``model.generator`` → the module: a network, a per-pixel learner (``learner``, ``blend``), or a
network's residual on a learner (models/anchored.py) — what bundles, training and export build.

A network's ``args`` may carry the learner it is anchored on and its guard, as every bundle
since 0.1.0 writes them: ``anchor: true`` (the linear map the run fits), ``{windows, products}``
(a ridge on context features the run fits), ``{learner: {kind, …}}`` or ``{blend: [...]}`` (the
selection core's choice), and ``guard: {low, high, …}``. They are taken out of the network's
arguments here: the network is built without them and composed with the learner.
"""

from __future__ import annotations

from torch import nn

from bandbridge.errors import BandbridgeError
from bandbridge.learners import registry
from bandbridge.models import build_network
from bandbridge.models.anchor import guard_part
from bandbridge.models.anchored import Anchored

LEARNERS = ("learner", "blend")


def build_generator(name: str, in_channels: int, out_channels: int, args: dict,
                    scale: int = 1) -> nn.Module:
    """The generator ``name`` with ``args`` (``model.generator``), untrained or ready for a
    bundle's weights."""
    try:
        if name in LEARNERS:
            return registry.build(name, in_channels, out_channels, args)
        net_args = {k: v for k, v in args.items() if k not in ("anchor", "guard")}
        network = build_network(name, in_channels, out_channels, net_args, scale, LEARNERS)
        anchor = args.get("anchor")
        if not anchor:
            return network
        learner, clamp = anchor_learner(in_channels, out_channels, anchor)
        return Anchored(learner, network, guard_part(in_channels, args.get("guard")), clamp,
                        in_channels)
    except (TypeError, ValueError, KeyError) as e:
        raise BandbridgeError(f"model.generator.args for '{name}': {e}") from None


def anchor_learner(in_channels: int, out_channels: int, anchor: bool | dict | str
                   ) -> tuple[nn.Module, bool]:
    """``(learner module, whether its output is clamped before the residual)`` of an anchor: the
    selection core's learner is (as 0.1.0 computed it); a map the run fits itself is not."""
    g = anchor_generator(anchor)
    chosen = isinstance(anchor, dict) and ("learner" in anchor or "blend" in anchor)
    return registry.build(g["name"], in_channels, out_channels, g["args"]), chosen


def anchor_generator(anchor: bool | dict | str) -> dict:
    """The anchor as a saved learner's ``model.generator``: ``True`` → the linear map,
    ``{windows, products}`` → a ridge on those context features, ``{learner: args}`` → that
    learner, ``{blend: [parts]}`` → that blend."""
    if anchor == "learner":
        raise ValueError("anchor: learner is chosen and fitted by a training run; a generator "
                         "built outside one needs the fitted {learner: {...}} arguments")
    if isinstance(anchor, dict) and "blend" in anchor:
        return {"name": "blend", "args": {"parts": list(anchor["blend"])}}
    if isinstance(anchor, dict) and "learner" in anchor:
        return {"name": "learner", "args": dict(anchor["learner"])}
    if isinstance(anchor, dict):
        return {"name": "learner", "args": {"kind": "ridge", "windows": list(anchor.get("windows", [])),
                                            "products": bool(anchor.get("products", False))}}
    return {"name": "learner", "args": {"kind": "linear", "windows": [], "products": False}}
