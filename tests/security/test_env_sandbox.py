"""Attack 1 of issue 13: code ran through Jinja in ``--env`` values and in env.yaml.

The payload writes a marker file through ``os.popen`` reached by an attribute walk from a string;
each test asserts the marker was never written and the command said why (exit 2, file + key).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.build.conftest import make_tiny, run_cli


def payload(name: str, marker: Path) -> str:
    return ("{% for c in " + name + ".__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == '_wrap_close' %}"
            "{{ c.__init__.__globals__['popen']('touch " + str(marker) + "').read() }}{% endif %}{% endfor %}")


pytestmark = pytest.mark.integration


def test_env_option_value_is_literal_data(git_repo: Path, tmp_path: Path) -> None:
    """``nbgov build --env token=<payload>``: the task gets the payload as a string, nothing runs."""
    root = make_tiny(git_repo)
    marker = tmp_path / "pwned-env-option"
    evil = payload("here", marker)
    result = run_cli(root, "build", "a", "--env", f"token={evil}", "--json")
    assert not marker.exists(), "a --env value was rendered as a template"
    assert result.returncode == 0, result.stderr
    executed = json.loads((root / "products/a.ipynb").read_text())
    injected = "".join(next(c["source"] for c in executed["cells"] if "injected-parameters" in
                            c["metadata"].get("tags", [])))
    assert "__subclasses__" in injected  # the literal text reached the notebook as data


def test_env_yaml_attribute_walk_is_refused(git_repo: Path, tmp_path: Path) -> None:
    """A payload in env.yaml: exit 2 naming env.yaml and the key; the command never runs."""
    root = make_tiny(git_repo)
    marker = tmp_path / "pwned-env-yaml"
    (root / "env.yaml").write_text(f"token: \"{payload('here', marker)}\"\n")
    result = run_cli(root, "build", "a")
    assert not marker.exists(), "env.yaml was rendered outside a sandbox"
    assert result.returncode == 2, result.stderr
    assert "env.yaml" in result.stderr and "'token'" in result.stderr and "sandbox" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_yaml_cycler_globals_is_refused(git_repo: Path) -> None:
    root = make_tiny(git_repo)
    (root / "env.yaml").write_text("token: \"{{ cycler.__init__.__globals__ }}\"\n")
    result = run_cli(root, "status")
    assert result.returncode == 2, result.stderr + result.stdout
    assert "env.yaml" in result.stderr and "'token'" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_yaml_placeholders_still_render(git_repo: Path) -> None:
    """The sandbox keeps Ploomber's placeholders: {{here}} and earlier keys."""
    from nbgov.adapters.ploomber.envrender import render_env

    root = make_tiny(git_repo)
    (root / "env.yaml").write_text("base: \"{{here}}/data\"\ntoken: \"{{base}}/t\"\nn: '7'\n")
    values = render_env(root / "env.yaml", {}, {"here": str(root)})
    assert values == {"base": f"{root}/data", "token": f"{root}/data/t", "n": 7}
    literal = render_env(root / "env.yaml", {"token": "{{ base }}"}, {"here": str(root)})
    assert literal["token"] == "{{ base }}"


def test_pipeline_yaml_placeholder_walk_is_sandboxed(git_repo: Path, tmp_path: Path) -> None:
    """pipeline.yaml placeholders render in the same sandbox."""
    root = make_tiny(git_repo)
    marker = tmp_path / "pwned-spec"
    spec = (root / "pipeline.yaml").read_text().replace('"{{token}}"', '"' + payload("token", marker) + '"')
    (root / "pipeline.yaml").write_text(spec)
    result = run_cli(root, "status")
    assert not marker.exists(), "pipeline.yaml placeholders were rendered outside a sandbox"
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
