"""Jupyter server configuration of the browser tests (galata).

Serves a fresh copy of fixtures/project (a four-task nbgov project) from a temp dir made into a
git repository whose commits are by "Ada Author", while decisions taken in the browser are
recorded for "Rita Reviewer" ($NBGOV_REVIEWER): the four-eyes rule holds as in real use.
With NBGOV_UI_BUILD=1 the project is built first (`nbgov build`), so that the pipeline panel
shows build states and run metrics (`make screenshots`, for the docs' pictures).
Never use this configuration outside tests: galata's helper turns security off.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)
configure_jupyter_server(c)

FIXTURE = Path(__file__).parent / "fixtures" / "project"
PORT = int(os.environ.get("NBGOV_UI_PORT", "18888"))


def make_project() -> Path:
    """Copy the fixture project into a new git repository and commit it as Ada Author."""
    root = Path(tempfile.mkdtemp(prefix="nbgov-ui-")) / "project"
    shutil.copytree(FIXTURE, root)
    (root / "gitignore").rename(root / ".gitignore")
    git = ["git", "-C", str(root)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for key, value in (
        ("user.name", "Ada Author"),
        ("user.email", "ada@example.com"),
        ("commit.gpgsign", "false"),
    ):
        subprocess.run([*git, "config", key, value], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fixture project"], check=True)
    return root


# the token-only test server has no named users: nbgov takes the reviewer from here
os.environ["NBGOV_REVIEWER"] = "Rita Reviewer <rita@example.com>"
os.environ.pop("MLFLOW_TRACKING_URI", None)  # the project's own mlflow.db, in the temp dir
os.environ["PLOOMBER_STATS_ENABLED"] = "false"
os.environ["PLOOMBER_VERSION_CHECK_DISABLED"] = "true"

ROOT = make_project()
if os.environ.get("NBGOV_UI_BUILD"):
    # for the docs' screenshots: real build states and metrics (about a minute, so not in CI)
    subprocess.run(["nbgov", "build", "--quiet", "--project", str(ROOT)], check=True)

c.ServerApp.root_dir = str(ROOT)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = PORT
c.ServerApp.allow_root = True
c.ServerApp.jpserver_extensions = {"nbgov.server": True, "ploomber": False}
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
