"""A Ctrl-C swallowed by a library is still acted on (nbgov.core.interrupts), in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_a_swallowed_ctrl_c_is_remembered_and_raised_at_the_next_check():
    script = textwrap.dedent("""
        import os, signal, time
        from nbgov.core import interrupts
        interrupts.install()
        try:  # a library that catches everything while the signal lands
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        except:  # noqa: E722
            pass
        print("swallowed", interrupts.seen(), flush=True)
        try:
            interrupts.check()
        except KeyboardInterrupt:
            print("raised at the check", flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines()[:2] == ["swallowed True", "raised at the check"], proc.stdout + proc.stderr


def test_the_cli_exits_130_when_a_ctrl_c_was_swallowed(tmp_path):
    script = textwrap.dedent("""
        import os, signal, time
        from nbgov import cli

        def swallow(**kwargs):  # a command during which a library swallows the Ctrl-C
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
            except BaseException:
                pass

        cli.cli.main = swallow
        cli.main([])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ}, cwd=tmp_path)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
