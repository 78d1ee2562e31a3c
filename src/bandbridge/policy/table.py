"""The manual's table of rules (``docs/policy.md``), generated from ``policy``'s constants and
``policy/rules*.py``'s records: ``python -m bandbridge.policy.table docs/policy.md``."""

from __future__ import annotations

import sys

from bandbridge import policy
from bandbridge.policy.rules import rules

HEAD = ("# Rules and thresholds\n\nEvery threshold that decides what a user gets, where it is decided and what set it "
        "(generated from `bandbridge.policy` by `python -m bandbridge.policy.table docs/policy.md`; do not edit by "
        "hand).\n")


def value(name: str) -> str:
    v = getattr(policy, name)
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else repr(v)


def table() -> str:
    """The page: one table a section, one row a rule."""
    out, section = [HEAD], None
    for r in rules():
        if r.section != section:
            section = r.section
            out += [f"\n## {section}\n", "| rule | decided in | threshold | what set it |", "|---|---|---|---|"]
        names = "<br>".join(f"`{n}` = {value(n).replace('|', '∣')}" for n in r.names)
        out.append(f"| {r.rule} | `{r.where}` | {names} | {r.why.replace('|', '∣')} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    text = table()
    if len(sys.argv) > 1:
        from pathlib import Path
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
