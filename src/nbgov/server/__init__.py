"""The nbgov jupyter_server extension: a JSON REST API under ``{base_url}nbgov/api/``.

It reads the same ledger, configuration and tracking store as the CLI (through
``nbgov.services``) and registers a pre-save hook that keeps run-time injected cells out of
saved notebooks. Enable it with ``jupyter server extension enable nbgov.server``; the API is
documented in docs/api.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nbgov.server.presave import pre_save_hook

#: The other jupyter_server extension that ships with Ploomber. It swaps the contents manager
#: for a synchronous subclass, which breaks file access under jupyter_server 2's async managers;
#: nbgov's task-context route and pre-save hook replace it.
PLOOMBER_EXTENSION = "ploomber"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbgov.server"}]


def register_pre_save_hook(contents_manager: Any) -> bool:
    """Register nbgov's pre-save hook on a contents manager once.

    Args:
        contents_manager: a jupyter_server ContentsManager.

    Returns:
        True when the hook was added, False when it was already there.
    """
    hooks = getattr(contents_manager, "_pre_save_hooks", None)
    if hooks is not None and pre_save_hook in hooks:
        return False
    contents_manager.register_pre_save_hook(pre_save_hook)
    return True


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the nbgov routes and the pre-save hook to a running Jupyter server.

    Args:
        serverapp: the jupyter_server ServerApp.
    """
    # the handlers import tornado and jupyter_server: only a running server pays for them
    from nbgov.server.cache import PipelineCache
    from nbgov.server.routes import routes  # (see above)

    web_app = serverapp.web_app
    web_app.settings["nbgov_write_lock"] = asyncio.Lock()
    web_app.settings["nbgov_pipeline_cache"] = PipelineCache()
    web_app.add_handlers(".*$", routes(web_app.settings["base_url"]))
    register_pre_save_hook(serverapp.contents_manager)

    if serverapp.jpserver_extensions.get(PLOOMBER_EXTENSION):
        serverapp.log.warning(
            "[nbgov] the 'ploomber' server extension is enabled: it swaps in a synchronous "
            "contents manager that fails under jupyter_server 2; nbgov's task-context API "
            "replaces it. Disable it with: jupyter server extension disable ploomber")
        # Extensions load in name order, so Ploomber swaps the contents manager after this
        # function returns: look again once every extension is loaded.
        original = serverapp.contents_manager
        serverapp.io_loop.add_callback(_after_extensions, serverapp, original)
    serverapp.log.info("[nbgov] API at %snbgov/api/", web_app.settings["base_url"])


def _after_extensions(serverapp: Any, original: Any) -> None:
    """Undo Ploomber's contents-manager swap when it cannot work, and hook the final manager.

    Ploomber's manager subclasses whatever manager was configured, but calls its ``get`` and
    ``save`` synchronously; on jupyter_server 2's async managers every notebook open and save
    then fails with ``'coroutine' object is not subscriptable``. Restoring the original manager
    keeps JupyterLab usable; nbgov serves the injection Ploomber's manager tried to do.
    """
    from jupyter_server.services.contents.manager import AsyncContentsManager

    swapped = serverapp.contents_manager
    if (swapped is not original and hasattr(swapped, "load_dag")
            and isinstance(swapped, AsyncContentsManager)):
        serverapp.contents_manager = original
        serverapp.session_manager.contents_manager = original
        serverapp.web_app.settings["contents_manager"] = original
        serverapp.log.warning("[nbgov] restored the contents manager %s that Ploomber's "
                              "extension had replaced", type(original).__name__)
    register_pre_save_hook(serverapp.contents_manager)
