"""``GET nbgov/api/lineage``: the lineage tree of a target (task, product, run, model).

A target that may name a file is confined to the server root like every request path; the
service looks a relative path up in the root only (never in the server's working folder),
reads regular files only and no folder holding a symlink out of the root, and answers a run
id only for a run of the project's experiment. It reads the tracking store, so it runs in the
store's own pool (a slow store never stalls the other routes).
"""

from __future__ import annotations

from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from nbgov.core.config import Config
from nbgov.server.handlers import NbgovHandler, _service, _signing_in_use, service_available


def mark_signed(config: Config, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with ``signing`` (does the project sign decisions?) and, only when it does,
    each task node's ``notebook.signed``: whether an approval of the version that ran, among
    the ledger's records that count, carries a signature. Where signing is off every record
    is unsigned, and a graph saying so on each node is noise (as on the badge)."""
    payload["signing"] = _signing_in_use(config)
    if not payload["signing"]:
        return payload
    records = _service("review.trust").counted_records(config)
    signed = {(r.notebook, r.version) for r in records
              if r.decision == "approved" and r.signature}
    for node in (payload.get("nodes") or {}).values():
        notebook = node.get("notebook")
        if node.get("kind") == "task" and isinstance(notebook, dict) and notebook.get("version"):
            notebook["signed"] = (notebook.get("path"), notebook.get("version")) in signed
    return payload


class LineageHandler(NbgovHandler):
    """``GET nbgov/api/lineage``: the lineage tree of a target (task, product, model)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        target = self.get_query_argument("target", None)
        if not target or not target.strip():
            raise tornado.web.HTTPError(400, "target is required")
        config = await self.optional_project()
        if not target.startswith("models:/"):
            # anything but a model URI may name a file: confined like every other path (a
            # regular file or folder inside the root); a task name or run id that names no
            # file passes, and the service looks relative paths up in the root only (never
            # in the server's working folder)
            resolved = self.resolve(target, kind="any", must_exist=False)
            if resolved.exists() or "/" in target or target.startswith((".", "~")):
                target = str(resolved)
        lineage = _service("lineage.query").lineage
        payload = await self.call_store(lineage, config, target, base=self.server_root,
                                        own_runs_only=True)
        payload = await self.call(mark_signed, config, payload)
        if service_available("recording.history"):
            # where the graph's nodes link their runs in the MLflow UI
            payload["ui"] = _service("recording.history").mlflow_ui(config)
        self.reply(self.safe_reply(payload))
