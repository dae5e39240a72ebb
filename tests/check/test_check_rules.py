"""Each built-in rule on real fixture notebooks, through the check service."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nbgov.core.config import load_config
from nbgov.core.errors import ConfigError
from nbgov.services.check.engine import run_check
from nbgov.services.review.state import record_decision


def where(report, rule: str) -> list[tuple[str, int | None, int | None]]:
    """(file name, 0-based cell, line) of the findings of one rule."""
    return [(f.path.rsplit("/", 1)[-1], f.cell, f.line) for f in report.findings if f.rule == rule]


def test_clean_task_notebook_has_no_findings(make_project, task_spec):
    root = make_project("clean--task.ipynb", pipeline=task_spec("clean--task.ipynb"))
    report = run_check(root=root, plugins=False)
    assert report.files == 1
    assert report.findings == []
    assert report.exit_code == 0


def test_task_without_parameters_cell(make_project, task_spec):
    root = make_project("params--missing.ipynb", pipeline=task_spec("params--missing.ipynb"))
    report = run_check(root=root, plugins=False)
    assert where(report, "NBG101") == [("params--missing.ipynb", None, None)]
    assert report.exit_code == 1


def test_non_task_notebook_needs_no_parameters_cell(make_project, task_spec):
    root = make_project(
        "params--missing.ipynb",
        "clean--task.ipynb",
        config='[check]\nnot-tasks = ["notebooks/params--*"]\n',
        pipeline=task_spec("clean--task.ipynb"),
    )
    report = run_check(root=root, plugins=False)
    assert report.findings == []


def test_second_parameters_cell(make_project):
    root = make_project("params--two.ipynb")
    report = run_check(root=root, plugins=False)
    assert where(report, "NBG102") == [("params--two.ipynb", 2, None)]


def test_parameters_cell_holds_only_literals(make_project):
    root = make_project("params--computed.ipynb", "params--magic.ipynb")
    report = run_check(root=root, plugins=False)
    # import, computed value, value read from the environment, magic; the literals pass
    assert where(report, "NBG103") == [
        ("params--computed.ipynb", 0, 1),
        ("params--computed.ipynb", 0, 4),
        ("params--computed.ipynb", 0, 5),
        ("params--computed.ipynb", 0, 6),
        ("params--magic.ipynb", 0, 1),
    ]


def test_outputs_forbidden_by_default(make_project):
    root = make_project("outputs--committed.ipynb")
    report = run_check(root=root, plugins=False)
    assert where(report, "NBG201") == [("outputs--committed.ipynb", i, None) for i in (1, 2, 3, 4)]
    assert "execution count" in report.findings[-1].message or any(
        "execution count" in f.message for f in report.findings if f.cell == 4
    )


def test_outputs_allowed_checks_execution_order(make_project):
    root = make_project(
        "outputs--out-of-order.ipynb",
        "clean--executed.ipynb",
        config='[check]\noutputs = "allow"\n',
    )
    report = run_check(root=root, plugins=False)
    assert where(report, "NBG201") == []
    assert where(report, "NBG202") == [
        ("outputs--out-of-order.ipynb", 2, None),
        ("outputs--out-of-order.ipynb", 3, None),
    ]
    messages = [f.message for f in report.findings if f.rule == "NBG202"]
    assert "execution count 1 comes after 3" in messages[0]
    assert "no execution count" in messages[1]


def test_outputs_size_limit(make_project):
    root = make_project(
        "outputs--committed.ipynb", config="[check]\noutputs = { max_bytes = 1000 }\n"
    )
    report = run_check(root=root, plugins=False)
    # only the cell with the PNG is over 1000 bytes; small text outputs are allowed
    assert where(report, "NBG201") == [("outputs--committed.ipynb", 3, None)]
    assert (
        "over the 1,000-byte limit"
        in report.findings[[f.rule for f in report.findings].index("NBG201")].message
    )


def test_volatile_metadata(make_project):
    root = make_project("outputs--committed.ipynb")
    report = run_check(root=root, plugins=False)
    assert where(report, "NBG203") == [
        ("outputs--committed.ipynb", None, None),
        ("outputs--committed.ipynb", 1, None),
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("", ["kernel--missing.ipynb"]),
        ('[check]\nkernel = "python3"\n', ["kernel--missing.ipynb", "kernel--other.ipynb"]),
        ('kernel = "conda-env-old-py"\n', ["kernel--missing.ipynb", "clean--task.ipynb"]),
    ],
)
def test_kernelspec(make_project, config, expected):
    root = make_project(
        "kernel--missing.ipynb", "kernel--other.ipynb", "clean--task.ipynb", config=config
    )
    report = run_check(root=root, plugins=False, select=["kernelspec"])
    assert sorted(name for name, _, _ in where(report, "NBG301")) == sorted(expected)


def test_absolute_and_home_paths(make_project):
    root = make_project("paths--absolute.ipynb")
    report = run_check(root=root, plugins=False)
    # not reported: the comment, the relative path, the URL and the API route of cell 1
    assert where(report, "NBG401") == [
        ("paths--absolute.ipynb", 1, 2),
        ("paths--absolute.ipynb", 1, 4),
        ("paths--absolute.ipynb", 1, 5),
        ("paths--absolute.ipynb", 2, 1),
        ("paths--absolute.ipynb", 2, 2),
        ("paths--absolute.ipynb", 3, 2),
    ]


def test_secrets_in_sources_without_look_alikes(make_project):
    root = make_project("secrets--source.ipynb")
    report = run_check(root=root, plugins=False)
    assert where(report, "NBG501") == [
        ("secrets--source.ipynb", 1, 2),
        ("secrets--source.ipynb", 1, 3),
        ("secrets--source.ipynb", 1, 4),
        ("secrets--source.ipynb", 1, 5),
        ("secrets--source.ipynb", 2, 1),
    ]
    kinds = " ".join(f.message for f in report.findings if f.rule == "NBG501")
    for kind in (
        "AWS access key id",
        "GitHub token",
        "password in URL",
        "secret assigned",
        "private key",
    ):
        assert kind in kinds
    # the secret itself is never echoed back
    assert "IOSFODNN7EXAMPLQ" not in kinds and "S3cr" not in kinds and "hunt" not in kinds


def test_secrets_in_outputs_and_tracebacks_not_in_images_or_hashes(make_project):
    root = make_project("secrets--output.ipynb", config='[check]\noutputs = "allow"\n')
    report = run_check(root=root, plugins=False)
    assert where(report, "NBG502") == [
        ("secrets--output.ipynb", 1, None),
        ("secrets--output.ipynb", 2, None),
        ("secrets--output.ipynb", 3, None),
    ]
    messages = [f.message for f in report.findings if f.rule == "NBG502"]
    assert "stdout" in messages[0] and "traceback" in messages[1] and "text/html" in messages[2]


def test_inline_ignores_silence_one_cell(make_project):
    root = make_project("secrets--silenced.ipynb")
    report = run_check(root=root, plugins=False)
    # cells 1-3 are silenced by a comment, by metadata (by rule name), by a bare ignore;
    # cell 4 silences another rule only
    assert where(report, "NBG501") == [("secrets--silenced.ipynb", 4, 1)]
    assert where(report, "NBG401") == []


def test_per_path_ignores_and_selection(make_project):
    config = (
        '[check]\nignore = ["NBG203"]\n'
        '[check.per-path-ignores]\n"notebooks/outputs--*" = ["outputs-committed"]\n'
    )
    root = make_project("outputs--committed.ipynb", "clean--executed.ipynb", config=config)
    report = run_check(root=root, plugins=False)
    assert {(f.path.rsplit("/", 1)[-1], f.rule) for f in report.findings} == {
        ("clean--executed.ipynb", "NBG201")
    }
    # a command-line select replaces the configured one; ignores add up
    only = run_check(root=root, plugins=False, select=["NBG2"], ignore=["NBG201"])
    assert [r.id for r in only.rules] == ["NBG202"]


@pytest.mark.parametrize(
    "config, says, hint",
    [
        ('[check]\nselect = ["NBG999"]\n', "unknown rule 'NBG999'", "known rules: NBG"),
        ('[check]\noutputs = "sometimes"\n', "[check] outputs must be", "max_bytes = 100000"),
        ('[check]\ncolour = "red"\n', "[check] unknown key(s): colour", "known keys:"),
        ('[check.per-path-ignores]\n"x" = ["no-such-rule"]\n', "'no-such-rule'", "known rules: NBG"),
    ],
)
def test_bad_configuration_is_a_config_error(make_project, config, says, hint):
    root = make_project("clean--task.ipynb", config=config)
    with pytest.raises(ConfigError) as err:
        run_check(root=root, plugins=False)
    assert err.value.exit_code == 2
    assert says in err.value.message, err.value.message
    assert hint in (err.value.hint or ""), err.value.hint


def test_pipeline_consistency(make_project):
    pipeline = """\
tasks:
  - source: notebooks/clean--task.ipynb
    product:
      nb: products/clean.ipynb
  - source: notebooks/gone.ipynb
    product: products/gone.ipynb
  - source: notebooks/params--two.ipynb
  - source: notebooks/kernel--other.ipynb
    product:
      data: products/data.csv
  - source: "{{root}}/notebooks/rendered.ipynb"
    product: {nb: products/rendered.ipynb}
"""
    root = make_project(
        "clean--task.ipynb",
        "params--two.ipynb",
        "kernel--other.ipynb",
        "paths--absolute.ipynb",
        pipeline=pipeline,
    )
    report = run_check(root=root, plugins=False, select=["NBG6"])
    assert where(report, "NBG602") == [("pipeline.yaml", None, 5)]
    assert where(report, "NBG603") == [("pipeline.yaml", None, 7), ("pipeline.yaml", None, 8)]
    assert where(report, "NBG604") == [("paths--absolute.ipynb", None, None)]
    # checking one notebook does not repeat the pipeline-wide findings (pre-commit passes files)
    one = run_check([root / "notebooks" / "paths--absolute.ipynb"], root=root, plugins=False)
    assert {f.rule for f in one.findings} == {"NBG401", "NBG604"}
    # naming pipeline.yaml brings them in; it is not read as a notebook
    spec_only = run_check([root / "pipeline.yaml"], root=root, plugins=False)
    assert spec_only.files == 0 and spec_only.notes == []
    assert {f.rule for f in spec_only.findings} == {"NBG602", "NBG603"}


def test_unreadable_pipeline(make_project):
    root = make_project("clean--task.ipynb", pipeline="tasks:\n  - source: [unclosed\n")
    report = run_check(root=root, plugins=False)
    assert [(f.rule, f.path) for f in report.findings] == [("NBG601", "pipeline.yaml")]
    assert "not valid YAML" in report.findings[0].message
    # the hint says what a spec looks like (the README has no "pipeline section" to point at)
    assert "tasks:" in report.findings[0].hint


def test_review_rule_is_opt_in(make_project):
    root = make_project("clean--task.ipynb")
    assert "NBG701" not in {r.id for r in run_check(root=root, plugins=False).rules}


@pytest.mark.integration
def test_review_rule_reports_notebooks_not_approved(git_repo, monkeypatch):
    monkeypatch.delenv("NBGOV_REVIEWER", raising=False)
    fixtures = Path(__file__).parent / "fixtures"
    (git_repo / "notebooks").mkdir()
    (git_repo / "nbgov.toml").write_text("")
    for name in ("clean--task.ipynb", "kernel--other.ipynb"):
        shutil.copy(fixtures / name, git_repo / "notebooks" / name)
    subprocess.run(["git", "-C", str(git_repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(git_repo), "commit", "-qm", "notebooks"], check=True)
    record_decision(
        load_config(git_repo),
        git_repo / "notebooks" / "clean--task.ipynb",
        "approved",
        reviewer="Bob Reviewer <bob@example.com>",
    )

    report = run_check(root=git_repo, plugins=False, select=["not-approved"])
    assert [(f.path, f.rule) for f in report.findings] == [
        ("notebooks/kernel--other.ipynb", "NBG701")
    ]
    assert "unreviewed" in report.findings[0].message


@pytest.mark.integration
def test_review_rule_goes_on_past_an_unreadable_notebook(git_repo):
    (git_repo / "notebooks").mkdir()
    (git_repo / "nbgov.toml").write_text("")
    shutil.copy(Path(__file__).parent / "fixtures" / "clean--task.ipynb", git_repo / "notebooks")
    (git_repo / "notebooks" / "broken.ipynb").write_text("{not json")
    report = run_check(root=git_repo, plugins=False, select=["NBG001", "NBG701"])
    assert [(f.path, f.rule) for f in report.findings] == [
        ("notebooks/broken.ipynb", "NBG001"),
        ("notebooks/clean--task.ipynb", "NBG701"),
    ]


def test_check_table_in_pyproject(make_project):
    root = make_project("clean--executed.ipynb")
    (root / "nbgov.toml").unlink()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.nbgov.check]\noutputs = "allow"\n'
    )
    assert run_check(root=root, plugins=False).findings == []
    (root / "pyproject.toml").write_text('[tool.nbgov.check]\noutputs = "forbid"\n')
    assert {f.rule for f in run_check(root=root, plugins=False).findings} == {"NBG201"}


def test_parallel_run_finds_the_same(make_project, tmp_path):
    names = [
        "secrets--source.ipynb",
        "outputs--committed.ipynb",
        "paths--absolute.ipynb",
        "invalid--json.ipynb",
        "params--two.ipynb",
    ]
    root = make_project(*names)
    for i in range(14):  # 70 notebooks: over the parallel threshold
        for name in names:
            shutil.copy(root / "notebooks" / name, root / "notebooks" / f"copy{i}-{name}")
    serial = run_check(root=root, plugins=False)
    parallel = run_check(root=root, plugins=False, jobs=2)
    assert serial.files == parallel.files == 75
    assert parallel.findings == serial.findings and parallel.errors == []
