"""environment.yml must declare exactly the package's runtime dependencies."""

from __future__ import annotations

import tomllib

import yaml

from .conftest import REPO


def _normalise(req: str) -> str:
    return req.replace(" ", "").lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(map(_normalise, pip)) == sorted(map(_normalise, project["dependencies"]))
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    # one supported Python range, stated once: conda follows pyproject's requires-python
    assert python.split("#")[0].strip() == "python" + project["requires-python"]
    assert project["requires-python"] == ">=3.11"  # tomllib
