"""The review closure (docs/security.md, R4) against the tenth attack round's notebook runners,
statically (``review_targets`` on a project in a temp folder): ``python -m papermill NB``,
runners referenced outside a call, ``jupytext.read`` / ``nbformat.reads`` fed to an executor,
nbconvert exporters enabled to execute by configuration."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.build.conftest import notebook, write_nb
from tests.review.test_review_closure_r9 import SUB, _with_sub
from tests.review.test_review_closure_scan import targets

from nbgov.services.review.imports_scan import scan_file

SWEPT = "other-files/unrelated.py"


def _swept(found: dict[str, str]) -> bool:
    return found.get(SWEPT, "").startswith("any project module")


def test_python_m_module_runs_its_notebook_argument(tmp_path: Path):
    """02: `[sys.executable, "-m", "papermill", "my-tools/sub.ipynb", out]`: the notebook is a run
    (a target, and what it imports); a computed argument after `-m MOD`: the conservative rule."""
    cell = ('import subprocess, sys\n'
            'subprocess.run([sys.executable, "-m", "papermill", "my-tools/sub.ipynb", "/tmp/o.ipynb"])')
    found = targets(_with_sub(tmp_path / "a", cell))
    assert found.get(SUB) == "run by nb/a.ipynb" and "my-tools/subhelper.py" in found, found
    assert not _swept(found), found
    computed = 'import subprocess, sys\nsubprocess.run([sys.executable, "-m", "papermill", NB, "o.ipynb"])'
    assert _swept(targets(_with_sub(tmp_path / "b", computed)))


def test_runner_referenced_outside_a_call_gets_the_conservative_rule(tmp_path: Path):
    """03: functools.partial(pm.execute_notebook, ...), map(runpy.run_path, ...), getattr(pm,
    "execute_notebook"), getattr(pm, NAME), vars(runpy), an alias handed on."""
    for i, cell in enumerate((
            'import papermill as pm, functools\nfunctools.partial(pm.execute_notebook, "my-tools/sub.ipynb")("o")',
            'import runpy\nlist(map(runpy.run_path, ["my-tools/x.py"]))',
            'import papermill as pm\ngetattr(pm, "execute_notebook")("my-tools/sub.ipynb", "o")',
            'import papermill as pm\ngetattr(pm, NAME)("my-tools/sub.ipynb", "o")',
            'import runpy\nvars(runpy)["run_path"]("x.py")',
            'from papermill import execute_notebook as e\nimport functools\nfunctools.partial(e, "a")()',
            'import papermill as pm\nf = pm.execute_notebook\ng = [f]\ng[0]("my-tools/sub.ipynb", "o")')):
        assert _swept(targets(_with_sub(tmp_path / str(i), cell))), cell


def test_importing_papermill_or_calling_it_literally_does_not_sweep(tmp_path: Path):
    """False positives stay bounded: a notebook that imports papermill (or calls it with a literal
    path) is not swept."""
    for i, cell in enumerate(('import papermill as pm\nprint(1)',
                              'import papermill as pm\npm.execute_notebook("my-tools/sub.ipynb", "o.ipynb")')):
        assert not _swept(targets(_with_sub(tmp_path / str(i), cell))), cell


def test_notebooks_fed_to_an_executor_are_runs_or_swept(tmp_path: Path):
    """04, 12: jupytext.read(LITERAL) + ExecutePreprocessor is a run; nbformat.reads(text),
    nbclient.execute(jupytext.read(NAME)) and an executor with no read: the conservative rule."""
    literal = ('import jupytext\nfrom nbconvert.preprocessors import ExecutePreprocessor\n'
               'nb = jupytext.read("my-tools/sub.ipynb")\nExecutePreprocessor().preprocess(nb)')
    found = targets(_with_sub(tmp_path / "a", literal))
    assert found.get(SUB) == "run by nb/a.ipynb" and not _swept(found), found
    for i, cell in enumerate((
            'import nbformat\nfrom pathlib import Path\nfrom nbclient import NotebookClient\n'
            'NotebookClient(nbformat.reads(Path("my-tools/sub.ipynb").read_text(), 4)).execute()',
            'import jupytext, nbclient\nnbclient.execute(jupytext.read(NAME))',
            'from nbclient import NotebookClient\ndef run(nb):\n    NotebookClient(nb).execute()')):
        assert _swept(targets(_with_sub(tmp_path / f"b{i}", cell))), cell


def test_exporter_enabled_by_config_runs_its_file(tmp_path: Path):
    """08: Config({"ExecutePreprocessor": {"enabled": True}}) + from_filename(LITERAL) is a run;
    a computed path: the conservative rule."""
    literal = ('import nbconvert\nfrom traitlets.config import Config\n'
               'cfg = Config({"ExecutePreprocessor": {"enabled": True}})\n'
               'nbconvert.NotebookExporter(config=cfg).from_filename("my-tools/sub.ipynb")')
    found = targets(_with_sub(tmp_path / "a", literal))
    assert found.get(SUB) == "run by nb/a.ipynb" and not _swept(found), found
    assert _swept(targets(_with_sub(tmp_path / "b", literal.replace('"my-tools/sub.ipynb"', "P"))))


_PATH = st.sampled_from(['"sub.ipynb"', "P", 'f"{P}.ipynb"'])
_SPELLING = st.sampled_from([
    "import papermill as pm\npm.execute_notebook({p}, 'o')",
    "import papermill as pm, functools\nfunctools.partial(pm.execute_notebook, {p})('o')",
    "from papermill import execute_notebook as x\nlist(map(x, [{p}], ['o']))",
    "import papermill as pm\ngetattr(pm, 'execute_notebook')({p}, 'o')",
    "import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'papermill', {p}, 'o'])",
    "import runpy\nrunpy.run_path({p})",
    "import jupytext, nbclient\nnbclient.execute(jupytext.read({p}))",
    "import nbformat\nfrom nbclient import NotebookClient\nNotebookClient(nbformat.reads(open({p}).read())).execute()",
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spelling=_SPELLING, path=_PATH)
def test_a_runner_spelling_either_runs_the_notebook_or_sweeps(tmp_path: Path, spelling: str, path: str):
    """Property: however the notebook is run, with a literal or computed path, the scan records
    it as a run or gives the conservative rule (``why``)."""
    nb = tmp_path / "a.ipynb"
    write_nb(nb, notebook(spelling.format(p=path)))
    found = scan_file(nb, "")
    assert "sub.ipynb" in found.runs or found.why, (spelling, path, found)
