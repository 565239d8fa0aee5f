"""Rollouts in a separate process, so that no session's computation holds the server's interpreter.

A rollout is seconds of torch and numba work. In a thread of the server it
would share the interpreter lock with the Bokeh event loop; on a busy
machine the loop then waits far longer than the work itself (measured: one
frame step of another session took 12.6 s while a 23 s rollout ran in a
thread, with the load average at 16 on 2 cores). One worker process
(``spawn``ed on first use, one torch thread, SIGINT ignored so that Ctrl-C
stops the server, not the worker, first) computes the rollouts; the server
only waits on its futures, which releases the lock.
"""
from __future__ import annotations

import functools
import importlib
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor

import numpy as np

__all__ = ["pool", "compute", "shutdown"]

_POOL: ProcessPoolExecutor | None = None
_LOCK = threading.Lock()


def _init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    importlib.import_module("collop.metrics")        # imported before the first job


def pool() -> ProcessPoolExecutor:
    """The worker process pool (one process, started on first use)."""
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init)
        return _POOL


def shutdown() -> None:
    """Stop the worker process (it is started again when needed)."""
    global _POOL
    with _LOCK:
        p, _POOL = _POOL, None
    if p is not None:
        p.shutdown(wait=False, cancel_futures=True)


@functools.lru_cache(maxsize=4)
def _data(stamp):
    from collop.io import open_dataset

    return open_dataset(stamp[0], "phasespace")


@functools.lru_cache(maxsize=16)
def _operator(stamp):
    from collop.io import open_dataset

    return open_dataset(stamp[0], "operator")


def compute(op_stamp, data_stamp, population: str) -> np.ndarray:
    """``f_hat(time, vx, vy)`` (float32) of an operator file on one population of a phase-space file.

    The stamps are ``(path, size, mtime_ns)``: a file that changed is read again.
    """
    from collop.metrics import rollout

    return rollout(_operator(op_stamp), _data(data_stamp), [population]).isel(population=0).values
