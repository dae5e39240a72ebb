"""User text in exported workflows is never engine template code (issue 23, item 9): Airflow
renders ``bash_command`` and ``cwd`` with Jinja, so nbgov escapes ``{{``, ``{%`` and ``{#`` there
(checked with Jinja itself); Argo and Kubeflow substitute ``{{...}}`` with no common escape, so
an export holding it is refused; environment names are simple names."""

from __future__ import annotations

import ast
import shlex

import jinja2
import pytest

from nbgov.core.config import load_config
from nbgov.core.errors import ConfigError
from nbgov.services.export import airflow, argo, kubeflow
from nbgov.services.export.plan import ExportPlan, ExportTask

NASTY = ["{{ 7*7 }}", "{% if true %}T{% endif %}", "{# hidden #}", "{{ ''.__class__ }}", "{{{{x}}}}"]


def plan(workdir: str, task: str = "train", environment: str | None = "prod") -> ExportPlan:
    return ExportPlan(name="demo", tasks=[ExportTask("ingest", []), ExportTask(task, ["ingest"])],
                      environment=environment, workdir=workdir, project_root="/unused")


def _templated_fields(text: str) -> dict[str, str]:
    """bash_command and cwd values of the DAG file (string literals, PROJECT resolved)."""
    tree = ast.parse(text)
    project = next(n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "PROJECT")
    out = {"cwd": project}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "bash_command":
            out[f"bash_command#{len(out)}"] = node.value.value
    return out


@pytest.mark.parametrize("nasty", NASTY)
def test_airflow_renders_user_text_back_as_written(nasty):
    workdir, task = f"/srv/{nasty}/project", f"t{nasty}"
    text = airflow.render(plan(workdir, task))
    fields = _templated_fields(text)
    assert len(fields) == 5  # cwd, open, close, two tasks
    env = jinja2.Environment()  # what Airflow renders templated fields with
    rendered = {k: env.from_string(v).render(run_id="RUN") for k, v in fields.items()}
    assert rendered["cwd"] == workdir
    commands = [v for k, v in rendered.items() if k.startswith("bash_command")]
    assert shlex.join(["nbgov", "build", task, "--build-id", "RUN", "-q", "--environment", "prod"]).replace(
        "RUN", "'RUN'") in commands, commands
    assert not any("49" in c for c in rendered.values())


@pytest.mark.parametrize("engine", [argo.workflow, kubeflow.render], ids=["argo", "kubeflow"])
@pytest.mark.parametrize("where", ["workdir", "task"])
def test_argo_and_kubeflow_refuse_their_template_syntax(engine, where):
    nasty = "{{=sprig.env('AWS_SECRET_ACCESS_KEY')}}"
    bad = plan(nasty, "train") if where == "workdir" else plan("/project", f"t{nasty}")
    with pytest.raises(ConfigError, match="template syntax"):
        engine(bad)
    engine(plan("/project"))  # plain text passes


@pytest.mark.parametrize("name", ["p{{ 7*7 }}", "a b", "x;rm -rf /", "-e", ""])
def test_environment_names_are_simple_names(tmp_path, name):
    quoted = name.replace('"', '\\"')
    (tmp_path / "nbgov.toml").write_text(f'[environments."{quoted}"]\nrequire_approved = true\n')
    config = load_config(tmp_path)
    if not name:
        assert config.env_settings(name) == {}  # no environment asked for
        return
    with pytest.raises(ConfigError, match="not a simple name"):
        config.env_settings(name)


def test_an_ordinary_environment_name_passes(tmp_path):
    (tmp_path / "nbgov.toml").write_text('[environments."prod-2.eu_west"]\nrequire_approved = true\n')
    assert load_config(tmp_path).env_settings("prod-2.eu_west") == {"require_approved": True}


def test_a_task_named_like_an_option_is_not_exported():
    # every engine runs `nbgov build NAME ...`: --no-require-approved would turn the gate off
    with pytest.raises(ConfigError, match="starts with '-'"):
        plan("/project", "--no-require-approved")


@pytest.mark.parametrize("nasty", NASTY)
def test_a_repository_address_is_user_text_too(nasty):
    # by commit (issue 28): the repository the tasks fetch from is in every command
    repository = f"https://git.example.com/{nasty}.git"
    by_commit = ExportPlan(name="demo", tasks=[ExportTask("ingest", [])], project_root="/unused",
                           commit="a" * 40, repository=repository)
    tree = ast.parse(airflow.render(by_commit))
    commands = [jinja2.Environment().from_string(n.value.value).render(run_id="RUN") for n in ast.walk(tree)
                if isinstance(n, ast.keyword) and n.arg == "bash_command"]
    assert len(commands) == 3 and all(shlex.split(c)[-4:] == ["--commit", "a" * 40, "--repository", repository]
                                      for c in commands), commands
    if "{{" in nasty:
        for engine in (argo.workflow, kubeflow.render):
            with pytest.raises(ConfigError, match="the repository holds"):
                engine(by_commit)
