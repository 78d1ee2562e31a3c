"""One rule of ``policy``: what it decides, where, by which constants, and what set them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """``rule`` what is decided, in a few words; ``where`` the function that decides it
    (``room/module.function``); ``names`` its constants, each defined in ``policy``; ``why`` what
    set each: the measurement, with its command or record, or "a judgement"; ``section`` the
    table's part."""

    rule: str
    where: str
    names: tuple[str, ...]
    why: str
    section: str = "models"
