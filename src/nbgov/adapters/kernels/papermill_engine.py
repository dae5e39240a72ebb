"""A papermill engine that runs a notebook on a kernel the active pool handed over connected.

Ploomber refuses an ``engine_name`` in executor params other than its executor's, so
:func:`nbgov.adapters.kernels.pool.kernel_pool` registers this engine in place of papermill's
default one while the block lasts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

#: nbclient options that change where or how a kernel starts (its working folder, command line,
#: manager class): never handed on, whichever path starts the kernel
KERNEL_START_KEYS = frozenset({"resources", "extra_arguments", "kernel_manager_class", "km", "kc"})


def prestart_engine(base: type, active_pool: Callable[[], Any]) -> type:
    """A papermill engine class: ``base`` (papermill's nbclient engine), on a booted kernel
    taken from ``active_pool()`` (the pool of the block running now, or None)."""
    from papermill.utils import merge_kwargs, remove_args

    class PrestartEngine(base):
        """papermill's nbclient engine, taking a connected kernel from the active pool."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            **kwargs,
        ):
            # what nbclient reads to start a kernel besides its name: a pool miss (papermill
            # starting the kernel) must give it what the pool's would get: the folder papermill
            # changed to, no options (the gate refuses these keys; R4)
            kwargs = {k: v for k, v in kwargs.items() if k not in KERNEL_START_KEYS}
            pool = active_pool()
            name = kernel_name or nb_man.nb.metadata.get("kernelspec", {}).get("name")
            taken = pool.take(name, os.getcwd(), start_timeout) if pool is not None and name else None
            if taken is None:
                return super().execute_managed_notebook(
                    nb_man,
                    kernel_name,
                    log_output=log_output,
                    stdout_file=stdout_file,
                    stderr_file=stderr_file,
                    start_timeout=start_timeout,
                    execution_timeout=execution_timeout,
                    **kwargs,
                )
            from nbclient.util import run_hook, run_sync
            from papermill.clientwrap import PapermillNotebookClient
            from papermill.engines import logger

            # the same arguments papermill's own engine builds, plus the booted kernel
            timeout = execution_timeout or kwargs.get("timeout")
            graceful = kwargs.get("shutdown_kernel", "graceful") != "immediate"
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(
                kwargs,
                timeout=timeout,
                startup_timeout=start_timeout,
                kernel_name=name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            km, kc = taken
            client = PapermillNotebookClient(nb_man, km=km, **final)
            # connected and answering already (pool.take): nbclient skips its own handshake, as it
            # does for a client it is given, so do what that handshake would have done
            kc.allow_stdin = False
            client.kc = kc
            try:
                run_sync(run_hook)(client.on_notebook_start, notebook=client.nb)
                return client.execute()
            except BaseException:
                _cancel_pending()
                raise
            finally:
                # nbclient leaves a kernel it did not start running: this task's kernel ends here
                if client.kc is not None:
                    with contextlib.suppress(Exception):
                        client.kc.stop_channels()
                pool.retire(km, graceful)

    return PrestartEngine


def _cancel_pending() -> None:
    """A Ctrl-C left nbclient's cell coroutine pending in this thread's event loop: cancel it now.
    Else the next use of the loop (ending the kernel) wakes it on a dead kernel, and asyncio
    prints its DeadKernelError traceback ("Task exception was never retrieved") at exit."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    if loop.is_running():
        return
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
