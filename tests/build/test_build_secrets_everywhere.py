"""Secrets that used to leave (issue 23, item 8), with a real build against the embedded SQLite
tracking store: a bearer token in a parameter with an innocent name, basic-auth and connection
string credentials, a token used as a parameter *name*, a password widget's saved state, a custom
notebook metadata key ``api_key``, and an AWS secret access key in a code cell. Everything nbgov
writes (the store's database, every artifact, the journal, the cache, the lineage record) is
scanned for each secret; nbgov's own state is owner-only."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from .conftest import KERNEL, run_cli, write_nb

pytestmark = pytest.mark.integration

BEARER = "7f3kQ9xLm2Pz8RtY4wVb0nQ"
BASIC = "YWRhOnMzY3JldC1wYXNzd29yZA=="  # ada:s3cret-password
PG_PASSWORD = "Pg-s3cret-99"
AZURE_KEY = "QXp1cmVLZXlTM2NyZXQxMjM0NTY3ODkw"
TOKEN_AS_NAME = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngAbCdEf0123"
WIDGET_PASSWORD = "W1dget-Passw0rd-xyz"
METADATA_KEY = "mk-API-key-5a6b7c8d9e"
AWS_KEY_ID = "AKIAQ3XAMPLKEYID1234"
AWS_SECRET = "Zx8vQ2mN7pL4kR9tW1yB6cD3fG5hJ0aS/+eUuIiO"
SECRETS = [BEARER, BASIC, PG_PASSWORD, AZURE_KEY, TOKEN_AS_NAME, WIDGET_PASSWORD, METADATA_KEY,
           AWS_SECRET]

SPEC = f"""
tasks:
  - source: notebooks/a.ipynb
    product: {{nb: products/a.ipynb, data: products/a.txt}}
    params:
      header: "Bearer {BEARER}"
      auth: "Basic {BASIC}"
      db: "postgresql://ada:{PG_PASSWORD}@db.internal:5432/prod"
      storage: "DefaultEndpointsProtocol=https;AccountName=ada;AccountKey={AZURE_KEY};EndpointSuffix=core"
      {TOKEN_AS_NAME}: 1
"""


def _cell(source: str, cid: str, tags: list[str] | None = None) -> dict:
    return {"cell_type": "code", "id": cid, "metadata": {"tags": tags} if tags else {}, "source": source,
            "outputs": [], "execution_count": None}


def secret_notebook() -> dict:
    widgets = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": {
        "4f0c": {"model_name": "PasswordModel", "model_module": "@jupyter-widgets/controls",
                 "model_module_version": "2.0.0",
                 "state": {"_model_name": "PasswordModel", "description": "Password:",
                           "value": WIDGET_PASSWORD}}}}}
    cells = [
        _cell("upstream = None\nproduct = None\nheader = ''\nauth = ''\ndb = ''\nstorage = ''", "p", ["parameters"]),
        _cell(f'creds = ("{AWS_KEY_ID}", "{AWS_SECRET}")\nlen(creds)', "aws"),
        _cell("print(header, auth, db, storage)", "show"),
        _cell("from pathlib import Path\nPath(product['data']).parent.mkdir(exist_ok=True)\n"
              "Path(product['data']).write_text('ok')", "w"),
    ]
    return {"cells": cells, "metadata": {**KERNEL, "widgets": widgets, "api_key": METADATA_KEY},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def leaky(git_repo: Path) -> Path:
    write_nb(git_repo / "notebooks/a.ipynb", secret_notebook())
    (git_repo / "pipeline.yaml").write_text(SPEC)
    (git_repo / "nbgov.toml").write_text('experiment = "leaks"\n[execution]\ncell_timeout = 20\n')
    (git_repo / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    subprocess.run(["git", "-C", str(git_repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(git_repo), "commit", "-qm", "leaky project"], check=True)
    return git_repo


def written_by_nbgov(root: Path) -> list[Path]:
    """Every file a build writes besides the products themselves."""
    files = [root / "mlflow.db", *root.glob("products/*.lineage.json")]
    for folder in ("mlruns", ".nbgov/journal", ".nbgov/cache"):
        files += [p for p in (root / folder).rglob("*") if p.is_file()]
    return files


def test_no_secret_reaches_the_store_the_journal_the_cache_or_the_lineage(leaky: Path):
    proc = run_cli(leaky, "build", "-q")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    files = written_by_nbgov(leaky)
    assert any(p.name == "a.ipynb" for p in files), "the executed notebook is uploaded"
    assert any(".nbgov/journal" in p.as_posix() for p in files) and any("cache" in p.as_posix() for p in files)
    # the secrets did reach the run (so the check below is not vacuous)
    executed = (leaky / "products/a.ipynb").read_text()
    assert BEARER in executed and AWS_SECRET in executed and TOKEN_AS_NAME in executed
    leaks = {str(p.relative_to(leaky)): [s for s in SECRETS if s.encode() in p.read_bytes()] for p in files}
    leaked = {k: v for k, v in leaks.items() if v}
    assert leaked == {}, "\n".join(f"{k}: {v}" for k, v in leaked.items())


def test_nbgov_state_is_owner_only(leaky: Path):
    proc = run_cli(leaky, "build", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for folder in (".nbgov/journal", ".nbgov/cache"):
        path = leaky / folder
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, folder
        for p in path.rglob("*"):
            mode = stat.S_IMODE(p.stat().st_mode)
            assert mode & 0o077 == 0, f"{p.relative_to(leaky)} is {oct(mode)}"
