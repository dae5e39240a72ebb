"""The nbgov CLI run by the server as a child process, never on the event loop.

Routes that must run the project (re-plan, build) do not render the DAG inside the server:
they run the very command a user would type (``python -m nbgov status``, ``... build``) in a
new process group with the project root as working directory. The output is read by asyncio,
so the server keeps answering while the child runs; stopping sends SIGINT to the whole group
(the CLI records an interrupted run as such), then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

#: The interpreter the server runs with: nbgov is importable there.
PYTHON = sys.executable

#: Seconds between the signals :func:`stop` sends.
GRACE_S = 5.0


def nbgov_command(*args: str) -> list[str]:
    """argv of ``nbgov ARGS`` run with the server's own Python (same nbgov install). ``-P``: the
    project folder (its working directory) is not first on the import path, so a project's
    ``nbgov/`` package or ``selectors.py`` cannot replace nbgov or Python before the gate."""
    return [PYTHON, "-P", "-m", "nbgov", *args]


async def start(argv: list[str], cwd: Path, merge: bool = True) -> asyncio.subprocess.Process:
    """Start ``argv`` in ``cwd`` in its own process group; stderr merged into stdout unless
    ``merge`` is False (then both are pipes)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    return await asyncio.create_subprocess_exec(
        *argv, cwd=str(cwd), env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE,
        start_new_session=True)


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> bool:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def stop(proc: asyncio.subprocess.Process, grace_s: float = GRACE_S) -> int | None:
    """SIGINT the child's process group, then SIGTERM, then SIGKILL, ``grace_s`` apart.

    Returns:
        The child's exit code (None if it could not be reaped).
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.returncode is not None:
            break
        _signal_group(proc, sig)
        try:
            await asyncio.wait_for(proc.wait(), timeout=grace_s)
        except TimeoutError:
            continue
    return proc.returncode


async def run(argv: list[str], cwd: Path, timeout_s: float,
              limit: int = 64_000) -> tuple[int | None, str]:
    """Run ``argv`` to its end (stopped after ``timeout_s``): (exit code, last ``limit``
    characters of its output). A timeout stops the process group and returns code None."""
    proc = await start(argv, cwd)
    assert proc.stdout is not None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    except TimeoutError:
        await stop(proc)
        return None, f"stopped after {timeout_s:g} s"
    text = out.decode("utf-8", errors="replace")
    return proc.returncode, text[-limit:]
