"""Send journaled events to the tracking store, once each, whoever sends them.

The same code sends a build's events while it runs (a background thread of the build) and
later, from the journal, in ``nbgov sync``. Every send is idempotent:

- a run is found by its stable key (tag ``nbgov.run_key``) before it is created, whenever it
  is not known to exist (a build killed between "created" and "confirmed" leaves such a run);
- params are logged with the same values, tags are upserts, a repeated identical metric is
  dropped by MLflow's stores, artifacts overwrite the same paths, terminating is repeatable;
- what the store confirmed is appended to ``<build>.sent`` (fsync'd), so a re-sync skips it.

Runs keep their original times: the journal's timestamps are sent, not the time of sending.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.tracker import RUN_KEY_TAG, RunData, Tracker
from nbgov.core.digest import file_digest
from nbgov.core.errors import TrackingError
from nbgov.core.journal import Journal
from nbgov.core.lineage import LineageRecord, read_record, write_record
from nbgov.core.localfiles import inside_project
from nbgov.core.redact import mask_text
from nbgov.core.redact_notebook import mask_notebook
from nbgov.services.recording.confined import LINK, folder_files

LINEAGE_ARTIFACT = "nbgov/lineage.json"
_SIMPLE = re.compile(r"[A-Za-z0-9_.-]+")  # a staged copy's folder: one plain name


@dataclass
class SendState:
    """What is known about one journal's runs: run ids by key, the parent run."""

    journal: Journal
    ids: dict[str, str] = field(default_factory=dict)  # run key -> run id
    parent_key: str | None = None
    confirmed: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, journal: Journal) -> SendState:
        state = cls(journal)
        for seq, conf in journal.confirmations().items():
            state.confirmed.add(seq)
            if conf.get("key") and conf.get("run_id"):
                state.ids[conf["key"]] = conf["run_id"]
        return state


class Sender:
    """Sends events of journals to one tracking store.

    Args:
        tracker: the store (experiment prepared lazily).
        root: the project root (relative paths in events are relative to it).
    """

    def __init__(self, tracker: Tracker, root: Path, secrets: str = "redact") -> None:
        self.tracker = tracker
        self.root = root
        self.secrets = secrets  # [tracking] secrets: redact | refuse | allow (executed notebooks)

    def send(self, state: SendState, event: dict[str, Any], known_new: bool = False) -> str | None:
        """Send one event (skipped when already confirmed); returns the run id it concerns.

        Args:
            known_new: the caller knows the run was never created (the live build just journaled
                it): skip the search by key.

        Raises:
            TrackingError: the store did not take it; nothing is confirmed then.
        """
        seq = event["seq"]
        kind = event["event"]
        key = event.get("key")
        if seq in state.confirmed:
            return state.ids.get(key) if key else None
        run_id: str | None = None
        if kind == "build_opened":
            state.parent_key = key
            run_id = self._ensure_run(state, event, None, known_new)
        elif kind == "task_started":
            parent = state.ids.get(event.get("parent_key") or state.parent_key or "")
            run_id = self._ensure_run(state, event, parent, known_new)
        elif kind == "task_finished":
            run_id = self._finish_task(state, event)
        elif kind == "build_closed":
            parent_key = event.get("parent_key") or state.parent_key or event.get("key") or ""
            run_id = state.ids.get(parent_key)
            if run_id is None and not event.get("joined"):
                found = self.tracker.find_run(parent_key)
                if found is None:
                    # its opening was never sent: not confirmed, so a sync sends both, in order
                    raise TrackingError(f"the parent run of build {event.get('build_id')} is not in the store yet")
                run_id = state.ids[parent_key] = found.info.run_id
            if run_id and not event.get("joined"):
                self.tracker.end_run(run_id, event.get("status", "FINISHED"), event["t"])
        state.journal.confirm(seq, key=key, run_id=run_id)
        state.confirmed.add(seq)
        return run_id

    def _ensure_run(self, state: SendState, event: dict[str, Any], parent: str | None, known_new: bool) -> str:
        key = event["key"]
        if key in state.ids:
            return state.ids[key]
        if event.get("event") == "build_opened" and event.get("joined"):
            # a build shared by several processes (engine tasks): one parent, found by its
            # build id or created, the same run `nbgov open-build` / `close-build` use
            tags = {k: v for k, v in (event.get("tags") or {}).items() if k not in ("nbgov.kind", "nbgov.build_id")}
            run_id = self.tracker.open_build(event["build_id"], f"build {event['build_id']}", tags)
            state.ids[key] = run_id
            return run_id
        found = None if known_new else self.tracker.find_run(key)
        if found is not None:
            run_id = found.info.run_id
        else:
            tags = {**(event.get("tags") or {}), RUN_KEY_TAG: key}
            run_id = self.tracker.create_run(event.get("name") or key, event.get("start_ms") or event["t"],
                                             parent, tags)
        state.ids[key] = run_id
        return run_id

    def _finish_task(self, state: SendState, event: dict[str, Any]) -> str | None:
        key = event["key"]
        run_id = state.ids.get(key)
        if run_id is None:  # its start was never sent: find it or create it now
            run_id = self._ensure_run(state, {**event, "start_ms": event.get("start_ms")},
                                      state.ids.get(event.get("parent_key") or state.parent_key or ""), False)
        record = dict(event.get("record") or {})
        if record:
            record = self._resolve(state, record, run_id)
        artifacts, changed = self._artifacts(state, event)
        tags = dict(event.get("tags") or {})
        if changed:
            tags["nbgov.artifacts_changed"] = ",".join(changed)[:5000]
        import tempfile

        with tempfile.TemporaryDirectory(prefix="nbgov-masked-") as masked_dir:
            artifacts = self._guard_notebooks(artifacts, Path(masked_dir), tags)
            return self._send_finished(state, event, run_id, record, artifacts, tags)

    def _send_finished(self, state: SendState, event: dict[str, Any], run_id: str, record: dict[str, Any],
                       artifacts: list[tuple[Path, str | None]], tags: dict[str, str]) -> str:
        json_artifacts = dict(event.get("json_artifacts") or {})
        if record:
            json_artifacts[LINEAGE_ARTIFACT] = record
        data = RunData(name=event["task"], params=event.get("params") or {}, metrics=event.get("metrics") or {},
                       tags=tags, artifacts=artifacts, json_artifacts=json_artifacts,
                       end_ms=event.get("end_ms") or event["t"], status=event.get("status", "FINISHED"),
                       datasets=event.get("datasets") or [])
        self.tracker.complete_run(run_id, data)
        record_path = inside_project(self.root, event.get("record_path")) if record else None
        if record_path is not None:  # (J9: a record is only ever written inside the project)
            _patch_local_record(record_path, record)
        return run_id

    def _guard_notebooks(self, artifacts: list[tuple[Path, str | None]], folder: Path,
                         tags: dict[str, str]) -> list[tuple[Path, str | None]]:
        """Executed notebooks as ``[tracking] secrets`` says: a masked copy (redact), left out
        (refuse) or as they are (allow); the count of secrets found goes to a run tag."""
        import json


        out, found = [], 0
        for path, folder_name in artifacts:
            executed = folder_name in ("notebook", "products:executed")
            folder_name = "products" if folder_name == "products:executed" else folder_name
            if not executed or not path.is_file() or self.secrets == "allow":
                out.append((path, folder_name))
                continue
            try:
                text = path.read_text(encoding="utf-8")
                if path.suffix == ".ipynb":
                    nb, count = mask_notebook(json.loads(text))
                    masked = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
                else:
                    masked, count = mask_text(text)
            except (OSError, ValueError):
                out.append((path, folder_name))
                continue
            found += count
            if not count:
                out.append((path, folder_name))
            elif self.secrets == "redact":
                copy = folder / (folder_name or "files") / path.name
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_text(masked, encoding="utf-8")
                out.append((copy, folder_name))
            else:
                tags["nbgov.notebook_upload"] = "refused: secrets in outputs ([tracking] secrets = refuse)"
        if found:
            tags["nbgov.secrets_masked"] = str(found)
        return out

    def _resolve(self, state: SendState, record: dict[str, Any], run_id: str) -> dict[str, Any]:
        """Fill run ids the build could not know (store unreachable): its own, its parent's,
        and its upstream runs' (by key, in this journal or in the store)."""
        record = {**record, "run_id": run_id}
        parent = state.ids.get(state.parent_key or "")
        if parent and not record.get("parent_run_id"):
            record["parent_run_id"] = parent
        upstream = []
        for up in record.get("upstream") or []:
            up = dict(up)
            if not up.get("run_id") and up.get("run_key"):
                up["run_id"] = state.ids.get(up["run_key"])
                if up["run_id"] is None:
                    with _suppress_tracking():
                        found = self.tracker.find_run(up["run_key"])
                        up["run_id"] = found.info.run_id if found else None
            upstream.append(up)
        record["upstream"] = upstream
        return record

    def _artifacts(self, state: SendState, event: dict[str, Any]) -> tuple[list[tuple[Path, str | None]], list[str]]:
        """The files to upload: the copy kept in the journal if there is one, else the file
        itself when it still has the journaled digest; a file changed since is named, not sent.
        A folder product is sent as its regular files, one by one: the symbolic links in it are
        named (``(withheld: a symbolic link)``), never followed (``confined.folder_files``)."""
        out, changed = [], []
        for item in event.get("artifacts") or []:
            # an executed notebook, or a report converted from one (html, md): scanned for secrets
            folder = item.get("dir")
            if item.get("executed") and folder == "products":
                folder = "products:executed"
            staged = state.journal.files / staged_name(event["seq"], item)
            if item.get("withheld"):
                # a product holding a known secret (masking.flag_secret_products): the user's
                # file is not rewritten, and not sent either (nor a journal copy of it)
                why = item.get("withheld_why") or "holds a secret parameter's value"
                changed.append(f"{item['path']} (withheld: {why})")
                continue
            if item.get("masked") and self.secrets == "refuse":
                # it held a secret parameter's value (core.redact_known.KnownSecrets): left out
                changed.append(f"{item['path']} (refused: held a secret parameter's value)")
                continue
            if staged.is_file():
                out.append((staged, folder))
                continue
            if item.get("masked") == "copy":
                # the file holds a secret of the build that only its masked copy left out, and
                # that copy was never made (the build died between the two writes): not sent
                changed.append(f"{item['path']} (withheld: holds a secret parameter's value)")
                continue
            # confined to the project (J9): a path leaving it, a symlink pointing out of it, or a
            # folder the journal does not call a folder product, is named and never read
            path = inside_project(self.root, item.get("path"), folder_ok=_folder_product(item))
            if path is None:
                changed.append(f"{item.get('path')} (refused: not a file of the project)")
            elif path.is_file() and (not item.get("digest") or file_digest(path) == item["digest"]):
                out.append((path, folder))
            elif path.is_dir():
                # file by file, never through a link in it (R5: a committed link to .env, .git
                # or the project folder stays inside the project and would upload them)
                files, links = folder_files(path)
                out += [(f, _under(folder, f.parent.relative_to(path))) for f in files]
                changed += [f"{item['path']}/{link.relative_to(path).as_posix()} (withheld: {LINK})"
                            for link in links]
            else:
                changed.append(item["path"])
        return out, changed


def _under(folder: str | None, sub: Path) -> str | None:
    """The artifact folder of a file in sub-folder ``sub`` of a folder product uploaded to
    ``folder`` (where ``log_artifacts`` of the whole folder would have put it)."""
    if sub == Path("."):
        return folder
    return f"{folder}/{sub.as_posix()}" if folder else sub.as_posix()


def _folder_product(item: dict[str, Any]) -> bool:
    """Whether the journal lists ``item`` as a folder product (recorded without a digest)."""
    return item.get("dir") == "products" and item.get("digest") is None


def staged_name(seq: int, item: dict[str, Any]) -> str:
    """Where the journal keeps its copy of one artifact of event ``seq`` (always inside the
    journal's ``files`` folder: a ``dir`` or name such as ``..`` is replaced)."""
    folder, name = str(item.get("dir") or "files"), Path(str(item.get("path") or "")).name
    folder = folder if _SIMPLE.fullmatch(folder) and folder not in (".", "..") else "files"
    name = name if name not in ("", ".", "..") else "_"
    return f"{int(seq)}/{folder}/{name}"


def stage_artifacts(journal: Journal, event: dict[str, Any], root: Path) -> int:
    """Keep copies of a finished run's files in the journal (the store is unreachable, and the
    next build may overwrite the products before ``nbgov sync`` sends them); only files that
    still hold their journaled content. Returns how many were copied."""
    import os
    import tempfile

    copied = 0
    for item in event.get("artifacts") or []:
        source = inside_project(root, item.get("path"))  # (J9: never a file outside the project)
        target = journal.files / staged_name(event["seq"], item)
        if source is None or target.exists() or not source.is_file():
            continue
        if item.get("digest") and file_digest(source) != item["digest"]:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".stage.")
        os.close(fd)
        shutil.copy2(source, tmp)
        os.replace(tmp, target)  # a half-made copy is never taken for the file
        copied += 1
    return copied


def _patch_local_record(path: Path, record: dict[str, Any]) -> None:
    """Give the local lineage record the run ids it was written without, if it is still the
    record of that run (same key)."""

    current = read_record(path)
    if current is None or current.run_key != record.get("run_key"):
        return
    known = current.to_dict()
    if all(known.get(k) == record.get(k) for k in ("run_id", "parent_run_id", "upstream")):
        return
    try:
        write_record(LineageRecord.from_dict(record), path)
    except (OSError, ValueError, TypeError):
        pass  # a read-only products/ folder: the store has the record


class _suppress_tracking:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> bool:
        return kind is not None and issubclass(kind, TrackingError)
