"""Running a task notebook interactively with its pipeline values, in a real kernel: what the
JupyterLab extension does with ``GET task-context``, and what is saved afterwards."""

from __future__ import annotations

import json

import pytest

from nbgov.core.identity import notebook_version

pytestmark = pytest.mark.integration

TRAIN = "notebooks/train.ipynb"


def injected_cell(context: dict) -> dict:
    """The cell the frontend inserts (extensions/jupyterlab-nbgov/src/inject.ts), in Python."""
    lines = [f"{name} = {value!r}" for name, value in context["params"].items()]
    if context["upstream"]:
        lines.append(f"upstream = {context['upstream']!r}")
    lines.append(f"product = {context['product']!r}")
    return {"cell_type": "code", "execution_count": None, "id": "injected", "outputs": [],
            "metadata": {"tags": ["injected-parameters"]}, "source": "\n".join(lines)}


async def test_task_notebook_runs_with_upstream_values_and_saves_clean(api, jp_fetch,
                                                                       jp_root_dir):
    import nbformat
    from nbclient import NotebookClient

    status, context = await api("task-context", params={"path": TRAIN})
    assert status == 200, context
    # the upstream task's product, as a build of "load" leaves it
    data = jp_root_dir / "products" / "data.csv"
    data.parent.mkdir()
    data.write_text("x\n3\n")

    path = jp_root_dir / TRAIN
    original = json.loads(path.read_text())
    nb = json.loads(path.read_text())
    nb["cells"].insert(1, injected_cell(context))
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "out", "outputs": [],
                        "metadata": {}, "source": "print(score)"})
    node = nbformat.from_dict(nb)
    # the kernel runs in the notebook's folder, as JupyterLab starts it
    await NotebookClient(node, timeout=60, kernel_name="python3",
                         resources={"metadata": {"path": str(path.parent)}}).async_execute()
    assert node.cells[-1].outputs[0]["text"].strip() == "2.0"  # 2 rows x C = 1.0

    model = {"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(node))}
    response = await jp_fetch("api", "contents", TRAIN, method="PUT", body=json.dumps(model))
    assert response.code == 200
    saved = json.loads(path.read_text())
    assert not any("injected-parameters" in (c["metadata"].get("tags") or [])
                   for c in saved["cells"])
    assert len(saved["cells"]) == len(original["cells"]) + 1  # the user's own new cell stays
    assert saved["cells"][-1]["outputs"], "the run's outputs are saved, the injection is not"
    saved["cells"].pop()
    assert notebook_version(saved) == notebook_version(original)
