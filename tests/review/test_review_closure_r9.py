"""The review closure (docs/security.md, R4) against the ninth attack round's notebook runners,
statically (``review_targets`` on a project in a temp folder; no kernel, no build): papermill's
``execute_notebook`` and ``nbformat.read`` + an executor run a notebook as ``%run`` does."""

from __future__ import annotations

from pathlib import Path

from tests.build.conftest import notebook, write_nb
from tests.review.test_review_closure_scan import project, targets

SUB = "my-tools/sub.ipynb"


def _with_sub(root: Path, *cells: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    project(root, *cells)
    write_nb(root / SUB, notebook("x = 1", "import subhelper"))
    (root / "my-tools/subhelper.py").write_text("X = 1\n")
    return root


def test_papermill_execute_notebook_with_a_literal_path_is_a_run(tmp_path: Path):
    """10: `pm.execute_notebook("my-tools/sub.ipynb", ...)` (also `from papermill import
    execute_notebook`, `input_path=`): the sub-notebook is a target, and what it imports."""
    for i, cell in enumerate((
            'import papermill as pm\npm.execute_notebook("my-tools/sub.ipynb", "out.ipynb")',
            'from papermill import execute_notebook\nexecute_notebook("my-tools/sub.ipynb", "out.ipynb")',
            'import papermill\npapermill.execute_notebook(output_path="o.ipynb", input_path="my-tools/sub.ipynb")')):
        found = targets(_with_sub(tmp_path / str(i), cell))
        assert found.get(SUB) == "run by nb/a.ipynb", (cell, found)
        assert "my-tools/subhelper.py" in found, found
        assert "other-files/unrelated.py" not in found


def test_papermill_with_a_computed_path_or_cwd_gets_the_conservative_rule(tmp_path: Path):
    for i, cell in enumerate(('import papermill as pm\npm.execute_notebook(NAME, "out.ipynb")',
                              'import papermill as pm\npm.execute_notebook("my-tools/sub.ipynb", "o", cwd=D)')):
        found = targets(_with_sub(tmp_path / str(i), cell))
        assert found.get("other-files/unrelated.py", "").startswith("any project module"), (cell, found)
        assert SUB in found


def test_nbformat_read_then_executed_is_a_run(tmp_path: Path):
    """nbclient / ExecutePreprocessor run a notebook read by a literal path (also `with open(P) as
    f`); a computed one: the conservative rule; without an executor, a read runs nothing."""
    literal = ('import nbformat\nfrom nbconvert.preprocessors import ExecutePreprocessor\n'
               'with open("my-tools/sub.ipynb") as f:\n    nb = nbformat.read(f, as_version=4)\n'
               'ExecutePreprocessor().preprocess(nb)')
    found = targets(_with_sub(tmp_path / "a", literal))
    assert found.get(SUB) == "run by nb/a.ipynb" and "other-files/unrelated.py" not in found, found
    client = 'import nbformat as nbf\nfrom nbclient import NotebookClient\nNotebookClient(nbf.read(P, 4)).execute()'
    found = targets(_with_sub(tmp_path / "b", client))
    assert found.get("other-files/unrelated.py", "").startswith("any project module"), found
    plain = 'import nbformat\nnb = nbformat.read("my-tools/sub.ipynb", 4)\nprint(len(nb.cells))'
    assert SUB not in targets(_with_sub(tmp_path / "c", plain))
