"""A jupyter_client kernel provisioner that forks kernels from the build's warm template.

Registered as ``nbgov-fork`` in the ``jupyter_client.kernel_provisioners`` entry-point group;
:func:`nbgov.adapters.kernels.pool.warm_kernels` makes it the default provisioner of the build
process (and of the workers it forks). Everything else is jupyter_client's
``LocalProvisioner``: the forked kernel is wrapped in a ``Popen`` look-alike
(:class:`~nbgov.adapters.kernels.template.ForkedKernel`), and signals and kills go to its
process group. Any reason the template cannot give this kernel (another language, another
environment's kernelspec, a changed import-time environment, a dead template) starts the kernel
normally, and says so once.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from nbgov.adapters.kernels.template import TemplateError, current_template, say_once

NAME = "nbgov-fork"


class ForkProvisioner(LocalProvisioner):  # type: ignore[misc]
    """``LocalProvisioner`` launching through the warm template when it can."""

    forked = False

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Fork the kernel from the template; start it as jupyter_client would otherwise."""
        template = current_template()
        spec = self.kernel_spec
        env = dict(kwargs.get("env") or os.environ)
        reason = ("no template running" if template is None
                  else template.refusal(cmd, env, getattr(spec, "language", None)))
        if reason is None:
            # what jupyter_client's launch_kernel adds: the kernel watches for its parent's end
            env["JPY_PARENT_PID"] = str(os.getpid())
            try:
                process = template.fork(cmd[3:], kwargs.get("cwd") or os.getcwd(), env,
                                        _fd(kwargs.get("stdout"), 1), _fd(kwargs.get("stderr"), 2))
            except TemplateError as exc:
                reason = f"{exc}: kernels started normally"
            else:
                refused = {k: v for k, v in (template.info or {}).get("refused", {}).items()
                           if v != "the project's own code"}
                if refused:
                    say_once("not preloaded: " + ", ".join(f"{k} ({v})" for k, v in sorted(refused.items())))
                self.process = process
                self.pid = self.pgid = process.pid  # its own session: pgid == pid
                self.forked = True
                return self.connection_info
        if template is not None:
            say_once(reason)
        return await super().launch_kernel(cmd, **kwargs)


def _fd(stream: Any, default: int) -> int:
    """The file descriptor the kernel's output should go to (Popen's stdout/stderr argument)."""
    if stream is None:
        return default
    if isinstance(stream, int) and stream >= 0:
        return stream
    fileno = getattr(stream, "fileno", None)
    return fileno() if fileno else default
