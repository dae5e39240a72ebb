"""Review closure (issue 23, item 7), with real git, real builds and a real kernel: the pipeline
spec, its env file, a hook module named by dotted path and the project modules a notebook
imports (transitively) are review targets. Changing any of them after the approvals makes
``review status`` say so, ``review gate`` fail and ``build -e prod`` refuse before any task
runs; approving them (one command, several paths) lets the build through."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import notebook, run_cli, write_nb

from nbgov.core.config import load_config
from nbgov.services.review.targets import review_targets

pytestmark = pytest.mark.integration
BOB = "Bob Reviewer <bob@example.com>"

SPEC = """on_finish: project_hooks.finished
tasks:
  - source: notebooks/a.ipynb
    product: {nb: products/a.ipynb, data: products/a.txt}
    params: {factor: "{{factor}}"}
"""
TARGETS = ["env.yaml", "helpers/__init__.py", "helpers/deep.py", "helpers/scale.py", "notebooks/a.ipynb",
           "pipeline.yaml", "project_hooks.py"]


def commit(root: Path, message: str) -> None:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", message], check=True)


@pytest.fixture
def closure(git_repo: Path) -> Path:
    root = git_repo
    write_nb(root / "notebooks/a.ipynb", notebook(
        "upstream = None\nproduct = None\nfactor = 1",
        "import sys, os\nsys.path.insert(0, os.path.dirname(os.getcwd()))\nfrom helpers.scale import scale",
        "from pathlib import Path\nPath(product['data']).parent.mkdir(exist_ok=True)\n"
        "Path(product['data']).write_text(str(scale(factor)))"))
    (root / "helpers").mkdir()
    (root / "helpers/__init__.py").write_text("")
    (root / "helpers/scale.py").write_text("from .deep import BASE\n\n\ndef scale(x):\n    return x * BASE\n")
    (root / "helpers/deep.py").write_text("BASE = 10\n")
    (root / "project_hooks.py").write_text("def finished(dag):\n    pass\n")
    (root / "pipeline.yaml").write_text(SPEC)
    (root / "env.yaml").write_text("factor: 2\n")
    (root / "nbgov.toml").write_text('experiment = "closure"\n[execution]\ncell_timeout = 30\n'
                                     "[environments.prod]\nrequire_approved = true\n")
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n.nbgov/journal/\n.nbgov/cache/\n")
    commit(root, "project")
    return root


def test_the_closure_is_found_statically(closure: Path):
    targets = {t.path: t.why for t in review_targets(load_config(closure))}
    assert sorted(targets) == TARGETS
    assert targets["helpers/deep.py"] == "imported by helpers/scale.py"
    assert targets["project_hooks.py"] == "`on_finish` in the spec"


CHANGES = {"transitive-module": ("helpers/deep.py", "BASE = 10\nimport os; os.system('touch PWNED')\n"),
           "env-file": ("env.yaml", "factor: 3\n"),
           "hook-module": ("project_hooks.py", "def finished(dag):\n    open('PWNED', 'w')\n"),
           "spec": ("pipeline.yaml", SPEC.replace("{{factor}}", "5"))}


@pytest.mark.parametrize("change", [CHANGES["transitive-module"], CHANGES["hook-module"]],
                         ids=["transitive-module", "hook-module"])
def test_a_change_to_any_target_needs_an_approval(closure: Path, change):
    # one command approves every target not approved yet
    approved = run_cli(closure, "review", "approve", "--all-changed", "--reviewer", BOB)
    assert approved.returncode == 0, approved.stderr
    assert sorted(line.split(":")[0] for line in approved.stdout.splitlines()) == TARGETS
    commit(closure, "approvals")
    nothing = run_cli(closure, "review", "approve", "--all-changed", "--reviewer", BOB)
    assert nothing.returncode == 0 and "nothing to approve" in nothing.stdout, nothing.stdout + nothing.stderr
    gate = run_cli(closure, "review", "gate")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    built = run_cli(closure, "build", "--environment", "prod", "-q")
    assert built.returncode == 0, built.stdout + built.stderr
    assert (closure / "products/a.txt").read_text() == "20"

    path, text = change
    (closure / path).write_text(text)
    commit(closure, f"change {path}")
    status = {s["path"]: s["status"] for s in json.loads(run_cli(closure, "review", "status", "--json").stdout)}
    assert status[path] == "stale", status
    gate = run_cli(closure, "review", "gate")
    assert gate.returncode == 1 and f"{path}: stale" in gate.stderr, gate.stdout + gate.stderr
    refused = run_cli(closure, "build", "--environment", "prod", "-q", "--force")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"{path}: stale" in refused.stderr and "Traceback" not in refused.stderr
    assert (closure / "products/a.txt").read_text() == "20", "nothing may run before the gate"
    assert not (closure / "PWNED").exists()

    again = run_cli(closure, "review", "approve", path, "--reviewer", BOB)
    assert again.returncode == 0, again.stderr
    assert run_cli(closure, "build", "--environment", "prod", "-q", "--force").returncode == 0


def test_the_gate_covers_spec_and_env_file_never_approved(closure: Path):
    # approving the code alone is not enough: the spec and env file say what runs, with what
    code = [t for t in TARGETS if t not in ("env.yaml", "pipeline.yaml")]
    assert run_cli(closure, "review", "approve", *code, "--reviewer", BOB).returncode == 0
    commit(closure, "approvals")
    gate = run_cli(closure, "review", "gate")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "env.yaml: unreviewed" in gate.stderr and "pipeline.yaml: unreviewed" in gate.stderr, gate.stderr
    for path, text in (CHANGES["env-file"], CHANGES["spec"]):
        (closure / path).write_text(text)
    commit(closure, "change env and spec")
    assert run_cli(closure, "review", "approve", "env.yaml", "pipeline.yaml", "--reviewer", BOB).returncode == 0
    assert run_cli(closure, "review", "gate").returncode == 0


def test_sys_path_folders_extend_the_closure(tmp_path: Path):
    """F: folders a notebook or module adds to sys.path with literal strings are searched (inside
    the project only); a computed sys.path change makes every project module a target."""
    root = tmp_path
    (root / "pipeline.yaml").write_text("tasks:\n  - source: nb/a.ipynb\n    product: out/a.ipynb\n")
    write_nb(root / "nb/a.ipynb", notebook("upstream = None\nproduct = None",
                                           "import sys\nsys.path.append('sub')\nimport first"))
    (root / "sub").mkdir()
    (root / "sub/first.py").write_text("import sys\nsys.path.insert(0, 'deep')\nimport second\n")
    (root / "deep").mkdir()
    (root / "deep/second.py").write_text("import third\n")
    (root / "deep/third.py").write_text("import sys\nsys.path += ['../outside']\n")
    (root / "other-files").mkdir()
    (root / "other-files/unrelated.py").write_text("X = 1\n")
    (root / "nbgov.toml").write_text('experiment = "syspath"\n')
    found = {t.path for t in review_targets(load_config(root))}
    assert {"sub/first.py", "deep/second.py", "deep/third.py"} <= found
    assert "other-files/unrelated.py" not in found

    (root / "deep/third.py").write_text("import os, sys\nsys.path.append(os.environ['EXTRA'])\n")
    found = {t.path: t.why for t in review_targets(load_config(root))}
    assert "other-files/unrelated.py" in found and "deep/third.py changes sys.path" in found["other-files/unrelated.py"]


def test_imports_inside_python_magics_and_run_forms_are_targets(tmp_path: Path):
    """Final review, items 3 and 4: the bodies of %%capture/%%time/%%timeit/%%prun cells and the
    statements of %time/%timeit/%prun lines are Python; %run names its file with a hyphen, in
    quotes, after options, or a module with -m. Other cell magics (%%bash, %%writefile) are not Python."""
    root = tmp_path
    (root / "pipeline.yaml").write_text("tasks:\n  - source: nb/a.ipynb\n    product: out/a.ipynb\n")
    write_nb(root / "nb/a.ipynb", notebook(
        "upstream = None\nproduct = None",
        "%%capture out\nimport m_capture", "%%time\nimport m_celltime", "%%timeit -n1 import m_setup\nimport m_body",
        "%%prun -s cumtime\nimport m_prun", "%time import m_time", "if True:\n    %timeit -n 2 -q import m_timeit",
        "%prun -l 4 import m_lprun", "%run scripts/prep-data.py", '%run "scripts/quoted name.py" arg',
        "%run -i -t scripts/opts.py", "%run -m m_runmod", "%%bash\nimport m_bash", "%%writefile w.py\nimport m_write"))
    for name in ("capture", "celltime", "setup", "body", "prun", "time", "timeit", "lprun", "runmod", "bash",
                 "write"):
        (root / f"nb/m_{name}.py").write_text("X = 1\n")
    (root / "scripts").mkdir()
    for name in ("prep-data.py", "quoted name.py", "opts.py"):
        (root / "scripts" / name).write_text("import m_from_script\n" if name == "opts.py" else "Y = 2\n")
    (root / "scripts/m_from_script.py").write_text("Z = 3\n")
    (root / "nbgov.toml").write_text('experiment = "magics"\n')
    found = {t.path: t.why for t in review_targets(load_config(root))}
    for name in ("capture", "celltime", "setup", "body", "prun", "time", "timeit", "lprun", "runmod"):
        assert f"nb/m_{name}.py" in found, name
    for name in ("prep-data.py", "quoted name.py", "opts.py"):
        assert found.get(f"scripts/{name}") == "run by nb/a.ipynb", name
    assert "scripts/m_from_script.py" in found  # what a %run file imports, transitively
    # not imported by the notebook (bash, %%writefile); a target only as what the notebook's
    # folder holds, importable by name (R4)
    for name in ("bash", "write"):
        assert not found.get(f"nb/m_{name}.py", "").startswith("imported by"), name
