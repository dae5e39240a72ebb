"""``GET nbgov/api/lineage``: the lineage tree of a target (task, product, run, model).

A target that may name a file is confined to the server root like every request path; the
service looks a relative path up in the root only (never in the server's working folder),
reads regular files only and no folder holding a symlink out of the root, and answers a run
id only for a run of the project's experiment. It reads the tracking store, so it runs in the
store's own pool (a slow store never stalls the other routes).
"""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from nbgov.server.handlers import NbgovHandler, _service, service_available


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
        if service_available("recording.history"):
            # where the graph's nodes link their runs in the MLflow UI
            payload["ui"] = _service("recording.history").mlflow_ui(config)
        self.reply(self.safe_reply(payload))
