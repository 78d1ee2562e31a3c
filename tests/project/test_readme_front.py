"""The README leads with what bandbridge does and how to run it; the figures come after (issue 98)."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_leads_with_install_and_the_commands_then_the_figures():
    lines = README.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("make demo"))
    verdict = next(i for i, line in enumerate(lines) if line.startswith("## The verdict"))
    table = next(i for i, line in enumerate(lines) if line.startswith("| `rgb2nir-naip` |"))
    assert first < 20, "make demo is not on the README's first screen"
    head = "\n".join(lines[:verdict])
    for command in ("make test", "bandbridge sharpen", "bandbridge fill", "--reference", "bandbridge adapt"):
        assert command in head, f"the README does not show {command!r} before its figures"
    assert first < verdict < table
    assert not re.search(r"\d+\.\d+ DN", "\n".join(lines[:first])), "figures before the install lines"


def test_readme_says_how_long_make_test_takes_on_two_cores():
    text = " ".join(README.read_text().split())
    said = re.search(r"`make test` took about (\d+) minutes .{0,40}2-core machine.{0,80}?(\d+) minutes", text)
    assert said and said.groups() == ("22", "55"), "the README does not say how long make test takes"
