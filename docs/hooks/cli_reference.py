"""MkDocs hook: the command-line reference, generated at build time by Typer's own documentation
generator (what ``typer bandbridge.cli utils docs`` prints) from the installed ``bandbridge``
app, so a command or flag is documented exactly as ``--help`` knows it.

A page asks for it with the line ``<!-- cli-reference -->``. The help texts' placeholders
(``runs/<name>/<timestamp>``, ``<output>_error.tif``) are text, not HTML tags: ``<`` and ``>``
are escaped outside code, so the page says what ``--help`` says.
"""

from __future__ import annotations

import re

MARKER = "<!-- cli-reference -->"
_CODE_SPAN = re.compile(r"(`+.*?`+)")  # inline code renders ``<`` as it is: left alone


def escape_placeholders(markdown: str) -> str:
    """``<`` and ``>`` as ``&lt;`` and ``&gt;`` outside fenced blocks and code spans."""
    lines, fenced = [], False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            parts = _CODE_SPAN.split(line)  # odd indices: the code spans
            line = "".join(part if i % 2 else part.replace("<", "&lt;").replace(">", "&gt;")
                           for i, part in enumerate(parts))
        lines.append(line)
    return "\n".join(lines)


def cli_markdown() -> str:
    """Markdown for ``bandbridge`` and every command: usage, arguments, options, defaults."""
    import typer
    import typer.main
    from typer.cli import get_docs_for_click

    from bandbridge.cli import app
    command = typer.main.get_command(app)
    ctx = typer.Context(command)
    docs = get_docs_for_click(obj=command, ctx=ctx, name="bandbridge", title="bandbridge")
    # one level down: the page's own title is the only top-level heading
    return escape_placeholders("\n".join("#" + line if line.startswith("#") else line
                                          for line in docs.strip().split("\n")))


def on_page_markdown(markdown: str, **kwargs) -> str:  # the MkDocs hook
    return markdown.replace(MARKER, cli_markdown()) if MARKER in markdown else markdown
