"""Bytecode a governed build's own children could read (docs/security.md, R4; twelfth attack
round): a Python an approved step starts without the build's environment (``-E``, ``env=``)
does not see the private bytecode cache, so the compiled files git does not track beside the
reviewed modules are removed once the gate passed (02); ``ploomber build`` with nbgov's hooks and
``require_approved`` keeps bytecode outside the project as ``nbgov build`` does (07)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.build.conftest import notebook, write_nb
from tests.review.test_review_kernel_options import _approve_all
from tests.review.test_review_runtime_r10 import _forge_timestamp_pyc, _project

pytestmark = pytest.mark.integration

NB_SPEC = "tasks:\n  - source: nb.ipynb\n    product: {nb: products/nb.ipynb, data: products/nb.txt}\n"
# the notebook asks a child Python started with -E and an environment of its own
CHILD = ("import subprocess, sys\nfrom pathlib import Path\n"
         "out = subprocess.run([sys.executable, '-E', '-c', 'import helper; print(helper.VALUE)'],\n"
         "    env={'PATH': '/usr/bin'}, capture_output=True, text=True, check=True).stdout.strip()\n"
         "Path(product['data']).write_text(out)")
IMPORT = "import helper\nfrom pathlib import Path\nPath(product['data']).write_text(helper.VALUE)"
HOOKS = "on_render: nbgov.hooks.on_render\non_finish: nbgov.hooks.on_finish\non_failure: nbgov.hooks.on_failure\n"


def test_a_child_python_without_the_builds_environment_reads_no_forged_bytecode(project, nbgov, git, bob, tmp_path):
    _project(project, NB_SPEC, {"helper.py": "VALUE = 'reviewed'\n"})
    write_nb(project / "nb.ipynb", notebook("upstream = None\nproduct = None", CHILD))
    _approve_all(nbgov, git, bob)
    pyc = _forge_timestamp_pyc(project / "helper.py", "VALUE = 'forged'\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    plain = nbgov("build", "-q", "--force", env=env)
    assert plain.code == 0, plain.err[-2000:]
    assert (project / "products" / "nb.txt").read_text() == "forged"  # the attack is real

    pyc = _forge_timestamp_pyc(project / "helper.py", "VALUE = 'forged'\n")  # (the child compiled it again)
    governed = nbgov("build", "--environment", "prod", "-q", "--force", env=env)
    assert governed.code == 0, governed.err[-2000:]
    assert (project / "products" / "nb.txt").read_text() == "reviewed"
    # what the child wrote is the reviewed source's, compiled from it
    assert pyc.exists() and b"forged" not in pyc.read_bytes()


def test_ploomber_build_with_nbgovs_gate_reads_no_forged_bytecode(project, nbgov, git, bob, tmp_path):
    _project(project, HOOKS + NB_SPEC, {"helper.py": "VALUE = 'reviewed'\n"})
    write_nb(project / "nb.ipynb", notebook("upstream = None\nproduct = None", IMPORT))
    _approve_all(nbgov, git, bob)
    _forge_timestamp_pyc(project / "helper.py", "VALUE = 'forged'\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPYCACHEPREFIX")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PLOOMBER_STATS_ENABLED="false", NBGOV_WARM_KERNELS="1")

    def ploomber(*extra: str, **more: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).parent / "ploomber"), "build", "--force", *extra],
                              cwd=project, capture_output=True, text=True, env={**env, **more}, timeout=300)

    plain = ploomber()
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert (project / "products" / "nb.txt").read_text() == "forged"  # the attack is real
    _forge_timestamp_pyc(project / "helper.py", "VALUE = 'forged'\n")
    gated = ploomber(NBGOV_ENV="prod")
    assert gated.returncode == 0, gated.stderr[-2000:]
    assert (project / "products" / "nb.txt").read_text() == "reviewed"
