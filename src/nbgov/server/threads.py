"""``GET/POST nbgov/api/threads``: a notebook's cell comment threads; open, reply, resolve.

- ``GET ?path=NB`` -> ``{"path", "threads": [...]}`` (:func:`nbgov.services.review.threads.list_threads`);
  reads only: the ledger and the notebook.
- ``POST {"action": "comment", "path", "cell", "text"}`` opens a thread on a cell;
  ``{"action": "reply" | "resolve", "thread", "text"}`` answers or resolves one (only its
  author resolves, docs/security.md R9). 201 with the thread.

This module stands apart from :mod:`.handlers` (which lists it in its ``ROUTES``): a handler
here imports nothing from there, so the two never import each other. The rules are the same:
authenticated and authorized, XSRF checked on POST (jupyter_server's ``APIHandler``), paths
confined to the server root (:mod:`.paths`), domain errors as JSON 4xx without a traceback,
the reviewer is the authenticated user, never a name the client sends.
"""

from __future__ import annotations

import asyncio
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler

from nbgov.core.config import Config
from nbgov.core.errors import GateError, LedgerError, NbgovError, NotebookError, ReviewError
from nbgov.server.paths import (
    NotebookNotFoundError,
    is_within,
    project_config,
    relative_to_root,
    resolve_in_root,
    scrub_paths,
)
from nbgov.services.review import threads as service

#: The longest comment accepted over HTTP (a review comment, not a document).
MAX_TEXT = 20_000


def _status(exc: NbgovError) -> int:
    if isinstance(exc, NotebookNotFoundError) or (isinstance(exc, NotebookError) and exc.message.endswith("not found")):
        return 404
    if isinstance(exc, (ReviewError, GateError, LedgerError)):
        return 409
    return 400


class ThreadsHandler(APIHandler):
    """The threads route (see the module doc)."""

    auth_resource = "nbgov"

    @cached_property
    def server_root(self) -> Path:
        """The resolved root folder the Jupyter server serves."""
        return Path(self.contents_manager.root_dir).resolve()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """``{"error", "message", "where", "hint"}`` for every failure, never a traceback."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, NbgovError):
            self.set_status(_status(exc))
            reply = exc.to_dict()
            reply["where"] = None  # a project path would say where the server's files are
            for key in ("message", "hint"):
                if isinstance(reply.get(key), str):
                    reply[key] = scrub_paths(reply[key], self.server_root)
        elif isinstance(exc, tornado.web.HTTPError):
            reply = {"error": "HTTPError", "message": exc.log_message or self._reason, "where": None, "hint": None}
        else:
            reply = {"error": "InternalError", "message": "internal error; see the server log", "where": None,
                     "hint": None}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Domain errors are the client's problem: one warning line, no traceback."""
        if isinstance(value, NbgovError):
            self.log.warning("[nbgov] %s %s -> %s: %s", self.request.method, self.request.uri, _status(value),
                             value.message)
            return
        super().log_exception(typ, value, tb)

    async def _notebook(self, raw: Any) -> tuple[Path, Config]:
        if not isinstance(raw, str):
            raise tornado.web.HTTPError(400, "path is required")
        path = resolve_in_root(self.server_root, raw, allow_hidden=bool(getattr(self.contents_manager,
                                                                                  "allow_hidden", False)))
        # the configuration is read in a worker, never on the event loop (W2)
        return path, await self._call(project_config, self.server_root, path)

    def _reviewer(self) -> str | None:
        # jupyter_server's own providers (one token for the server): the owner, resolved as the
        # CLI does; any other provider names real users (same rule as handlers.NbgovHandler)
        if type(self.identity_provider).__module__.startswith("jupyter_server."):
            return None
        return self.current_user.username

    def _out(self, config: Config, thread: dict[str, Any]) -> dict[str, Any]:
        path = (config.root / thread["notebook"]).resolve()
        rel = relative_to_root(self.server_root, path) if is_within(path, self.server_root) else path.name
        return {**thread, "notebook": rel}

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        path, config = await self._notebook(self.get_query_argument("path", None))
        found = await self._call(service.list_threads, config, path)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"path": relative_to_root(self.server_root, path),
                                "threads": [self._out(config, t) for t in found]}))

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, "body must be a JSON object")
        action, text = body.get("action"), body.get("text", "")
        if action not in ("comment", "reply", "resolve"):
            raise tornado.web.HTTPError(400, "action must be one of comment, reply, resolve")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise tornado.web.HTTPError(400, f"text must be a string of at most {MAX_TEXT} characters")
        path, config = await self._notebook(body.get("path"))
        reviewer = self._reviewer()
        if action == "comment":
            cell = body.get("cell")
            if not isinstance(cell, str) or not cell:
                raise tornado.web.HTTPError(400, "cell is required")
            call = (service.comment, config, path, cell, text, reviewer)
        else:
            thread = body.get("thread")
            if not isinstance(thread, str) or not thread:
                raise tornado.web.HTTPError(400, "thread is required")
            # the thread must be one of this notebook's: a request cannot act on another project's
            known = {t["id"] for t in await self._call(service.list_threads, config, path)}
            if thread not in known:
                raise tornado.web.HTTPError(404, "no such thread on this notebook")
            call = (service.reply if action == "reply" else service.resolve, config, thread, text, reviewer)
        async with self.settings["nbgov_write_lock"]:  # one ledger append at a time
            result = await self._call(*call)
        self.set_status(201)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(self._out(config, result)))
