"""Send a build's journaled events to the tracking store from a process of its own.

The build process journals each event (fsync) and hands it to the upload process, which
imports MLflow, checks the store and sends, on the machine's other core: importing MLflow and
opening a store take 1-2 s that no task waits for. Run ids come back as the store gives them;
nothing in the build waits for one (a lineage record written before its run id is known is
patched by the sender, as after an outage).

Protocol: the build writes one JSON line per event to the process's stdin
(``{"event": {...}, "known_new": bool}``) and closes it at the end; the process answers on a
pipe of its own (its stdout is MLflow's to print on, and goes nowhere): ``{"prepared": true}``
or ``{"offline": reason}`` once, then ``{"seq", "key", "run_id"}`` per event, in order. After
the first store failure nothing more is sent (the journal keeps it for ``nbgov sync``). Once the
input closes, model versions registered by the build's tasks get their lineage tags.

The process ignores Ctrl-C (the build ends its runs and closes the pipe: the queue is drained)
and dies with the build (``PR_SET_PDEATHSIG``): after a ``kill -9`` the journal has it all.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.stores import reachable
from nbgov.adapters.mlflow.tracker import Tracker, warm_imports
from nbgov.core.config import load_config
from nbgov.core.errors import TrackingError
from nbgov.core.exiting import exit_now
from nbgov.core.journal import Journal
from nbgov.services.lineage.query import link_registered_models
from nbgov.services.recording.sender import Sender, SendState

_PR_SET_PDEATHSIG = 1
#: At the build's end, a tracking server that has taken nothing for this long is asked whether
#: it still answers (``GET /health``): a frozen one would otherwise hold the build for MLflow's
#: request timeout twice over (~40 s); a slow one (a big artifact upload) is waited for.
STALL_S = 8.0


#: The environment variable that hands the upload process its settings.
SETTINGS_VAR = "NBGOV_UPLOAD_SETTINGS"
#: Python's -P (3.11+): no script folder or working directory first on the import path.
_NO_CWD_PATH = ["-P"] if sys.version_info >= (3, 11) else []


class Uploader:
    """In the build process: the upload process's handle.

    Args:
        settings: what the process needs (root, tracking uri, experiment, artifact root,
            secrets policy, journal folder and name, parent key).
        ids: run key -> run id, filled as the store answers (shared with the recorder).
    """

    def __init__(self, settings: dict[str, Any], ids: dict[str, str]) -> None:
        self.settings = settings
        self.ids = ids
        self.offline_reason: str | None = None
        self.prepared = threading.Event()  # the store answered, or was found unusable
        self._flags: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._stderr = None
        self._closing = False
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._progress = time.monotonic()  # last reply, or the put that ended an idle spell

    @property
    def started(self) -> bool:
        return self._process is not None

    def start(self) -> None:
        """Start the upload process (from the main thread: it dies with the thread that started it)."""
        reply_r, reply_w = os.pipe()
        self._stderr = tempfile.TemporaryFile()
        try:
            # -P: the project's folder is not put on the upload process's import path (a
            # `cloudpickle.py` there would run unreviewed); the settings (the tracking URI may
            # hold a password) go through the environment, which only this user can read,
            # never the command line, which every user can
            self._process = subprocess.Popen(
                [sys.executable, *_NO_CWD_PATH, "-m", "nbgov.services.recording.uploader", str(reply_w)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                pass_fds=(reply_w,), start_new_session=True, cwd=self.settings["root"],
                env={**os.environ, SETTINGS_VAR: json.dumps(self.settings)})
        except OSError as exc:
            os.close(reply_r)
            self.offline_reason = f"could not start the upload process: {exc}"
            self.prepared.set()
            return
        finally:
            os.close(reply_w)
        _close_input_in_forks(self._process)
        self._reader = threading.Thread(target=self._read, args=(reply_r,), name="nbgov-upload-replies",
                                        daemon=True)
        self._reader.start()
        self._writer = threading.Thread(target=self._write, name="nbgov-upload-events", daemon=True)
        self._writer.start()

    def put(self, event: dict[str, Any], known_new: bool = False) -> threading.Event:
        """Hand one journaled event over; the flag is set once the store took it (or will not)."""
        flag = threading.Event()
        with self._lock:
            if not self._flags:  # nothing was outstanding: the store has not been slow so far
                self._progress = time.monotonic()
            self._flags[event["seq"]] = flag
        if self._process is None or self._closing:
            flag.set()
            return flag
        # through a queue: a slow store fills the pipe, and the build must not wait for it
        self._outbox.put((json.dumps({"event": event, "known_new": known_new}) + "\n").encode())
        return flag

    def abandon(self) -> None:
        """The build ends before it was opened: the process has nothing to do."""
        self._closing = True
        if self._process is not None:
            self._outbox.put(None)
            with contextlib.suppress(OSError):
                self._process.kill()
            self._process.wait()
            if self._reader is not None:
                self._reader.join(10)

    def close(self, timeout: float) -> None:
        """No more events: wait up to ``timeout`` s for the process to send what it has."""
        self._closing = True
        process = self._process
        if process is None:
            return
        self._outbox.put(None)  # the writer closes the process's input after the last event
        deadline = time.monotonic() + timeout
        while True:
            try:
                process.wait(max(0.0, min(1.0, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                pass
            reason = None
            if time.monotonic() >= deadline:
                reason = f"the tracking store did not take everything within {timeout:.0f} s"
            elif time.monotonic() - self._progress >= STALL_S:
                reason = self._store_stalled()
            if reason is not None:
                process.kill()  # a slow store does not hold the build: the journal keeps the rest
                process.wait()
                self.offline_reason = self.offline_reason or reason
                break
        for thread in (self._writer, self._reader):
            if thread is not None:
                thread.join(10)
        self._gone()

    def _store_stalled(self) -> str | None:
        """Why the store will not take the rest (it does not answer ``GET /health``), or None
        when it answers (then it is only slow: wait on). Local stores are always waited for."""
        uri = self.settings["uri"]
        if not uri.startswith(("http://", "https://")):
            self._progress = time.monotonic()
            return None
        try:
            reachable(uri)
        except TrackingError as exc:
            return f"{exc.message} (nothing taken for {STALL_S:g} s)"
        self._progress = time.monotonic()
        return None

    # -- events out, replies in ------------------------------------------------------
    def _write(self) -> None:
        process = self._process
        while True:
            line = self._outbox.get()
            try:
                if line is None:
                    process.stdin.close()
                    return
                process.stdin.write(line)
                process.stdin.flush()
            except (OSError, ValueError):  # the process is gone: the journal keeps the events
                return

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as replies:
            for line in replies:
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue
                self._progress = time.monotonic()
                if "prepared" in reply:
                    self.prepared.set()
                elif "offline" in reply:
                    self.offline_reason = self.offline_reason or str(reply["offline"])
                    self.prepared.set()
                elif "seq" in reply:
                    if reply.get("key") and reply.get("run_id"):
                        self.ids[reply["key"]] = reply["run_id"]
                    with self._lock:
                        flag = self._flags.pop(reply["seq"], None)
                    if flag is not None:
                        flag.set()
        self._gone()

    def _gone(self) -> None:
        """The process ended: whatever it did not confirm stays in the journal."""
        process = self._process
        code = process.poll() if process is not None else None
        if process is not None and self.offline_reason is None and code not in (None, 0):
            self.offline_reason = f"the upload process ended ({_last_line(self._stderr) or f'exit {code}'})"
        self.prepared.set()
        with self._lock:
            flags, self._flags = list(self._flags.values()), {}
        for flag in flags:
            flag.set()


def _close_input_in_forks(process: subprocess.Popen) -> None:
    """A process forked from the build (``-j N`` workers, ``--cluster local:N`` workers) closes
    its copy of the upload process's input: else the upload process never sees the end of its
    input while such a process lives, and the build waits for it at its end."""
    ref = weakref.ref(process)
    fd = process.stdin.fileno()

    def close_in_child() -> None:
        proc = ref()
        if proc is not None and proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                os.close(fd)

    os.register_at_fork(after_in_child=close_in_child)


def _last_line(stream) -> str:
    if stream is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        stream.seek(0)
        lines = [line.strip() for line in stream.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""
    return ""


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def main(argv: list[str]) -> int:
    """The upload process: ``python -P -m nbgov.services.recording.uploader REPLY_FD``, its
    settings in ``$NBGOV_UPLOAD_SETTINGS``."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the build's: it closes our stdin
    out = os.fdopen(int(argv[0]), "w", buffering=1)
    settings = json.loads(os.environ.pop(SETTINGS_VAR, "{}"))
    if os.getppid() != settings.get("parent_pid", os.getppid()):
        return 0  # the build is already gone (its pid, not 1: the build may be PID 1 in a container)

    def say(payload: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError):
            out.write(json.dumps(payload) + "\n")

    warm_imports(settings["uri"])  # while the build loads its pipeline; the store is not touched yet
    lines = iter(sys.stdin.buffer)
    first = next(lines, None)
    if first is None:
        return 0  # the build ended before it ran anything: nothing to check or send
    tracker = Tracker(settings["uri"], settings["experiment"], settings.get("artifact_root"))
    offline: str | None = None
    try:
        tracker.prepare()  # fails within seconds on a dead server
        say({"prepared": True})
    except TrackingError as exc:
        offline = exc.message
    except Exception as exc:  # noqa: BLE001 - whatever the store library raises: the journal has it
        offline = f"{type(exc).__name__}: {exc}"[:300]
    if offline is not None:
        say({"offline": offline})
    root = Path(settings["root"])
    sender = Sender(tracker, root, settings.get("secrets", "redact"))
    state = SendState(Journal(Path(settings["journal_folder"]), settings["journal"]),
                      parent_key=settings.get("parent_key"))
    ran: list[str] = []  # run keys of the tasks that ran: their model versions get lineage tags
    for line in itertools.chain([first], lines):
        try:
            item = json.loads(line)
        except ValueError:
            continue
        event = item["event"]
        if event.get("event") == "task_finished" and event.get("outcome") == "ran" and event.get("key"):
            ran.append(event["key"])
        run_id = None
        if offline is None:
            try:
                run_id = sender.send(state, event, bool(item.get("known_new")))
            except TrackingError as exc:
                offline = exc.message
                say({"offline": offline})
            except Exception as exc:  # noqa: BLE001
                offline = f"{type(exc).__name__}: {exc}"[:300]
                say({"offline": offline})
        say({"seq": event["seq"], "key": event.get("key"), "run_id": run_id})
    if offline is None and ran:
        _link_models(root, settings["uri"], [state.ids[k] for k in ran if k in state.ids])
    return 0


def _link_models(root: Path, uri: str, run_ids: list[str]) -> None:
    """Tag each model version a task of this build registered with its lineage (here, off the
    build's path: the store is open and MLflow imported already)."""
    import dataclasses

    with contextlib.suppress(Exception):  # the tags are a convenience: the records have the lineage
        link_registered_models(dataclasses.replace(load_config(root), tracking_uri=uri), run_ids)


if __name__ == "__main__":
    # everything is sent (each store call committed) and every reply written: skip the teardown
    # of MLflow, SQLAlchemy and their modules (0.7-0.9 s here, which the build waits for)
    exit_now(main(sys.argv[1:]))
