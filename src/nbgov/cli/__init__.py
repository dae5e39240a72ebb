"""The ``nbgov`` command line. Thin: options in, one service call, exit code from the error.

Sub-commands live in their own modules and are imported only when invoked, so that
``nbgov check`` does not pay for importing MLflow or Ploomber. Inside a command module, each
command imports the service it calls in its own body: ``nbgov --help`` imports every command
module to list them, and pays for no service (the one exception to "imports at the top", kept
by tests/test_architecture.py).
"""

from __future__ import annotations

import importlib
import sys

import click

from nbgov import __version__
from nbgov.cli.conventions import add_conventions, usage_error_lines
from nbgov.core.errors import NbgovError
from nbgov.core.oserrors import is_disk_full, storage_error

#: command name -> "module:attribute". One line per command; modules are imported lazily.
COMMANDS: dict[str, str] = {
    "init": "nbgov.cli.init:init",
    "build": "nbgov.cli.build:build",
    "status": "nbgov.cli.build:status",
    "sync": "nbgov.cli.build:sync",
    "open-build": "nbgov.cli.build:open_build",
    "close-build": "nbgov.cli.build:close_build",
    "export": "nbgov.cli.export:export",
    "review": "nbgov.cli.review:review",
    "ledger": "nbgov.cli.review:ledger",
    "diff": "nbgov.cli.review:diff",
    "version": "nbgov.cli.review:version",
    "check": "nbgov.cli.check:check",
    "lineage": "nbgov.cli.lineage:lineage",
    "promote": "nbgov.cli.models:promote",
    "serve": "nbgov.cli.models:serve",
    "monitor": "nbgov.cli.models:monitor",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name, quiet=True) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str, quiet: bool = False) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # a command whose module is not written yet is simply absent
            if quiet or exc.name == module_name:
                return None
            raise
        command = getattr(module, attr, None)
        return add_conventions(command, name) if command is not None else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbgov")
def cli() -> None:
    """nbgov: governed, reproducible Jupyter notebooks as steps of an ML pipeline."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``nbgov`` script: runs the CLI and maps NbgovError to exit codes."""
    from nbgov.core import interrupts

    interrupts.install()
    from nbgov.core.config import set_default_root

    set_default_root(None)  # `--project` of an earlier call in this process (tests) does not stick
    try:
        cli.main(args=argv, prog_name="nbgov", standalone_mode=False)
    except NbgovError as exc:
        _ignore_interrupts()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _exit_interrupted("aborted")
    except click.ClickException as exc:
        # click's own errors in nbgov's format (one `error:` line, hints), and bad input is 2
        for line in usage_error_lines(exc):
            click.echo(line, err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _exit_interrupted("interrupted")
    except OSError as exc:
        # disk full, read-only, permission: the user's to fix, one line naming the path
        _ignore_interrupts()
        click.echo(f"error: {storage_error(exc)}", err=True)
        sys.exit(2)
    except Exception as exc:
        if not is_disk_full(exc):  # a bug: its traceback is wanted
            raise
        # a full disk met inside a library that wrapped the OSError (SQLite, Ploomber)
        _ignore_interrupts()
        click.echo(f"error: the disk is full: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}\n"
                   "  hint: free some space on that file system, then run the command again", err=True)
        sys.exit(2)
    _ignore_interrupts()
    if interrupts.seen():  # a Ctrl-C some library swallowed: the command did not run as asked
        _exit_interrupted("interrupted")
    sys.exit(0)


def run() -> None:
    """The ``nbgov`` script: :func:`main`, then a quick exit once the command is done.

    A build leaves Ploomber, papermill, nbformat and their dependencies imported, and tearing
    them down at interpreter exit takes 0.4-0.5 s here (more than a whole no-op build). Once the
    command has finished and the ``atexit`` handlers have run, finalisation has nothing left to
    do for the user, so the process ends with ``os._exit``; a non-daemon thread still running
    takes the normal exit instead (it is joined, not cut short). ``main`` itself exits normally,
    for callers that run the CLI inside their own process.
    """
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    _quick_exit(code)


def _quick_exit(code: int | str | None) -> None:
    import threading

    from nbgov.core.exiting import exit_now

    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if any(t.is_alive() for t in others):
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        click.echo(str(code), err=True)  # what sys.exit prints for a message
        code = 1
    exit_now(code or 0)


def _exit_interrupted(message: str) -> None:
    """Exit 130 after a Ctrl-C, the command's own clean-up done (runs ended, lock released).

    Not through ``sys.exit``: when the KeyboardInterrupt once crossed code that a C extension ran
    with ``PyRun_*`` (some do at import), CPython remembers it as unhandled and, after a normal
    exit, kills the process with SIGINT instead (exit -2; seen by the fault campaign for a Ctrl-C
    1-2 s into a build). Interpreter finalisation has nothing left to do for a build by then.
    """
    from nbgov.core.exiting import exit_now

    _ignore_interrupts()
    click.echo(message, err=True)
    exit_now(130, run_atexit=False)


def _ignore_interrupts() -> None:
    """The command is over (recorded, summarised): a Ctrl-C during interpreter shutdown must not
    turn a finished build into a death by signal."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
