"""Jupyter server configuration of the browser tests (galata).

Serves a fresh copy of fixtures/project (a four-task nbgov project) from a temp dir made into a
git repository whose commits are by "Ada Author", while decisions taken in the browser are
recorded for "Rita Reviewer" ($NBGOV_REVIEWER): the four-eyes rule holds as in real use.
With NBGOV_UI_BUILD=1 the project is built first (`nbgov build`), so that the pipeline panel
shows build states, run metrics and lineage: `make test-browser` runs the specs once without and
once with it, so both branches of the specs run in CI. With NBGOV_UI_BUILD=offline it is built
while its tracking server is down (a closed port on 127.0.0.1): every run stays in the local
journal, for tests/unsynced.spec.ts (which then runs `nbgov sync` into the project's own store).
The project is made in $NBGOV_UI_TMP when set (playwright.config.js sets it, so that the specs
know where the project is).
Never use this configuration outside tests: galata's helper turns security off.
"""

import os
import shutil
import socket
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
    root = Path(tempfile.mkdtemp(prefix="nbgov-ui-", dir=os.environ.get("NBGOV_UI_TMP"))) / "project"
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
if os.environ.get("NBGOV_UI_BUILD") == "offline":
    # a tracking server that is down: nothing listens on a port just freed (the third pass)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed}"}
    subprocess.run(["nbgov", "build", "--quiet", "--project", str(ROOT)], check=True, env=env)
    if not list((ROOT / ".nbgov" / "journal").glob("*.jsonl")):
        raise SystemExit("nbgov build against a closed port journaled no run: nothing to test")
elif os.environ.get("NBGOV_UI_BUILD"):
    # real build states, metrics and lineage records (the second pass of make test-browser)
    subprocess.run(["nbgov", "build", "--quiet", "--project", str(ROOT)], check=True)
if os.environ.get("NBGOV_UI_TMP"):
    # where the specs find the project (e.g. to run `nbgov sync` in it)
    (Path(os.environ["NBGOV_UI_TMP"]) / "project-root").write_text(str(ROOT))

c.ServerApp.root_dir = str(ROOT)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = PORT
c.ServerApp.allow_root = True
c.ServerApp.jpserver_extensions = {"nbgov.server": True, "ploomber": False}
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
