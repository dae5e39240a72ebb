"""The command line's conventions, kept in one place (docs/reference/cli.md, "Conventions").

- every error is one ``error: ...`` line on stderr (click's usage errors too), then hints;
- exit codes: 0 ok, 1 a refusal or a finding, 2 bad input, 130 interrupted;
- every command that reads a project takes ``--project DIR`` (added here to the commands that
  do not declare it, so that no command, present or future, can lack it), and refuses to run
  where there is no project (rather than report on nothing: "0 targets approved");
- colour only on a terminal, never with ``NO_COLOR``; progress bars only on a terminal (the
  build's bar: nbgov.adapters.ploomber.executor);
- a deprecated spelling keeps working with a ``warning:`` naming the new one.

tests/cli/test_conventions.py walks the click group and checks every command against them.
"""

from __future__ import annotations

import difflib
import functools
import os
import sys

import click

#: Commands that read no project: ``version`` hashes the files it is given, ``ledger merge``
#: is git's merge driver on three files git names.
NO_PROJECT = frozenset({"version", "ledger merge"})
#: Commands that read a project but look for it themselves (``check PATHS`` checks files
#: anywhere, pre-commit's way, and without PATHS refuses outside a project too; ``init`` makes
#: the project, and refuses where there is no pipeline.yaml).
OWN_PROJECT_CHECK = frozenset({"check", "init"})


def use_color(stream=None) -> bool:
    """Colour (and other escape sequences) only on a terminal, never when NO_COLOR is set
    (https://no-color.org: any non-empty value)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def deprecated(old: str, new: str) -> None:
    """Say once, on stderr, that ``old`` still works but ``new`` is its spelling now."""
    click.echo(f"warning: {old} is deprecated: use {new}", err=True)


def usage_error_lines(exc: click.ClickException) -> list[str]:
    """A click error as nbgov's ``error:`` line, a "did you mean" for a mistyped command, and a
    hint naming the help of the command that refused the input."""
    message = exc.format_message()
    lines = [f"error: {message}"]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and isinstance(ctx.command, click.Group) and message.startswith("No such command"):
        typed = message.split("'")[1] if message.count("'") >= 2 else ""
        close = difflib.get_close_matches(typed, ctx.command.list_commands(ctx), n=1)
        if close:
            lines.append(f"  hint: did you mean `{ctx.command_path} {close[0]}`?")
    if ctx is not None:
        lines.append(f"  hint: `{ctx.command_path} --help` lists what it takes")
    return lines


def project_option() -> click.Option:
    """``--project DIR``: run as if from DIR (the project's root, or any folder under it)."""
    return click.Option(["--project"], type=click.Path(file_okay=False), default=None, expose_value=False,
                        is_eager=True, callback=_set_project, help="Project folder (default: found from cwd).")


def _set_project(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        from nbgov.core import config

        config.set_default_root(value)


def require_project(folder: str | None = None) -> None:
    """Refuse to go on where there is no project (at or above ``folder``, else ``--project``,
    else the working directory)."""
    from pathlib import Path

    from nbgov.core.config import find_root, is_project
    from nbgov.core.errors import ConfigError

    found = find_root(folder)
    if not is_project(found):
        raise ConfigError(f"no nbgov project at or above {Path(folder or found).resolve()} (no nbgov.toml, "
                          "pipeline.yaml or [tool.nbgov] in pyproject.toml)",
                          hint="run `nbgov init` in a Ploomber project, or pass --project DIR")


def add_conventions(command: click.Command, path: str = "") -> click.Command:
    """Give every command under ``command`` a ``--project`` unless it declares one, and a
    refusal outside a project, unless it reads no project (:data:`NO_PROJECT`)."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            add_conventions(sub, f"{path} {name}".strip())
        return command
    if path in NO_PROJECT or getattr(command, "_nbgov_conventions", False):
        return command
    command._nbgov_conventions = True  # type: ignore[attr-defined]  (once per command object)
    names = {opt for p in command.params for opt in getattr(p, "opts", [])}
    if "--project" not in names:
        command.params.append(project_option())
    if path not in OWN_PROJECT_CHECK and command.callback is not None:
        command.callback = _in_project(command.callback)
    return command


def _in_project(callback):
    @functools.wraps(callback)
    def run(*args, **kwargs):
        # `--commit SHA` (an exported task on a worker): the command fetches its project itself
        if not kwargs.get("commit"):
            require_project(kwargs.get("project"))
        return callback(*args, **kwargs)

    return run
