"""Kernels for builds: a warm template that forks them, a provisioner, a pool, a papermill engine.

The only place jupyter_client is imported. The build executor's surface:

- :func:`start_template` (from :mod:`.template`, standard library only): start the warm template
  early, before anything heavy is imported;
- :func:`kernel_pool` (from :mod:`.pool`): the block in which notebook tasks run, serial or
  parallel (see its docstring).

Submodules are imported on use: importing this package costs nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["kernel_pool", "start_template", "stop_template"]


def __getattr__(name: str) -> Any:
    if name == "kernel_pool":
        from nbgov.adapters.kernels.pool import kernel_pool  # (a submodule: the package stays light)

        return kernel_pool
    if name in ("start_template", "stop_template"):
        from nbgov.adapters.kernels import template  # (a submodule: the package stays light)

        return getattr(template, name)
    raise AttributeError(name)
