"""Turn SIGINT and SIGTERM into a clean stop of a job (for the command line and workers)."""
from __future__ import annotations

import contextlib
import signal
import threading

from .context import StopFlag

__all__ = ["handle_signals"]


@contextlib.contextmanager
def handle_signals(stop: StopFlag, *, notify=None):
    """Route SIGINT and SIGTERM to ``stop.request()`` while the block runs (main thread only).

    While a job can stop cleanly (``stop.graceful``) the first signal asks it
    to stop after the current epoch (and ``notify(message)`` is called); any
    other signal raises :class:`KeyboardInterrupt` where the program is, which
    the command line reports in one line, without a traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.request() and notify is not None:
            notify("stopping after this epoch (Ctrl-C again to abort)")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
