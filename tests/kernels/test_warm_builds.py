"""Warm kernels in real builds: serial, ``-j 2``, ``preload = false``; the example's outputs are
the same with and without preloading."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import KERNEL, copy_example, run_cli, write_nb

pytestmark = pytest.mark.integration

# the kernel's parent: the template (python -m nbgov.adapters.kernels._forkserver) or the build
PARENT = ("import os, json\nfrom pathlib import Path\n"
          "parent = Path(f'/proc/{os.getppid()}/cmdline').read_bytes().replace(b'\\0', b' ').decode()\n"
          "Path(product['data']).parent.mkdir(parents=True, exist_ok=True)\n"
          "from ipykernel.connect import get_connection_file\n"
          "info = json.loads(Path(get_connection_file()).read_text())\n"
          "Path(product['data']).write_text(json.dumps({'forked': '_forkserver' in parent, 'pid': os.getpid(),\n"
          "    'transport': info['transport'], 'ip': info['ip'],\n"
          "    'mode': oct(os.stat(os.path.dirname(info['ip'])).st_mode & 0o777)}))")


def _project(root: Path, n: int, toml: str = "") -> Path:
    spec = ["tasks:"]
    for i in range(n):
        cells = [{"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]},
                  "source": "upstream = None\nproduct = None", "outputs": [], "execution_count": None},
                 {"cell_type": "code", "id": "c", "metadata": {}, "source": PARENT, "outputs": [],
                  "execution_count": None}]
        write_nb(root / f"notebooks/t{i}.ipynb", {"cells": cells, "metadata": KERNEL, "nbformat": 4,
                                                  "nbformat_minor": 5})
        spec += [f"  - source: notebooks/t{i}.ipynb", "    product:", f"      nb: products/t{i}.ipynb",
                 f"      data: products/t{i}.json"]
    (root / "pipeline.yaml").write_text("\n".join(spec) + "\n")
    (root / "nbgov.toml").write_text(f'experiment = "warm"\n{toml}')
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "warm"], check=True)
    return root


def _kernels(root: Path, n: int) -> list[dict]:
    return [json.loads((root / f"products/t{i}.json").read_text()) for i in range(n)]


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_build_tasks_run_on_kernels_forked_from_the_template(git_repo: Path, jobs: list[str]):
    root = _project(git_repo, 3)
    proc = run_cli(root, "build", "-q", *jobs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kernels = _kernels(root, 3)
    assert all(k["forked"] for k in kernels), kernels
    assert len({k["pid"] for k in kernels}) == 3
    assert "warm kernels" not in proc.stderr  # no fallback was needed
    _on_private_sockets(kernels)


def _on_private_sockets(kernels: list[dict]) -> None:
    """Each kernel listened on Unix sockets of its own in one 0700 folder, gone after the build: no
    TCP port another process could take between its choice and the kernel's bind (a fault
    campaign's build printed a heartbeat traceback, "Address already in use")."""
    assert {k["transport"] for k in kernels} == {"ipc"}, kernels
    assert len({k["ip"] for k in kernels}) == len(kernels)
    folders = {Path(k["ip"]).parent for k in kernels}
    assert len(folders) == 1 and {k["mode"] for k in kernels} == {"0o700"}, kernels
    assert not folders.pop().exists()


def test_preload_false_starts_kernels_normally(git_repo: Path):
    root = _project(git_repo, 2, "[execution]\npreload = false\n")
    proc = run_cli(root, "build", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    kernels = _kernels(root, 2)
    assert not any(k["forked"] for k in kernels)
    _on_private_sockets(kernels)


def test_example_outputs_are_the_same_with_and_without_preload(tmp_path: Path):
    results = {}
    for mode in ("warm", "cold"):
        root = tmp_path / mode / "project"  # same path length: the monitor report holds the path
        root.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
        for key, value in (("user.name", "T"), ("user.email", "t@example.com"), ("commit.gpgsign", "false")):
            subprocess.run(["git", "-C", str(root), "config", key, value], check=True)
        copy_example(root)
        if mode == "cold":
            text = (root / "nbgov.toml").read_text().replace("[execution]\n", "[execution]\npreload = false\n")
            (root / "nbgov.toml").write_text(text)
        proc = run_cli(root, "build", "-q", timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        products = root / "products"
        metrics = json.loads((products / "metrics.json").read_text())
        metrics = {k: v for k, v in metrics.items() if "latency" not in k and "time" not in k}
        results[mode] = {
            # data products; lineage records, the registered model and the monitor report carry
            # run ids and times
            "files": {p.name: p.read_bytes() for p in products.glob("*")
                      if p.suffix in (".csv", ".json") and not p.name.endswith(".lineage.json")
                      and p.name not in ("metrics.json", "registered_model.json", "monitor.json")},
            "metrics": metrics,
            "outputs": {p.stem: _text_outputs(p) for p in products.glob("*.ipynb")},
        }
    assert results["warm"]["files"].keys() == results["cold"]["files"].keys() and results["warm"]["files"]
    assert results["warm"] == results["cold"]


def _text_outputs(path: Path) -> list[str]:
    """Every stream and text/plain output of a notebook, except those that show times or ids,
    and warnings printed while importing a module: a preloaded module was imported in the
    template, so its import-time warning went to the build's stderr once (docs/concepts/warm-kernels.md)."""
    out = []
    for cell in json.loads(path.read_text())["cells"]:
        for o in cell.get("outputs", []):
            text = "".join(o.get("text", "")) or "".join(o.get("data", {}).get("text/plain", ""))
            if o.get("name") == "stderr" and "Warning: " in text:
                continue
            if text and not any(w in text for w in ("latency", "run_id", "seconds", "Registered", "version")):
                out.append(text)
    return out
