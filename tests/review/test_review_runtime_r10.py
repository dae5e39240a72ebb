"""What a governed build runs besides the reviewed files themselves (docs/security.md, R4;
tenth attack round): no bytecode in the project folder is read (01, 11: a forged timestamp
``__pycache__`` file, git-ignored and untracked, beside an approved module); the nbconvert
options of a task as loaded (06: a ``location:`` factory's ``template_file``) are gated as the
spec's are; a script task's folder holds only its script (10: a shared temp folder)."""

from __future__ import annotations

import importlib._bootstrap_external as bootstrap
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from tests.build.conftest import notebook, write_nb
from tests.review.test_review_kernel_options import _approve_all

pytestmark = pytest.mark.integration

GOVERNED = 'experiment = "r10"\n[environments.prod]\nrequire_approved = true\n'
NB_SPEC = "tasks:\n  - source: nb.ipynb\n    product: {nb: products/nb.ipynb, data: products/nb.txt}\n"
# the notebook writes the value of the helper it imported into its product
CELL = "import helper\nfrom pathlib import Path\nPath(product['data']).write_text(helper.VALUE)"


def _project(root: Path, spec: str, files: dict[str, str]) -> None:
    (root / "pipeline.yaml").write_text(spec)
    (root / "nbgov.toml").write_text(GOVERNED)
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n__pycache__/\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _forge_timestamp_pyc(module: Path, source: str) -> Path:
    """A timestamp .pyc of ``source`` beside ``module`` whose header repeats the module's mtime
    and size: Python takes it for the module's own compiled file."""
    st = module.stat()
    # beside the module, whatever bytecode prefix an earlier in-process build left in this
    # test process (sys.pycache_prefix is process-wide)
    prefix, sys.pycache_prefix = sys.pycache_prefix, None
    try:
        pyc = Path(importlib.util.cache_from_source(str(module)))
    finally:
        sys.pycache_prefix = prefix
    pyc.parent.mkdir(exist_ok=True)
    code = compile(source, str(module), "exec")
    pyc.write_bytes(bootstrap._code_to_timestamp_pyc(code, int(st.st_mtime), st.st_size))
    return pyc


def test_a_governed_build_reads_no_bytecode_in_the_project(project, nbgov, git, bob, tmp_path):
    """01/11: a forged, ignored __pycache__/helper.*.pyc beside the approved helper.py: an
    ungoverned build loads it (the attack is real), a governed one imports the reviewed source,
    keeps its bytecode in the user's cache (outside the project) and reuses it on the next run."""
    _project(project, NB_SPEC, {"helper.py": "VALUE = 'reviewed'\n"})
    write_nb(project / "nb.ipynb", notebook("upstream = None\nproduct = None", CELL))
    _approve_all(nbgov, git, bob)
    pyc = _forge_timestamp_pyc(project / "helper.py", "VALUE = 'forged'\n")
    assert git("status", "--porcelain") == ""  # ignored, untracked: no change to review
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "NBGOV_WARM_KERNELS": "1"}

    plain = nbgov("build", "-q", "--force", env=env)
    assert plain.code == 0, plain.err[-2000:]
    assert (project / "products" / "nb.txt").read_text() == "forged"

    governed = nbgov("build", "--environment", "prod", "-q", "--force", env=env)
    assert governed.code == 0, governed.err[-2000:]
    assert (project / "products" / "nb.txt").read_text() == "reviewed"
    # never read; removed once the gate passed (a child without the build's environment would
    # read it: test_review_runtime_r12.py)
    assert not pyc.exists()
    mine = list(cache.glob(f"nbgov/pycache/**/{os.path.basename(pyc)}"))
    assert mine and all(project.resolve() not in p.resolve().parents for p in mine), mine
    # the installed packages' bytecode stays in the cache for the next build
    assert any(cache.glob("nbgov/pycache/**/site-packages/**/*.pyc"))


NBCONVERT_FACTORY = """from pathlib import Path
from ploomber import DAG
from ploomber.products import File
from ploomber.tasks import NotebookRunner


def make():
    dag = DAG()
    NotebookRunner(Path("nb.ipynb"), File("products/nb.html"), dag=dag, name="nb",
                   nbconvert_export_kwargs=KWARGS)
    return dag
"""
TEMPLATE = '{%% extends "lab/index.html.j2" %%}{%% block header %%}{{ super() }}<!--%s-->{%% endblock header %%}\n'


def test_a_factory_built_tasks_nbconvert_template_is_gated(project, nbgov, git, bob):
    """06: a `location:` factory gives its NotebookRunner `nbconvert_export_kwargs={"template_file":
    "tpl/report.html.j2"}` (unsandboxed Jinja, rendered in nbgov's process). The build's gate
    reads the options from the loaded task: the template edited after approval is refused by
    name before anything runs; once approved it renders; an option nbgov cannot review
    (`config`) is refused, naming the task."""
    factory = NBCONVERT_FACTORY.replace("KWARGS", '{"template_file": "tpl/report.html.j2"}')
    _project(project, "location: factory.make\n", {"factory.py": factory, "tpl/report.html.j2": TEMPLATE % "one"})
    write_nb(project / "nb.ipynb", notebook("upstream = None\nproduct = None", "x = 1"))
    _approve_all(nbgov, git, bob, "nb.ipynb", "tpl/report.html.j2")
    (project / "tpl/report.html.j2").write_text(TEMPLATE % "edited")
    git("commit", "-qam", "edit the template")
    refused = nbgov("build", "--environment", "prod", "-q")
    assert refused.code == 1, refused.err
    assert "tpl/report.html.j2: stale" in refused.err or "tpl/report.html.j2: unreviewed" in refused.err, refused.err
    assert not (project / "products" / "nb.html").exists(), "nothing may run before the gate"

    assert nbgov("review", "approve", "tpl/report.html.j2", "--reviewer", bob, "-m", "ok").code == 0
    built = nbgov("build", "--environment", "prod", "-q")
    assert built.code == 0, built.err[-2000:]
    assert "<!--edited-->" in (project / "products" / "nb.html").read_text()

    (project / "factory.py").write_text(NBCONVERT_FACTORY.replace("KWARGS", '{"config": {}}'))
    assert nbgov("review", "approve", "factory.py", "--reviewer", bob, "-m", "ok").code == 0
    (project / "products" / "nb.html").unlink()
    unreviewable = nbgov("build", "--environment", "prod", "-q", "--force")
    assert unreviewable.code == 1, unreviewable.err
    assert "`nbconvert_export_kwargs` of task nb (as loaded): `config` is not an option nbgov can review" \
        in unreviewable.err, unreviewable.err
    assert not (project / "products" / "nb.html").exists()


SCRIPT_SPEC = "tasks:\n  - source: jobs/run.py\n    class: ScriptRunner\n    product: products/out.txt\n"
SCRIPT = """# %% tags=["parameters"]
upstream = None
product = None

# %%
import json, os, sys
open(product, "w").write(json.dumps([json.__file__, sys.path[0], oct(os.stat(sys.path[0]).st_mode & 0o777)]))
"""


def test_a_script_task_runs_from_a_private_temporary_folder(project, nbgov, git, bob, tmp_path):
    """10: ScriptRunner runs `python TMP/tmpX.py`, its temporary folder first on sys.path: a
    json.py another user left in the shared $TMPDIR must not shadow the standard library in the
    reviewed script. The folder is the build's own (0700, not $TMPDIR), gone after the build."""
    _project(project, SCRIPT_SPEC, {"jobs/run.py": SCRIPT})
    _approve_all(nbgov, git, bob)
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    marker = tmp_path / "planted-ran"
    (shared / "json.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    built = nbgov("build", "--environment", "prod", "-q", env={"TMPDIR": str(shared)})
    assert built.code == 0, built.err[-2000:]
    module, folder, mode = json.loads((project / "products" / "out.txt").read_text())
    assert not marker.exists() and not module.startswith(str(shared)), module
    assert Path(folder).parent == shared and Path(folder).name.startswith("nbgov-build-"), folder
    assert mode == "0o700" and not Path(folder).exists()
