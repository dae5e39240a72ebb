"""Where each journal is in its state machine (docs/concepts/recording.md), before sending.

:func:`examine` looks at one journal on its own (never at the others: no journal blocks
another) and says what it is: ``live`` (its writer holds its lock: leave it), ``empty`` (0
bytes: nothing was ever recorded), ``unreadable`` (bytes, not one readable record: set it
aside), ``orphaned`` (its writer is gone before closing it) or ``closed``. :func:`close_orphan`
ends what an orphaned journal left open, in the journal (no store needed):

- a task started and never finished is ``killed`` (KILLED) when the journal is undamaged after
  its start, and ``lost`` when a damaged line follows its start: its finish may be in that
  line, so it is never turned into a fake KILLED: it is FAILED with the reason, and the task is
  rebuilt (its lineage record, if it names this run, is set aside);
- a journal without a readable ``build_opened`` gets a reconstructed one, sent first: a task
  run is never sent without its parent.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.core.journal import Journal
from nbgov.core.localfiles import inside_project

LOST_ERROR = "its finish record in the journal is damaged: the task runs again at the next build"
KILLED_ERROR = "the build was killed while this task ran"


@dataclass
class JournalView:
    """One journal as found."""

    journal: Journal
    state: str  # live | empty | unreadable | orphaned | closed
    events: list[dict[str, Any]] = field(default_factory=list)
    damaged: int = 0
    damaged_after: list[int] = field(default_factory=list)
    torn: bool = False
    recovered: int = 0
    refused: str | None = None  # why its file was not read (unreadable: a link, a folder, too large)

    @property
    def name(self) -> str:
        return self.journal.build_id

    def unfinished(self) -> list[dict[str, Any]]:
        """``task_started`` events without a ``task_finished`` of the same key."""
        finished = {e.get("key") for e in self.events if e.get("event") == "task_finished"}
        seen: set[str] = set()
        out = []
        for e in self.events:
            if e.get("event") == "task_started" and e.get("key") not in finished and e.get("key") not in seen:
                seen.add(e["key"])
                out.append(e)
        return out

    def lost(self, started: dict[str, Any]) -> bool:
        """Whether a damaged line follows this start (its finish may be that line)."""
        return any(after >= int(started.get("seq", 0)) for after in self.damaged_after)

    @property
    def has_parent(self) -> bool:
        return any(e.get("event") == "build_opened" for e in self.events)


def examine(journal: Journal) -> JournalView:
    """The state of ``journal``; for any state but ``live`` the caller now holds its lock
    (:meth:`Journal.claim`) and must release it (retire, quarantine or release)."""
    if not journal.claim():
        return JournalView(journal, "live")
    scan = journal.scan()
    view = JournalView(journal, "closed", scan.events, scan.damaged, scan.damaged_after, scan.torn, scan.recovered,
                       scan.refused)
    if not scan.events:
        view.state = "empty" if scan.size == 0 and not scan.refused else "unreadable"
    elif not any(e.get("event") == "build_closed" for e in scan.events):
        view.state = "orphaned"
    return view


def close_orphan(view: JournalView, rebuild: Any = None, already_sent: Any = ()) -> tuple[list[str], list[str]]:
    """Journal the end of what an orphaned (or closed but incomplete) journal left open: its
    unfinished task runs (killed or lost), a reconstructed parent when its own is unreadable,
    and its ``build_closed`` (KILLED). ``rebuild(started_event)`` is called for each lost
    task (to set its lineage record aside); a run in ``already_sent`` (the store confirmed its
    finish, whose record was then damaged) is left as the store has it. Returns (killed,
    lost) as "task (build id)".
    """
    journal, events = view.journal, view.events
    build = journal.build_id.rsplit(".", 1)[0]
    last_t = max((e.get("t", 0) for e in events), default=int(time.time() * 1000))
    first_t = min((e.get("t", last_t) for e in events), default=last_t)
    killed, lost = [], []
    if events and not view.has_parent:
        parent_key = next((e.get("parent_key") for e in events if e.get("parent_key")), f"build:{build}")
        journal.append("build_opened", key=parent_key, joined=False, reconstructed=True,
                       name=f"build {build} (reconstructed)", start_ms=first_t,
                       tags={"nbgov.kind": "build", "nbgov.build_id": build, "nbgov.reconstructed": "true"})
    for e in view.unfinished():
        if e.get("key") in already_sent:
            continue
        is_lost = view.lost(e)
        common = dict(key=e["key"], task=e.get("task"), parent_key=e.get("parent_key"), start_ms=e.get("start_ms"),
                      end_ms=last_t, params={}, metrics={}, artifacts=[], json_artifacts={}, datasets=[],
                      record=None, synthetic=True)
        label = f"{e.get('task')} (build {build})"
        if is_lost:
            journal.append("task_finished", status="FAILED", outcome="lost", error=LOST_ERROR,
                           tags={"nbgov.outcome": "lost", "nbgov.error": LOST_ERROR}, **common)
            lost.append(label)
            if rebuild is not None:
                rebuild(e)
        else:
            journal.append("task_finished", status="KILLED", outcome="killed", error="killed",
                           tags={"nbgov.outcome": "killed", "nbgov.error": KILLED_ERROR}, **common)
            killed.append(label)
    if view.state == "orphaned":
        opened = next((e for e in events if e.get("event") == "build_opened"), None)
        key = (opened or {}).get("key") or f"build:{build}"
        journal.append("build_closed", key=key, status="KILLED", joined=bool(opened and opened.get("joined")),
                       synthetic=True)
    view.events = journal.events()
    return killed, lost


def send_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in the order they are sent: the parent first (a reconstructed one is journaled
    last), then as journaled."""
    return sorted(events, key=lambda e: (e.get("event") != "build_opened", e.get("seq", 0)))


def set_record_aside(root: Path, record_path: str | None, key: str) -> str | None:
    """Move the lineage record at ``record_path`` aside (``.lost``) when it names run ``key``:
    its task is then outdated and runs again. Returns the path set aside."""
    path = inside_project(root, record_path)  # (J9: a journal never moves a file outside the project)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("run_key") != key:
        return None
    try:
        os.replace(path, path.with_name(path.name + ".lost"))
    except OSError:
        return None
    return record_path
