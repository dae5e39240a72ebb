"""What decides whether a Dask worker runs the build's tasks warm, cold or not at all: the facts
of its environment (package versions, Python, its project folder and commit) compared with the
driver's (:func:`compare`, used by :func:`nbgov.adapters.engines.warm.check_workers`). No
third-party import: the same function runs on the driver and, through ``client.run``, on each
worker.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from nbgov.adapters.engines.checkout import head_commit

#: distributions whose versions must match between driver and worker for a warm run
PACKAGES = ("nbgov", "ploomber", "papermill", "distributed", "ipykernel")
#: env var a worker may set: its own checkout of the project (another folder than the driver's)
WORKER_ROOT_VAR = "NBGOV_WORKER_ROOT"


def project_commit(root: str | Path) -> str | None:
    """The git commit checked out at ``root`` (None: not a git checkout)."""
    return head_commit(root)


def environment_facts(root: str, fetching: bool = False) -> dict[str, Any]:
    """What decides whether a task can run warm in this process (driver or worker): package
    versions, Python, the project folder this process uses and its commit (``fetching``: a
    worker without a checkout of its own fetches the build's commit, ``fetch`` is True)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    mine = os.environ.get(WORKER_ROOT_VAR) or root
    if fetching and not os.environ.get(WORKER_ROOT_VAR):
        return {"python": platform.python_version(), "packages": versions, "root": None, "exists": True,
                "commit": None, "fetch": True}
    return {"python": platform.python_version(), "packages": versions, "root": str(Path(mine).resolve()),
            "exists": Path(mine).is_dir(), "commit": project_commit(mine) if Path(mine).is_dir() else None}


def compare(driver: dict[str, Any], worker: dict[str, Any]) -> tuple[str | None, str | None]:
    """(why the worker cannot run the build's tasks at all, why it cannot run them warm).

    A worker at another project commit refuses; one with other package versions, or the project
    in another folder, runs each task as ``nbgov build TASK`` in a subprocess. A worker that
    fetches the build's commit (``fetch``) is checked when it has fetched it (its first task)."""
    if not worker.get("fetch") and not worker["exists"]:
        return f"has no project folder at {worker['root']}", None
    if not worker.get("fetch") and driver["commit"] and worker["commit"] != driver["commit"]:
        return (f"has project version {str(worker['commit'])[:12]} at {worker['root']}, the build is "
                f"{driver['commit'][:12]}"), None
    if worker["python"] != driver["python"]:
        return None, f"Python {worker['python']} (driver {driver['python']})"
    for name, version in driver["packages"].items():
        if worker["packages"].get(name) != version:
            return None, f"{name} {worker['packages'].get(name)} (driver {version})"
    return None, None


def shares_folder(driver: dict[str, Any], worker: dict[str, Any]) -> bool:
    """Whether the worker uses the driver's project folder (else: its own checkout, products
    through storage)."""
    return worker["root"] == driver["root"]
