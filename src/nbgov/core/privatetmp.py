"""A build's own temporary folder (docs/security.md, R4; tenth attack round, 10).

Ploomber's ScriptRunner writes a script task's code to ``tempfile.mkstemp()`` and runs
``python TMP/tmpX.py``: Python puts the script's folder first on ``sys.path``, ahead of the
project and the standard library. In a shared ``/tmp`` (or ``$TMPDIR``) anyone may leave a
``json.py`` there, which the reviewed script would then import. A build therefore makes its
temporary files in a fresh folder only this user can open, holding nothing but what the build
writes, removed at its end.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """Within the block, this process's temporary files (``tempfile.tempdir``: a script task's
    copy, forked workers' too) go to a new 0700 folder, removed afterwards; the previous setting
    is restored. The environment (``TMPDIR``) is left alone: kernels and the kernel template,
    started with this process's environment, keep their identity (a changed variable would
    refuse the warm template)."""
    folder = Path(tempfile.mkdtemp(prefix="nbgov-build-"))  # mkdtemp: mode 0700, a new name
    previous = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(folder, ignore_errors=True)
