"""The review closure (docs/security.md, R4) against the ninth attack round's skip markers, with
real files and real git: a marker a pull request can commit (``pyvenv.cfg``, ``conda-meta/``, a
``node_modules`` or ``.nbgov`` folder) hides nothing from the conservative sweep or the
"importable by name" rule; only what git ignores and does not track is the machine's."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.review.test_review_closure_r8 import git_commit, write
from tests.review.test_review_closure_scan import project, targets

COMPUTED = "import os, sys\nsys.path.insert(0, os.path.join(os.getcwd(), 'lib'))\nimport helper"
SWEPT = "any project module: nb/a.ipynb changes sys.path"


def test_a_committed_pyvenv_cfg_or_conda_meta_hides_nothing_from_the_sweep(tmp_path: Path):
    """03: `lib/pyvenv.cfg` (and `cenv/conda-meta/`) committed beside the module a computed
    sys.path entry reaches: the modules are targets; an installed virtualenv git ignores is not."""
    root = project(tmp_path, COMPUTED)
    write(root, {"lib/pyvenv.cfg": "", "lib/helper.py": "X = 1\n", "cenv/conda-meta/history": "",
                 "cenv/mod.py": "X = 1\n", "venv/pyvenv.cfg": "", "venv/lib/dep.py": "X = 1\n"})
    git_commit(root, "venv/\n")
    found = targets(root)
    assert found["lib/helper.py"].startswith(SWEPT), found
    assert found["cenv/mod.py"].startswith(SWEPT), found
    assert "venv/lib/dep.py" not in found


def test_a_file_forced_into_an_ignored_virtualenv_is_swept(tmp_path: Path):
    """A virtualenv git ignores but in which it tracks a file (`git add -f`) is not the
    machine's: its tracked file is swept; its untracked, ignored files stay out."""
    root = project(tmp_path, COMPUTED)
    write(root, {"venv/pyvenv.cfg": "", "venv/forced.py": "X = 1\n", "venv/local.py": "X = 1\n"})
    git_commit(root, "venv/\n", force=("venv/forced.py",))
    found = targets(root)
    assert found["venv/forced.py"].startswith(SWEPT), found
    assert "venv/local.py" not in found


def test_a_committed_node_modules_no_identifier_reaches_is_swept(tmp_path: Path):
    """07: `ext-x/node_modules/lib/helper.py` (no import names `ext-x`), reached by a computed
    sys.path entry: a target; an installed node_modules git ignores is not."""
    root = project(tmp_path, COMPUTED)
    write(root, {"ext-x/node_modules/lib/helper.py": "X = 1\n", "ext-y/node_modules/dep.py": "X = 1\n"})
    git_commit(root, "ext-y/node_modules/\n")
    found = targets(root)
    assert found["ext-x/node_modules/lib/helper.py"].startswith(SWEPT), found
    assert "ext-y/node_modules/dep.py" not in found


def test_what_git_tracks_in_dot_nbgov_is_swept_and_its_state_is_not(tmp_path: Path):
    """12: a committed `.nbgov/plugins/helper.py` is a target; a file git does not track there
    (nbgov's journal, caches), ignored or not, is nbgov's state, not a change's."""
    root = project(tmp_path, COMPUTED)
    write(root, {".nbgov/plugins/helper.py": "X = 1\n"})
    git_commit(root)
    write(root, {".nbgov/journal/state.py": "X = 1\n", ".nbgov/local.py": "X = 1\n"})
    found = targets(root)
    assert found[".nbgov/plugins/helper.py"].startswith(SWEPT), found
    assert not {".nbgov/journal/state.py", ".nbgov/local.py"} & set(found), found


def test_a_root_package_holding_pyvenv_cfg_is_importable_by_name(tmp_path: Path):
    """05: a committed root `storemagic/` holding an empty pyvenv.cfg (IPython imports the
    top-level `storemagic` in every kernel; Python ignores pyvenv.cfg there) is a target, and a
    package's subfolder holding one too; a root `venv/` git ignores (installed) is not."""
    root = project(tmp_path, "print(1)")
    write(root, {"storemagic/pyvenv.cfg": "", "storemagic/__init__.py": "X = 1\n",
                 "pkgr9/__init__.py": "", "pkgr9/sub/conda-meta/history": "", "pkgr9/sub/m.py": "X = 1\n",
                 "venv/pyvenv.cfg": "", "venv/__init__.py": "", "venv/site.py": "X = 1\n"})
    git_commit(root, "venv/\n")
    found = targets(root)
    assert found["storemagic/__init__.py"].startswith("importable as `storemagic` from the project root"), found
    assert found["pkgr9/sub/m.py"].startswith("importable as `pkgr9.sub.m`"), found
    assert not [p for p in found if p.startswith("venv/")], found


NAMES = st.sampled_from(["lib", ".hidden", "node_modules", ".nbgov", "venv", "ext-x"])
FOLDER = st.tuples(NAMES, st.sampled_from(["", "pyvenv.cfg", "conda-meta"]), st.booleans())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chain=st.lists(FOLDER, min_size=1, max_size=3))
def test_no_skip_marker_hides_a_file_git_tracks_or_would_show(chain: list[tuple[str, str, bool]]):
    """Property: in any small chain of folders (each with or without pyvenv.cfg / conda-meta,
    ignored by git or not, named like a skipped folder or not), a tracked `mod.py` a computed
    sys.path entry reaches is a target; an untracked `new.py` beside it is one when git does not
    ignore it (git status shows it), unless it is nbgov's untracked state in `.nbgov`."""
    with tempfile.TemporaryDirectory() as tmp:
        root = project(Path(tmp), COMPUTED)
        parts, ignore, is_ignored, in_state = [], [], False, False
        for name, marker, ignored in chain:
            parts.append(name)
            folder = "/".join(parts)
            if marker == "pyvenv.cfg":
                write(root, {f"{folder}/pyvenv.cfg": ""})
            elif marker == "conda-meta":
                write(root, {f"{folder}/conda-meta/history": ""})
            if ignored:
                ignore.append(f"/{folder}/")
            is_ignored = is_ignored or ignored
            in_state = in_state or name == ".nbgov"
        leaf = "/".join(parts)
        write(root, {f"{leaf}/mod.py": "X = 1\n"})
        git_commit(root, "".join(f"{i}\n" for i in ignore), force=(f"{leaf}/mod.py",))
        write(root, {f"{leaf}/new.py": "X = 1\n"})
        found = targets(root)
        assert f"{leaf}/mod.py" in found, (chain, sorted(found))
        if not is_ignored and not in_state:  # git status shows it: a change's (when ignored, the
            # "importable by name" rule may still take it: conservative, not asserted either way)
            assert f"{leaf}/new.py" in found, (chain, sorted(found))
