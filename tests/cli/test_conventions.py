"""Every nbgov command follows the command line's conventions (docs/reference/cli.md).

The commands are found by walking the click group, not listed here: a command added later is
checked the same way, and one that cannot follow a convention must be named below with why.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import pytest

from nbgov.cli import cli, main
from nbgov.cli.conventions import NO_PROJECT, use_color

#: Commands that print no result to parse, and why (every other command takes --json).
NO_JSON = {
    "serve": "a server that runs until stopped",
    "ledger merge": "git's merge driver: git reads the file, not the output",
}


def _walk(group: click.Group, ctx: click.Context, prefix: str = ""):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            yield from _walk(command, click.Context(command, parent=ctx, info_name=name), path)
        else:
            yield path, command


ROOT = click.Context(cli, info_name="nbgov")
COMMANDS = dict(_walk(cli, ROOT))


def _options(command: click.Command) -> dict[str, click.Option]:
    return {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}


def test_the_walk_finds_every_command():
    # the walk must see nested groups (review, ledger) and the lazily loaded modules
    assert {"build", "check", "review approve", "review gate", "ledger verify", "serve"} <= set(COMMANDS)
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_project_and_json(path):
    options = _options(COMMANDS[path])
    if path not in NO_PROJECT:
        assert "--project" in options, f"nbgov {path}: no --project"
    if path not in NO_JSON:
        assert "--json" in options, f"nbgov {path}: prints a result but has no --json (or add it to NO_JSON)"


def test_one_meaning_per_short_option():
    meanings: dict[str, set[str]] = {}
    for path, command in COMMANDS.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            for short in (o for o in param.opts if not o.startswith("--")):
                meanings.setdefault(short, set()).add(longs[0] if longs else f"{path}:{short}")
    clashes = {short: names for short, names in meanings.items() if len(names) > 1}
    assert not clashes, f"short options with two meanings: {clashes}"


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_usage_errors_in_nbgov_format(path, capsys):
    code, out, err = _run([*path.split(), "--no-such-option"], capsys)
    assert code == 2
    lines = err.splitlines()
    assert lines[0].startswith("error: "), err
    assert "Error:" not in err and "Usage:" not in err and "Traceback" not in err
    assert f"`nbgov {path} --help`" in err


@pytest.mark.parametrize("args,suggestion", [
    (["biuld"], "nbgov build"),
    (["review", "aprove"], "nbgov review approve"),
    (["ledger", "verfy"], "nbgov ledger verify"),
])
def test_did_you_mean_a_command(args, suggestion, capsys):
    code, _, err = _run(args, capsys)
    assert code == 2 and err.startswith("error: No such command")
    assert f"did you mean `{suggestion}`?" in err


@pytest.mark.parametrize("path", sorted(p for p in COMMANDS if p not in NO_PROJECT | {"init"}))
def test_refuses_outside_a_project(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # the arguments a command needs to get past parsing; none of them exists
    needs = {"lineage": ["train"], "promote": ["models:/m/1", "--alias", "a"], "serve": ["models:/m@a"],
             "monitor": ["--batch", "b.csv"], "export": ["airflow"], "diff": ["nb.ipynb"],
             "review log": ["nb.ipynb"], "open-build": ["b1"], "close-build": ["b1"],
             "review pr": ["--base", "main"], "review reply": ["t1", "-m", "x"],
             "review resolve": ["t1"]}
    code, out, err = _run([*path.split(), *needs.get(path, [])], capsys)
    assert code == 2, err
    assert err.startswith(f"error: no nbgov project at or above {tmp_path}"), err
    assert "nbgov init" in err


def test_project_option_finds_the_project_from_elsewhere(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "nbgov.toml").write_text('experiment = "x"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["review", "status", "--json", "--project", str(project)], capsys)
    assert code == 0, err
    assert json.loads(out) == []
    code, out, err = _run(["ledger", "verify", "--json", "--project", str(project)], capsys)
    assert code == 0 and json.loads(out)["records"] == 0, err


@pytest.mark.parametrize("args,old,new", [
    (["check", "--root", "."], "--root", "--project"),
    (["export", "airflow", "-e", "prod", "-o", "-"], "-e NAME", "--environment NAME"),
])
def test_deprecated_spellings_still_work_with_a_warning(args, old, new, tmp_path, monkeypatch, capsys):
    (tmp_path / "nbgov.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(args)
    err = capsys.readouterr().err
    assert f"warning: {old} is deprecated: use {new}" in err
    assert "No such option" not in err


def test_check_format_json_and_json_are_one(tmp_path, monkeypatch, capsys):
    (tmp_path / "nbgov.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    outputs = []
    for args in (["check", "--json"], ["check", "--format", "json"]):
        code, out, _ = _run(args, capsys)
        assert code == 0
        outputs.append(json.loads(out)["summary"])
    assert outputs[0] == outputs[1]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_color_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Tty()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(_Tty()) is False


def test_tables_fit_the_terminal(monkeypatch):
    from nbgov.cli.output import render_table

    rows = [["train", "up-to-date", "approved", "2026-12-07 06:00:00", "f" * 32, "accuracy=0.97, f1=0.96"]]
    headers = ["task", "state", "review", "last run (UTC)", "mlflow run", "metrics"]
    monkeypatch.setenv("COLUMNS", "60")
    narrow = render_table(headers, rows)
    assert max(map(len, narrow.splitlines())) <= 60
    assert "\x1b[" not in narrow  # no colour into a pipe
    monkeypatch.delenv("COLUMNS")
    wide = render_table(headers, rows)  # a pipe: one line per row, for grep
    assert len(wide.splitlines()) == 3 and "f" * 32 in wide


def test_cli_reference_states_the_conventions():
    page = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md").read_text()
    for text in ("## Conventions", "`error: ", "130", "--project", "--json", "NO_COLOR", "changes-requested"):
        assert text in page, text


def test_sync_wait_is_a_flag_and_timeout_the_seconds(tmp_path, monkeypatch, capsys):
    import nbgov.services.recording.sync as sync_service
    from nbgov.core.errors import NbgovError

    (tmp_path / "nbgov.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    waits = []

    def fake_sync(config, wait, resend, say):
        waits.append(wait)
        raise NbgovError("stop here")

    monkeypatch.setattr(sync_service, "sync", fake_sync)
    for args in (["sync"], ["sync", "--wait"], ["sync", "--timeout", "5"], ["sync", "--no-wait"],
                 ["sync", "--wait", "7"]):
        code, _, err = _run(args, capsys)
        assert code == 2 and "stop here" in err
    assert waits == [60.0, 60.0, 5.0, 0.0, 7.0]
    assert "warning: --wait SECONDS is deprecated: use --timeout SECONDS" in err


def test_progress_only_into_a_terminal(monkeypatch):
    from nbgov.adapters.ploomber.executor import _Bar

    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert _Bar(True, 3).show is False  # a redirected stderr gets no progress bar
    monkeypatch.setattr("sys.stderr", _Tty())
    assert _Bar(True, 3).show is True and _Bar(False, 3).show is False


def test_did_you_mean_a_task():
    from types import SimpleNamespace

    from nbgov.core.errors import PipelineError
    from nbgov.services.build.load import select_tasks

    pipeline = SimpleNamespace(task_names=["ingest", "features", "train"], spec_path="pipeline.yaml",
                               downstream_of=lambda name: [name])
    with pytest.raises(PipelineError) as info:
        select_tasks(pipeline, ["trian"], downstream=False)
    assert info.value.hint.startswith("did you mean 'train'?")
