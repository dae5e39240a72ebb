"""The warm-kernel template process: imports once, then forks one fresh IPython kernel per request.

Run as ``python -m nbgov.adapters.kernels._forkserver --listen FD --alive FD --modules a,b``
by :class:`nbgov.adapters.kernels.template.Template`; this module imports only the standard
library at module level (it runs before anything is preloaded).

Modelled on CPython's ``multiprocessing.forkserver``: the listening socket is made by the
parent; the template exits (killing its kernels) when the "alive" pipe closes, that is when the
build process ends however it ends, and ``PR_SET_PDEATHSIG`` backs that up. The template never
starts a thread, an event loop or a zmq context, and never runs user code: a module that starts
a Python thread at import, or native threads nobody vouched for, is refused and the template
re-executes itself without it.

Protocol (one Unix stream connection per kernel): the requester sends one length-prefixed JSON
request ``{"argv", "cwd", "env"}`` with its stdout and stderr as ``SCM_RIGHTS`` file
descriptors; the template answers ``{"pid", "preloaded", "refused", "done"}`` (or ``{"error"}``), and
later ``{"exit": code}`` when that kernel ends. Closing the connection kills the kernel's process
group: a kernel never outlives the process that asked for it. A request ``{"ping": true}`` gets
the preloading state only.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import warnings

#: Top-level packages never imported before fork: CUDA / accelerator runtimes (a CUDA context
#: or a GPU driver handle does not survive fork) and frameworks that start worker threads or
#: processes of their own. Everything else is imported and checked (see :func:`preload`).
NEVER = frozenset({
    "torch", "torchvision", "torchaudio", "tensorflow", "tf_keras", "keras", "jax", "jaxlib",
    "cupy", "pycuda", "numba", "tensorrt", "onnxruntime", "paddle", "mxnet", "ray", "distributed",
    "pyspark", "xgboost", "lightgbm", "catboost",
})

#: Packages whose native threads (OpenBLAS, jemalloc) are known to survive fork: they install
#: ``pthread_atfork`` handlers. New OS threads after an import are accepted only when one of these
#: was among the modules that import loaded.
NATIVE_FORK_SAFE = frozenset({"numpy", "scipy", "pyarrow", "pandas", "sklearn"})

#: What ``IPKernelApp.initialize()`` imports beyond ``ipykernel.kernelapp`` / ``ipkernel``
#: (measured: 189 modules, 0.2-0.35 s of each kernel's start-up; debugpy alone is most of it).
#: Imported in the template, a forked kernel initialises in ~0.1 s. None starts a thread.
KERNEL_INIT = (
    "debugpy", "ipykernel.debugger", "IPython.core.debugger", "IPython.core.history",
    "IPython.core.completer", "sqlite3", "pdb", "pydoc", "code", "xmlrpc.client", "http.client",
    "email.parser", "gzip", "csv", "mimetypes", "tornado.ioloop",
)

_HEADER = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def pipe_closed(fd: int) -> bool:
    """Whether the writing end of pipe ``fd`` is closed (its holder, our parent, is gone):
    readable at once with nothing to read. Works whatever our parent's pid (PID 1 in a
    container), unlike ``os.getppid() == 1``."""
    import select

    try:
        readable, _, _ = select.select([fd], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def send_message(sock: socket.socket, payload: dict, fds: list[int] | None = None) -> None:
    """One length-prefixed JSON message (with file descriptors attached, if any)."""
    data = json.dumps(payload).encode()
    frame = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(sock, [frame], fds)
    else:
        sock.sendall(frame)


def recv_message(sock: socket.socket, maxfds: int = 0) -> tuple[dict | None, list[int]]:
    """The next message and the file descriptors that came with it; (None, []) at end of stream."""
    fds: list[int] = []
    if maxfds:
        data, fds, _flags, _addr = socket.recv_fds(sock, 65536, maxfds)
    else:
        data = sock.recv(65536)
    if not data:
        return None, fds
    while len(data) < _HEADER.size:
        more = sock.recv(65536)
        if not more:
            return None, fds
        data += more
    (size,) = _HEADER.unpack(data[: _HEADER.size])
    body = data[_HEADER.size:]
    while len(body) < size:
        more = sock.recv(size - len(body))
        if not more:
            return None, fds
        body += more
    return json.loads(body[:size]), fds


# -- preloading --------------------------------------------------------------------------------
def preload(modules: list[str], refused: dict[str, str], root: str | None, loaded: list[str],
            between=lambda: None) -> list[str]:
    """Import ipykernel and ``modules`` (appending each to ``loaded``). A module that cannot
    survive fork ends the process by re-executing it without that module (see :func:`_reexec`).

    ``between()`` runs after each import: the server answers the requests already waiting, so
    the first task does not wait for the modules only later tasks need.
    """
    for name in ["ipykernel.kernelapp", "ipykernel.ipkernel", *KERNEL_INIT, *modules]:
        if name in KERNEL_INIT:  # ipykernel's own needs: a failed import is not the user's business
            if name not in refused:
                _import_quietly(name, refused)
            if name == KERNEL_INIT[-1]:
                between()
            continue
        top = name.split(".")[0]
        if name in refused or top in refused:
            continue
        if top in NEVER and not name.startswith("ipykernel"):
            refused[name] = "not fork-safe"
            continue
        if _is_local(top, root):
            refused[name] = "the project's own code"
            continue
        before_modules, before_threads = set(sys.modules), _os_threads()
        try:
            # an import-time warning would land on the build's terminal (our stderr is its)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - a broken module is the task's to report, not ours
            refused[name] = "import failed"
            continue
        if threading.active_count() > 1:
            _reexec(name, "starts a thread at import", refused)
        if _os_threads() > before_threads:
            new_tops = {m.split(".")[0] for m in set(sys.modules) - before_modules}
            if not new_tops & NATIVE_FORK_SAFE:
                _reexec(name, "starts native threads at import", refused)
        loaded.append(name)
        if name != "ipykernel.kernelapp":
            between()
    return loaded


def _import_quietly(name: str, refused: dict[str, str]) -> None:
    """Import one of ipykernel's own start-up modules; a missing one is simply not preloaded."""
    before = _os_threads()
    # debugpy's import warns on stderr (the build's, here) about frozen modules; ipykernel's own
    # kernelspec sets the same variable. Only for the import: each kernel gets its requester's env
    quiet = "PYDEVD_DISABLE_FILE_VALIDATION" not in os.environ
    if quiet:
        os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    try:
        importlib.import_module(name)
    except BaseException:  # noqa: BLE001 - the kernel imports it itself (or does without)
        return
    finally:
        if quiet:
            os.environ.pop("PYDEVD_DISABLE_FILE_VALIDATION", None)
    if threading.active_count() > 1 or _os_threads() > before:
        _reexec(name, "starts a thread at import", refused)


def _is_local(top: str, root: str | None) -> bool:
    """Whether a top-level module is the project's own code (under ``root``): never preloaded."""
    if not root:
        return False
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None) or ""
    locations = list(getattr(spec, "submodule_search_locations", None) or [])
    root = os.path.realpath(root) + os.sep
    # installed packages are not the project's code, even in a .venv inside the project
    installed = {os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for path in (os.path.realpath(p) for p in [origin, *locations] if p):
        if path.startswith(root) and not any(path.startswith(i) for i in installed):
            return True
    return False


def _reexec(name: str, why: str, refused: dict[str, str]) -> None:
    """Start over without ``name``: an import cannot be undone, and a thread does not fork."""
    refused[name] = why
    argv = [a for a in sys.argv[1:]]
    i = argv.index("--refused") if "--refused" in argv else None
    if i is not None:
        del argv[i: i + 2]
    argv += ["--refused", json.dumps(refused)]
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "nbgov.adapters.kernels._forkserver", *argv])


# -- serving -----------------------------------------------------------------------------------
class Server:
    """The fork loop: accept requests, fork kernels, report exits, kill orphaned kernels."""

    def __init__(self, listener: socket.socket, alive: int, preloaded: list[str], refused: dict[str, str]):
        """Set up the loop (signal handling included); ``preloaded`` grows while preloading."""
        self.listener = listener
        self.alive = alive
        self.info = {"preloaded": preloaded, "refused": refused, "done": False}
        # pid -> the requester's connection (None once the requester hung up)
        self.kernels: dict[int, socket.socket | None] = {}
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.alive, selectors.EVENT_READ, "alive")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "child")

    def run(self) -> None:
        """Serve until the alive pipe closes."""
        while self.step(None):
            pass
        self.stop()

    def step(self, timeout: float | None) -> bool:
        """Handle what is ready within ``timeout`` seconds; False once the build is gone."""
        for key, _ in self.selector.select(timeout):
            if key.data == "alive":
                return False
            if key.data == "child":
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    os.read(self.wake_r, 4096)
            elif key.data == "accept":
                self.accept()
            else:  # a requester's connection: it closed (or sent what it should not)
                self.hang_up(key.data)
        self.reap()
        return True

    def between_imports(self) -> None:
        """During preloading: answer waiting requests now; exit if the build is gone."""
        if not self.step(0):
            self.stop()
            os._exit(0)

    def stop(self) -> None:
        """The build is gone: so are its kernels."""
        for pid in list(self.kernels):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        fds: list[int] = []
        try:
            conn.settimeout(10)
            request, fds = recv_message(conn, maxfds=3)
            if request is None or request.get("ping"):
                if request is not None:
                    send_message(conn, self.info)
                conn.close()
                return
            pid = self.fork(request, fds)
            send_message(conn, {"pid": pid, **self.info})
        except Exception as exc:  # noqa: BLE001 - the requester falls back to a normal kernel
            with contextlib.suppress(OSError):
                send_message(conn, {"error": f"{type(exc).__name__}: {exc}"})
            conn.close()
            return
        finally:
            for fd in fds:
                os.close(fd)
        conn.setblocking(False)
        self.kernels[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def fork(self, request: dict, fds: list[int]) -> int:
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:  # the kernel: never returns to the loop
            inherited = [self.listener.fileno(), self.alive, self.wake_r, self.wake_w, self.selector.fileno(),
                         *(c.fileno() for c in self.kernels.values() if c)]
            code = kernel_child(request, fds, inherited)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
        return 0  # not reached

    def reap(self) -> None:
        while self.kernels:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.kernels:
                continue
            conn = self.kernels.pop(pid)
            if conn is not None:
                self.selector.unregister(conn)
                with contextlib.suppress(OSError):
                    conn.setblocking(True)
                    send_message(conn, {"exit": os.waitstatus_to_exitcode(status)})
                conn.close()

    def hang_up(self, pid: int) -> None:
        """The requester closed its connection: its kernel goes too (reaped on SIGCHLD)."""
        conn = self.kernels.get(pid)
        if conn is not None:
            with contextlib.suppress(OSError):
                if conn.recv(1):
                    return  # stray bytes: ignore
            self.selector.unregister(conn)
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            conn.close()
            self.kernels[pid] = None  # reaped on SIGCHLD, with nobody left to tell


def kernel_child(request: dict, fds: list[int], close: list[int]) -> int:
    """In the forked child: become the task's kernel process, then run the IPython kernel app.

    What a fresh ``python -m ipykernel_launcher`` would have and a fork would not: its own session
    and process group, the requested working directory, environment and ``sys.argv``, its own
    random state, default signal handlers, and stdio where the requester's is.
    """
    os.setsid()  # own process group: interrupts and kills reach the kernel and its children only
    die_with_parent()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # interrupts are KeyboardInterrupt
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for fd in close:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # jupyter_client gives a kernel a closed stdin pipe
    os.close(null)
    if len(fds) >= 2:
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    reseed()  # (objects frozen by the template stay frozen: collecting them would copy their pages)
    launcher = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [getattr(launcher, "origin", None) or "ipykernel_launcher", *request["argv"]]
    # sys.path is already what ipykernel_launcher leaves (main() dropped the template's folder);
    # IPython's init_path puts '' back for the task's folder
    from ipykernel import kernelapp

    app = kernelapp.IPKernelApp.instance()
    # trait defaults ipykernel read from the environment when the template imported it
    app.parent_handle = int(os.environ.get("JPY_PARENT_PID") or 0)
    app.interrupt = int(os.environ.get("JPY_INTERRUPT_EVENT") or 0)
    app.initialize()
    # pyplot imported in the template found no shell to hook into: hook it now, as its import
    # would have in a fresh kernel
    inline = sys.modules.get("matplotlib_inline.backend_inline")
    if inline is not None and hasattr(inline, "_enable_matplotlib_integration"):
        with contextlib.suppress(Exception):
            inline._enable_matplotlib_integration()
    app.start()
    return 0


def reseed() -> None:
    """Give this child its own random state where a fork would share the template's.

    Python's ``random`` reseeds itself after fork; numpy's global ``RandomState`` does not (it
    exists once ``numpy.random`` is imported: numpy 2 imports it lazily, and so do we).
    """
    random = sys.modules.get("numpy.random")
    if random is not None:
        with contextlib.suppress(Exception):
            random.seed()


def main(argv: list[str]) -> None:
    """Entry point of the template process (see the module docstring for the arguments)."""
    args = dict(zip(argv[::2], argv[1::2], strict=False))
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the build's; we go when it goes
    listener = socket.socket(fileno=int(args["--listen"]))
    alive = int(args["--alive"])
    if pipe_closed(alive):
        return  # the build is already gone (not `getppid() == 1`: the build may be PID 1)
    # as ipykernel_launcher does: the template's own folder is not an import location
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    # what ipykernel sets before any user code: matplotlib reads it when imported
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    refused = json.loads(args.get("--refused", "{}"))
    modules = [m for m in args.get("--modules", "").split(",") if m]
    preloaded: list[str] = []
    server = Server(listener, alive, preloaded, refused)
    preload(modules, refused, args.get("--root"), preloaded, server.between_imports)
    server.info["done"] = True
    gc.collect()
    gc.freeze()  # objects from preloading stay shared, untouched by the children's collections
    server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
