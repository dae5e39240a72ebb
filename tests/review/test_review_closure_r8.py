"""The review closure (docs/security.md, R4) against the eighth attack round's gaps, each
statically (``review_targets`` on a project in a temp folder; no kernel, no build): folders on a
skip list Python imports from by name (``node_modules``, ``venv``, ``__pycache__``)."""

from __future__ import annotations

from pathlib import Path

from tests.review.test_review_closure_scan import project, targets

from nbgov.core.config import load_config
from nbgov.services.review.targets import render_targets


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_folders_named_like_caches_or_virtualenvs_are_followed_when_importable(tmp_path: Path):
    """03: `import node_modules.helper` in a reviewed notebook; 05: `import __pycache__.helper`;
    a literal `sys.path` entry and `%run` into `venv/`: Python reaches them by name, so they are
    targets. 02: a `node_modules` package at the root is importable by name (a spec's exporter
    name, any library), so it is gated before the pipeline loads."""
    root = project(tmp_path, "import node_modules.helper\nimport __pycache__.cached",
                   "import sys\nsys.path.insert(0, 'venv')\nimport venvmod", "%run venv/tool.py")
    write(root, {"node_modules/__init__.py": "", "node_modules/helper.py": "X = 1\n",
                 "__pycache__/__init__.py": "", "__pycache__/cached.py": "X = 1\n",
                 "venv/venvmod.py": "X = 1\n", "venv/tool.py": "X = 1\n"})
    found = targets(root)
    for path in ("node_modules/helper.py", "__pycache__/cached.py", "venv/venvmod.py"):
        assert found.get(path, "").startswith("imported by nb/a.ipynb"), (path, found)
    assert found["venv/tool.py"] == "run by nb/a.ipynb"
    loading = {t.path: t.why for t in render_targets(load_config(root))}  # no notebook: importable
    assert loading["node_modules/__init__.py"].startswith("importable as `node_modules` from the project root")
    assert loading["node_modules/helper.py"].startswith("importable as `node_modules.helper`")


def test_a_virtualenv_is_skipped_by_the_blanket_rules_never_for_a_named_import(tmp_path: Path):
    """A folder holding pyvenv.cfg is the environment's for "importable by name" and the
    conservative sweep, but a module reviewed code imports by name is a target wherever it is
    (anyone can commit a pyvenv.cfg). A JavaScript tree no import can name
    (`ext/js-app/node_modules`) is left out of the sweep; a root `node_modules` is not."""
    root = project(tmp_path, "import env.bin.named", "import os, sys\nsys.path.insert(0, os.getcwd())")
    write(root, {"env/pyvenv.cfg": "home = /usr/bin\n", "env/bin/named.py": "X = 1\n",
                 "env/bin/other.py": "X = 1\n", "env/lib/python3.11/site-packages/pkg.py": "X = 1\n",
                 "ext/js-app/node_modules/left.py": "X = 1\n", "node_modules/swept.py": "X = 1\n"})
    found = targets(root)
    assert found["env/bin/named.py"].startswith("imported by nb/a.ipynb"), found
    assert "env/bin/other.py" not in found and "env/lib/python3.11/site-packages/pkg.py" not in found
    assert "ext/js-app/node_modules/left.py" not in found
    assert "node_modules/swept.py" in found
    assert "other-files/unrelated.py" in found  # the sweep ran
