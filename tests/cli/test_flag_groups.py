"""``cli/options.flag_groups``: a command takes a group of flags as one dataclass parameter, while typer sees (and
``--help`` shows) each flag as its own, in the group's place; the group is built from the flags given, and a flag
not given keeps its field's default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Optional

import pytest
import typer
from typer.testing import CliRunner

from bandbridge.cli.options import flag_groups


@dataclass(frozen=True)
class Look:
    colour: Annotated[str, typer.Option("--colour", "-c", help="the colour to show")] = "red"
    size: Annotated[Optional[int], typer.Option("--size", min=1, metavar="N", help="the size to show")] = None
    tags: Annotated[list[str], typer.Option("--tag", help="a tag (repeat for more)")] = field(default_factory=list)


def _app() -> tuple[typer.Typer, list]:
    """A one-command app whose group sits between an argument and a flag of its own; ``got`` holds each call."""
    got = []
    app = typer.Typer()

    @app.command()
    @flag_groups
    def show(name: str = typer.Argument(..., help="what to show"), look: Look = Look(),
             loud: bool = typer.Option(False, "--loud", help="say it loudly")) -> None:
        """Show a thing."""
        got.append((name, look, loud))
    return app, got


def test_the_flags_given_are_parsed_into_the_group():
    app, got = _app()
    r = CliRunner().invoke(app, ["pot", "-c", "blue", "--size", "3", "--tag", "a", "--tag", "b", "--loud"])
    assert r.exit_code == 0, r.output
    assert got == [("pot", Look("blue", 3, ["a", "b"]), True)]


def test_a_flag_not_given_keeps_its_fields_default():
    app, got = _app()
    assert CliRunner().invoke(app, ["pot", "--size", "2"]).exit_code == 0
    assert CliRunner().invoke(app, ["jug"]).exit_code == 0
    assert got == [("pot", Look(size=2), False), ("jug", Look(), False)]
    assert got[1][1] == Look("red", None, [])


def test_help_shows_each_flag_in_the_groups_place_and_a_bad_value_is_clicks_refusal():
    app, got = _app()
    r = CliRunner().invoke(app, ["--help"], terminal_width=120)
    assert r.exit_code == 0
    order = [r.output.index(flag) for flag in ("--colour", "--size", "--tag", "--loud")]
    assert order == sorted(order), r.output
    assert "the colour to show" in r.output and "-c" in r.output and " N " in r.output
    assert "[default: red]" in r.output and "Show a thing." in r.output
    bad = CliRunner().invoke(app, ["pot", "--size", "0"])
    assert bad.exit_code == 2 and got == []


def test_the_command_keeps_its_name_and_doc_and_a_flag_named_twice_is_refused():
    def show(look: Look = Look()) -> None:
        """Show a thing."""

    def clash(look: Look = Look(), colour: str = "red") -> None:
        """Two flags named colour."""
    shown = flag_groups(show)
    assert (shown.__name__, shown.__doc__) == ("show", "Show a thing.")
    with pytest.raises(ValueError, match="colour"):
        flag_groups(clash)
