"""``collop.cli.main`` itself: signals that arrive while the libraries load."""
from __future__ import annotations

import os
import signal

from collop.cli import _held_signals


def test_signals_are_held_while_the_libraries_load():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with _held_signals() as held:
        os.kill(os.getpid(), signal.SIGINT)       # delivered at once to this (the main) thread
        os.kill(os.getpid(), signal.SIGTERM)
        x = sum(range(1000))                      # Python code runs on: no KeyboardInterrupt here
    assert held == [signal.SIGINT, signal.SIGTERM] and x == 499500
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
