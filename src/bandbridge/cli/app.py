"""The Typer app, its two consoles, one-line errors and :func:`main`, the entry point (the
commands are in the modules beside this one, registered by ``__init__.py``)."""

from __future__ import annotations

import copy
import re
import sys
from contextlib import suppress

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup

from bandbridge.errors import BandbridgeError

# Help names a value the way click always has (TEXT, INTEGER); a flag takes no value and shows
# none. Typer's own labels are Python's type names (<str>, <bool>, <list[str]>).
_TYPE_NAMES = {"bool": "", "int": "INTEGER", "float": "NUMBER"}


class _NamedArgument(TyperArgument):
    """An argument shown by its name alone (INPUTS), as click shows it: no type column."""

    def display_type_rich(self, ctx) -> None:
        return None

    @classmethod
    def of(cls, p: TyperArgument) -> TyperArgument:
        """A copy of ``p`` as this class, its name in capitals as its metavar (Typer takes no
        parameter class of its own); ``p`` itself where its metavar is set already."""
        if p.metavar is not None:
            return p
        named = copy.copy(p)
        named.__class__, named.metavar = cls, p.name.upper()
        return named


def _readable(params: list) -> list:
    """Options (and flags) named by click's type names; arguments are :class:`_NamedArgument`."""
    for p in params:
        if p.metavar is None and not isinstance(p, TyperArgument):
            kind = getattr(getattr(p, "type_descriptor", None), "annotation", None)
            p.metavar = _TYPE_NAMES.get(getattr(kind, "__name__", ""), "TEXT") \
                if not getattr(p, "is_flag", False) else ""
    return params


def first_sentence(doc: str | None) -> str:
    """A command's summary for the command list and the manual: its docstring's first sentence,
    whole (click cuts a long one with "…")."""
    text = " ".join((doc or "").split("\n\n")[0].split())
    m = re.search(r"\.(\s|$)", text)
    return text[:m.start() + 1] if m else text


class ReadableCommand(TyperCommand):
    """A command whose --help reads like a GDAL or click tool's."""

    def __init__(self, *args, params: list | None = None, **kwargs) -> None:
        super().__init__(*args, params=[_NamedArgument.of(p) if isinstance(p, TyperArgument) else p
                                        for p in params or []], **kwargs)

    def get_params(self, ctx) -> list:
        return _readable(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        # a hidden argument (a deprecated spelling) is not shown as an empty "[]"
        return [p for p in super().collect_usage_pieces(ctx) if p.strip("[] ")]


class ReadableGroup(TyperGroup):
    """The ``bandbridge`` group itself, read alike."""

    def get_params(self, ctx) -> list:
        return _readable(super().get_params(ctx))


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=ReadableGroup,
                  help="Translate imagery across sensors: NIR from RGB, optical from SAR, thermal from RGB, super-resolution.")
err = Console(stderr=True, soft_wrap=True)  # one message, one line, however narrow the terminal
out = Console(soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        import rasterio

        from bandbridge import __version__
        typer.echo(f"bandbridge {__version__} (rasterio {rasterio.__version__}, GDAL "
                   f"{rasterio.__gdal_version__})")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="print the version and exit"),
             quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or lines on "
                                        "stderr (results, warnings and errors still print)")) -> None:
    """Translate imagery across sensors: NIR from RGB, optical from SAR, thermal from RGB, super-resolution."""
    from bandbridge.cli import progress
    progress.QUIET = quiet


def fail(message: str) -> None:
    error(message)
    raise typer.Exit(2)


def renamed(value, old_value, new: str, old: str, command: str):
    """One way to name things (``-m``, ``-o``): ``value`` of the flag ``new``, or ``old_value``
    of its former spelling ``old``, still accepted with a deprecation line."""
    if value is not None and old_value is not None:
        fail(f"{command}: {old} and {new} both given; give {new} alone")
    if old_value is not None:
        err.print(f"note: `{command} {old}` is deprecated; use `{command} {new}`", highlight=False)
        return old_value
    return value


def command_line() -> str:
    """The command as it was run, quoted for a shell: what a record says made it."""
    import shlex
    return shlex.join(["bandbridge", *sys.argv[1:]])


def model_named(model: str | None, legacy: str | None, command: str) -> str:
    """The model of a command that once took it as an argument: ``-m`` now, the argument still
    accepted with a deprecation line (:func:`renamed`); none at all is refused."""
    model = renamed(model, legacy, "-m MODEL", "MODEL", f"bandbridge {command}")
    if model is None:
        fail(f"bandbridge {command}: no model; name one with -m (a bundled name, a run folder or a bundle)")
    return model


def main() -> None:
    """Run the CLI: a mistake (ours or a flag's) is one line and exit code 2; Ctrl-C and SIGTERM
    unwind alike (every temporary file removed) and exit 130 / 143."""
    import signal
    import warnings

    from rasterio.errors import NotGeoreferencedWarning
    # a plain image (PNG, JPEG, a GeoTIFF without a CRS) is an input like any other: each reading
    # line says "no georeference" once, rasterio's warning would say it per open (28 lines for a glob)
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
    got: list[int] = []  # SIGTERMs
    interrupted: list[int] = []  # Ctrl-Cs
    _remember_signals(got, interrupted)
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
        _refuse_in_one_line(e)
    if code == 130:
        err.print(f"interrupted ({'SIGTERM' if got else 'Ctrl-C'}); partial outputs removed",
                  highlight=False)
        sys.exit(143 if got else 130)
    sys.exit(code if isinstance(code, int) else 0)


def _remember_signals(got: list[int], interrupted: list[int]) -> None:
    """SIGTERM raises :class:`~bandbridge.fileio.Terminated` and Ctrl-C KeyboardInterrupt, each
    remembered in its list (Lightning turns either into sys.exit(1); main tells them apart)."""
    import signal

    from bandbridge.fileio import Terminated

    def on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
        got.append(signum)
        raise Terminated()

    def on_sigint(signum, frame):  # noqa: ARG001 - as Python's own, but remembered
        interrupted.append(signum)
        raise KeyboardInterrupt
    with suppress(ValueError):  # not the main thread (embedded use)
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, on_sigint)


def _refuse_in_one_line(e: Exception) -> None:
    """A full disk or one of click's refusals as one line and exit code 2; anything else raised."""
    from bandbridge.fileio import disk_full_message
    full = disk_full_message(e)
    if full:  # a full disk: one line (outputs are temporary until complete)
        error(full)
        sys.exit(2)
    if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
        raise e
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
        typer.echo(ctx.get_help())
        sys.exit(2)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    error(f"{e.format_message()}{where}")
    sys.exit(2)


def error(message: str) -> None:
    from rich.markup import escape  # a message may hold brackets: pip install 'bandbridge[onnx]'
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
