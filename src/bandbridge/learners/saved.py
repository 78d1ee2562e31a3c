"""The forms a saved learner takes in ``model.generator``, read without torch: a learner alone
(``name: learner``, ``args: {kind, …}``), a blend (``name: blend``, ``args: {parts: [...]}``), or
the ``learner:`` a network's residual is added to (``linear``, ``{kind: …}``, ``{blend: [...]}``).
The registry (which knows the kinds) and the saved model's spec (which must not import torch)
both read them here."""

from __future__ import annotations


def anchor_generator(learner: bool | str | dict) -> dict:
    """The learner a residual is added to, as a saved learner's ``model.generator``:
    ``linear`` (or ``true``) → the linear map, ``{kind: …}`` → that learner, ``{blend: [parts]}``
    → that blend."""
    if learner == "select":
        raise ValueError("learner: select is chosen and fitted by a training run; a generator "
                         "built outside one needs the fitted learner's arguments ({kind: …})")
    if isinstance(learner, dict) and "blend" in learner:
        return {"name": "blend", "args": {"parts": list(learner["blend"])}}
    if isinstance(learner, dict):
        return {"name": "learner", "args": {k: v for k, v in learner.items() if k != "clamp"}}
    if learner in (True, "linear"):
        return {"name": "learner", "args": {"kind": "linear", "windows": [], "products": False}}
    raise ValueError(f"learner: {learner!r} is not a learner; use select, linear, "
                     "{kind: ridge, windows: [...]} or a fitted learner's arguments")


def learner_value(generator: dict) -> dict:
    """A saved learner's ``model.generator`` as the ``learner:`` a residual is added to (the
    inverse of :func:`anchor_generator`)."""
    args = generator["args"]
    return {"blend": list(args["parts"])} if generator["name"] == "blend" else dict(args)


JOINED = "joined"  # several generators on one input (models/joined.py), each part a generator block of its own


def parts(name: str, args: dict, learner=None) -> list[dict]:
    """The per-pixel learners' arguments of a saved generator: a blend's parts, a learner
    itself, those of the learner a network's residual is added to (none before a run has
    chosen it, ``select``, or where there is no learner), or a joined generator's parts' all."""
    if name == JOINED:
        return [a for q in args.get("parts", []) for a in parts(q["name"], q.get("args") or {}, q.get("learner"))]
    if name == "blend":
        return list(args.get("parts", []))
    if name == "learner":
        return [args]
    if not learner or learner == "select":
        return []
    try:
        g = anchor_generator(learner)
    except ValueError:
        return []  # not a learner: the generator's build says so
    return parts(g["name"], g["args"])
