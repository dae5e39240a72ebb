"""The build's side of the warm-kernel template: start it, ask it for kernels, stop it.

The template (:mod:`nbgov.adapters.kernels._forkserver`) is a ``python -m`` process of this
interpreter that imported ipykernel and the project's heavy modules once; each request forks a
fresh kernel from it in ~0.1 s instead of starting and importing from nothing. One template per
build and interpreter; the environment it was started with is part of its identity
(:data:`IMPORT_TIME_ENV`): a kernel asked for with other values of those variables is started
normally.

This module imports only the standard library: :func:`start_template` is meant to run before
anything heavy is imported in the build process.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbgov.adapters.kernels._forkserver import recv_message, send_message
from nbgov.core.imports import pipeline_imports

#: Environment variables read when the interpreter starts or when a preloaded module is imported:
#: a forked kernel keeps the template's values of these, so a request with other values is refused.
IMPORT_TIME_ENV = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED", "PYTHONSAFEPATH", "PYTHONNOUSERSITE",
    "PYTHONUSERBASE", "PYTHONWARNINGS", "PYTHONOPTIMIZE", "PYTHONDEVMODE", "PYTHONMALLOC",
    "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONPLATLIBDIR", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE",
    "LD_PRELOAD", "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS",
    "MPLBACKEND", "CUDA_VISIBLE_DEVICES",
)

_said: set[str] = set()
_lock = threading.Lock()
_current: Template | None = None


def say_once(message: str) -> None:
    """Tell the user something about warm kernels once per process (on stderr)."""
    with _lock:
        if message in _said:
            return
        _said.add(message)
    print(f"nbgov: warm kernels: {message}", file=sys.stderr, flush=True)


class TemplateError(RuntimeError):
    """The template cannot give this kernel (the caller starts a normal one)."""


class Template:
    """A running template process, reachable through a Unix socket in a private folder."""

    def __init__(self, modules: list[str], root: Path, env: dict[str, str] | None = None):
        self.modules = list(modules)
        self.root = Path(root)
        self.env = dict(os.environ if env is None else env)
        self.python = os.path.realpath(sys.executable)
        self.owner = os.getpid()
        self.info: dict[str, Any] | None = None  # preloaded / refused, from the first answer
        self._dir = tempfile.mkdtemp(prefix="nbgov-kt-")
        self.address = os.path.join(self._dir, "s")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address)
        listener.listen(128)
        alive_r, self._alive_w = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nbgov.adapters.kernels._forkserver",
                 "--listen", str(listener.fileno()), "--alive", str(alive_r),
                 "--modules", ",".join(self.modules), "--root", str(self.root)],
                # started in its private folder, not the project's: `-m` puts the working
                # directory first on the import path, and the template starts before the approval
                # gate, so no project module (a selectors.py, an nbgov/ package) may be found
                # there. Not -P: forked kernels inherit the flag, and IPython would then leave
                # the task's folder off their import path. Each kernel chdirs to its task's folder.
                pass_fds=(listener.fileno(), alive_r), cwd=self._dir, env=self.env,
                stdin=subprocess.DEVNULL)
        finally:
            listener.close()  # the template holds it now: a dead template refuses connections
            os.close(alive_r)

    def refusal(self, cmd: list[str], env: dict[str, str], language: str | None) -> str | None:
        """Why this kernel cannot come from the template (None: it can)."""
        if (language or "python").lower() != "python":
            return f"a {language} kernel is started normally"
        if len(cmd) < 3 or cmd[1:3] != ["-m", "ipykernel_launcher"]:
            return f"kernel command {' '.join(cmd[:3])} is not ipykernel's: started normally"
        if os.path.realpath(cmd[0]) != self.python:
            return f"kernel of another environment ({cmd[0]}) started normally"
        changed = [k for k in IMPORT_TIME_ENV if env.get(k) != self.env.get(k)]
        if changed:
            return f"environment differs from the template's ({', '.join(changed)}): kernels started normally"
        if not self.alive():
            return "the template process ended: kernels started normally"
        return None

    def alive(self) -> bool:
        """Whether the template process is still running (from any process of the build)."""
        if os.getpid() == self.owner:
            return self.process.poll() is None
        try:
            os.kill(self.process.pid, 0)
            return True
        except OSError:
            return False

    def fork(self, argv: list[str], cwd: str, env: dict[str, str], stdout: int = 1, stderr: int = 2,
             timeout: float = 120) -> ForkedKernel:
        """A new kernel process forked from the template, started as ``ipykernel_launcher argv``.

        Waits up to ``timeout`` seconds for the template to finish preloading. Raises
        :class:`TemplateError` when the template cannot give a kernel.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.address)
            send_message(sock, {"argv": list(argv), "cwd": cwd, "env": dict(env)}, [stdout, stderr])
            reply, _ = recv_message(sock)
        except OSError as exc:
            sock.close()
            raise TemplateError(f"the template did not answer ({exc})") from exc
        if not reply or "pid" not in reply:
            sock.close()
            raise TemplateError((reply or {}).get("error") or "the template closed the connection")
        if self.info is None:
            self.info = {"preloaded": reply.get("preloaded", []), "refused": reply.get("refused", {})}
        return ForkedKernel(int(reply["pid"]), sock)

    def status(self, timeout: float = 10) -> dict[str, Any]:
        """What the template has preloaded so far: ``{"preloaded", "refused", "done"}``."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.address)
            send_message(sock, {"ping": True})
            reply, _ = recv_message(sock)
        if not reply:
            raise TemplateError("the template closed the connection")
        return reply

    def wait_preloaded(self, timeout: float = 300) -> dict[str, Any]:
        """Block until the template has imported everything it will (tests, benchmarks)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status.get("done") or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def close(self) -> None:
        """Stop the template and every kernel it still has (only the starting process does this)."""
        if os.getpid() != self.owner:
            return
        with contextlib.suppress(OSError):
            os.close(self._alive_w)  # the template kills its kernels and exits
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


class ForkedKernel:
    """A ``subprocess.Popen`` look-alike for a kernel the template forked (it is not our child:
    its exit code comes over the connection, and closing the connection kills it)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, sock: socket.socket):
        self.pid = pid
        self.returncode: int | None = None
        self._sock = sock
        self._owner = os.getpid()

    def poll(self) -> int | None:
        """The exit code, or None while the kernel runs."""
        if self.returncode is not None:
            return self.returncode
        try:
            self._sock.setblocking(False)
            message, _ = recv_message(self._sock)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            message = None
        if message is None:  # the template is gone; so is the kernel (PR_SET_PDEATHSIG)
            self.returncode = -9 if not _exists(self.pid) else None
        else:
            self.returncode = int(message.get("exit", -1))
        if self.returncode is not None:
            self._sock.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Block until the kernel exits; ``subprocess.TimeoutExpired`` after ``timeout`` s."""
        if self.returncode is not None:
            return self.returncode
        try:
            self._sock.setblocking(True)
            self._sock.settimeout(timeout)
            message, _ = recv_message(self._sock)
        except TimeoutError as exc:
            raise subprocess.TimeoutExpired(["kernel", str(self.pid)], timeout or 0) from exc
        except OSError:
            message = None
        self.returncode = int(message.get("exit", -1)) if message else -9
        self._sock.close()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the kernel's process group (it has its own session)."""
        if self.returncode is None:
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the kernel's process group."""
        import signal

        with contextlib.suppress(ProcessLookupError):
            self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the kernel's process group."""
        import signal

        with contextlib.suppress(ProcessLookupError):
            self.send_signal(signal.SIGTERM)

    def __del__(self) -> None:
        # a kernel manager dropped without shutdown: the template kills the kernel
        with contextlib.suppress(Exception):
            self._sock.close()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


# -- the build's template ----------------------------------------------------------------------
def preload_modules(sources: Iterable[Path], preload: Any = True) -> list[str] | None:
    """The modules to preload: the imports of the task ``sources`` plus ``preload`` when it is a
    list (``[execution] preload``); None when ``preload`` is false (warm kernels off)."""

    if preload is False:
        return None
    extra = list(preload) if isinstance(preload, list) else []
    names = pipeline_imports(sources)
    return [*extra, *(n for n in names if n not in extra)]


def start_template(root: Path, sources: Iterable[Path] = (), preload: Any = True) -> Template | None:
    """Start the build's template now (in the background) if it is not running; returns it.

    Call it as early as possible, before importing MLflow or Ploomber: the template's imports
    then overlap the build's own start-up. ``preload`` is ``[execution] preload`` from
    nbgov.toml: a list of extra modules, true, or false (no template: returns None). Set
    ``NBGOV_WARM_KERNELS=0`` to switch warm kernels off from the environment.
    """
    global _current
    if os.environ.get("NBGOV_WARM_KERNELS", "1").lower() in ("0", "false", "no", "off"):
        return None
    modules = preload_modules(sources, preload)
    if modules is None or sys.platform == "win32" or not hasattr(os, "fork"):
        return None
    with _lock:
        if _current is not None and _current.owner == os.getpid() and _current.alive():
            return _current
        _current = Template(modules, Path(root))
        return _current


def current_template() -> Template | None:
    """The build's template (started by this process or inherited by a forked worker)."""
    return _current


def stop_template() -> None:
    """Stop the build's template and its kernels (a no-op in forked workers)."""
    global _current
    template, _current = _current, None
    if template is not None:
        template.close()


atexit.register(stop_template)


def spec_sources(pipeline_path: Path) -> list[Path]:
    """The task source files a pipeline.yaml names, read without Ploomber (for preloading only:
    templated, globbed or dotted-path sources are left out)."""
    import yaml

    try:
        spec = yaml.safe_load(Path(pipeline_path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    tasks = spec.get("tasks", []) if isinstance(spec, dict) else spec
    out = []
    for task in tasks if isinstance(tasks, list) else []:
        source = task.get("source") if isinstance(task, dict) else None
        if isinstance(source, str) and "{{" not in source:
            path = Path(pipeline_path).parent / source
            if path.suffix in (".ipynb", ".py") and path.is_file():
                out.append(path)
    return out


def start_for_project(root: Path, pipeline_path: Path, preload: Any = True) -> Template | None:
    """:func:`start_template` for a project: preloads what its task sources import."""
    if preload is False or os.environ.get("NBGOV_WARM_KERNELS", "1").lower() in ("0", "false", "no", "off"):
        return None
    return start_template(root, spec_sources(pipeline_path), preload)
