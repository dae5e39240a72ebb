"""The approval gate inside ``nbgov build``: refused before anything runs, listing each notebook;
passes once approved, and the review status lands on the task's MLflow run."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytestmark = pytest.mark.integration

KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
SPEC = """
tasks:
  - source: notebooks/a.ipynb
    product: {nb: products/a.ipynb, data: products/a.txt}
  - source: notebooks/b.ipynb
    product: {nb: products/b.ipynb, data: products/b.txt}
"""


def task_notebook(name: str) -> dict:
    cells = [
        {
            "cell_type": "code",
            "id": "p",
            "metadata": {"tags": ["parameters"]},
            "source": "upstream = None\nproduct = None",
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "id": "w",
            "metadata": {},
            "source": f"from pathlib import Path\nPath(product['data']).write_text('{name}')",
            "outputs": [],
            "execution_count": None,
        },
    ]
    return {"cells": cells, "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def pipeline_project(project, git):
    for name in ("a", "b"):
        (project / "notebooks" / f"{name}.ipynb").write_text(json.dumps(task_notebook(name)))
    (project / "pipeline.yaml").write_text(SPEC)
    (project / "nbgov.toml").write_text(
        'experiment = "gate"\n[environments.prod]\nrequire_approved = true\n[environments.dev]\n'
    )
    (project / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    git("add", ".")
    git("commit", "-q", "-m", "pipeline")
    return project


def test_build_gate_refuses_then_passes_and_tags_the_run(pipeline_project, nbgov, bob):
    refused = nbgov("build", "--require-approved", "-q")
    assert refused.code == 1, refused.err
    assert "notebooks/a.ipynb: unreviewed" in refused.err
    assert "notebooks/b.ipynb: unreviewed" in refused.err
    assert not (pipeline_project / "products").exists(), "nothing may run before the gate"

    assert nbgov("review", "approve", "notebooks/a.ipynb", "pipeline.yaml", "--reviewer", bob).code == 0
    by_env = nbgov("build", "-q", env={"NBGOV_ENV": "prod"})  # the environment switch
    assert by_env.code == 1 and "notebooks/b.ipynb: unreviewed" in by_env.err
    assert "notebooks/a.ipynb" not in by_env.err

    # only the notebooks that would run are gated: building just `a` passes
    built = nbgov("build", "--environment", "prod", "-q", "a")
    assert built.code == 0, built.err
    assert (pipeline_project / "products" / "a.txt").read_text() == "a"
    assert not (pipeline_project / "products" / "b.txt").exists()

    # read the tags straight from the MLflow SQLite store (importing mlflow costs seconds)
    with sqlite3.connect(pipeline_project / "mlflow.db") as db:
        rows = db.execute(
            "SELECT t.value, s.value FROM tags t JOIN tags s ON s.run_uuid = t.run_uuid "
            "WHERE t.key = 'nbgov.task' AND s.key = 'nbgov.review_status'"
        ).fetchall()
    assert rows == [("a", "approved")]


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ("require_aproved = true", "unknown key(s) in [environments.prod]: require_aproved"),
        ('require_approved = "false"', "require_approved must be true or false"),
        ("require_approved = 0", "require_approved must be true or false"),
    ],
)
def test_a_misspelt_or_mistyped_gate_switch_is_refused(pipeline_project, nbgov, table, needle):
    # a typo must not switch the gate off (nor a string "false" switch it on): exit 2, nothing run
    (pipeline_project / "nbgov.toml").write_text(f"[environments.prod]\n{table}\n")
    refused = nbgov("build", "--environment", "prod", "-q")
    assert refused.code == 2, refused.out + refused.err
    assert needle in refused.err and "Traceback" not in refused.err, refused.err
    assert not (pipeline_project / "products").exists(), "nothing may run"
