"""R5 for a secret known by its parameter's name: the value itself, wherever it turns up.

The fault hunt's break: a parameter named as a secret (``db_password``, ``api_token``) had its
value masked in the logged params only; the same value reached the executed notebook uploaded to
MLflow (printed by a cell, in a traceback), the ``nbgov.error`` tag, the lineage record's error,
the journal and nbgov's stderr. One real build of a tiny project (run once for the module): task
``a`` prints the secrets and fails with them in its message (an ``.ipynb`` product), task ``b``
prints them and succeeds (an html report: its executed notebook is nbgov's sidecar); ``a`` also
prints one on the kernel's stderr, which papermill's ``log_output`` shows on nbgov's terminal. The
values must appear nowhere nbgov writes or sends, in any form Python prints them: as is,
``repr``, JSON.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import KERNEL, run_cli, write_nb

from nbgov.core.redact import REDACTED

pytestmark = pytest.mark.integration

DB_PASSWORD = "Hunter2\\Plain-xyz"  # a backslash: repr and JSON print it escaped
API_TOKEN = "tok-9dK2mQ7vX4pL"
BEARER = "7f3kQ9xLm2Pz8RtY4wVb0nQ"  # found by the value rules in a parameter of an innocent name
SECRETS = [DB_PASSWORD, API_TOKEN, BEARER]

SPEC = f"""
tasks:
  - source: notebooks/a.ipynb
    product: products/a.ipynb
    name: a
    papermill_params: {{log_output: true}}
    params:
      db_password: '{DB_PASSWORD}'
      api_token: '{API_TOKEN}'
      header: 'Bearer {BEARER}'
  - source: notebooks/b.ipynb
    product:
      nb: products/b.html
      data: products/b.json
    name: b
    params:
      db_password: '{DB_PASSWORD}'
      label: '{API_TOKEN}'
  - source: fntasks.run
    product: products/c.txt
    name: c
    params:
      api_password: '{API_TOKEN}'
"""


def forms(value: str) -> list[str]:
    """The value and the ways a notebook or a log prints it."""
    return sorted({value, repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(repr(value))[2:-2]})


def leaks(data: bytes | str) -> list[str]:
    """The secrets found in ``data``, in any of their forms."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [s for s in SECRETS if any(f in text for f in forms(s))]


def _cell(source: str, cid: str, tags: list[str] | None = None) -> dict:
    return {"cell_type": "code", "id": cid, "metadata": {"tags": tags} if tags else {}, "source": source,
            "outputs": [], "execution_count": None}


def _notebook(params: str, *cells: str) -> dict:
    return {"cells": [_cell(params, "p", ["parameters"]), *(_cell(s, f"c{i}") for i, s in enumerate(cells))],
            "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("known-secrets") / "repo"
    root.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "Ada"],
                 ["config", "user.email", "ada@example.com"], ["config", "commit.gpgsign", "false"]):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    write_nb(root / "notebooks/a.ipynb", _notebook(
        "upstream = None\nproduct = None\ndb_password = ''\napi_token = ''\nheader = ''",
        "import sys\nprint('connecting with', db_password, api_token)\nprint(repr(db_password))\n"
        "print(header.split()[1])\nprint('stderr:', db_password, file=sys.stderr)",
        "raise ValueError(f'login refused for {db_password!r} (token {api_token})')"))
    write_nb(root / "notebooks/b.ipynb", _notebook(
        "upstream = None\nproduct = None\ndb_password = ''\nlabel = ''",
        "import json\nprint(db_password)\njson.dump({'conn': db_password}, open(product['data'], 'w'))"))
    (root / "fntasks.py").write_text(  # a function task: it runs in nbgov's process (or a fork)
        "import logging, sys\n\ndef run(product, api_password):\n"
        "    sys.stderr.write('fn stderr: ' + api_password + '\\n')\n"
        "    logging.getLogger('fn').error('fn log: %s', api_password)\n"
        "    open(str(product), 'w').write('done')\n")
    (root / "pipeline.yaml").write_text(SPEC)
    (root / "nbgov.toml").write_text('experiment = "known-secrets"\n[execution]\ncell_timeout = 20\n')
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "a project with secrets"], check=True)
    proc = run_cli(root, "build")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]  # a fails, b runs
    # the secrets did reach the run (the checks below are not vacuous): the products, the user's
    # own files, hold what the notebooks printed
    assert all(s in leaks((root / "products/a.ipynb").read_bytes()) for s in SECRETS)
    assert DB_PASSWORD in leaks((root / "products/b.html").read_bytes())
    assert DB_PASSWORD in leaks((root / "products/b.json").read_bytes())
    return root, proc


def _store(root: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("known-secrets")
    return client, client.search_runs([exp.experiment_id], max_results=100)


def test_the_store_holds_no_secret_value_in_params_tags_or_artifacts(built, tmp_path):
    root, _ = built
    client, runs = _store(root)
    tasks = {r.data.tags.get("nbgov.task"): r for r in runs if r.data.tags.get("nbgov.kind") == "task"}
    assert set(tasks) == {"a", "b", "c"}
    assert "login refused" in tasks["a"].data.tags["nbgov.error"]  # the error is there, masked
    found = {}
    for run in runs:
        for what, data in (("params", run.data.params), ("tags", run.data.tags)):
            for key, value in data.items():
                if leaks(f"{key}={value}"):
                    found[f"{run.info.run_id[:8]} {what} {key}"] = leaks(value)
        folder = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id)))
        for path in (p for p in folder.rglob("*") if p.is_file()):
            if leaks(path.read_bytes()):
                found[f"{run.info.run_id[:8]} artifact {path.relative_to(folder)}"] = leaks(path.read_bytes())
    names = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"a.ipynb", "b.executed.ipynb", "b.html", "lineage.json"} <= names, names  # all were checked
    assert found == {}
    assert leaks((root / "mlflow.db").read_bytes()) == []


def test_the_lineage_records_and_the_kept_sidecar_hold_no_secret_value(built):
    root, _ = built
    record = json.loads((root / "products/a.lineage.json").read_text())
    assert "login refused" in record["error"]
    for path in [*root.glob("products/*.lineage.json"), root / "products/b.executed.ipynb"]:
        assert leaks(path.read_bytes()) == [], path.name


def test_nothing_under_dot_nbgov_holds_a_secret_value(built):
    root, _ = built
    files = [p for p in (root / ".nbgov").rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files)
    found = {str(p.relative_to(root)): leaks(p.read_bytes()) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_nbgovs_own_output_holds_no_secret_value(built):
    """nbgov's summary and errors, the kernel's stderr papermill prints (``log_output``), and
    what a function task writes to stderr or logs."""
    _, proc = built
    assert "error: task a failed" in proc.stderr and "login refused" in proc.stderr
    assert f"stderr: {REDACTED}" in proc.stderr
    # a function task's own stderr and logging, printed by nbgov's process
    assert f"fn stderr: {REDACTED}" in proc.stderr and f"fn log: {REDACTED}" in proc.stderr, proc.stderr[-3000:]
    assert leaks(proc.stderr) == [] and leaks(proc.stdout) == []


def test_a_build_whose_store_is_down_keeps_only_masked_copies_for_sync(built, tmp_path):
    """The journal's copies of the executed notebooks (what ``nbgov sync`` uploads later, in a
    process that never saw the parameters) are already masked."""
    root, _ = built
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # refused: the runs wait in the journal
    proc = run_cli(root, "build", "--force", "a", env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    journal = root / ".nbgov/journal"
    staged = [p for p in journal.rglob("*.ipynb") if p.is_file()]
    assert staged, sorted(str(p.relative_to(root)) for p in journal.rglob("*")) + [proc.stderr[-2000:]]
    found = {str(p.relative_to(root)): leaks(p.read_bytes()) for p in journal.rglob("*") if p.is_file()}
    assert {k: v for k, v in found.items() if v} == {}
    assert leaks(proc.stderr) == [], proc.stderr


def test_a_product_holding_a_known_secret_stays_on_disk_and_is_withheld_from_the_store(built):
    """Products are the user's data: never rewritten, but one holding a known secret is not
    uploaded; its run names it (``nbgov.artifacts_changed``) and nbgov's stderr says what to do."""
    root, proc = built
    assert DB_PASSWORD in leaks((root / "products/b.json").read_bytes())  # as the task wrote it
    _, runs = _store(root)
    b = next(r for r in runs if r.data.tags.get("nbgov.task") == "b")
    assert "products/b.json (withheld: holds a secret parameter's value)" in b.data.tags["nbgov.artifacts_changed"]
    warning = next(line for line in proc.stderr.splitlines() if "products/b.json" in line)
    assert "not uploaded" in warning and "[tracking] secrets" in warning, warning


def test_task_context_masks_a_known_secret_reused_under_an_innocent_name(built):
    """Task a's ``api_token`` value is task b's ``label``: the JupyterLab server's task context
    (from the cached plan, else from the spec) hands out neither."""
    from nbgov.core.config import load_config
    from nbgov.services.pipeline.data import task_context_data

    root, _ = built
    plan = root / ".nbgov/cache/plan.json"
    assert plan.is_file() and leaks(plan.read_bytes()) == []
    config = load_config(root)
    ctx = task_context_data(config, "notebooks/b.ipynb")
    assert ctx["params"] == {"db_password": REDACTED, "label": REDACTED}
    assert ctx["secret_params"] == ["db_password", "label"]
    kept = plan.read_bytes()
    plan.unlink()  # no plan: from the spec
    try:
        assert task_context_data(config, "notebooks/b.ipynb")["params"]["label"] == REDACTED
    finally:
        plan.write_bytes(kept)


def test_a_known_secret_reused_under_an_innocent_name_does_not_make_its_task_outdated(built):
    """b's record holds ``label`` masked (a's ``api_token``): the next build's content check
    masks today's params the same way, so b is not re-run for "parameters changed"."""
    import dataclasses

    from nbgov.core.config import load_config
    from nbgov.services.build.gate import content_check
    from nbgov.services.pipeline.plan import plan_tasks

    root, _ = built
    config = load_config(root)
    raw = {"a": {"db_password": DB_PASSWORD, "api_token": API_TOKEN, "header": f"Bearer {BEARER}"},
           "b": {"db_password": DB_PASSWORD, "label": API_TOKEN}}
    infos = [dataclasses.replace(t, params=raw.get(t.name, t.params)) for t in plan_tasks(config, stale_ok=True)[0]]
    assert content_check(config, infos)("b", set()) is True
