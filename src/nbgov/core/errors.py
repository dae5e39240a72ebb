"""One exception family for nbgov.

Every error a user can cause is an :class:`NbgovError`. It carries what was wrong, where
(file, cell, line) and what to do, and the exit code the CLI returns. Front ends (CLI,
server, hooks) turn these into messages; they never show a traceback for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nbgov.core.redact import without_url_secrets


@dataclass
class Location:
    """Where a problem is: a file, optionally a cell (0-based index) and a line (1-based)."""

    path: str | Path | None = None
    cell: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [str(self.path)] if self.path is not None else []
        if self.cell is not None:
            parts.append(f"cell {self.cell}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ":".join(parts) if parts else ""


#: ``scheme://user:password@`` in a URL: what no message may print.
_URL_CREDENTIALS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@")


def without_credentials(text: str) -> str:
    """``text`` with every URL's ``user:password@`` left out and its secret query values
    (``?access_token=...``) masked (:func:`nbgov.core.redact.without_url_secrets`)."""
    return without_url_secrets(_URL_CREDENTIALS.sub(r"\1", text))


@dataclass
class NbgovError(Exception):
    """Base class of every error nbgov raises on purpose.

    Attributes:
        message: one line saying what is wrong.
        where: the file / cell / line it concerns, if any.
        hint: what the user can do about it.
        exit_code: the process exit code a CLI should use.
    """

    message: str
    where: Location | None = None
    hint: str | None = None
    exit_code: int = field(default=2)

    def __post_init__(self) -> None:
        # an error names URIs (the tracking store's): never with the user:password they may hold
        self.message = without_credentials(self.message)
        if self.hint:
            self.hint = without_credentials(self.hint)
        super().__init__(self.message)

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where and str(self.where) else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        """A JSON-ready form, used by the server API and ``--json`` outputs."""
        where = None
        if self.where is not None:
            where = {
                "path": str(self.where.path) if self.where.path is not None else None,
                "cell": self.where.cell,
                "line": self.where.line,
            }
        return {"error": type(self).__name__, "message": self.message, "where": where, "hint": self.hint}


class ConfigError(NbgovError):
    """The project configuration (nbgov.toml / [tool.nbgov]) is invalid."""


class NotebookError(NbgovError):
    """A notebook cannot be read: missing, not JSON, not nbformat."""


class PipelineError(NbgovError):
    """pipeline.yaml is invalid, or a task, parameter or product in it is."""


class ParameterError(NbgovError):
    """A parameter override is malformed or unknown."""


class LedgerError(NbgovError):
    """The review ledger cannot be read, does not verify, or refuses an append."""


class ReviewError(NbgovError):
    """A review decision was refused (e.g. four-eyes rule)."""


class StateLinkError(NbgovError):
    """One of nbgov's own state folders (``.nbgov``, its journal, cache, lineage) is a symbolic
    link: nbgov writes nothing through it (a commit could lead its writes out of the project)."""


class TrackingError(NbgovError):
    """The tracking store (MLflow) is unreachable or refused a request."""


class LineageError(NbgovError):
    """A lineage target is unknown, or its records are missing."""


class GateError(NbgovError):
    """A gate refused to go on (unapproved notebooks, metrics under threshold)."""

    def __init__(self, message: str, where: Location | None = None, hint: str | None = None,
                 exit_code: int = 1, reasons: list[str] | None = None, paths: list[str] | None = None) -> None:
        super().__init__(message, where, hint, exit_code)
        self.reasons = list(reasons or [])
        #: the path each reason is about (same order): a path may hold ": " itself
        self.paths = list(paths) if paths is not None else [r.partition(": ")[0] for r in self.reasons]

    def __str__(self) -> str:
        text = super().__str__()
        if self.reasons:
            text += "".join(f"\n  - {r}" for r in self.reasons)
        return text


class TaskFailedError(NbgovError):
    """A pipeline task failed while running (exception, dead kernel, timeout)."""

    def __init__(self, message: str, where: Location | None = None, hint: str | None = None,
                 exit_code: int = 1) -> None:
        super().__init__(message, where, hint, exit_code)


class MissingExtraError(NbgovError):
    """An optional dependency is not installed."""


def missing_extra(module: str, extra: str) -> MissingExtraError:
    """Build the error for an optional dependency that is not installed."""
    return MissingExtraError(
        f"'{module}' is not installed",
        hint=f"pip install 'nbgov[{extra}]'",
    )


class NbgovWarning(UserWarning):
    """Warnings nbgov emits (e.g. a broken plug-in skipped). Errors in the test suite."""
