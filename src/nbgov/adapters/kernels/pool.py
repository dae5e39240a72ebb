"""Kernels for a build: forked from a warm template, and booted one task ahead.

Two things take kernel start-up off a build's critical path:

1. **Warm kernels** (:mod:`nbgov.adapters.kernels.template`): a template process imported
   ipykernel and the project's heavy modules once; every kernel is forked from it, ready in a
   fraction of a second with ``import pandas`` already paid for. Inside :func:`kernel_pool`,
   jupyter_client's default provisioner is :class:`~nbgov.adapters.kernels.provisioner.ForkProvisioner`
   in this process and in every worker it forks (``-j N``: Ploomber's workers are forked after
   the block is entered, so they inherit the template's address and the provisioner setting).
2. **A kernel booted ahead** (serial builds, notebook tasks run in this process): while a task
   runs, :class:`KernelPool` has already launched one spare kernel (same kernel name, working
   directory, environment); the next task takes it and a new spare starts. Every task still gets
   a fresh kernel no other task used; a spare that died, or was started for another kernel or
   folder, is discarded and a kernel is started as papermill would.

The integration surface for the build executor is :func:`kernel_pool` (a context manager) and
:func:`nbgov.adapters.kernels.template.start_template` (start the template before anything heavy
is imported).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from nbgov.adapters.kernels.papermill_engine import prestart_engine

#: nbclient starts IPython kernels with an in-memory history (no SQLite file per task).
_IPYKERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]

_active: KernelPool | None = None
#: The 0700 folder of the kernels' Unix sockets while a :func:`kernel_pool` block runs.
_sockets: str | None = None
#: Longer socket paths than this fall back to TCP (a Unix socket's path has ~107 bytes at most).
_MAX_SOCKET_PATH = 90


class KernelPool:
    """Kernels for the tasks this process runs, each handed over connected and answering.

    ``ahead``: at most one spare, already-launched kernel, keyed by (kernel name, working
    directory), booted while the task before runs (serial builds, and each ``-j N`` worker).
    Without it, each task's kernel is launched when the task asks. Either way the kernel comes with a client
    whose channels already answered (see :func:`_connect`), so nbclient skips its own handshake.

    Kernel managers are jupyter_client's ``AsyncKernelManager``, the class nbclient itself uses,
    driven through nbclient's ``run_sync`` so that they share nbclient's event loop.
    """

    def __init__(self, ahead: bool = True) -> None:
        self.ahead = ahead
        self._spare: tuple[tuple[str, str], Any] | None = None
        self._ended: list[Any] = []  # killed task kernels, reaped later off the critical path
        self.hits = 0
        self.misses = 0
        self.owner = os.getpid()  # a forked worker's copy is not a pool to take kernels from

    def take(self, kernel_name: str, cwd: str, timeout: float = 60) -> tuple[Any, Any] | None:
        """A kernel manager and its connected client for one task, or None: then the task starts
        its kernel as papermill would (which also reports a kernel that cannot start).

        The spare is used when it fits and answers ``kernel_info`` within ``timeout`` seconds (say
        its ports were taken meanwhile, it is discarded); then the next spare is launched.
        """
        spare, self._spare = self._spare, None
        km = None
        if spare is not None:
            key, candidate = spare
            if key == (kernel_name, cwd):
                km = candidate
            else:
                _shutdown(candidate)
        booted = km is not None
        if km is None:
            km = self._start(kernel_name, cwd)
        if self.ahead:
            nxt = self._start(kernel_name, cwd)
            self._spare = ((kernel_name, cwd), nxt) if nxt is not None else None
        self._reap(wait=False)
        kc = _run(_connect(km, timeout)) if km is not None else None
        if kc is None:
            self.misses += 1
            if km is not None:
                _shutdown(km)
            return None
        if booted:
            self.hits += 1
        else:
            self.misses += 1
        return km, kc

    def retire(self, km: Any, graceful: bool = False) -> None:
        """End a task's kernel. Immediate shutdown is a SIGKILL to its process group now and the
        clean-up (reaping, connection file) later: waiting for the exit costs ~0.1 s a task."""
        if graceful:
            _shutdown(km, now=False)
            return
        try:
            _run(km.provisioner.kill())
        except Exception:  # no provisioner, already gone: the full shutdown sorts it out
            _shutdown(km)
            return
        self._ended.append(km)

    def _reap(self, wait: bool) -> None:
        still = []
        for km in self._ended:
            process = getattr(km.provisioner, "process", None)
            if wait or process is None or process.poll() is not None:
                _shutdown(km)
            else:
                still.append(km)
        self._ended = still

    def _start(self, kernel_name: str, cwd: str) -> Any | None:
        """A launched kernel manager (not waiting for the kernel to answer); None when it cannot
        be launched (papermill will say why)."""
        from jupyter_client.manager import AsyncKernelManager

        km = AsyncKernelManager(kernel_name=kernel_name, **_transport())
        try:
            args = list(_IPYKERNEL_ARGS) if km.ipykernel else []
            _run(km.start_kernel(extra_arguments=args, cwd=cwd))
        except Exception:  # no such kernel, a broken kernelspec: papermill will report it
            with contextlib.suppress(Exception):
                _run(km.cleanup_resources())
            return None
        return km

    def close(self) -> None:
        """Shut down the spare kernel, if any, and finish ending the task kernels."""
        spare, self._spare = self._spare, None
        if spare is not None:
            _shutdown(spare[1])
        self._reap(wait=True)


def _transport() -> dict[str, str]:
    """How the next kernel is reached: Unix sockets in the pool's private folder (``ipc``), else
    jupyter_client's default (TCP on 127.0.0.1).

    TCP ports are picked by binding port 0 and closing it again, so any process may take one
    before the kernel binds it: on a busy machine (a build's own HTTP connections to the tracking
    server take ephemeral ports too) the kernel then printed a heartbeat traceback or died at
    start. A socket path in a folder only this user can open is never taken by another process,
    and only this user can connect to it."""
    if _sockets is None:
        return {}
    import uuid

    ip = os.path.join(_sockets, uuid.uuid4().hex[:12])
    return {"transport": "ipc", "ip": ip} if len(ip) + 3 <= _MAX_SOCKET_PATH else {}


def _run(awaitable: Any) -> Any:
    from nbclient.util import run_sync

    async def wrapped():
        return await awaitable

    return run_sync(wrapped)()


async def _connect(km: Any, timeout: float) -> Any | None:
    """A client of ``km`` whose shell and IOPub channels both answered, or None (the kernel died
    or did not answer within ``timeout`` seconds).

    jupyter_client's ``wait_for_ready`` does the same but ends by draining IOPub until it has been
    quiet for 0.2 s, and starts over after another 0.2 s when IOPub's subscription was late: at
    least 0.2 s a task. Here the handshake ends as soon as IOPub delivers the kernel's ``idle``
    status for our own ``kernel_info`` request: the proof that IOPub is connected.
    """
    from queue import Empty

    if not await km.is_alive():
        return None
    kc = km.client()
    kc.start_channels()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg_id = kc.kernel_info()
            reply = await _first(kc.shell_channel, _answers(msg_id), min(1.0, deadline - time.monotonic()), Empty)
            if reply is not None and await _first(kc.iopub_channel, _idle_after(msg_id), 0.5, Empty):
                handle = getattr(kc, "_handle_kernel_info_reply", None)
                if handle is not None:
                    handle(reply)
                return kc
            if not await km.is_alive():
                break
    except Exception:  # a broken channel: papermill's own start-up will report it
        pass
    kc.stop_channels()
    return None


async def _first(channel: Any, match: Any, timeout: float, empty: type) -> dict | None:
    """The first message on ``channel`` for which ``match(msg)`` holds within ``timeout`` seconds
    (others, e.g. stale answers to an earlier attempt, are dropped)."""
    end = time.monotonic() + max(timeout, 0)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        try:
            msg = await channel.get_msg(timeout=left)
        except empty:
            return None
        if match(msg):
            return msg


def _answers(msg_id: str) -> Any:
    return lambda msg: msg.get("parent_header", {}).get("msg_id") == msg_id


def _idle_after(msg_id: str) -> Any:
    return lambda msg: (_answers(msg_id)(msg) and msg.get("msg_type") == "status"
                        and msg.get("content", {}).get("execution_state") == "idle")


def _shutdown(km: Any, now: bool = True) -> None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    with contextlib.suppress(Exception):
        _run(km.shutdown_kernel(now=now))
    with contextlib.suppress(Exception):
        _run(km.cleanup_resources())
    # whatever went wrong above (a loop in a bad state, a slow machine), no kernel outlives its
    # task or the build
    if process is not None and process.poll() is None:
        with contextlib.suppress(Exception):
            process.kill()
            process.wait(timeout=10)


_previous_provisioner: list[str] = []


def activate_warm_kernels() -> None:
    """From now on, kernels jupyter_client starts in this process (and in processes forked from
    it) come from the build's template when there is one (see :func:`start_template`); kernelspecs
    that name a provisioner of their own keep it. For ``ploomber build`` hooks (``on_render``);
    :func:`deactivate_warm_kernels` undoes it."""
    from jupyter_client.provisioning.factory import KernelProvisionerFactory

    from nbgov.adapters.kernels.provisioner import NAME  # (imports jupyter_client's provisioners)

    factory = KernelProvisionerFactory.instance()
    if NAME not in factory.provisioners:
        # the entry point of an editable install that was not reinstalled: register it here
        from entrypoints import EntryPoint

        factory.provisioners[NAME] = EntryPoint(NAME, "nbgov.adapters.kernels.provisioner", "ForkProvisioner")
    _previous_provisioner.append(factory.default_provisioner_name)
    factory.default_provisioner_name = NAME


def deactivate_warm_kernels() -> None:
    """Undo the last :func:`activate_warm_kernels`."""
    from jupyter_client.provisioning.factory import KernelProvisionerFactory

    if _previous_provisioner:
        KernelProvisionerFactory.instance().default_provisioner_name = _previous_provisioner.pop()


@contextlib.contextmanager
def warm_kernels() -> Iterator[None]:
    """:func:`activate_warm_kernels` for the duration of the block."""
    activate_warm_kernels()
    try:
        yield
    finally:
        deactivate_warm_kernels()


@contextlib.contextmanager
def kernel_pool(ahead: bool = True) -> Iterator[KernelPool]:
    """The block in which a build runs its notebook tasks.

    Kernels come from the warm template (when :func:`start_template` started one; else they
    start normally), handed to papermill connected and answering. ``ahead`` (serial builds:
    tasks run in this process) also boots each task's kernel while the task before it runs; pass
    ``ahead=False`` for parallel builds, whose tasks run in forked workers (a spare kernel cannot
    be shared with them: each worker gets a pool of its own that boots ahead, see
    :func:`active_pool`).
    """
    global _active
    with warm_kernels(), _socket_folder():
        from papermill.engines import papermill_engines

        default = papermill_engines.get_engine(None)
        previous, _active = _active, KernelPool(ahead=ahead)
        papermill_engines.register(None, prestart_engine(default, active_pool))
        try:
            yield _active
        finally:
            papermill_engines.register(None, default)
            pool, _active = _active, previous
            pool.close()


@contextlib.contextmanager
def _socket_folder() -> Iterator[None]:
    """A new 0700 folder for the block's kernel sockets (see :func:`_transport`), shared with the
    workers forked in the block, removed at its end; an enclosing block's folder is kept."""
    global _sockets
    if _sockets is not None:
        yield
        return
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="nbgov-k-", dir=_short_tmp())
    _sockets = folder
    try:
        yield
    finally:
        _sockets = None
        shutil.rmtree(folder, ignore_errors=True)


def _short_tmp() -> str | None:
    """Where the socket folder goes: the temporary folder (a build's private one, see
    core.privatetmp, is a folder in it), or /tmp when that path is too long for sockets."""
    import tempfile

    base = tempfile.gettempdir()
    return base if len(base) <= 50 or not os.path.isdir("/tmp") else "/tmp"


def active_pool() -> KernelPool | None:
    """The pool of the innermost :func:`kernel_pool` block: in a worker process forked inside the
    block (``-j N``), a pool of the worker's own, booting its next kernel while a task runs (its
    spare ends with the worker: the template kills a kernel whose requester is gone)."""
    global _active
    pool = _active
    if pool is None:
        return None
    if pool.owner != os.getpid():
        # the parent's spare and pending kernels are the parent's: never touch them here
        _active = pool = KernelPool(ahead=True)
    return pool
