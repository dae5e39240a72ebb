"""What a notebook task's ``executor_params`` may ask of its kernel in a governed build (docs/
security.md, R4; ninth attack round, 01 and 11): allowed keys reach the kernel, ``cwd`` is
followed from the task *as loaded* (a ``location:`` factory's too), anything else is refused by
the gate and dropped with a warning elsewhere; a pool miss starts the kernel as the pool would."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.build.conftest import notebook, write_nb

from nbgov.core.config import load_config
from nbgov.core.errors import GateError

pytestmark = pytest.mark.integration

GOVERNED = 'experiment = "kopts"\n[environments.prod]\nrequire_approved = true\n'
# the notebook writes where its kernel started and which helper it imported into its product
CELL = ("import helper, os\nfrom pathlib import Path\n"
        "Path(product['data']).write_text(f'{os.getcwd()}|{helper.VALUE}')")


def _project(root: Path, spec: str, files: dict[str, str] | None = None) -> Path:
    (root / "pipeline.yaml").write_text(spec)
    (root / "nbgov.toml").write_text(GOVERNED)
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    write_nb(root / "nb.ipynb", notebook("upstream = None\nproduct = None", CELL))
    for rel, text in {"helper.py": "VALUE = 'root'\n", ".hid/helper.py": "VALUE = 'hid'\n", **(files or {})}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _approve_all(nbgov, git, bob: str, *paths: str) -> None:
    git("add", "-A")
    git("commit", "-q", "-m", "project")
    assert nbgov("review", "approve", "--all-changed", "--reviewer", bob, "-m", "ok").code == 0
    if paths:  # a factory's notebook is only known once the DAG is built
        assert nbgov("review", "approve", *paths, "--reviewer", bob, "-m", "ok").code == 0
    git("add", "-A")
    git("commit", "-q", "-m", "reviews")


RESOURCES = """tasks:
  - source: nb.ipynb
    product: {nb: products/nb.ipynb, data: products/nb.txt}
    executor_params:
      start_timeout: 0
      resources:
        metadata:
          path: "{{here}}/.hid"
"""


def test_resources_are_refused_by_a_governed_build_and_dropped_by_any_other(project, nbgov, git, bob):
    """01: `resources.metadata.path` (nbclient's kernel folder) with `start_timeout: 0` (the pool
    gives up, papermill starts the kernel): a governed build refuses the task, naming the key
    and why, before anything runs; an ungoverned build drops the key with a warning and the
    kernel starts in the build's folder, importing the root's helper, never .hid's. (That build
    gives the kernel time to answer: with `start_timeout: 0` a kernel papermill starts must
    answer at once, which a loaded machine does not; the pool-miss path itself is
    test_a_pool_miss_starts_the_kernel_without_the_options_the_pool_never_gives.)"""
    _project(project, RESOURCES)
    _approve_all(nbgov, git, bob)
    refused = nbgov("build", "--environment", "prod", "-q")
    assert refused.code == 1, refused.err
    assert "task nb: executor_params.resources refused: nbclient takes resources.metadata.path" in refused.err
    assert "hint: remove `resources`" in refused.err
    assert not (project / "products" / "nb.txt").exists(), "nothing may run before the gate"

    spec = project / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("start_timeout: 0", "start_timeout: 120"))
    plain = nbgov("build", "-q", env={"NBGOV_WARM_KERNELS": "1"})
    assert plain.code == 0, plain.err[-2000:]
    assert "warning: task nb: executor_params.resources ignored" in plain.err, plain.err
    folder, value = (project / "products" / "nb.txt").read_text().split("|")
    assert Path(folder).resolve() == project.resolve() and value == "root"


FACTORY = """from pathlib import Path
from ploomber import DAG
from ploomber.products import File
from ploomber.tasks import NotebookRunner

HERE = Path(__file__).parent.resolve()


def make():
    dag = DAG()
    NotebookRunner(HERE / "nb.ipynb", {"nb": File(HERE / "products" / "nb.ipynb"),
                                       "data": File(HERE / "products" / "nb.txt")},
                   dag=dag, name="nb", executor_params={"cwd": CWD})
    return dag
"""


def test_a_factory_built_tasks_kernel_folder_is_gated(project, nbgov, git, bob, tmp_path_factory):
    """11: a `location:` factory gives its NotebookRunner `executor_params={"cwd": ".hid"}`: the
    build's gate reads the folder from the loaded task, so .hid/helper.py (hidden: no import
    from the root names it) edited after approval is refused; once approved the kernel runs
    there. A folder outside the project is refused, naming it."""
    _project(project, "location: factory.make\n", {"factory.py": FACTORY.replace("CWD", 'str(HERE / ".hid")')})
    _approve_all(nbgov, git, bob, "nb.ipynb", ".hid/helper.py")
    (project / ".hid/helper.py").write_text("VALUE = 'edited'\n")
    git("commit", "-qam", "edit the hidden helper")
    refused = nbgov("build", "--environment", "prod", "-q")
    assert refused.code == 1, refused.err
    assert ".hid/helper.py: unreviewed" in refused.err or ".hid/helper.py: stale" in refused.err, refused.err
    assert not (project / "products" / "nb.txt").exists()

    assert nbgov("review", "approve", ".hid/helper.py", "--reviewer", bob, "-m", "ok").code == 0
    built = nbgov("build", "--environment", "prod", "-q")
    assert built.code == 0, built.err[-2000:]
    folder, value = (project / "products" / "nb.txt").read_text().split("|")
    assert Path(folder).resolve() == (project / ".hid").resolve() and value == "edited"

    outside = tmp_path_factory.mktemp("outside")
    (outside / "helper.py").write_text("VALUE = 'outside'\n")
    (project / "factory.py").write_text(FACTORY.replace("CWD", repr(str(outside))))
    assert nbgov("review", "approve", "factory.py", "--reviewer", bob, "-m", "ok").code == 0
    (project / "products" / "nb.txt").unlink()
    away = nbgov("build", "--environment", "prod", "-q", "--force")
    assert away.code == 1, away.err
    assert f"task nb: its kernel's working folder {outside} (executor_params.cwd) is outside the project" in away.err
    assert not (project / "products" / "nb.txt").exists()


def test_a_pool_miss_starts_the_kernel_without_the_options_the_pool_never_gives():
    """`start_timeout: 0` makes the pool's take give up: papermill's own engine then starts the
    kernel, and must get no `resources` (its folder), `extra_arguments` or manager class."""
    from nbgov.adapters.kernels.papermill_engine import prestart_engine

    seen = {}

    class Base:
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            seen.update(kwargs)

    engine = prestart_engine(Base, lambda: None)  # no pool: every take misses
    engine.execute_managed_notebook(None, "python3", start_timeout=0, log_output=True,
                                    resources={"metadata": {"path": "/elsewhere"}}, extra_arguments=["--x"],
                                    kernel_manager_class="evil.Manager")
    assert seen == {"log_output": True, "stdout_file": None, "stderr_file": None, "start_timeout": 0,
                    "execution_timeout": None}


# -- the property: any executor_params either reach a kernel only as allowed, or are refused ----

KEYS = ["log_output", "progress_bar", "start_timeout", "execution_timeout", "kernel_name", "engine_name",
        "request_save_on_cell_execute", "cwd", "resources", "extra_arguments", "kernel_manager_class",
        "parameters", "stdout_file", "allow_errors"]
VALUES = st.one_of(st.booleans(), st.integers(0, 100), st.sampled_from(
    ["python3", "nbclient", "papermill", "embedded", ".hid", "sub", "../outside", "/tmp", "x.Manager"]),
    st.fixed_dictionaries({"metadata": st.fixed_dictionaries({"path": st.sampled_from([".hid", "sub"])})}))


@pytest.fixture(scope="module")
def loaded_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prop")
    _project(root, "tasks:\n  - source: nb.ipynb\n    product: {nb: products/nb.ipynb, data: products/nb.txt}\n",
             {"sub/helper.py": "VALUE = 'sub'\n", "sub/other.py": "X = 1\n"})
    return root


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4))
def test_any_executor_params_reach_the_kernel_only_allowed_or_the_gate_refuses(loaded_root, params, monkeypatch):
    """For any executor_params drawn from allowed, followed and unknown keys: either the gate
    refuses the task, or its kernel gets only allowed keys with values of their type and a
    working folder inside the project whose importable modules are all review targets."""
    from ploomber import DAG
    from ploomber.products import File
    from ploomber.tasks import NotebookRunner

    from nbgov.adapters.ploomber import describe_dag
    from nbgov.adapters.ploomber.kernel_options import FOLLOWED, PAPERMILL_ALLOWED, prepare
    from nbgov.services.build.gate import refuse_kernel_options
    from nbgov.services.review.targets import review_targets

    monkeypatch.chdir(loaded_root)
    dag = DAG()
    try:
        task = NotebookRunner(loaded_root / "nb.ipynb", {"nb": File(loaded_root / "products/nb.ipynb"),
                                                         "data": File(loaded_root / "products/nb.txt")},
                              dag=dag, name="nb", executor_params=dict(params))
    except KeyError:  # Ploomber itself refuses an engine_name other than its executor's
        assert params.get("engine_name") != "papermill"
        return
    prepare(task, {"progress_bar": False})
    info = describe_dag(dag, loaded_root)[0][0]
    config = load_config(loaded_root)
    try:
        refuse_kernel_options(config, [info])
    except GateError:
        return  # refused: nothing runs
    given_ = task.executor_params
    assert set(given_) <= set(PAPERMILL_ALLOWED) | set(FOLLOWED), given_
    assert not any(isinstance(v, dict | list) for v in given_.values()), given_
    folder = Path(given_.get("cwd", os.getcwd())).resolve()
    assert folder.is_relative_to(loaded_root.resolve())
    targets = {t.path for t in review_targets(config, [loaded_root / "nb.ipynb"],
                                              kernel_folders=[info.kernel_folder] if info.kernel_folder else [])}
    for module in folder.glob("*.py"):
        assert module.relative_to(loaded_root.resolve()).as_posix() in targets, (folder, targets)


def test_allowed_keys_keep_their_values(tmp_path: Path):
    """An allowed key reaches papermill as written (parity with Ploomber); a relative `cwd` is
    made absolute against the build's folder (the folder papermill changes to)."""
    from nbgov.adapters.ploomber.kernel_options import screen

    found = screen({"log_output": True, "execution_timeout": 7, "kernel_name": "python3", "cwd": "w"},
                   base=tmp_path)
    assert found.refused == () and found.folder == tmp_path / "w"
    assert [k for k, _ in screen({"engine_name": "embedded", "log_output": "yes", "parameters": {}}).refused] == [
        "engine_name", "log_output", "parameters"]
    assert json.dumps(screen({"cwd": {"a": 1}}).refused[0][0]) == '"cwd"'


def test_review_gate_and_status_name_a_refused_option_of_the_spec(project, nbgov, git, bob):
    """CI fails where the production build would: ``nbgov review gate`` refuses a spec whose
    notebook task gives its kernel a key a governed build refuses (approved or not), and ``review
    status`` warns; allowed keys, a placeholder's value and a script task's params pass."""
    _project(project, RESOURCES.replace("tasks:\n", "tasks:\n  - source: s.py\n    class: ScriptRunner\n"
                                        "    product: products/s.txt\n    executor_params: {anything: 1}\n")
             + "    papermill_params:\n      extra_arguments: ['--IPKernelApp.exec_files=[\"x.py\"]']\n",
             {"s.py": "# script\n"})
    _approve_all(nbgov, git, bob)
    gate = nbgov("review", "gate")
    assert gate.code == 1, gate.out + gate.err
    refused = [line for line in gate.err.splitlines() if "is refused by a governed build" in line]
    assert len(refused) == 2, gate.err
    assert any("`executor_params.resources` of task nb.ipynb" in line for line in refused), refused
    assert any("`papermill_params.extra_arguments` of task nb.ipynb" in line for line in refused), refused
    assert "Traceback" not in gate.err
    status = nbgov("review", "status")
    assert sum("warning:" in line and "refused by a governed build" in line for line in status.err.splitlines()) == 2

    (project / "pipeline.yaml").write_text(
        "tasks:\n  - source: nb.ipynb\n    product: {nb: products/nb.ipynb, data: products/nb.txt}\n"
        "    executor_params: {log_output: true, start_timeout: '{{t}}'}\n")
    (project / "env.yaml").write_text("t: 60\n")
    _approve_all(nbgov, git, bob)
    fine = nbgov("review", "gate")
    assert fine.code == 0, fine.err
