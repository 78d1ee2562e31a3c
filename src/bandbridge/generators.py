"""``model.generator`` → the module: a network, a per-pixel learner (``learner``, ``blend``), or a
network's residual on a learner (models/anchored.py) — what bundles, training and export build.

``model.generator`` names the network (``name``, ``args``) and, beside it, the ``learner`` its
residual is added to and the ``guard`` (config.py: GeneratorConfig); the network is built from
its own arguments and composed with the learner. 0.1.0 kept both inside the network's ``args``
(``anchor:``, ``guard:``); they are read into the new keys (config.lift_anchor).
"""

from __future__ import annotations

from torch import nn

from bandbridge.config import lift_anchor, lift_floor
from bandbridge.errors import BandbridgeError
from bandbridge.learners import registry
from bandbridge.learners.saved import JOINED, anchor_generator
from bandbridge.models import build_network
from bandbridge.models.anchor import guard_part
from bandbridge.models.anchored import Anchored
from bandbridge.models.fallback import Fallback

LEARNERS = ("learner", "blend")


def build_generator(name: str, in_channels: int, out_channels: int, args: dict,
                    scale: int = 1, learner: bool | str | dict | None = None,
                    guard: dict | bool | None = None, floor: dict | None = None) -> nn.Module:
    """The generator ``name`` with ``args`` (``model.generator``; a network's residual on
    ``learner``, faded by ``guard``), untrained or ready for a bundle's weights. With a ``floor``
    that has ``ranges``, the whole output falls back to the floor outside them
    (models/fallback.py). ``args`` may still carry 0.1.0's ``anchor`` and ``guard``
    (config.lift_anchor)."""
    if name == JOINED:  # parts on one input (models/joined.py), each built from its own block
        from bandbridge.models.joined import Joined
        try:
            return Joined([build_generator(q["name"], q["inputs"], q["outputs"], q.get("args") or {}, scale,
                                           q.get("learner")) for q in args["parts"]], [q["inputs"] for q in args["parts"]])
        except (TypeError, KeyError) as e:
            raise BandbridgeError(f"model.generator for '{name}': each part needs name, inputs and outputs ({e})") from None
    if isinstance(args, dict) and args.get("design"):  # the fill's design from the raw inputs in front (issue 75)
        from bandbridge.models.fill_design import Designed
        inner = build_generator(name, len(args["design"]["channels"]), out_channels,
                                {k: v for k, v in args.items() if k != "design"}, scale, learner, guard, floor)
        return Designed(args["design"], inner)
    d = lift_floor(lift_anchor({"name": name, "args": args, "learner": learner, "guard": guard,
                                "floor": floor}))
    try:
        if d["floor"] and d["floor"].get("ranges"):
            inner = build_generator(name, in_channels, out_channels, d["args"], scale, d["learner"],
                                    d["guard"])
            return Fallback(inner, d["floor"]["linear"], guard_part(in_channels, d["floor"]["ranges"]),
                            in_channels)
        if name in LEARNERS:
            return registry.build(name, in_channels, out_channels, d["args"])
        network = build_network(name, in_channels, out_channels, d["args"], scale, LEARNERS)
        if not d["learner"]:
            return network
        g = anchor_generator(d["learner"])
        # clamped unless the learner says ``clamp: false`` (the maps a 0.1.0 run fitted itself)
        clamp = not (isinstance(d["learner"], dict) and d["learner"].get("clamp") is False)
        return Anchored(registry.build(g["name"], in_channels, out_channels, g["args"]), network,
                        guard_part(in_channels, d["guard"] or None), clamp, in_channels)
    except (TypeError, ValueError, KeyError) as e:
        raise BandbridgeError(f"model.generator for '{name}': {e}") from None


def build_from(g, in_channels: int, out_channels: int, scale: int = 1) -> nn.Module:
    """:func:`build_generator` of a ``GeneratorConfig`` (config.py)."""
    return build_generator(g.name, in_channels, out_channels, g.args, scale, g.learner, g.guard,
                           g.floor)
