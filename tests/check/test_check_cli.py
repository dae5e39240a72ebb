"""The real ``nbgov check`` command: output formats, exit codes, --fix, start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbformat

import nbgov.core.checks


def test_text_output_and_exit_code_1(make_project, run_cli):
    root = make_project("secrets--source.ipynb", "clean--task.ipynb")
    proc = run_cli(root, "check")
    assert proc.returncode == 1, proc.stderr
    first = proc.stdout.splitlines()[0]
    # path:cell:line RULE [name] message, cells counted from 1
    assert first.startswith(
        "notebooks/secrets--source.ipynb:2:2 NBG501 [secret-in-source] AWS access key id"
    )
    assert "5 findings in 2 files checked" in proc.stdout
    assert "how to fix:\n  NBG501: read it from an environment variable" in proc.stdout


def test_clean_project_exits_0(make_project, run_cli):
    root = make_project("clean--task.ipynb")
    proc = run_cli(root, "check", "notebooks/clean--task.ipynb")
    assert (proc.returncode, proc.stdout.strip()) == (0, "all clean: 1 file checked")


def test_usage_and_config_errors_exit_2_without_traceback(make_project, run_cli):
    root = make_project("clean--task.ipynb", config='[check]\nselect = ["NBG999"]\n')
    proc = run_cli(root, "check")
    assert proc.returncode == 2
    assert "unknown rule 'NBG999'" in proc.stderr and "Traceback" not in proc.stderr
    root.joinpath("nbgov.toml").write_text("")
    missing = run_cli(root, "check", "notebooks/nope.ipynb")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad_option = run_cli(root, "check", "--format", "xml")
    assert bad_option.returncode == 2
    assert "'xml' is not one of" in bad_option.stderr and "Traceback" not in bad_option.stderr


SCHEMA = Path(nbgov.core.checks.__file__).parent / "check-report.v1.json"


def test_json_format(make_project, run_cli):
    root = make_project("paths--absolute.ipynb", "secrets--output.ipynb", "invalid--json.ipynb")
    proc = run_cli(root, "check", "--format", "json")
    assert proc.returncode == 1, proc.stderr  # findings: exit 1 whatever the format
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    doc["findings"] = [f for f in doc["findings"] if f["path"].endswith("paths--absolute.ipynb")]
    assert doc["version"] == 1 and doc["summary"]["files"] == 3
    first = doc["findings"][0]
    assert (first["rule"], first["name"], first["cell"], first["cell_index"], first["line"]) == (
        "NBG401",
        "absolute-path",
        2,
        1,
        2,
    )
    assert first["hint"]


def test_sarif_format_points_at_the_raw_file_line(make_project, run_cli):
    root = make_project("secrets--source.ipynb")
    proc = run_cli(root, "check", "--format", "sarif", "--select", "NBG501")
    assert proc.returncode == 1, proc.stderr
    log = json.loads(proc.stdout)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    result = run["results"][0]
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "NBG501"
    assert result["properties"] == {"cell": 2, "cellLine": 2}
    region = result["locations"][0]["physicalLocation"]["region"]["startLine"]
    raw = (root / "notebooks" / "secrets--source.ipynb").read_text().splitlines()
    # the annotation lands on the JSON line holding that source line
    assert "aws_access_key_id" in raw[region - 1]


def test_github_format(make_project, run_cli):
    root = make_project("paths--absolute.ipynb")
    proc = run_cli(root, "check", "--format", "github")
    assert proc.returncode == 1, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("::error file=notebooks/paths--absolute.ipynb,line=")
    assert "title=NBG401 absolute-path::cell 2, line 2: home-directory path" in first
    line = int(first.split("line=")[1].split(",")[0])
    raw = (root / "notebooks" / "paths--absolute.ipynb").read_text().splitlines()
    assert "/home/ada/projects" in raw[line - 1]


def test_fix_strips_outputs_and_metadata_atomically(make_project, run_cli):
    root = make_project(
        "outputs--committed.ipynb", "secrets--output.ipynb", config='[check]\nkernel = "python3"\n'
    )
    before = (root / "notebooks" / "outputs--committed.ipynb").read_text()
    proc = run_cli(root, "check", "--fix")
    # the secrets in outputs went with the outputs: nothing is left to report
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fixed" in proc.stdout
    nb = nbformat.read(root / "notebooks" / "outputs--committed.ipynb", as_version=4)
    nbformat.validate(nb)
    assert all(
        not c.get("outputs") and c.get("execution_count") is None
        for c in nb.cells
        if c.cell_type == "code"
    )
    assert "widgets" not in nb.metadata and "scrolled" not in nb.cells[1].metadata
    # sources and the parameters tag are untouched
    old = json.loads(before)
    assert [c.source for c in nb.cells] == ["".join(c["source"]) for c in old["cells"]]
    assert not list((root / "notebooks").glob(".*.tmp"))
    again = run_cli(root, "check")
    assert (again.returncode, again.stdout.strip()) == (0, "all clean: 2 files checked")


def test_fix_leaves_what_it_cannot_fix(make_project, run_cli):
    root = make_project("secrets--source.ipynb", "kernel--missing.ipynb")
    before = (root / "notebooks" / "secrets--source.ipynb").read_bytes()
    proc = run_cli(root, "check", "--fix")
    assert proc.returncode == 1
    # no kernel configured: nothing safe to write for the kernel; secrets need a person
    assert "NBG301" in proc.stdout and "NBG501" in proc.stdout
    assert (root / "notebooks" / "secrets--source.ipynb").read_bytes() == before


def test_list_rules(make_project, run_cli):
    root = make_project()
    proc = run_cli(root, "check", "--list-rules")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any(line.startswith("NBG701") and " off " in line for line in lines)
    assert any(line.startswith("NBG201") and " fix " in line for line in lines)


def test_check_stays_light(make_project):
    """The check path imports no heavy tool (start-up time counts in pre-commit)."""
    root = make_project("clean--task.ipynb", "secrets--output.ipynb")
    code = (
        "import sys\n"
        "from nbgov.cli import main\n"
        "try:\n"
        "    main(['check', '--project', sys.argv[1]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ['nbformat', 'jsonschema', 'mlflow', 'ploomber', 'papermill', 'nbdime',\n"
        "         'jupytext', 'yaml', 'tornado', 'pandas']\n"
        "print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=60
    )
    assert proc.stderr.strip() == "", proc.stderr


def test_no_yaml_import_when_no_rule_needs_the_pipeline(make_project, task_spec):
    from nbgov.adapters.ploomber import TaskInfo
    from nbgov.core.config import load_config
    from nbgov.services.pipeline.plan import write_plan

    root = make_project("clean--task.ipynb", pipeline=task_spec("clean--task.ipynb"))
    # which files are tasks comes from the build plan while it holds (else from the spec)
    source = root / "notebooks/clean--task.ipynb"
    write_plan(load_config(root), [TaskInfo("clean--task", source, {"nb": root / "products/x.ipynb"},
                                            {}, [], notebook_product=root / "products/x.ipynb")])
    code = (
        "import sys\n"
        "from nbgov.services.check.engine import run_check\n"
        "run_check(root=sys.argv[1], plugins=False, select=['NBG5'])\n"
        "print('yaml' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "False"


def test_fix_gives_cells_new_ids(make_project, run_cli):
    root = make_project("invalid--no-ids.ipynb", "kernel--missing.ipynb")
    proc = run_cli(root, "check", "--select", "NBG001,NBG301")
    assert proc.returncode == 1, proc.stderr
    # three missing ids are fixable; the missing kernel is not (no [check] kernel)
    assert "4 findings in 2 files checked (3 fixable with --fix)" in proc.stdout
    fixed = run_cli(root, "check", "--fix", "--select", "NBG001")
    assert fixed.returncode == 0, fixed.stdout
    assert "fixed" in fixed.stdout
    nb = nbformat.read(root / "notebooks" / "invalid--no-ids.ipynb", as_version=4)
    nbformat.validate(nb)
    assert len({c.id for c in nb.cells}) == 3
