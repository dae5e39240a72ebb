"""A build's known secrets (:class:`nbgov.core.redact_known.KnownSecrets`) in the executed
notebooks it keeps and sends, and in the kernel output it prints.

Only the build process knows a build's secret parameters; ``nbgov sync`` may send its runs
later, from the journal, in a process that never saw them. So the build masks what it can
before anything is journaled or sent:

- nbgov's own copy of an executed notebook (the ``.executed.ipynb`` sidecar of an html/md/pdf
  notebook product) is masked in place, before its digest is taken;
- an executed notebook nbgov does not own (an ``.ipynb`` product, a report converted from the
  executed notebook) stays as the task wrote it, and a masked copy is kept in the journal
  (``<build>.files/<seq>/...``, 0600), where the sender takes it from. Its artifact entry says
  ``masked: "copy"`` (``"in place"`` for the sidecar): a sender that finds no such copy (the
  build died between the two writes) uploads nothing in its place rather than the file with the
  secret, and under ``[tracking] secrets = "refuse"`` no flagged notebook is sent at all.

A product the task wrote a known secret into (its bytes, text or binary, in any printed form of
the value) is the user's data: never rewritten, and not uploaded either
(:func:`flag_secret_products`: flagged ``withheld``; the sender names it in the run's
``nbgov.artifacts_changed`` tag and the build warns on stderr). A value the task encoded
(base64, hex, compressed, encrypted) is not found.

A build without known secrets reads no file here (no cost).

What a kernel writes to its file descriptors itself (``os.write(2, ...)``, ``os.system``, an
uncaptured subprocess) bypasses Jupyter and nbgov both: it reaches nbgov's stdout/stderr as
written (docs/security.md, R5). The kernel's output through Jupyter reaches the terminal only
through papermill's logger (a task with
``papermill_params: {log_output: true}``; nbgov shows its warnings: the kernel's stderr). That is
nbgov's stderr, which CI keeps in its logs: :func:`mask_logs` masks the build's known secrets in
every record of that logger (only records that hold one are touched), and in every write to
``sys.stdout`` / ``sys.stderr`` while the build runs: a function task runs in the build's process
(or a fork of it) and prints or logs there. A value split across two writes, or written to the
file descriptor directly (``os.write(2, ...)``, a subprocess), is not found.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbgov.core.atomic import PRIVATE_FILE, atomic_write, private_dir
from nbgov.core.journal import Journal
from nbgov.core.redact import mask_text
from nbgov.core.redact_known import KnownSecrets
from nbgov.core.redact_notebook import mask_notebook
from nbgov.services.recording.confined import folder_files
from nbgov.services.recording.sender import staged_name


def masked_text(path: Path, known: KnownSecrets) -> str | None:
    """The text of an executed notebook (or a report converted from one) with ``known``'s
    values (and what the value rules find) masked; None when it holds no known value or is not
    readable text (a pdf: never uploaded masked, see :class:`~nbgov.services.recording.sender.Sender`)."""
    if not known or not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if next(known.find(text), None) is None:
        return None
    if path.suffix == ".ipynb":
        try:
            nb, _ = mask_notebook(json.loads(text), known)
            return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        except ValueError:
            pass  # a half-written notebook (the kernel died): as text
    return mask_text(text, known=known)[0]


def mask_sidecar(evidence: Path | None, product: Path | None, known: KnownSecrets) -> bool:
    """Mask nbgov's own copy of a task's executed notebook in place (atomically, same mode);
    an ``.ipynb`` product that is its own evidence is the task's file, not touched. True when
    something was masked."""
    if evidence is None or (product is not None and Path(evidence) == Path(product)):
        return False
    masked = masked_text(Path(evidence), known)
    if masked is None:
        return False
    atomic_write(evidence, masked)
    return True


def _executed(item: dict[str, Any]) -> bool:
    return item.get("dir") == "notebook" or bool(item.get("executed"))


def flag_secret_artifacts(payload: dict[str, Any], root: Path, known: KnownSecrets,
                          masked_in_place: list[str] = ()) -> dict[int, str]:
    """Mark the executed artifacts of a ``task_finished`` payload that hold a known secret
    (``masked: "copy"``: their masked texts are returned by position, to keep with
    :func:`stage_masked`) or held one (``masked: "in place"``: the sidecar ``masked_in_place``
    names, masked on disk). The sender uploads a flagged file only masked, and none under
    ``[tracking] secrets = "refuse"``."""
    out: dict[int, str] = {}
    if not known:
        return out
    for i, item in enumerate(payload.get("artifacts") or []):
        if not _executed(item) or item.get("withheld"):
            continue
        if item["path"] in masked_in_place:
            item["masked"] = "in place"
            continue
        masked = masked_text(root / item["path"], known)
        if masked is not None:
            item["masked"] = "copy"
            out[i] = masked
    return out


def holds_known(path: Path, known: KnownSecrets, chunk: int = 1 << 20) -> bool:
    """Whether the file at ``path`` (text or binary; a folder: any file in it) holds one of
    ``known``'s values as UTF-8 bytes in any printed form. Read in chunks; an unreadable file
    counts as holding none. Compressed or encoded (base64, hex) values are not found. A folder's
    files are those its upload sends (``confined.folder_files``: no link followed)."""
    pattern, longest = known.bytes_pattern()
    if pattern is None:
        return False
    files = folder_files(path)[0] if path.is_dir() else [path]
    for file in files:
        try:
            with file.open("rb") as fh:
                tail = b""
                while block := fh.read(chunk):
                    data = tail + block
                    if pattern.search(data):
                        return True
                    tail = data[-(longest - 1):] if longest > 1 else b""
        except OSError:
            continue
    return False


def flag_secret_names(payload: dict[str, Any], root: Path, known: KnownSecrets) -> list[tuple[str, str]]:
    """Mark the folder products of a ``task_finished`` payload holding a file (or link) whose
    name, or a folder's on its way, holds a known secret ``withheld``, like a product whose
    content does: the upload would carry the value in an artifact path (``resp-<token>.json``),
    and ``nbgov sync`` never knows the secrets to leave such a file out later. The file is
    named with the value masked. Returns ``(product path, why)`` pairs, for a warning."""
    out: list[tuple[str, str]] = []
    if not known:
        return out
    for item in payload.get("artifacts") or []:
        folder = root / item["path"]
        if item.get("dir") != "products" or item.get("withheld") or not folder.is_dir():
            continue
        files, links = folder_files(folder)
        for entry in sorted(files + links):
            rel = entry.relative_to(folder).as_posix()
            if next(known.find(rel), None) is not None:
                why = f"a file name in it holds a secret parameter's value ({item['path']}/{known.mask(rel)})"
                item["withheld"], item["withheld_why"] = True, why
                out.append((item["path"], why))
                break
    return out


def flag_secret_products(payload: dict[str, Any], root: Path, known: KnownSecrets) -> list[str]:
    """Mark the products of a ``task_finished`` payload (not the executed notebooks: those are
    masked) that hold a known secret ``withheld``: products are the user's data, never
    rewritten, and such a product is not uploaded (the sender names it in the run's
    ``nbgov.artifacts_changed`` tag instead). Returns their paths, for a warning."""
    out: list[str] = []
    if not known:
        return out
    for item in payload.get("artifacts") or []:
        if item.get("dir") != "products" or _executed(item) or item.get("withheld"):
            continue
        if holds_known(root / item["path"], known):
            item["withheld"] = True
            out.append(item["path"])
    return out


def stage_masked(journal: Journal, event: dict[str, Any], masked: dict[int, str]) -> None:
    """Keep the masked copies in the journal (owner-only, inside its 0700 folder), where the
    sender takes a run's files from first."""
    for i, text in masked.items():
        target = journal.files / staged_name(event["seq"], event["artifacts"][i])
        for folder in (journal.files, target.parent.parent, target.parent):
            private_dir(folder)
        atomic_write(target, text, mode=PRIVATE_FILE)


#: The loggers that print a kernel's output on nbgov's terminal (papermill's ``log_output``).
KERNEL_OUTPUT_LOGGERS = ("papermill",)


class _MaskSecrets(logging.Filter):
    """Masks a build's known secrets in a log record's message (rendered once, if it holds one)."""

    def __init__(self, known: KnownSecrets) -> None:
        super().__init__()
        self.known = known

    def filter(self, record: logging.LogRecord) -> bool:
        if self.known:
            message = record.getMessage()
            if next(self.known.find(message), None) is not None:
                record.msg, record.args = mask_text(message, known=self.known)[0], ()
        return True


class _MaskingStream:
    """A text stream (nbgov's stdout or stderr) that masks a build's known secrets in each
    write: what a function task, which runs in the build's process (or a fork of it), prints
    or logs there. A value split across two writes is not found."""

    def __init__(self, stream: Any, known: KnownSecrets) -> None:
        self._stream = stream
        self._known = known

    def write(self, text: str) -> int:
        if self._known and isinstance(text, str) and next(self._known.find(text), None) is not None:
            self._stream.write(mask_text(text, known=self._known)[0])
            return len(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def mask_logs(known: KnownSecrets) -> Callable[[], None]:
    """Mask ``known``'s values in what the kernel-output loggers print and in what is written
    to ``sys.stdout`` / ``sys.stderr`` (a function task's prints, and its logging through a
    handler that writes there), until the returned function is called. The set is read at each
    record or write: values added later count."""
    mask = _MaskSecrets(known)
    loggers = [logging.getLogger(name) for name in KERNEL_OUTPUT_LOGGERS]
    for logger in loggers:
        logger.addFilter(mask)
    streams = {name: getattr(sys, name) for name in ("stdout", "stderr")}
    wrapped = {name: _MaskingStream(stream, known) for name, stream in streams.items() if stream is not None}
    for name, stream in wrapped.items():
        setattr(sys, name, stream)

    def remove() -> None:
        for logger in loggers:
            logger.removeFilter(mask)
        for name, stream in wrapped.items():
            if getattr(sys, name) is stream:  # else someone (pytest's capture) replaced it since
                setattr(sys, name, streams[name])

    return remove
