"""``GET nbgov/api/models`` and ``POST nbgov/api/models/promote``: the project's registered
models (versions, aliases, the gate's verdict on each, the last monitor result), and a
promotion from JupyterLab.

A promotion goes through :func:`nbgov.services.models.promote.promote`, the function behind
``nbgov promote``: the same gate, the same promotion ledger, the same reviewer identity
(the server's owner resolved as the CLI does, or the authenticated user of a multi-user
server; never a name the client sends). A refusal is a 409 whose body lists every reason,
as the CLI's stderr does. The GET reads the store and the ledgers only; both run in the
store's own pool, so a slow tracking server never stalls the other routes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from nbgov.core.errors import GateError
from nbgov.server.handlers import NbgovHandler, _service
from nbgov.server.paths import scrub_paths

_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")
#: A promotion note is free text kept in the ledger: bounded, like a review note.
NOTE_MAX = 2000


class ModelsHandler(NbgovHandler):
    """``GET nbgov/api/models[?alias=A][&path=P]``: the project's models (see
    :func:`nbgov.services.models.overview.models_overview`)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        alias = self.get_query_argument("alias", None)
        if alias is not None and not _ALIAS.match(alias):
            raise tornado.web.HTTPError(400, "alias must be an alias name, e.g. champion")
        config = await self.optional_project()
        # the last monitor verdict from the served state: a GET never loads the Ploomber DAG
        state = (await self.call(self.pipeline_payload, config)
                 if await self.call(self.has_pipeline, config) else {"tasks": []})
        overview = _service("models.overview").models_overview
        payload = await self.call_store(overview, config, state, alias)
        self.reply(self.safe_reply(payload))


class PromoteHandler(NbgovHandler):
    """``POST nbgov/api/models/promote`` ``{"model": "models:/NAME/VERSION", "alias": A,
    "note"?: text, "path"?: P}``: 201 with the plan (``nbgov promote --json``) when the gate
    lets it through, 409 with ``reasons`` when it refuses (nothing changed)."""

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_object()
        model, alias, note = body.get("model"), body.get("alias"), body.get("note", "")
        if not isinstance(model, str) or not model.startswith("models:/") or len(model) > 500:
            raise tornado.web.HTTPError(400, "model must be a models:/NAME/VERSION URI")
        if not isinstance(alias, str) or not _ALIAS.match(alias):
            raise tornado.web.HTTPError(400, "alias must be an alias name, e.g. champion")
        if not isinstance(note, str) or len(note) > NOTE_MAX:
            raise tornado.web.HTTPError(400, f"note must be text of at most {NOTE_MAX} characters")
        config = await self.project(body.get("path"))
        promote = _service("models.promote").promote
        by = self.reviewer()
        try:
            # one ledger append at a time from this server (as review decisions)
            async with self.settings["nbgov_write_lock"]:
                plan = await self.call_store(promote, config, model, alias, note=note, by=by)
        except GateError as exc:
            self.reply(self._refusal(exc), status=409)
            return
        self.reply(self.safe_reply(plan.to_dict()), status=201)

    def _refusal(self, exc: GateError) -> dict[str, Any]:
        """The gate's refusal as the client reads it: message, hint and every reason (no
        absolute server path)."""
        reply = {**exc.to_dict(), "reasons": exc.reasons, "accepted": False}
        return json.loads(scrub_paths(json.dumps(reply), self.server_root))
