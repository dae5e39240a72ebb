"""``GET nbgov/api/runs`` and ``GET nbgov/api/compare``: a task's run history (tracking store
and local journal) with MLflow UI links, and two runs side by side (params, metrics, the
executed notebooks as an nbdime diff). Reads only: no project code runs, nothing is written."""

from __future__ import annotations

import re

import tornado.web
from jupyter_server.auth.decorator import authorized

from nbgov.server.handlers import NbgovHandler, _service

# a task name as Ploomber allows it, a run id (hex) or a journal run ``local:KEY``
_NAME = re.compile(r"^[\w.\-\[\]:@/]{1,200}$")


def _argument(handler: NbgovHandler, name: str) -> str:
    value = handler.get_query_argument(name, None)
    if not value or not _NAME.match(value):
        raise tornado.web.HTTPError(400, f"{name} is required: a task name or run id")
    return value


class RunsHandler(NbgovHandler):
    """``GET nbgov/api/runs?task=T[&path=P]``: the task's runs, newest first, with ``ui``
    (the MLflow UI address, or the command that serves it for an embedded store)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        task = _argument(self, "task")
        config = await self.optional_project()
        payload = await self.call_store(_service("recording.history").task_history, config, task)
        self.reply(self.safe_reply(payload))


class CompareHandler(NbgovHandler):
    """``GET nbgov/api/compare?task=T&a=RUN&b=RUN[&path=P]``: two runs of a task."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        task, a, b = (_argument(self, name) for name in ("task", "a", "b"))
        config = await self.optional_project()
        payload = await self.call_store(_service("recording.history").compare_runs, config, task, a, b)
        self.reply(self.safe_reply(payload))
