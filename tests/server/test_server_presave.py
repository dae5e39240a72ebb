"""The pre-save hook: cells tagged ``injected-parameters`` never reach a saved source notebook."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from nbgov.core.identity import notebook_version
from nbgov.server.presave import strip_injected_cells

TRAIN = "notebooks/train.ipynb"


def injected(source: str = "upstream = {'load': {'data': '/x.csv'}}") -> dict:
    return {"cell_type": "code", "execution_count": None, "id": "inj", "outputs": [],
            "metadata": {"tags": ["injected-parameters"]}, "source": source}


def with_injection(nb: dict) -> dict:
    """What the JupyterLab extension does: a tagged cell right after the parameters cell."""
    out = copy.deepcopy(nb)
    out["cells"].insert(1, injected())
    return out


def test_strip_removes_only_injected_cells():
    nb = json.loads((Path(__file__).parent / "fixtures" / "train.ipynb").read_text())
    dirty = with_injection(nb)
    dirty["cells"].append(injected("more = 1"))
    assert strip_injected_cells(dirty) == 2
    assert dirty == nb


@pytest.mark.parametrize("metadata", [
    {"papermill": {"parameters": {"C": 2}}},
    {"ploomber": {"injected_manually": True}},
])
def test_executed_copies_and_manual_injections_keep_theirs(metadata):
    nb = {"cells": [injected()], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    assert strip_injected_cells(nb) == 0
    assert len(nb["cells"]) == 1


@pytest.mark.parametrize("content", [{}, {"cells": None}, {"cells": ["not a cell", 3]}])
def test_malformed_content_is_left_alone(content):
    before = copy.deepcopy(content)
    assert strip_injected_cells(content) == 0
    assert content == before


async def save(jp_fetch, rel: str, nb: dict):
    model = {"type": "notebook", "format": "json", "content": nb}
    return await jp_fetch("api", "contents", rel, method="PUT", body=json.dumps(model))


async def test_saving_from_jupyter_drops_the_injected_cell(api, jp_fetch, jp_root_dir):
    path = jp_root_dir / TRAIN
    original = json.loads(path.read_text())
    status, context = await api("task-context", params={"path": TRAIN})
    assert status == 200
    response = await save(jp_fetch, TRAIN, with_injection(original))
    assert response.code == 200
    saved = json.loads(path.read_text())
    assert [c.get("metadata", {}).get("tags") for c in saved["cells"]] == [["parameters"], None]
    assert notebook_version(saved) == notebook_version(original)
    # the Jupyter reply describes the saved file, not the injected model
    assert json.loads(response.body)["path"] == TRAIN


async def test_saving_an_executed_copy_keeps_its_record(jp_fetch, jp_root_dir):
    nb = with_injection(json.loads((jp_root_dir / TRAIN).read_text()))
    nb["metadata"]["papermill"] = {"parameters": {"C": 2.0}}
    (jp_root_dir / "products").mkdir()
    await save(jp_fetch, "products/train.ipynb", nb)
    saved = json.loads((jp_root_dir / "products" / "train.ipynb").read_text())
    assert any("injected-parameters" in (c["metadata"].get("tags") or []) for c in saved["cells"])


@pytest.fixture
def with_ploomber(jp_server_config):
    """Ploomber's own server extensions enabled too, as a fresh `pip install nbgov` has them."""
    jp_server_config["ServerApp"]["jpserver_extensions"]["ploomber"] = True
    jp_server_config["ServerApp"]["jpserver_extensions"]["ploomber_extension"] = True
    return jp_server_config


async def test_ploomber_extension_does_not_break_saving(with_ploomber, jp_serverapp, api,
                                                         jp_fetch, jp_root_dir):
    """Ploomber's extension (loaded after nbgov's, in name order) swaps in a contents manager
    whose every save fails under jupyter_server 2; nbgov restores the original one."""
    from nbgov.server.presave import pre_save_hook

    original = jp_serverapp.session_manager.contents_manager
    assert not hasattr(original, "load_dag")
    status, _ = await api("info")  # the loop has run nbgov's deferred check by now
    assert status == 200
    assert hasattr(jp_serverapp.contents_manager_class, "load_dag")  # Ploomber did swap it
    manager = jp_serverapp.contents_manager
    assert not hasattr(manager, "load_dag")
    assert jp_serverapp.web_app.settings["contents_manager"] is manager
    assert pre_save_hook in manager._pre_save_hooks
    original_nb = json.loads((jp_root_dir / TRAIN).read_text())
    response = await save(jp_fetch, TRAIN, with_injection(original_nb))
    assert response.code == 200
    saved = json.loads((jp_root_dir / TRAIN).read_text())
    assert notebook_version(saved) == notebook_version(original_nb)
    assert len(saved["cells"]) == len(original_nb["cells"])
    opened = await jp_fetch("api", "contents", TRAIN)
    assert json.loads(opened.body)["type"] == "notebook"
    status, review = await api("review", params={"path": TRAIN})
    assert status == 200 and review["task"] == "train"
