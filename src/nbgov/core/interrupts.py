"""A Ctrl-C is never lost: remembered when it arrives, acted on at the next safe point.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be; a library
that catches everything there (a bare ``except:`` around an optional import, say) swallows it,
and the build would go on as if nothing happened. :func:`install` makes SIGINT also set a flag;
the build checks it before each task (:func:`check`) and the CLI at its end (:func:`seen`).
"""

from __future__ import annotations

import signal
import threading

_seen = threading.Event()


def install() -> None:
    """SIGINT raises KeyboardInterrupt as before, and is remembered (main thread only; a no-op
    where SIGINT is already handled by someone else, e.g. ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def remember(signum, frame):  # noqa: ARG001 - signal handler signature
        _seen.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, remember)


def seen() -> bool:
    """Whether a Ctrl-C arrived in this process since :func:`install`."""
    return _seen.is_set()


def check() -> None:
    """Raise KeyboardInterrupt when a Ctrl-C arrived and was swallowed on its way."""
    if _seen.is_set():
        raise KeyboardInterrupt
