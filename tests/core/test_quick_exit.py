"""The ``nbgov`` script ends with ``os._exit`` once its command is done (no module teardown),
without losing what a normal exit does: atexit handlers, flushed output, the exit code, and
a non-daemon thread still running (it is joined: the normal exit is taken)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _script(body: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent("""
        import atexit, sys, threading, time
        from nbgov import cli
        atexit.register(lambda: print("atexit ran", flush=True))
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_version_exits_0_with_output_and_atexit_handlers():
    proc = _script("""
        sys.argv = ["nbgov", "--version"]
        cli.run()
        print("not reached")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "nbgov, version" in proc.stdout and "atexit ran" in proc.stdout
    assert "not reached" not in proc.stdout


def test_exit_code_and_message_survive():
    proc = _script("""
        def command(**kwargs):
            print("partial output without newline", end="")
            sys.exit(3)
        cli.cli.main = command
        cli.run()
    """)
    assert proc.returncode == 3
    assert proc.stdout.startswith("partial output without newline")
    proc = _script("""
        def command(**kwargs):
            sys.exit("error: something wrong")
        cli.cli.main = command
        cli.run()
    """)
    assert proc.returncode == 1 and "error: something wrong" in proc.stderr


def test_a_running_non_daemon_thread_is_joined_not_cut_short():
    proc = _script("""
        def late():
            time.sleep(0.5)
            print("thread finished", flush=True)
        def command(**kwargs):
            threading.Thread(target=late).start()
        cli.cli.main = command
        cli.run()
    """)
    assert proc.returncode == 0, proc.stderr
    assert "thread finished" in proc.stdout and "atexit ran" in proc.stdout
