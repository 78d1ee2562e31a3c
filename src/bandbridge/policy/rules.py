"""What each of policy's constants decides, where, and what set it: one :class:`Rule` a rule, the
source of the manual's table (``policy/table.py`` writes ``docs/policy.md`` from these; a test holds
the page to them and every constant of ``policy`` to one rule)."""

from __future__ import annotations

from bandbridge.policy.rule import Rule
from bandbridge.policy.rules_inputs import RULES as INPUTS
from bandbridge.policy.rules_models import RULES as MODELS
from bandbridge.policy.rules_place import RULES as PLACE


def rules() -> tuple[Rule, ...]:
    """Every rule, the models' and inputs' first, then a user's data, notes and the page's, then the fit at
    the place's."""
    return MODELS + INPUTS + PLACE
