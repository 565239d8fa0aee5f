"""Where a sweep runs: a new ``LocalCluster`` or a running dask scheduler.

:class:`Cluster` starts local worker processes (one torch thread each) or
connects to a scheduler given by address (``tcp://host:8786``) or scheduler
file, e.g. one started by dask-jobqueue on SLURM. :func:`connect` checks the
address first, so an unreachable or wrong address is one line naming it.
"""
from __future__ import annotations

import contextlib
import logging
import socket
from pathlib import Path

from ..options import SpecError, one_line
from ..schema import CollopError

__all__ = ["Cluster", "connect", "describe"]


class Cluster:
    """A dask client: a new ``LocalCluster`` or a connection to a running scheduler.

    Parameters
    ----------
    workers : int
        Worker processes of a local cluster (one thread each).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) or a scheduler
        file (``.json``); the local cluster is not started.
    timeout : float
        Seconds to wait for the scheduler before giving up.

    Notes
    -----
    Use as a context manager; the local cluster (and its workers) end with it.
    Local workers are daemonic processes started with ``spawn``; each runs one
    task at a time, and the pipeline sets its torch threads (``spec.threads``).
    """

    def __init__(self, workers: int = 2, scheduler: str | None = None, timeout: float = 5.0):
        if scheduler is None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise SpecError(f"workers: expected a positive number of workers, got {workers!r}",
                            field="workers")
        self.workers, self.scheduler, self.timeout = workers, scheduler, timeout
        self.client = None
        self._cluster = None

    def __enter__(self):
        from distributed import Client

        if self.scheduler is not None:
            self.client = connect(self.scheduler, self.timeout)
            return self
        import dask
        from distributed import LocalCluster

        # no statistical profiler in the workers: nobody reads it, and its sampling thread
        # takes the GIL from the training 100 times a second
        with _quiet(), dask.config.set({"distributed.worker.profile.enabled": False}):
            try:
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.CRITICAL,
                                             scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"})
            except Exception as exc:  # noqa: BLE001 - e.g. spawn could not re-import the main script
                raise CollopError(f"cannot start {self.workers} local dask worker(s) ({one_line(exc)}); a script "
                                  "that runs a sweep must guard it with if __name__ == '__main__':") from None
            self.client = Client(self._cluster, set_as_default=False)
            from ._worker import IgnoreInterrupt

            self.client.register_plugin(IgnoreInterrupt())
        return self

    def __exit__(self, *exc):
        with _quiet():
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close(timeout=10)
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close(timeout=10)
        return False

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"scheduler {self.scheduler}"
        return f"local cluster, {self.workers} worker(s)"


@contextlib.contextmanager
def _quiet():
    """Hide distributed's informational logging while clusters start and stop."""
    names = ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker",
             "distributed.core", "distributed.client", "distributed.batched", "tornado")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)


def _scheduler_address(address: str) -> str:
    """The address of a scheduler given by address or by scheduler file (one line if neither)."""
    import json

    if not isinstance(address, str) or not address.strip():
        raise SpecError("scheduler: empty address", field="scheduler")
    if address.endswith(".json"):
        try:
            info = json.loads(Path(address).read_text())
            return str(info["address"])
        except FileNotFoundError:
            raise SpecError(f"scheduler: scheduler file {address} does not exist", field="scheduler") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpecError(f"scheduler: {address} is not a scheduler file ({one_line(exc)})",
                            field="scheduler") from None
    return address


def _probe(address: str, timeout: float) -> None:
    """Fail fast (one line) if nothing listens at a scheduler address."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(loc)
            if port is None:
                raise ValueError("no port")
    except (ValueError, TypeError) as exc:
        raise SpecError(f"scheduler {address}: not a scheduler address ({one_line(exc)}); "
                        "expected e.g. tcp://host:8786", field="scheduler") from None
    if scheme == "tcp":
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as exc:
            raise SpecError(f"scheduler {address}: cannot connect ({one_line(exc.strerror or exc)})",
                            field="scheduler") from None
    if scheme in ("tcp", "tls"):
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        from distributed.core import rpc

        async def identity():
            r = rpc(address, timeout=timeout)
            try:
                return await asyncio.wait_for(r.identity(), timeout)
            finally:
                await r.close_rpc()

        try:      # in a thread of its own: the caller may be running an event loop
            with ThreadPoolExecutor(1) as pool:
                ident = pool.submit(asyncio.run, identity()).result()
        except BaseException as exc:  # noqa: BLE001 - whatever answered is not a scheduler
            if isinstance(exc, KeyboardInterrupt):
                raise
            why = "no answer" if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else one_line(
                f"{type(exc).__name__}: {exc}")
            raise SpecError(f"scheduler {address}: no dask scheduler answers there within {timeout:g} s "
                            f"({why})", field="scheduler") from None
        if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
            raise SpecError(f"scheduler {address}: what answers there is not a dask scheduler", field="scheduler")


def connect(address: str, timeout: float = 5.0):
    """A :class:`distributed.Client` of the scheduler at ``address`` (or in a scheduler file).

    Raises
    ------
    CollopError
        One line when the address is malformed or nothing answers there
        within ``timeout`` seconds (a refused connection fails at once).
    """
    from distributed import Client

    addr = _scheduler_address(address)
    _probe(addr, timeout)
    try:
        with _quiet():
            return Client(addr, timeout=timeout, set_as_default=False)
    except Exception as exc:  # OSError (timeout), ValueError
        raise SpecError(f"scheduler {address}: cannot connect ({one_line(exc)})", field="scheduler") from None


def describe(client) -> str:
    """Where a client's tasks run, in words (``2 worker(s) at tcp://...``)."""
    try:
        info = client.scheduler_info()
        return f"{len(info.get('workers', {}))} worker(s) at {info.get('address', '?')}"
    except Exception:  # noqa: BLE001 - only a label
        return "a dask cluster"

