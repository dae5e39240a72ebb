"""Attack 1 of issue 13 through the Jupyter server: a GET must not run the project's code.

The project carries an env.yaml whose value walks from a string to ``os.popen`` and a
pipeline.yaml whose ``on_render`` hook lives in a module that writes a marker when imported.
Loading the Ploomber DAG (which the GET routes did) ran both; every GET route must now answer
from data while neither marker appears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

LOAD, TRAIN = "notebooks/load.ipynb", "notebooks/train.ipynb"


def payload(marker: Path) -> str:
    return ("{% for c in here.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == '_wrap_close' %}"
            "{{ c.__init__.__globals__['popen']('touch " + str(marker) + "').read() }}{% endif %}{% endfor %}")


@pytest.fixture
def markers(jp_root_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """Arm the project: env.yaml payload, an on_render hook module with an import side effect."""
    out = {"env": tmp_path / "pwned-by-env-yaml", "hook": tmp_path / "pwned-by-import"}
    (jp_root_dir / "env.yaml").write_text(f"seed: 3\nlabel: \"{payload(out['env'])}\"\n")
    (jp_root_dir / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(out['hook'])!r}).touch()\n\ndef hook():\n    pass\n")
    spec = (jp_root_dir / "pipeline.yaml").read_text()
    spec = spec.replace("tasks:", "on_render: evil.hook\ntasks:", 1).replace("seed: 3", "seed: '{{seed}}'")
    (jp_root_dir / "pipeline.yaml").write_text(spec)
    return out


async def test_get_routes_run_no_project_code(markers, api, jp_root_dir):
    status, review = await api("review", params={"path": LOAD})
    assert status == 200, review
    assert review["task"] == "load" and review["status"] == "unreviewed"
    status, pipeline = await api("pipeline")
    assert status == 200, pipeline
    tasks = {t["name"]: t for t in pipeline["tasks"]}
    assert list(tasks) == ["load", "train"] and tasks["train"]["upstream"] == ["load"]
    assert tasks["load"]["state"] == "never-run"
    status, context = await api("task-context", params={"path": LOAD})
    assert status == 200, context
    assert context["params"] == {"seed": 3}  # {{seed}} filled as data from env.yaml
    for route, params in (("info", None), ("diff", {"path": LOAD}), ("lineage", {"target": "load"}),
                          ("models", None)):
        await api(route, params=params)
    assert not markers["env"].exists(), "a GET rendered env.yaml outside a sandbox"
    assert not markers["hook"].exists(), "a GET imported the project's modules (loaded the DAG)"


async def test_get_pipeline_reads_the_cached_plan_but_never_writes_it(markers, api, jp_root_dir):
    plan = jp_root_dir / ".nbgov" / "cache" / "plan.json"
    await api("pipeline")
    assert not plan.exists(), "a GET created the plan"
    # no plan (this project's env.yaml holds a template payload, so no build could cache one):
    # the task context comes from the spec as written, data only, and no plan appears
    status, context = await api("task-context", params={"path": LOAD})
    assert status == 200 and context["params"] == {"seed": 3}  # pipeline.yaml's literal value
    assert not plan.exists(), "a GET created the plan"
    assert not markers["env"].exists() and not markers["hook"].exists()
