"""End a finished process at once: ``os._exit`` after its output is flushed.

Interpreter finalisation tears down every imported module; for a process that imported
Ploomber or MLflow that takes 0.4-0.9 s here, which a user (or a build waiting for its upload
process) waits for with nothing left to do. Used where the work is known to be over.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys


def exit_now(code: int, *, run_atexit: bool = True) -> None:
    """Run the ``atexit`` handlers (unless ``run_atexit`` is False), flush stdout and stderr,
    and end the process with ``code``. Never returns."""
    if run_atexit:
        atexit._run_exitfuncs()  # logging's flush and whatever libraries registered
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
