"""What runs is what was reviewed (issue 23, items 1 and 2), with real builds and real kernels:

- a source notebook holding cells tagged ``injected-parameters`` keeps no approval (only the one
  papermill adds to an executed copy is left out of the version), is shown by ``nbgov diff``,
  reported by ``nbgov check`` and refused by the build before any task runs: the hidden cell's
  code never runs;
- a parameter name that is not an identifier (pipeline.yaml ``params``, ``grid``, ``-p``) is
  refused before anything runs: its code never runs and no run is left in the journal.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from nbgov.core.identity import notebook_version

from .conftest import notebook, run_cli, write_nb

pytestmark = pytest.mark.integration
BOB = "Bob Reviewer <bob@example.com>"

SPEC = """
tasks:
  - source: notebooks/a.ipynb
    product: {nb: products/a.ipynb, data: products/a.txt}
    params: {x: 1}
"""
CLEAN = notebook("upstream = None\nproduct = None\nx = 0",
                 "from pathlib import Path\nPath(product['data']).parent.mkdir(exist_ok=True)\n"
                 "Path(product['data']).write_text(str(x))")


def injected(source: str, cid: str) -> dict:
    return {"cell_type": "code", "id": cid, "metadata": {"tags": ["injected-parameters"]},
            "source": source, "outputs": [], "execution_count": None}


def with_hidden_cells(nb: dict, marker: Path) -> dict:
    """``nb`` with two cells tagged injected-parameters after the parameters cell, the second
    one writing ``marker`` (what an attacker hides under an approval)."""
    out = copy.deepcopy(nb)
    out["cells"][1:1] = [injected("x = 1", "i1"),
                         injected(f"open({str(marker)!r}, 'w').write('1')", "i2")]
    return out


def commit(root: Path, message: str) -> None:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", message], check=True)


@pytest.fixture
def gated(git_repo: Path) -> Path:
    """A one-task project whose prod environment requires approvals; notebook approved by Bob."""
    write_nb(git_repo / "notebooks/a.ipynb", CLEAN)
    (git_repo / "pipeline.yaml").write_text(SPEC)
    (git_repo / "nbgov.toml").write_text('experiment = "inj"\n[execution]\ncell_timeout = 20\n'
                                         "[environments.prod]\nrequire_approved = true\n")
    (git_repo / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n.nbgov/journal/\n.nbgov/cache/\n")
    commit(git_repo, "project")
    approved = run_cli(git_repo, "review", "approve", "notebooks/a.ipynb", "pipeline.yaml", "--reviewer", BOB)
    assert approved.returncode == 0, approved.stderr
    commit(git_repo, "approve a")
    return git_repo


def test_version_counts_every_injected_cell_but_papermills_own():
    base = notebook_version(CLEAN)
    one = copy.deepcopy(CLEAN)
    one["cells"].insert(1, injected("x = 5", "i1"))  # what papermill adds to an executed copy
    assert notebook_version(one) == base
    two = with_hidden_cells(CLEAN, Path("/tmp/never"))
    assert notebook_version(two) != base, "a second injected-parameters cell runs: it must count"
    # a code cell hiding behind papermill's error-banner tag runs too (only banners are markdown)
    banner = copy.deepcopy(CLEAN)
    banner["cells"].append({**injected("import os", "e1"), "metadata": {"tags": ["papermill-error-cell-tag"]}})
    assert notebook_version(banner) != base


def test_hidden_injected_cell_loses_the_approval_shows_in_diff_and_check(gated: Path, tmp_path: Path):
    marker = tmp_path / "PWNED"
    write_nb(gated / "notebooks/a.ipynb", with_hidden_cells(CLEAN, marker))
    commit(gated, "sneak a cell in")
    status = run_cli(gated, "review", "status", "--json")
    assert status.returncode in (0, 1), status.stderr
    states = {s["path"]: s["status"] for s in json.loads(status.stdout)}
    assert states["notebooks/a.ipynb"] != "approved", states
    gate = run_cli(gated, "review", "gate")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    diff = run_cli(gated, "diff", "notebooks/a.ipynb")
    assert "PWNED" in diff.stdout, diff.stdout + diff.stderr
    check = run_cli(gated, "check", "notebooks/a.ipynb")
    assert check.returncode == 1 and "NBG104" in check.stdout, check.stdout + check.stderr
    found = [line for line in check.stdout.splitlines() if line.startswith("notebooks/a.ipynb:") and "NBG104" in line]
    assert len(found) == 2, check.stdout  # both cells, each named


def test_prod_build_refuses_a_source_with_injected_cells_before_anything_runs(gated: Path, tmp_path: Path):
    marker = tmp_path / "PWNED"
    write_nb(gated / "notebooks/a.ipynb", with_hidden_cells(CLEAN, marker))
    commit(gated, "sneak a cell in")
    for args in (("build", "--environment", "prod", "-q"), ("build", "-q", "a"), ("build", "-q", "--force")):
        refused = run_cli(gated, *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert "notebooks/a.ipynb" in refused.stderr and "injected-parameters" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert not marker.exists(), f"{args}: the hidden cell ran"
        assert not (gated / "products").exists(), f"{args}: a task ran"


@pytest.mark.parametrize(
    "spec_params, cli",
    [
        ({"params": {"x = 1\nopen('PWNED','w').write('1')\ny": 1}}, ()),
        ({"params": {"x": 1, "class": 2}}, ()),
        ({"grid": {"x": [1], "x=1;open('PWNED','w').write('1');y": [2]}, "name": "a-[[x]]"}, ()),
        ({"params": {"x": 1}}, ("-p", "a.def=1")),
    ],
    ids=["code-in-params-key", "keyword", "code-in-grid-key", "keyword-in-p"],
)
def test_a_parameter_name_that_is_not_an_identifier_is_refused(git_repo: Path, spec_params, cli):
    import yaml

    task = {"source": "notebooks/a.ipynb",
            "product": {"nb": "products/a-[[x]].ipynb" if "grid" in spec_params else "products/a.ipynb"},
            **spec_params}
    write_nb(git_repo / "notebooks/a.ipynb", notebook("upstream = None\nproduct = None\nx = 0", "print(x)"))
    (git_repo / "pipeline.yaml").write_text(yaml.safe_dump({"tasks": [task]}))
    (git_repo / "nbgov.toml").write_text('experiment = "names"\n')
    commit(git_repo, "project")
    refused = run_cli(git_repo, "build", "-q", *cli)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    first = refused.stderr.strip().splitlines()[0]
    assert ("pipeline.yaml" in first and "'a" in first) or cli, refused.stderr
    assert "identifier" in refused.stderr or "keyword" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (git_repo / "notebooks/PWNED").exists() and not (git_repo / "PWNED").exists()
    assert not (git_repo / "products").exists()
    journal = git_repo / ".nbgov/journal"
    assert not journal.exists() or not [p for p in journal.rglob("*.jsonl")], "a run was journaled"
    if not cli:
        check = run_cli(git_repo, "check")
        assert check.returncode == 1 and ("identifier" in check.stdout or "keyword" in check.stdout), check.stdout


def test_ploomber_build_with_nbgov_hooks_refuses_hidden_cells_too(gated: Path, tmp_path: Path):
    import os
    import sys

    marker = tmp_path / "PWNED"
    write_nb(gated / "notebooks/a.ipynb", with_hidden_cells(CLEAN, marker))
    (gated / "pipeline.yaml").write_text("on_render: nbgov.hooks.on_render\non_finish: nbgov.hooks.on_finish\n"
                                         "on_failure: nbgov.hooks.on_failure\n" + SPEC)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PLOOMBER_STATS_ENABLED"] = "false"
    proc = subprocess.run([str(Path(sys.executable).parent / "ploomber"), "build"], cwd=gated,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "injected-parameters" in proc.stderr, proc.stderr[-2000:]
    assert not marker.exists() and not (gated / "products/a.txt").exists()


@pytest.mark.parametrize("where", ["spec", "task", "function"])
def test_prod_build_runs_no_unapproved_render_time_code(gated: Path, tmp_path: Path, where: str):
    """Code that runs while the DAG is rendered (a spec or task ``on_render`` hook, a function
    task's module, imported at load) is gated before the render: refused, it never ran."""
    marker = tmp_path / "PWNED"
    (gated / "hooks.py").write_text(f"open({str(marker)!r}, 'w').write('1')\n\n\ndef hook():\n    pass\n\n\n"
                                    "def fn(product):\n    open(str(product), 'w').write('f')\n")
    if where == "spec":
        spec = "on_render: hooks.hook\n" + SPEC
    elif where == "task":
        spec = SPEC + "    on_render: hooks.hook\n"
    else:
        spec = SPEC + "  - source: hooks.fn\n    product: products/f.txt\n"
    (gated / "pipeline.yaml").write_text(spec)
    commit(gated, "a hook")
    refused = run_cli(gated, "build", "--environment", "prod")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "hooks.py" in refused.stderr and "pipeline.yaml" in refused.stderr, refused.stderr
    assert not marker.exists(), "unapproved render-time code ran before the gate"
    assert "Traceback" not in refused.stderr
    # approved, the same build renders and runs (the gate is not simply closed)
    ok = run_cli(gated, "review", "approve", "hooks.py", "pipeline.yaml", "--reviewer", BOB)
    assert ok.returncode == 0, ok.stderr
    built = run_cli(gated, "build", "--environment", "prod")
    assert built.returncode == 0, built.stdout + built.stderr
    assert marker.exists()


def test_a_parameters_cell_is_read_as_literals_never_evaluated(tmp_path: Path):
    """Ploomber eval()s ``upstream = ...`` (and ``product``) of every notebook's parameters cell
    while the pipeline loads, in nbgov's process and before the approval gate: nbgov reads them
    as literals only, so an unreviewed edit there runs nothing (sixth review, item 18; R4)."""
    from nbgov.adapters.ploomber import Pipeline
    from nbgov.core.errors import PipelineError

    marker = tmp_path / "PWNED"
    root = tmp_path / "p"
    evil = f"upstream = __import__('pathlib').Path({str(marker)!r}).write_text('ran') and None\nproduct = None\nx = 0"
    write_nb(root / "notebooks/a.ipynb", notebook(evil, "print(x)"))
    (root / "pipeline.yaml").write_text(SPEC)
    with pytest.raises(PipelineError, match="must be a literal"):
        Pipeline(root / "pipeline.yaml")
    assert not marker.exists(), "code in a parameters cell ran while the pipeline loaded"
    # the literals Ploomber documents still load
    write_nb(root / "notebooks/a.ipynb", notebook("upstream = None\nproduct = {'nb': 'x.ipynb'}\nx = 0", "print(x)"))
    assert [t.name for t in Pipeline(root / "pipeline.yaml").tasks()] == ["a"]
