"""What each of policy's constants decides, where, and what set it: one :class:`Rule` a rule, the
source of the manual's table (``policy/table.py`` writes ``docs/policy.md`` from these; a test holds
the page to them and every constant of ``policy`` to one rule)."""

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


def rules() -> tuple[Rule, ...]:
    """Every rule, the models' and inputs' first, then the fit at the place's."""
    from bandbridge.policy.rules_models import RULES as MODELS
    from bandbridge.policy.rules_place import RULES as PLACE
    return MODELS + PLACE
