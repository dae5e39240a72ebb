"""docs/start.md, the first page for a user who ran `pip install nbgov`, run as written: in a
fresh folder, each file the page shows is written where the page writes it, each command runs
in order, and its output is what the page shows, ids, times and durations aside.

In the normal suite, nbgov is the development venv's (`pip install nbgov` is skipped).
`make test-start-wheel` runs the same test against a fresh venv holding only the built wheel
(NBGOV_START_BIN names that venv's bin folder).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "start.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.integration

BLOCK = re.compile(r'```(\w+)(?: title="([^"]+)")?\n(.*?)```', re.S)


def steps(page: str):
    """The page in order: ("file", name, text) for a titled block, ("run", command, expected
    output lines) for each `$ ` line of a console block."""
    for lang, title, body in BLOCK.findall(page):
        if title:
            yield "file", title, body
        elif lang == "console":
            command, expected = None, []
            for line in body.splitlines():
                if line.startswith("$ "):
                    if command:
                        yield "run", command, expected
                    command, expected = line[2:], []
                elif command:
                    expected.append(line)
            if command:
                yield "run", command, expected


def normalise(text: str, folder: Path) -> list[str]:
    """What may differ between runs, made equal: the folder, run ids, times, durations, and the
    width of a table's columns (it follows the widest cell)."""
    text = text.replace(str(folder), "~/demo")
    text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", "<time>", text)
    text = re.sub(r"\b\d+\.\d+\b", "<n>", text)
    text = re.sub(r"─+", "─", text)
    return [" ".join(line.split()) for line in text.strip().splitlines() if line.strip()]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "NBGOV_REVIEWER", "NBGOV_ENV")}
    env.update(PLOOMBER_STATS_ENABLED="false", PLOOMBER_VERSION_CHECK_DISABLED="true", NO_COLOR="1")
    wheel_bin = os.environ.get("NBGOV_START_BIN")
    if wheel_bin:  # only the wheel: not this checkout's sources
        env.pop("PYTHONPATH", None)
        env["PATH"] = f"{wheel_bin}{os.pathsep}{env['PATH']}"
    else:
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def test_the_page_has_what_the_test_needs():
    kinds = [(kind, what) for kind, what, _ in steps(PAGE)]
    assert kinds[0] == ("run", "pip install nbgov")
    assert ("file", "pipeline.yaml") in kinds and ("run", "nbgov init") in kinds
    assert sum(kind == "run" for kind, _ in kinds) >= 7


def test_start_page_as_written(tmp_path):
    cwd, env = tmp_path, _env()
    if os.environ.get("NBGOV_START_BIN"):
        nbgov = subprocess.run(["which", "nbgov"], env=env, capture_output=True, text=True).stdout.strip()
        assert nbgov.startswith(os.environ["NBGOV_START_BIN"]), nbgov
    for kind, what, content in steps(PAGE):
        if kind == "file":
            (cwd / what).write_text(content)
            continue
        if what.startswith("pip install"):
            continue  # installed already: the dev venv, or the wheel's venv made by the make target
        for part in what.split(" && "):
            if part.startswith("cd "):
                cwd = cwd / part[3:]
                continue
            proc = subprocess.run(part, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, (part, proc.stdout, proc.stderr)
            if content or part == what:
                got = normalise(proc.stdout + proc.stderr, cwd)
                assert got == normalise("\n".join(content), cwd), f"$ {part}\n{proc.stdout}{proc.stderr}"
