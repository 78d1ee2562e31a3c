"""The one registry of learner kinds, the candidates the selection core tries, and what a
saved learner (``model.generator`` ``learner`` or ``blend``, or a network's learner anchor) is
built from and runs on.

Adding a kind: one file under ``learners/`` with a :class:`~bandbridge.learners.base.Learner`
subclass, and one ``register(...)`` line below; ``tests/learners/test_contract.py`` then holds it
to the contract, and :func:`register` refuses a class that lacks what the contract needs.
"""

from __future__ import annotations

from torch import nn

from bandbridge.learners import blend, constant, gbm, lad, linear, mlp, ridge, student
from bandbridge.learners.base import KINDS, TARGETS, Learner, learner_graph, learner_module  # noqa: F401
from bandbridge.learners.blend import BlendModule
from bandbridge.learners.saved import parts


def register(cls: type[Learner]) -> type[Learner]:
    """Add a kind to :data:`KINDS`, refusing one that lacks a part of the contract."""
    missing = [a for a in ("kind", "module_class", "fit", "predict", "load") if
               getattr(cls, a, None) in (None, getattr(Learner, a, None))]
    if missing:
        raise TypeError(f"learner {cls.__name__}: defines no {', '.join(missing)} (learners/base.py)")
    if cls.kind in KINDS:
        raise TypeError(f"learner kind '{cls.kind}' is registered twice")
    if not cls.runs_on <= TARGETS or not cls.runs_on & {"torch", "onnx"}:
        raise TypeError(f"learner {cls.__name__}: runs_on must be a subset of {sorted(TARGETS)} "
                        "holding torch or onnx")
    KINDS[cls.kind] = cls
    return cls


# one line a kind, cheapest first (the selection core tries them in this order)
register(constant.Constant)
register(linear.Linear)
register(ridge.Ridge)
register(gbm.GBM)
register(mlp.MLP)
register(blend.Blend)
register(lad.LAD)
register(student.Student)


def candidates() -> list[Learner]:
    """The selection core's candidates, every kind's configurations, cheapest first (a time
    budget cuts the list from the end)."""
    return [c for kind in KINDS.values() for c in kind.candidates()]


def build(name: str, in_channels: int, out_channels: int, args: dict) -> nn.Module:
    """A saved learner's module: ``model.generator`` ``learner`` (``args``: one learner's) or
    ``blend`` (``args``: ``{parts: [...]}``)."""
    return BlendModule(in_channels, out_channels, **args) if name == "blend" else \
        learner_module(in_channels, out_channels, args)


def runs_on(name: str, args: dict, learner=None) -> dict[str, list[str]]:
    """The kinds of a saved generator that cannot run everywhere, with what each runs on
    (``{}``: every backend and precision); what ``model.yaml: runs_on`` records."""
    out = {}
    for a in parts(name, args, learner):
        cls = KINDS.get(a.get("kind", "linear"))
        if cls is not None and cls.runs_on != TARGETS:
            out[cls.kind] = sorted(cls.runs_on)
    return out


def graph_flips(m: nn.Module) -> float:
    """The share of pixels an exported graph of ``m`` may compute differently from torch:
    a kind's ``graph_flips`` (trees split on features that round differently), else 0."""
    return max((KINDS[s.kind].graph_flips for s in m.modules() if getattr(s, "kind", None) in KINDS),
               default=0.0)


def traceable(m: nn.Module) -> bool:
    """Whether torch's tracer alone can export ``m``: no learner in it whose kind builds its own
    graph (``Learner.traceable``: trees are converted by onnxmltools)."""
    return all(KINDS[s.kind].traceable for s in m.modules() if getattr(s, "kind", None) in KINDS)
