"""Small real Ploomber projects of every task kind, in git repos.

``make_mixed`` writes one project with a function task (tasks/raw.py), a py:percent script with
an .html notebook product, a light script with an .md product, a ScriptRunner, a ShellScript,
and SQL on SQLite (SQLScript -> SQLiteRelation, SQLDump -> .csv) through SQLAlchemyClient in a
``clients:`` section. Every spec here is built once with plain ``ploomber build`` in the tests
to prove Ploomber accepts it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# scrapbook's on-disk scrap format, without importing scrapbook in the kernel (1.9 s per task)
GLUE = '''from IPython.display import display
def glue(name, value):
    display({"application/scrapbook.scrap.json+json": {"name": name, "data": value, "encoder": "json", "version": 1}},
            metadata={"scrapbook": {"name": name, "data": True, "display": False}}, raw=True)'''

RAW_PY = '''"""Function tasks of the mixed project."""
from pathlib import Path


def get(product, n):
    """Write n numbers."""
    Path(str(product)).write_text(",".join(str(i) for i in range(n)))
'''

CLEAN_PY = f'''# %% tags=["parameters"]
upstream = ["get"]
product = None
factor = 1
fail = False

# %%
{GLUE}

# %%
from pathlib import Path
total = sum(int(v) * factor for v in Path(upstream["get"]).read_text().split(","))
Path(product["data"]).write_text(str(total))
glue("total", total)

# %%
if fail:
    raise ValueError("asked to fail")
'''

LIGHT_PY = '''# + tags=["parameters"]
upstream = ["clean"]
product = None

# +
from pathlib import Path
Path(product["data"]).write_text(Path(upstream["clean"]["data"]).read_text())
'''

RUNNER_PY = '''# %% tags=["parameters"]
upstream = ["get"]
product = None

# %%
from pathlib import Path
Path(product).write_text(Path(upstream["get"]).read_text().upper())
'''

MAKE_SQL = """DROP TABLE IF EXISTS {{product}};
CREATE TABLE {{product}} AS SELECT 1 AS n UNION SELECT 2;
"""

DUMP_SQL = 'SELECT * FROM {{upstream["make"]}}\n'

RUN_SH = 'cat {{upstream["get"]}} > {{product}}\n'

CLIENTS_PY = '''from pathlib import Path

from ploomber.clients import SQLAlchemyClient


def get():
    return SQLAlchemyClient(f"sqlite:///{Path(__file__).parent / 'data.db'}")
'''

MIXED_SPEC = """clients:
  SQLScript: clients.get
  SQLDump: clients.get
  SQLiteRelation: clients.get
tasks:
  - source: tasks.raw.get
    product: products/raw.txt
    params: {n: 5}
  - source: scripts/clean.py
    product: {nb: products/clean.html, data: products/clean.txt}
    papermill_params: {log_output: True}
  - source: scripts/light.py
    product: {nb: products/light.md, data: products/light.txt}
  - source: scripts/runner.py
    class: ScriptRunner
    product: products/runner.txt
  - source: sql/make.sql
    product: [numbers, table]
    product_class: SQLiteRelation
  - source: sql/dump.sql
    product: products/numbers.csv
    chunksize: null
  - source: scripts/run.sh
    product: products/hello.txt
"""

GITIGNORE = "products/\nmlflow.db\nmlruns/\ndata.db\n.nbgov/journal/\n.nbgov/lineage/\n__pycache__/\n"


def write(root: Path, files: dict[str, str]) -> None:
    """Write ``{relative path: text}`` under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(root: Path, message: str = "project") -> None:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", message], check=True)


def make_mixed(root: Path) -> Path:
    """The mixed project (see the module docstring), committed."""
    write(root, {
        "tasks/__init__.py": "", "tasks/raw.py": RAW_PY, "scripts/clean.py": CLEAN_PY,
        "scripts/light.py": LIGHT_PY, "scripts/runner.py": RUNNER_PY, "sql/make.sql": MAKE_SQL,
        "sql/dump.sql": DUMP_SQL, "scripts/run.sh": RUN_SH, "clients.py": CLIENTS_PY,
        "pipeline.yaml": MIXED_SPEC, ".gitignore": GITIGNORE,
        "nbgov.toml": 'experiment = "kinds"\n[review]\nallow_self_approval = true\n[execution]\ncell_timeout = 60\n',
    })
    commit(root, "mixed project")
    return root


@pytest.fixture
def mixed(git_repo: Path) -> Path:
    """A fresh mixed project in a git repo."""
    return make_mixed(git_repo)


@pytest.fixture(scope="module")
def mixed_loaded(tmp_path_factory):
    """(root, Pipeline) of one mixed project loaded once per module (Ploomber's import and a
    render cost seconds on a shared machine)."""
    from nbgov.adapters.ploomber import Pipeline

    root = tmp_path_factory.mktemp("mixed")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for key, value in (("user.name", "Ada Author"), ("user.email", "ada@example.com"), ("commit.gpgsign", "false")):
        subprocess.run(["git", "-C", str(root), "config", key, value], check=True)
    make_mixed(root)
    sys.path.insert(0, str(root))  # the adapter imports tasks.raw from here, as Ploomber does
    try:
        yield root, Pipeline(root / "pipeline.yaml")
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "tasks" or m.startswith("tasks.") or m == "clients"]:
            del sys.modules[name]


def run(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command of this venv (``nbgov``, ``ploomber``) in ``root``."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({"PLOOMBER_STATS_ENABLED": "false"})
    exe = Path(sys.executable).parent / args[0]
    cmd = [str(exe), *args[1:]] if exe.exists() else [sys.executable, "-m", args[0], *args[1:]]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, timeout=timeout)


def ploomber_build(root: Path, *extra: str) -> subprocess.CompletedProcess:
    """Plain ``ploomber build`` (no nbgov) in ``root``; asserts it succeeded."""
    proc = run(root, "ploomber", "build", *extra)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def copy_project(src: Path, dest: Path) -> Path:
    """A copy of a project without its build outputs."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("products", "data.db", ".git", "__pycache__"))
    return dest
