"""What a governed build runs besides the reviewed files themselves (docs/security.md, R4;
tenth attack round): no bytecode in the project folder is read (01, 11: a forged timestamp
``__pycache__`` file, git-ignored and untracked, beside an approved module)."""

from __future__ import annotations

import importlib._bootstrap_external as bootstrap
import importlib.util
import os
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
    pyc = Path(importlib.util.cache_from_source(str(module)))
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
    assert pyc.read_bytes()[:4] == importlib.util.MAGIC_NUMBER  # left alone, never read
    mine = list(cache.glob(f"nbgov/pycache/**/{os.path.basename(pyc)}"))
    assert mine and all(project.resolve() not in p.resolve().parents for p in mine), mine
    # the installed packages' bytecode stays in the cache for the next build
    assert any(cache.glob("nbgov/pycache/**/site-packages/**/*.pyc"))
