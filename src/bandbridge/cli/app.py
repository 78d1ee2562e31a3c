"""The Typer app, its two consoles, one-line errors and :func:`main`, the entry point (the
commands are in the modules beside this one, registered by ``__init__.py``)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from bandbridge.errors import BandbridgeError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Translate imagery across sensors with conditional GANs.")
err = Console(stderr=True, soft_wrap=True)  # one message, one line, however narrow the terminal
out = Console(soft_wrap=True)


def fail(message: str) -> None:
    error(message)
    raise typer.Exit(2)


def main() -> None:
    """Run the CLI: a mistake (ours or a flag's) is one line and exit code 2; Ctrl-C and SIGTERM
    unwind alike (every temporary file removed) and exit 130 / 143."""
    import signal

    from bandbridge.fileio import Terminated
    got: list[int] = []

    interrupted: list[int] = []

    def on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
        got.append(signum)
        raise Terminated()

    def on_sigint(signum, frame):  # noqa: ARG001 - as Python's own, but remembered (see below)
        interrupted.append(signum)
        raise KeyboardInterrupt
    try:
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (embedded use)
        pass
    try:
        code = app(standalone_mode=False)
    except BandbridgeError as e:
        error(str(e))
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except SystemExit as e:  # Lightning turns an interrupt during fit into sys.exit(1)
        if not (got or interrupted) and type(e).__name__ != "SIGTERMException":
            raise
        if not interrupted:
            got.append(signal.SIGTERM)
        code = 130
    except Exception as e:  # click's own refusals (typer vendors click: matched by shape)
        from bandbridge.fileio import disk_full_message
        full = disk_full_message(e)
        if full:  # a full disk: one line (outputs are temporary until complete)
            error(full)
            sys.exit(2)
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(2)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        error(f"{e.format_message()}{where}")
        sys.exit(2)
    if code == 130:
        err.print(f"interrupted ({'SIGTERM' if got else 'Ctrl-C'}); partial outputs removed",
                  highlight=False)
        sys.exit(143 if got else 130)
    sys.exit(code if isinstance(code, int) else 0)


def error(message: str) -> None:
    from rich.markup import escape  # a message may hold brackets: pip install 'bandbridge[onnx]'
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
