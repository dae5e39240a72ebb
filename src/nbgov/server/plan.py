"""``POST nbgov/api/plan``: re-plan the pipeline, as ``nbgov status`` does in a terminal.

The server's ``GET pipeline`` never renders the DAG (that runs project code: env.yaml,
``on_render`` hooks, task modules), so after pipeline.yaml changes it answers from the last
plan and says so. The panel's Refresh posts here: the server runs the real ``nbgov status``
in a child process (the project's code runs there, on an authenticated POST only, as it would
in the user's terminal), which writes the plan; the next ``GET pipeline`` reads it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import tornado.web
from jupyter_server.auth.decorator import authorized

from nbgov.core.errors import PipelineError
from nbgov.server import subproc
from nbgov.server.handlers import NbgovHandler

#: The longest a re-plan may take before it is stopped.
PLAN_TIMEOUT_S = 300.0

# one re-plan at a time per project: a second Refresh waits for the first one's plan
_LOCKS: dict[Path, asyncio.Lock] = {}


def _lock(root: Path) -> asyncio.Lock:
    return _LOCKS.setdefault(root, asyncio.Lock())


def last_lines(text: str, n: int = 12) -> str:
    """The last ``n`` non-empty lines of a command's output (where its error is)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-n:])


class PlanHandler(NbgovHandler):
    """``POST nbgov/api/plan`` ``{"path"?: file or folder}``: run ``nbgov status`` for the
    project holding ``path`` (the server root's without one); 200 ``{"plan": "current"}``."""

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        config = await self.project(self.json_object().get("path"), pipeline=True)
        # `--project=ROOT` in one word: no value read from a request or the project is ever
        # a separate word the command line could take as an option
        argv = subproc.nbgov_command("status", f"--project={config.root}")
        async with _lock(config.root):
            code, output = await subproc.run(argv, config.root, PLAN_TIMEOUT_S)
        if code != 0:
            raise PipelineError(f"`nbgov status` failed: {last_lines(output) or 'no output'}",
                                hint="fix the pipeline (see the message), then Refresh again")
        self.reply({"plan": "current", "pipeline": self.rebase(config, config.pipeline)})
