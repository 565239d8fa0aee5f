"""Worker-side set-up of a local cluster."""
from __future__ import annotations

import signal
import threading

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["IgnoreInterrupt"]


class IgnoreInterrupt(WorkerPlugin):
    """Make a local worker process ignore SIGINT.

    Ctrl-C in a terminal signals the whole foreground process group, local
    workers included; a worker that took it would die in the middle of its
    point. The sweep's own process turns the first Ctrl-C into a clean stop
    of every point (and closes the workers on the second).
    """

    name = "collop-ignore-interrupt"

    def setup(self, worker):
        self.main_thread = threading.current_thread() is threading.main_thread()
        if self.main_thread:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
