"""A contents-manager pre-save hook: run-time injected values never reach a notebook's file.

Running a task notebook interactively, the JupyterLab extension inserts a code cell tagged
``injected-parameters`` holding the task's upstream and product values (from
``GET nbgov/api/task-context``). That cell is a run-time value, not code anyone reviewed, so
it is dropped on every save. Two kinds of notebooks keep theirs on purpose:

- executed copies written by papermill (``metadata.papermill`` present): the injected cell is
  the record of what ran;
- notebooks where the user injected the cell for good with Ploomber's ``ploomber nb --inject``
  (``metadata.ploomber.injected_manually``).
"""

from __future__ import annotations

from typing import Any

from nbgov.core.identity import INJECTED_TAG, cell_tags


def strip_injected_cells(content: dict[str, Any]) -> int:
    """Remove cells tagged ``injected-parameters`` from a notebook dict in place.

    Args:
        content: the notebook JSON (``model["content"]`` of a contents-manager model).

    Returns:
        How many cells were removed (0 for executed copies and manual injections).
    """
    meta = content.get("metadata") or {}
    if "papermill" in meta or (meta.get("ploomber") or {}).get("injected_manually"):
        return 0
    cells = content.get("cells")
    if not isinstance(cells, list):
        return 0
    kept = [c for c in cells if not (isinstance(c, dict) and INJECTED_TAG in cell_tags(c))]
    removed = len(cells) - len(kept)
    if removed:
        cells[:] = kept
    return removed


def pre_save_hook(model: dict[str, Any], path: str, contents_manager: Any = None,
                  **kwargs: Any) -> None:
    """jupyter_server pre-save hook (``ContentsManager.register_pre_save_hook``).

    Args:
        model: the contents model being saved; only ``type == "notebook"`` models are touched.
        path: the API path of the file.
        contents_manager: the calling manager (used for its logger).
        **kwargs: future arguments of the hook protocol.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    removed = strip_injected_cells(model["content"])
    if removed and contents_manager is not None:
        contents_manager.log.info("[nbgov] dropped %d injected-parameters cell(s) from %s",
                                  removed, path)
