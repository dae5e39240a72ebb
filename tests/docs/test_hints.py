"""Every error hint points somewhere real.

The hints are read from the source (``hint=...`` arguments, the third positional argument of an
error class, and ``*_HINT`` / ``hint`` variables) and from the built-in check rules. Whatever a
hint names must exist:

- ``nbgov CMD [SUB] [--opt]``: a command of ``nbgov.cli.COMMANDS``, a sub-command of that group,
  options of that command;
- any other ``--option``: an option of some nbgov command;
- ``docs/PAGE.md``: never (a repository path: a user who installed the wheel has no docs/
  folder; a hint names a command instead);
- ``the README's X section``: a heading of README.md;
- ``[section] key``: a key of nbgov.toml that the code accepts.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from nbgov.cli import COMMANDS, LazyGroup

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "nbgov"
PLACEHOLDER = "\x00"

#: words that follow "nbgov" in prose ("upgrade nbgov on the server"), not commands
PROSE = {"on", "if", "is", "and", "or", "to", "in", "with", "from", "can", "does"}

#: programs whose options a hint may name (``jupyter nbconvert --to notebook``)
OTHER_PROGRAMS = {"jupyter", "git", "pip", "papermill", "ploomber", "mlflow", "conda", "jlpm", "apt-get"}


def _text(node: ast.AST) -> str | None:
    """The literal text of a hint expression; formatted values become a placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else PLACEHOLDER for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return (left or PLACEHOLDER) + (right or PLACEHOLDER)
    return None


def source_hints() -> list[tuple[str, str]]:
    """``(where, text)`` of every hint written in src/nbgov."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            exprs = []
            if isinstance(node, ast.Call):
                exprs += [k.value for k in node.keywords if k.arg == "hint"]
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
                if name.endswith("Error") and len(node.args) >= 3:
                    exprs.append(node.args[2])
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(n == "hint" or n.endswith("_HINT") for n in names):
                    exprs.append(node.value)
            for expr in exprs:
                text = _text(expr)
                if text and text.strip(PLACEHOLDER):
                    found.append((f"{path.relative_to(REPO)}:{expr.lineno}", text))
    return found


def rule_hints() -> list[tuple[str, str]]:
    from nbgov.core.checks.registry import load_registry

    return [(f"rule {r.id}", r.hint) for r in load_registry(plugins=False)]


def all_hints() -> list[tuple[str, str]]:
    return source_hints() + rule_hints()


def _options(command: click.Command) -> set[str]:
    return {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts + p.secondary_opts} | {
        "-h", "--help"}


def _commands() -> dict[str, click.Command]:
    out = {}
    for name in COMMANDS:
        command = LazyGroup._load(name)
        assert command is not None, f"nbgov {name} cannot be loaded"
        out[name] = command
    return out


def _all_options() -> set[str]:
    opts: set[str] = set()
    for command in _commands().values():
        opts |= _options(command)
        for sub in getattr(command, "commands", {}).values():
            opts |= _options(sub)
    return opts


def command_problems(text: str) -> list[str]:
    """What a hint's ``nbgov ...`` invocations name that does not exist."""
    problems = []
    commands = _commands()
    for match in re.finditer(r"\bnbgov ([^;,()`\n]*)", text):
        tokens = match.group(1).split()
        if not tokens or tokens[0] in PROSE or PLACEHOLDER in tokens[0]:
            continue
        name, rest = tokens[0], tokens[1:]
        command = commands.get(name)
        if command is None:
            problems.append(f"no command `nbgov {name}`")
            continue
        if isinstance(command, click.Group):
            if not rest or rest[0].startswith("-"):
                continue
            sub = command.commands.get(rest[0])
            if sub is None:
                problems.append(f"no command `nbgov {name} {rest[0]}`")
                continue
            command, rest = sub, rest[1:]
        for token in rest:
            option = token.split("=")[0]
            if option.startswith("--") and option not in _options(command):
                problems.append(f"`nbgov {name}` has no option {option}")
    return problems


def option_problems(text: str) -> list[str]:
    """Bare ``--options`` must belong to some nbgov command, unless another program is named."""
    known = _all_options()
    problems = []
    for segment in re.split(r"[;,()`\n]", text):
        if OTHER_PROGRAMS & set(segment.split()):
            continue
        problems += [f"no nbgov command has {opt}" for opt in re.findall(r"(?<![\w-])--[a-z][a-z-]*", segment)
                     if opt not in known]
    return problems


def docs_problems(text: str) -> list[str]:
    problems = []
    for page, _anchor in re.findall(r"\bdocs/([\w/.-]+?\.md)(?:#([\w-]+))?", text):
        problems.append(f"docs/{page} is a path in nbgov's repository, not on a user's machine: name a command")
    readme = (REPO / "README.md").read_text()
    for section in re.findall(r"README(?:'s)? ([\w -]+?) section", text):
        if not re.search(rf"^#+ .*{re.escape(section)}", readme, re.M | re.I):
            problems.append(f"README.md has no {section!r} section")
    return problems


def _section_keys() -> dict[str, set[str]]:
    from nbgov.core import config as core_config
    from nbgov.core.checks import settings as check_settings
    from nbgov.services.export import plan as export_plan
    from nbgov.services.models import monitor, promote
    from nbgov.services.review import store as review_store

    return {
        "execution": set(core_config.EXECUTION_KEYS),
        "tracking": set(core_config.TRACKING_KEYS),
        "review": set(review_store._KEYS),
        "check": set(check_settings._KEYS),
        "promote": set(promote._KEYS),
        "monitor": set(monitor._KEYS),
        "export": set(export_plan.EXPORT_KEYS),
    }


def toml_problems(text: str) -> list[str]:
    """``[section] key`` references name a key the code accepts."""
    sections = _section_keys()
    problems = []
    for section, key in re.findall(r"\[(\w+)\] (\w[\w-]*)", text):
        if section not in sections:
            problems.append(f"nbgov.toml has no [{section}] table")
        elif key not in sections[section] and key not in {"in", "of", "and", "or", "with", "table"}:
            problems.append(f"[{section}] has no key {key!r}")
    return problems


HINTS = all_hints()


def test_hints_are_found():
    # the collector must see the hints it is meant to police (a refactor could hide them)
    texts = " ".join(t for _, t in HINTS)
    assert len(HINTS) > 60
    for expected in ("nbgov review approve", "nbgov build", "--batch", "[review] reviewer"):
        assert expected in texts


@pytest.mark.parametrize("where,text", HINTS, ids=[w for w, _ in HINTS])
def test_hint_names_real_things(where, text):
    problems = command_problems(text) + option_problems(text) + docs_problems(text) + toml_problems(text)
    assert not problems, f"{where}: hint {text!r}: " + "; ".join(problems)


@pytest.mark.parametrize(
    "text,problem",
    [
        ("run nbgov sink first", "no command `nbgov sink`"),
        ("nbgov review aprove NOTEBOOK", "no command `nbgov review aprove`"),
        ("nbgov build --require-aproved", "`nbgov build` has no option --require-aproved"),
        ("give --batches PATH", "no nbgov command has --batches"),
        ("see docs/reference/configuration.md", "docs/reference/configuration.md is a path in nbgov's repository"),
        ("see the README's frobnication section", "README.md has no 'frobnication' section"),
        ("set [review] reviewers", "[review] has no key 'reviewers'"),
    ],
)
def test_the_checks_catch_wrong_references(text, problem):
    problems = command_problems(text) + option_problems(text) + docs_problems(text) + toml_problems(text)
    assert any(problem in p for p in problems), problems


def test_the_checks_accept_right_references():
    text = ("see what changed: nbgov diff NOTEBOOK; then: nbgov review approve NOTEBOOK --reviewer X; "
            "nbgov build --require-approved; "
            "set [review] reviewer; upgrade nbgov on the server")
    assert command_problems(text) + option_problems(text) + docs_problems(text) + toml_problems(text) == []


def _shown_commands() -> list[tuple[str, str]]:
    """``(where, line)`` of every ``nbgov ...`` line in the shell code blocks (fenced ``bash``,
    ``sh``, ``console`` or unlabelled) of README.md and docs/."""
    found = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        fence = None  # the open block's language, None outside a block
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("```"):
                fence = None if fence is not None else (stripped[3:].strip() or "text-or-shell")
                continue
            if fence not in ("bash", "sh", "console", "text-or-shell"):
                continue
            code = line.split("  #")[0].split(" # ")[0]
            if re.search(r"(^|\s)nbgov [a-z]", code):
                found.append((f"{page.relative_to(REPO)}:{number}", code.replace("[", " ").replace("]", " ")))
    return found


SHOWN = _shown_commands()


def test_docs_show_commands():
    assert len(SHOWN) > 40


@pytest.mark.parametrize("where,line", SHOWN, ids=[w for w, _ in SHOWN])
def test_commands_shown_in_the_docs_exist(where, line):
    problems = command_problems(line)
    assert not problems, f"{where}: {line.strip()!r}: " + "; ".join(problems)
