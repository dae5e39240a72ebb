"""``nbgov monitor`` while the tracking store is down: the verdict is given, its run stays in the
local journal, and neither ``nbgov monitor`` nor ``nbgov status`` prints ``run None``: they say
the run is not synced yet; after a real ``mlflow server`` comes up on that port and ``nbgov
sync`` sends the run, ``nbgov status`` names its MLflow run id."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from tests.conftest import free_port, run_nbgov
from tests.faults.conftest import start_mlflow_server, stop
from tests.server.conftest import commit_all

NOT_SYNCED = "run (not synced yet: kept in .nbgov/journal; run `nbgov sync`)"

PIPELINE = """\
meta:
  extract_upstream: true
  extract_product: false
tasks:
  - source: notebooks/monitor.ipynb
    product:
      nb: products/monitor.ipynb
    params:
      batch: "{{here}}/data/batch.csv"
      model_uri: ""
"""

NBGOV_TOML = """\
pipeline = "pipeline.yaml"
experiment = "monitor-offline"

[monitor]
thresholds = ["n_rows >= 1"]
"""


def _monitor_project(root: Path) -> None:
    """One monitor task that counts the rows of its batch (no model, no upstream)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell('upstream = None\nproduct = None\nbatch = ""\nmodel_uri = ""',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import scrapbook as sb\n"
                                  "with open(batch) as fh:\n"
                                  "    sb.glue('n_rows', sum(1 for _ in fh) - 1)"),
    ]
    (root / "notebooks").mkdir()
    nbformat.write(nb, root / "notebooks" / "monitor.ipynb")
    (root / "data").mkdir()
    (root / "data" / "batch.csv").write_text("x,y\n1,2\n3,4\n")
    (root / "pipeline.yaml").write_text(PIPELINE)
    (root / "nbgov.toml").write_text(NBGOV_TOML)
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    commit_all(root, "monitor project")


def _monitor_line(root: Path, env: dict[str, str]) -> str:
    status = run_nbgov(root, "status", env=env)
    assert status.returncode == 0, status.stderr[-2000:]
    return next(line for line in status.stdout.splitlines() if line.startswith("monitor: "))


def test_monitor_verdict_names_a_run_not_synced_until_nbgov_sync(git_repo: Path, tmp_path: Path):
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    _monitor_project(git_repo)

    verdict = run_nbgov(git_repo, "monitor", "--batch", "data/batch.csv", env=env)
    assert verdict.returncode == 0, verdict.stderr[-2000:]
    assert verdict.stdout.startswith(f"ok: data/batch.csv ({NOT_SYNCED}, model pipeline)"), verdict.stdout
    line = _monitor_line(git_repo, env)
    assert NOT_SYNCED in line and "None" not in line, line

    server = start_mlflow_server(tmp_path / "store", port)
    try:
        synced = run_nbgov(git_repo, "sync", "--json", env=env)
        assert synced.returncode == 0, synced.stderr[-2000:]
        assert json.loads(synced.stdout)["runs_sent"] == 1
    finally:
        stop(server)

    # status reads local files only: the store may be down again
    line = _monitor_line(git_repo, env)
    assert "not synced" not in line and re.search(r", run [0-9a-f]{32}\)", line), line
