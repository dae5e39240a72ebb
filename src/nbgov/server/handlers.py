"""REST handlers of the nbgov server extension (routes under ``{base_url}nbgov/api/``).

Handlers are thin: resolve and confine the request's path, find the notebook's nbgov project,
call one service function in a worker thread, and return JSON. Domain errors
(:class:`~nbgov.core.errors.NbgovError`) become JSON 4xx replies through :func:`status_for`;
anything unexpected is a JSON 500 whose body carries no traceback (the server log has it).
The API is documented in docs/api.md.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from nbgov import __version__
from nbgov.core.config import Config
from nbgov.core.errors import (
    GateError,
    LedgerError,
    LineageError,
    Location,
    MissingExtraError,
    NbgovError,
    NotebookError,
    ReviewError,
    TrackingError,
)
from nbgov.core.ledger import DECISIONS, decision_name
from nbgov.server.cache import PipelineCache, task_of
from nbgov.server.paths import (
    NotebookNotFoundError,
    PathRefusedError,
    is_within,
    project_config,
    relative_to_root,
    resolve_in_root,
    safe_addresses,
    scrub_paths,
)
from nbgov.server.threads import ThreadsHandler

#: The authorization resource every nbgov route checks (``Authorizer.is_authorized``).
AUTH_RESOURCE = "nbgov"

# Service calls read files, git and the tracking store: keep them off the event loop. Two
# workers: the machine class has 2 cores and the calls are mostly I/O.
_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nbgov-api")
# Routes that read the tracking store (runs, compare, lineage) wait on the network: a pool of
# their own, so a slow store never stalls the review, pipeline and build routes.
STORE_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nbgov-store")


def status_for(exc: NbgovError) -> int:
    """The HTTP status for a domain error (the table is documented in docs/api.md)."""
    if isinstance(exc, (NotebookNotFoundError, LineageError)):
        return 404
    if isinstance(exc, NotebookError) and exc.message.endswith("not found"):
        return 404
    if isinstance(exc, (ReviewError, GateError, LedgerError)):
        return 409
    if isinstance(exc, TrackingError):
        return 503
    if isinstance(exc, MissingExtraError):
        return 501
    return 400


def service_available(name: str) -> bool:
    """True when ``nbgov.services.<name>`` can be imported (some are optional)."""
    try:
        return importlib.util.find_spec(f"nbgov.services.{name}") is not None
    except ImportError:
        return False


def _service(name: str) -> Any:
    if not service_available(name):
        raise MissingExtraError(f"nbgov.services.{name} is not available in this nbgov install",
                                hint="upgrade nbgov on the server")
    return importlib.import_module(f"nbgov.services.{name}")


class NbgovHandler(APIHandler):
    """Base of every nbgov route: JSON errors, path confinement, project lookup."""

    auth_resource = AUTH_RESOURCE

    # -- errors ---------------------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Reply ``{"error", "message", "where", "hint"}`` for every failure, never a traceback."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, NbgovError):
            status_code = status_for(exc)
            self.set_status(status_code)
            reply = exc.to_dict()
            if reply["where"] and reply["where"]["path"]:
                reply["where"]["path"] = self._client_path(reply["where"]["path"])
            # no absolute server path in what a client reads
            for key in ("message", "hint"):
                if isinstance(reply.get(key), str):
                    reply[key] = scrub_paths(reply[key], self.server_root)
        elif isinstance(exc, tornado.web.HTTPError):
            reply = {"error": "HTTPError", "message": exc.log_message or self._reason,
                     "where": None, "hint": None}
        elif exc is not None:
            reply = {"error": "InternalError", "message": "internal error; see the server log",
                     "where": None, "hint": None}
        else:
            reply = {"error": "HTTPError", "message": self._reason, "where": None, "hint": None}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply))

    def _client_path(self, raw: str) -> str:
        """A path for a reply: server-root relative; outside the root only its name."""
        if not os.path.isabs(raw):
            return raw
        path = Path(os.path.normpath(raw))
        return self.rel(path) if is_within(path, self.server_root) else path.name

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Domain errors are the client's problem: one warning line, no traceback."""
        if isinstance(value, NbgovError):
            self.log.warning("[nbgov] %s %s -> %s: %s", self.request.method, self.request.uri,
                             status_for(value), value.message)
            return
        super().log_exception(typ, value, tb)

    # -- paths and projects ----------------------------------------------------------------
    @cached_property
    def server_root(self) -> Path:
        """The resolved root folder the Jupyter server serves (once per request)."""
        return Path(self.contents_manager.root_dir).resolve()

    def resolve(self, raw: str | None, *, kind: str = "file", must_exist: bool = True) -> Path:
        """A request path confined to the server root (see :func:`resolve_in_root`)."""
        return resolve_in_root(self.server_root, raw, must_exist=must_exist, kind=kind,
                               allow_hidden=bool(getattr(self.contents_manager, "allow_hidden",
                                                         False)))

    def rel(self, path: Path) -> str:
        """``path`` relative to the server root, posix."""
        return relative_to_root(self.server_root, path)

    def project_for(self, start: Path | None) -> Config:
        """The nbgov config of the project holding ``start`` (the server root's when None)."""
        return project_config(self.server_root, start if start is not None else self.server_root)

    def rebase(self, config: Config, value: Any) -> Any:
        """A project-relative path turned server-root-relative (paths in replies are)."""
        if not isinstance(value, str) or not value or "://" in value:
            return value
        if config.root == self.server_root and not os.path.isabs(value):
            return value  # the common case: the project is the server root
        path = Path(value) if Path(value).is_absolute() else config.root / value
        path = Path(os.path.normpath(path))  # folds '..' without touching the disk
        if is_within(path, self.server_root):
            return self.rel(path)
        return value

    def has_pipeline(self, config: Config, *, required: bool = False) -> bool:
        """Whether the project has a pipeline spec inside the server root.

        Raises (only when ``required``):
            PathRefusedError: the config points the pipeline outside the server root.
            NotebookNotFoundError: there is no spec file.
        """
        if not is_within(config.pipeline_path, self.server_root):
            if required:
                raise PathRefusedError("the project's pipeline is outside the server root",
                                       Location(config.pipeline),
                                       hint="keep pipeline.yaml inside the served folder")
            return False
        if not config.pipeline_path.is_file():
            if required:
                raise NotebookNotFoundError(f"no pipeline: {config.pipeline} not found",
                                            hint="create pipeline.yaml or set 'pipeline' in "
                                            "nbgov.toml")
            return False
        return True

    async def notebook(self, raw: Any = None) -> tuple[Path, Config]:
        """The notebook named by ``raw`` (default: the ``path`` query argument), and its
        project's config (read in a worker: W2)."""
        if raw is None:
            raw = self.get_query_argument("path", None)
        if raw is not None and not isinstance(raw, str):
            raise tornado.web.HTTPError(400, "path must be a string")
        path = self.resolve(raw)
        return path, await self.call(self.project_for, path)

    async def project(self, raw: Any, *, pipeline: bool = False) -> Config:
        """The project holding the file or folder ``raw`` (the server root's when None).

        The configuration (nbgov.toml, pyproject.toml) is read in a worker, never on the event
        loop (W2: a huge or slow file would stall every request). ``pipeline``: the project
        must have a pipeline spec inside the server root."""
        if raw is not None and not isinstance(raw, str):
            raise tornado.web.HTTPError(400, "path must be a string")
        start = self.resolve(raw, kind="any") if raw else None

        def load() -> Config:
            config = self.project_for(start)
            if pipeline:
                self.has_pipeline(config, required=True)
            return config

        return await self.call(load)

    async def optional_project(self) -> Config:
        """The project named by the optional ``path`` query argument (a file or folder)."""
        return await self.project(self.get_query_argument("path", None))

    def json_object(self) -> dict[str, Any]:
        """A POST's JSON body, which must be an object (an empty body is ``{}``): ``[]`` or
        ``null`` is a 400, never read as "no options" (which would build everything)."""
        if not (self.request.body or b"").strip():
            return {}
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, "body must be a JSON object")
        return body

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking service call in the worker pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_EXECUTOR, partial(fn, *args, **kwargs))

    async def call_store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a call that reads the tracking store in the store's own pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(STORE_EXECUTOR, partial(fn, *args, **kwargs))

    @property
    def cache(self) -> PipelineCache:
        """The server's pipeline cache (see :mod:`nbgov.server.cache`)."""
        return self.settings["nbgov_pipeline_cache"]

    def served_state(self, config: Config) -> dict[str, Any]:
        """The pipeline's state as the server serves it: no file outside the server root read
        (a product or record path of pipeline.yaml leading out is "outside the server root")."""
        return _service("build.status").served_state(config, confine=self.server_root)

    def pipeline_payload(self, config: Config) -> dict[str, Any]:
        """``served_state(config)`` with current review statuses, from the cache (a new
        dict; the tasks in it are shared: do not mutate). Blocking: call it in a worker.

        Data only: the build plan, lineage records and the ledger; a GET never loads the
        Ploomber DAG, which would render env.yaml, import task modules and run ``on_render``."""
        dag = self.cache.dag(config, self.served_state)
        reviews = self.cache.reviews(config, dag, _service("review.state").review_states)
        tasks = [{**t, "review": reviews.get(t.get("source"), t.get("review"))}
                 for t in dag.get("tasks", [])]
        return {**dag, "tasks": tasks}

    def reply(self, payload: Any, status: int = 200) -> None:
        """Finish with a JSON body."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, default=str))

    def safe_reply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with its addresses fit for a client (see :func:`safe_addresses`)."""
        return safe_addresses(payload, self.server_root)

    def reviewer(self) -> str | None:
        """Who records a decision: the authenticated user, never a name sent by the client.

        With jupyter_server's own identity providers (one token or password for the whole
        server) every request is an anonymous user with a random name, and whoever holds the
        token is the server's owner: None then, so the review service resolves the owner like
        the CLI does ($NBGOV_REVIEWER, ``[review] reviewer``, git's user) and the four-eyes
        rule compares real identities. Any other provider (JupyterHub, a custom one) names
        real users: their ``username`` is the reviewer.
        """
        if type(self.identity_provider).__module__.startswith("jupyter_server."):
            return None
        return self.current_user.username

    def signing_as(self, config: Config) -> str | None:
        """The name a decision by this user would be recorded under (None: none resolves)."""
        try:
            return _service("review.state").resolve_reviewer(config, self.reviewer())
        except NbgovError:
            return None


class InfoHandler(NbgovHandler):
    """``GET nbgov/api/info``: version and pipeline of the server root's project."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        config = await self.project(None)
        pipeline = (self.rebase(config, config.pipeline)
                    if await self.call(self.has_pipeline, config) else None)
        reviewer = await self.call(self.signing_as, config)
        self.reply({"version": __version__, "root": ".", "pipeline": pipeline,
                    "lineage": service_available("lineage.query"), "reviewer": reviewer})


def _task_for(handler: NbgovHandler, config: Config, path: Path) -> str | None:
    """The pipeline task whose source is ``path``; None without a pipeline, or when the
    pipeline does not load (``GET pipeline`` reports that error; the review still shows)."""
    if not handler.has_pipeline(config) or not service_available("build.status"):
        return None
    try:
        task_map = handler.cache.tasks(config, handler.served_state)
    except NbgovError as exc:
        handler.log.warning("[nbgov] no task for %s: %s", path, exc.message)
        return None
    return task_of(task_map, config, path)


def _last_run_synced(handler: NbgovHandler, config: Config, task: str | None) -> bool | None:
    """False while ``task``'s last run is kept in the local journal only (the tracking store
    was unreachable; ``nbgov sync`` sends it), True once it is in the store, None without a
    task or a run (see :meth:`PipelineCache.synced`: a save does not reload the DAG)."""
    if task is None:
        return None
    try:
        return handler.cache.synced(config, handler.served_state).get(task)
    except NbgovError:
        return None


def _review_payload(handler: NbgovHandler, config: Config, path: Path,
                    state: Any) -> dict[str, Any]:
    payload = state.to_dict() if hasattr(state, "to_dict") else dict(state)
    payload["task"] = _task_for(handler, config, path)
    # the notebook toolbar's badge says "not synced" from this
    payload["last_run_synced"] = _last_run_synced(handler, config, payload["task"])
    payload["signing"] = _signing_in_use(config)
    return payload


def _signing_in_use(config: Config) -> bool:
    """Whether the project signs decisions (a signing key, or signatures required): the badge
    says "unsigned" only then (or when the project has allowed signers); where signing is off
    every record is unsigned, and saying so on each badge is noise."""
    settings = _service("review.store").ReviewSettings.from_config(config)
    signers = settings.allowed_signers
    return bool(settings.require_signed or settings.signing_key is not None
                or (signers is not None and signers.is_file()))


class ReviewHandler(NbgovHandler):
    """``GET/POST nbgov/api/review``: a notebook's review status; record a decision."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        path, config = await self.notebook()
        review = _service("review.state")

        def work() -> dict[str, Any]:
            return _review_payload(self, config, path, review.review_state(config, path))

        payload = await self.call(work)
        payload["path"] = self.rel(path)
        self.reply(payload)

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_object()
        decision, note = decision_name(body.get("decision")), body.get("note", "")
        if decision not in DECISIONS:
            raise tornado.web.HTTPError(400, f"decision must be one of {', '.join(DECISIONS)}")
        if not isinstance(note, str):
            raise tornado.web.HTTPError(400, "note must be a string")
        path, config = await self.notebook(body.get("path") or "")
        review = _service("review.state")
        reviewer = self.reviewer()

        def work() -> dict[str, Any]:
            state = review.record_decision(config, path, decision, note=note, reviewer=reviewer)
            return _review_payload(self, config, path, state)

        # one ledger append at a time from this server (the ledger is one file)
        async with self.settings["nbgov_write_lock"]:
            payload = await self.call(work)
        payload["path"] = self.rel(path)
        self.reply(payload, status=201)


class PipelineHandler(NbgovHandler):
    """``GET nbgov/api/pipeline``: the DAG with build state, review status and last run."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        config = await self.project(self.get_query_argument("path", None), pipeline=True)
        cached = await self.call(self.pipeline_payload, config)
        tasks = []
        for task in cached.get("tasks", []):
            products = task.get("products") or {}
            tasks.append({**task, "source": self.rebase(config, task.get("source")),
                          "products": {k: self.rebase(config, v) for k, v in products.items()}})
        pipeline = self.rebase(config, cached.get("pipeline", config.pipeline))
        self.reply({**cached, "pipeline": pipeline, "tasks": tasks})


class DiffHandler(NbgovHandler):
    """``GET nbgov/api/diff``: a notebook against its approved snapshot (nbdime JSON)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        outputs = self.get_query_argument("outputs", "0")
        if outputs not in ("0", "1"):
            raise tornado.web.HTTPError(400, "outputs must be 0 or 1")
        path, config = await self.notebook()
        payload = await self.call(_service("review.diff").diff_against_approved, config, path,
                                  include_outputs=outputs == "1")
        payload["path"] = self.rel(path)
        self.reply(payload)


class TaskContextHandler(NbgovHandler):
    """``GET nbgov/api/task-context``: the values to inject to run a task notebook by hand."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        path, config = await self.notebook()
        await self.call(self.has_pipeline, config, required=True)
        payload = await self.call(self.cache.exclusive, _service("pipeline.data").task_context_data,
                                  config, path)
        if payload is None:
            raise NotebookNotFoundError(f"{self.rel(path)} is not a task of {config.pipeline}")
        self.reply(payload)


class UnknownRouteHandler(NbgovHandler):
    """Any other ``nbgov/api/...`` path: a JSON 404 naming the routes this server serves."""

    def initialize(self, served: tuple[str, ...] = ()) -> None:
        """``served``: the route names of this server, for the 404's message."""
        self.served = served

    def _unknown(self) -> None:
        served = ", ".join(self.served or tuple(_table()))
        raise tornado.web.HTTPError(404, f"no such nbgov API route (served: {served})")

    @tornado.web.authenticated
    @authorized
    async def get(self, *args: str) -> None:
        self._unknown()

    @tornado.web.authenticated
    @authorized
    async def post(self, *args: str) -> None:
        self._unknown()


#: route (under ``nbgov/api/``) -> handler (:mod:`nbgov.server.routes` adds the others).
ROUTES: dict[str, type[NbgovHandler]] = {
    "info": InfoHandler,
    "review": ReviewHandler,
    "pipeline": PipelineHandler,
    "diff": DiffHandler,
    "task-context": TaskContextHandler,
    "threads": ThreadsHandler,  # type: ignore[dict-item]  # an APIHandler of its own (see its module)
}


def _table(extra: dict[str, type[NbgovHandler]] | None = None) -> dict[str, type[NbgovHandler]]:
    return {**ROUTES, **(extra or {})}


def routes(base_url: str, extra: dict[str, type[NbgovHandler]] | None = None) -> list[Any]:
    """Tornado URL specs of the API under ``base_url`` (unknown routes last: JSON 404).

    ``extra``: routes of other modules (:mod:`nbgov.server.routes` passes the workbench's:
    they subclass :class:`NbgovHandler`, so this module cannot import them)."""
    api = url_path_join(base_url, "nbgov", "api")
    table = _table(extra)
    specs: list[Any] = [(url_path_join(api, name), handler) for name, handler in table.items()]
    return [*specs, (url_path_join(api, "(.*)"), UnknownRouteHandler, {"served": tuple(table)})]
