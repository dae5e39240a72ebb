"""Generated projects the benchmarks run on: trivial notebook pipelines, big notebooks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


def code_cell(cid: str, source: str, tags: list[str] | None = None) -> dict:
    """An unexecuted nbformat 4.5 code cell."""
    return {
        "cell_type": "code",
        "id": cid,
        "metadata": {"tags": tags} if tags else {},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def trivial_notebook(upstream: list[str] | None) -> dict:
    """A task notebook that does next to nothing: parameters, one sum, one print."""
    up = repr(upstream) if upstream else "None"
    return {
        "cells": [
            code_cell("p", f"upstream = {up}\nproduct = None", ["parameters"]),
            code_cell("c1", "x = sum(range(1000))\nprint(x)"),
        ],
        "metadata": KERNEL,
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def pipeline_project(root: Path, n_tasks: int, linear: bool, nbgov: bool = True) -> Path:
    """Write ``n_tasks`` trivial notebook tasks and a pipeline.yaml into ``root``.

    Args:
        linear: each task reads its predecessor (a chain); otherwise all are independent.
        nbgov: also write nbgov.toml (tracking into ``root/mlflow.db``); plain Ploomber
            projects get only pipeline.yaml, with Ploomber's default settings.
    """
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    lines = ["tasks:"]
    for i in range(n_tasks):
        name = f"t{i:02d}"
        upstream = [f"t{i - 1:02d}"] if linear and i else None
        (root / "notebooks" / f"{name}.ipynb").write_text(
            json.dumps(trivial_notebook(upstream), indent=1)
        )
        lines += [f"  - source: notebooks/{name}.ipynb", f"    product: products/{name}.ipynb"]
    (root / "pipeline.yaml").write_text("\n".join(lines) + "\n")
    if nbgov:
        (root / "nbgov.toml").write_text('pipeline = "pipeline.yaml"\nexperiment = "bench"\n')
    return root


def git_init(root: Path) -> None:
    """Make ``root`` a git repository with one commit of everything (lineage records the commit)."""

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.name", "Bench Runner")
    git("config", "user.email", "bench@example.com")
    git("config", "commit.gpgsign", "false")
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    git("add", "-A")
    git("commit", "-q", "-m", "generated")
