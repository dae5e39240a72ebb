"""Diffs of a notebook against its approved snapshot or a git revision, as nbdime JSON, as
text, or in nbdime's web viewer on 127.0.0.1. nbdime is imported only here, lazily."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgov.adapters import git, nbdime
from nbgov.adapters.notebooks import content_version, read_source
from nbgov.core.config import Config
from nbgov.core.errors import Location, NotebookError, ReviewError
from nbgov.core.identity import short_version
from nbgov.core.ledger import ReviewRecord, status_of
from nbgov.core.tasks import visible_lines
from nbgov.services.review import store
from nbgov.services.review.state import read_current
from nbgov.services.review.store import ReviewSettings


def _at_rev(config: Config, path: Path, rel: str, rev: str) -> dict[str, Any] | str:
    repo = git.repo_root(config.root)
    if repo is None:
        raise ReviewError("--rev needs a git repository", Location(rel))
    data = git.show_file(repo, rev, path.relative_to(repo))
    with tempfile.TemporaryDirectory(prefix="nbgov-rev-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(data)
        try:
            return read_source(copy)
        except NotebookError as exc:
            raise NotebookError(f"at {rev}: {exc.message}", Location(rel), exc.hint) from None


def _base(
    config: Config, path: Path, rel: str, rev: str | None, records: list[ReviewRecord]
) -> tuple[dict[str, Any] | str, str | None, str]:
    """(base notebook, approved version, label) to diff a notebook against."""
    _, approved_version, _ = status_of(records, "")
    if rev is not None:
        return _at_rev(config, path, rel, rev), approved_version, rev
    if approved_version is None:
        raise ReviewError(
            f"{rel} was never approved: there is nothing to diff against",
            Location(rel),
            hint="diff against a git revision instead: --rev HEAD",
        )
    base = store.read_snapshot(ReviewSettings.from_config(config).snapshots, approved_version)
    if base is None:
        raise ReviewError(
            f"the approved snapshot of {rel} ({short_version(approved_version)}) is missing",
            Location(rel),
            hint="commit .nbgov/snapshots/ with the ledger, or use --rev REV",
        )
    return base, approved_version, f"approved {short_version(approved_version)}"


def notebook_diff(
    config: Config, notebook: str | Path, rev: str | None = None, include_outputs: bool = False
) -> dict[str, Any]:
    """What changed in a notebook since its latest approval (or since git revision ``rev``).

    Returns:
        ``{"path", "approved_version", "current_version", "base_version", "against", "base",
        "current", "diff"}``: ``base`` and ``current`` are the compared notebooks (cells without
        outputs unless ``include_outputs``), ``diff`` is nbdime's diff JSON (``[]``: no change).
    """

    path, rel, nb, version = read_current(config, notebook)
    settings = ReviewSettings.from_config(config)
    records = [r for r in store.read_records(settings.ledger) if r.notebook == rel]
    base_nb, approved_version, label = _base(config, path, rel, rev, records)
    if isinstance(nb, str) or isinstance(base_nb, str):
        return _text_diff(rel, approved_version, version, base_nb, nb, label)
    base = nbdime.review_view(base_nb, include_outputs)
    current = nbdime.review_view(nb, include_outputs)
    return {
        "path": rel,
        "approved_version": approved_version,
        "current_version": version,
        "base_version": content_version(base_nb),
        "against": label,
        "base": base,
        "current": current,
        "diff": nbdime.diff(base, current),
    }


def diff_against_approved(
    config: Config, notebook: str | Path, include_outputs: bool = False
) -> dict[str, Any]:
    """What changed since the latest approval: :func:`notebook_diff` without a revision.

    Returns:
        ``{"path", "approved_version", "current_version", "base", "current", "diff", ...}``.

    Raises:
        ReviewError: never approved, or its snapshot is missing.
    """
    return notebook_diff(config, notebook, None, include_outputs)


def _as_text(content: dict[str, Any] | str) -> str:
    if isinstance(content, str):
        return content  # exact: a CR or form feed that changed must show in the diff
    # a notebook compared with a text file (a renamed source): its cells' sources, in order
    return "\n".join("".join(c.get("source", "")) for c in content.get("cells", []))


def _text_diff(rel: str, approved_version: str | None, version: str, base: dict[str, Any] | str,
               current: dict[str, Any] | str, label: str) -> dict[str, Any]:
    """A :func:`notebook_diff` result for a text source (.sql, .sh...): a unified diff."""
    import difflib

    base_text, current_text = _as_text(base), _as_text(current)
    lines = list(difflib.unified_diff(visible_lines(base_text), visible_lines(current_text),
                                      f"{rel} ({label})", f"{rel} (working copy)", lineterm=""))
    return {
        "path": rel,
        "approved_version": approved_version,
        "current_version": version,
        "base_version": content_version(base),
        "against": label,
        "base": base_text,
        "current": current_text,
        "diff": lines,
        "format": "text",
    }


def render_diff(result: dict[str, Any], color: bool = False) -> str:
    """The text form of a :func:`notebook_diff` result (nbdime's pretty printer; a unified
    diff for text sources)."""

    if not result["diff"]:
        return f"{result['path']}: no changes since {result['against']}\n"
    if result.get("format") == "text":
        return "\n".join(result["diff"]) + "\n"
    return nbdime.render(
        result["base"],
        result["diff"],
        f"{result['path']} ({result['against']})",
        f"{result['path']} (working copy)",
        color,
    )


@dataclass
class WebDiff:
    """A running nbdime web diff: ``command`` (binds 127.0.0.1 only), ``process``, ``workdir``."""

    command: list[str]
    process: Any
    workdir: Path

    def wait(self) -> int:
        """Wait for the server to end (browser closed or Ctrl-C), then clean up."""
        try:
            return self.process.wait()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the server if it runs and delete the compared copies."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def web_diff(
    config: Config,
    notebook: str | Path,
    rev: str | None = None,
    include_outputs: bool = False,
    port: int = 0,
    browser: str | None = None,
) -> WebDiff:
    """Start nbdime's web diff of a notebook against its approval (or ``rev``) on 127.0.0.1."""

    result = notebook_diff(config, notebook, rev, include_outputs)
    if result.get("format") == "text":
        raise ReviewError(f"{result['path']} is not a notebook: the web diff shows notebooks only",
                          Location(result["path"]), hint=f"see its text diff: nbgov diff {result['path']}")
    workdir = Path(tempfile.mkdtemp(prefix="nbgov-diff-"))
    name = Path(result["path"]).stem
    label = "approved" if rev is None else "base"
    base, current = workdir / f"{name}--{label}.ipynb", workdir / f"{name}--current.ipynb"
    base.write_text(json.dumps(result["base"]), encoding="utf-8")
    current.write_text(json.dumps(result["current"]), encoding="utf-8")
    command = nbdime.web_command(base, current, port, browser)
    return WebDiff(command, nbdime.start_web(base, current, port, browser), workdir)
