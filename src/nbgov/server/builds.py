"""Builds started from JupyterLab: ``POST nbgov/api/build`` starts one, ``GET nbgov/api/build``
says how it goes, ``POST nbgov/api/build/cancel`` stops it.

The server runs the real ``nbgov build --json --project ROOT [TASKS] [-d]`` in a child process
of its own process group (:mod:`nbgov.server.subproc`): the same command, the same build lock,
the same journal and the same gate (``require_approved`` of nbgov.toml) as in a terminal. One
build at a time per project from this server (a second POST is 409); another build of the
project, from a terminal, is refused by the build lock, and that message is the job's. The
child's output is read by asyncio tasks, so the event loop never waits for it. Progress comes
from the build's journal (task started / finished events, read-only); the log is the
command's stderr; the result its JSON summary.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from nbgov.core.config import Config
from nbgov.core.errors import GateError
from nbgov.core.journal import AppendLog, journal_folder
from nbgov.server import subproc
from nbgov.server.handlers import NbgovHandler
from nbgov.server.paths import scrub_paths

#: Log lines kept per build (the end of the log: where a failure is).
LOG_LINES = 400
#: What the build lock says when another build of the project holds it.
LOCK_HELD = "is running in this project"


@dataclass
class BuildJob:
    """One build started from the panel."""

    id: str
    root: Path
    tasks: list[str]
    downstream: bool
    started: float
    state: str = "running"  # running | succeeded | failed | cancelled | refused
    ended: float | None = None
    returncode: int | None = None
    log: deque = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    summary: dict[str, Any] | None = None
    message: str | None = None
    proc: Any = None
    cancelled: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_dict(self, progress: dict[str, str], server_root: Path) -> dict[str, Any]:
        """The JSON form of ``GET build`` (no process object; absolute server paths in the
        log, message and summary cut to what a client may see, as in every error)."""
        summary = (json.loads(scrub_paths(json.dumps(self.summary), server_root))
                   if self.summary is not None else None)
        return {"id": self.id, "tasks": self.tasks, "downstream": self.downstream,
                "state": self.state, "started": self.started, "ended": self.ended,
                "returncode": self.returncode,
                "message": scrub_paths(self.message, server_root) if self.message else None,
                "log": scrub_paths("\n".join(self.log), server_root), "progress": progress,
                "summary": summary, "failures": [
                    {"task": t.get("task"), "error": t.get("error")}
                    for t in (summary or {}).get("tasks", []) if t.get("outcome") == "failed"]}


# the last build per project root, started by this server
_JOBS: dict[Path, BuildJob] = {}


def progress(root: Path, since: float) -> dict[str, str]:
    """``{task: "running" | outcome}`` from the journals written since ``since`` (read only;
    a journal already sent may have moved to ``done/``)."""
    folder = journal_folder(root)
    found: dict[str, str] = {}
    paths = [*folder.glob("*.jsonl"), *(folder / "done").glob("*.jsonl")] if folder.is_dir() else []
    for path in sorted(paths, key=lambda p: p.stat().st_mtime if p.exists() else 0):
        try:
            if path.stat().st_mtime < since - 1:
                continue
            events, _ = AppendLog(path).read()
        except OSError:
            continue
        for event in events:
            if not isinstance(event.get("t"), (int, float)) or event["t"] < since - 1:
                continue
            task = event.get("task")
            if event.get("event") == "task_started" and isinstance(task, str):
                found[task] = "running"
            elif event.get("event") == "task_finished" and isinstance(task, str):
                found[task] = str(event.get("outcome") or "finished")
    return found


async def _read_log(job: BuildJob, stream: asyncio.StreamReader) -> None:
    while True:
        line = await stream.readline()
        if not line:
            return
        job.log.append(line.decode("utf-8", errors="replace").rstrip("\n"))


async def _watch(job: BuildJob) -> None:
    """Collect the child's stderr (log) and stdout (JSON summary); set the final state."""
    proc = job.proc
    out, _ = await asyncio.gather(proc.stdout.read(), _read_log(job, proc.stderr))
    job.returncode = await proc.wait()
    job.ended = time.time()
    try:
        job.summary = json.loads(out.decode("utf-8")) if out.strip() else None
    except ValueError:
        job.summary = None
    errors = [line[len("error: "):] for line in job.log if line.startswith("error: ")]
    job.message = errors[-1] if errors else None
    if job.cancelled:
        job.state = "cancelled"
    elif job.returncode == 0:
        job.state = "succeeded"
    elif job.message and LOCK_HELD in job.message:
        job.state = "refused"  # the build lock: another build of this project runs
    else:
        job.state = "failed"
    job.done.set()


async def _project(handler: NbgovHandler, raw: Any) -> Config:
    """The project named by a request's ``path`` (confined), which must have a pipeline (the
    configuration is read in a worker: a huge nbgov.toml never blocks the event loop, W2)."""
    return await handler.project(raw, pipeline=True)


class BuildHandler(NbgovHandler):
    """``POST nbgov/api/build`` ``{"tasks"?: [names], "downstream"?: bool, "path"?: P}``:
    202 with the job; ``GET nbgov/api/build[?path=P]``: the project's last job (404: none)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        config = await _project(self, self.get_query_argument("path", None))
        job = _JOBS.get(config.root)
        if job is None:
            raise tornado.web.HTTPError(404, "no build was started from JupyterLab in this project")
        found = await self.call(progress, config.root, job.started)
        self.reply(job.to_dict(found, self.server_root))

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_object()
        tasks, downstream = body.get("tasks") or [], body.get("downstream", False)
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise tornado.web.HTTPError(400, "tasks must be a list of task names")
        if not isinstance(downstream, bool) or (downstream and not tasks):
            raise tornado.web.HTTPError(400, "downstream must be true or false, and needs tasks")
        dashed = [t for t in tasks if t.startswith("-")]
        if dashed:
            # a pipeline.yaml of the branch may name a task "--no-require-approved": never an option
            raise tornado.web.HTTPError(
                400, f"task name {dashed[0][:80]!r} starts with '-': the panel does not build "
                "tasks whose names read as options (rename the task in pipeline.yaml)")
        config = await _project(self, body.get("path"))
        # reserve the project's slot before any await: two requests at once start one build
        running = _JOBS.get(config.root)
        if running is not None and running.state == "running":
            raise GateError("a build started from JupyterLab is running in this project",
                            hint="wait for it, or cancel it")
        job = BuildJob(id=uuid.uuid4().hex[:12], root=config.root, tasks=list(tasks),
                       downstream=downstream, started=time.time())
        _JOBS[config.root] = job
        try:
            known = {t["name"] for t in (await self.call(self.pipeline_payload, config))["tasks"]}
            unknown = [t for t in tasks if t not in known]
            if unknown:
                # names only from the pipeline: nothing else reaches the command line
                raise tornado.web.HTTPError(400, f"no task {', '.join(unknown[:5])} in the pipeline")
            # `--`: whatever a task is named, it is a task name to `nbgov build`, never an option
            argv = subproc.nbgov_command("build", "--json", "--project", str(config.root),
                                         *(["--downstream"] if downstream else []), "--", *tasks)
            job.proc = await subproc.start(argv, config.root, merge=False)
        except BaseException:
            job.state, job.ended = "refused", time.time()
            job.done.set()
            if _JOBS.get(config.root) is job:
                _JOBS[config.root] = running  # give the slot back: the last real job stays
                if running is None:
                    del _JOBS[config.root]
            raise
        asyncio.ensure_future(_watch(job))
        self.reply(job.to_dict({}, self.server_root), status=202)


class BuildCancelHandler(NbgovHandler):
    """``POST nbgov/api/build/cancel`` ``{"path"?: P}``: stop the project's running build
    (SIGINT to its process group, then SIGTERM, then SIGKILL); 200 with the job once ended."""

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        config = await _project(self, self.json_object().get("path"))
        job = _JOBS.get(config.root)
        if job is None or job.state != "running":
            raise tornado.web.HTTPError(409, "no build started from JupyterLab is running")
        if job.proc is None:  # the slot is reserved, the child not started yet
            raise tornado.web.HTTPError(409, "the build is starting: cancel it again in a moment")
        job.cancelled = True
        await subproc.stop(job.proc)
        await job.done.wait()
        self.reply(job.to_dict(await self.call(progress, config.root, job.started), self.server_root))

