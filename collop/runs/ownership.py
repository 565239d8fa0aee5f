"""Who owns a run folder: the ``.lock`` a live process holds, and signals sent only to it."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal as _signal
import socket
from pathlib import Path

from ..schema import CollopError

__all__ = ["RunBusyError", "run_owner", "signal_run", "_proc_start", "_lock_holders"]


class RunBusyError(CollopError):
    """The run folder is owned by another live process."""


def _proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            stat = fh.read()
    except (OSError, ValueError):
        return None
    return stat.rpartition(")")[2].split()[19]   # field 22 overall: starttime


def _lock_holders(lock_path: Path) -> set[int] | None:
    """Pids holding an flock on ``lock_path`` according to ``/proc/locks`` (None: unknown)."""
    try:
        st = os.stat(lock_path)
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in lines:
        parts = line.split()
        if "->" in parts:          # a waiter, not a holder
            continue
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].lower() == dev:
            with contextlib.suppress(ValueError):
                pids.add(int(parts[4]))
    return pids


def run_owner(path) -> dict | None:
    """The live process that owns the run folder ``path``, or None when no process holds it.

    Returns
    -------
    dict or None
        ``{"pid", "host", "started", "start_ticks"}`` as the owner wrote them in
        ``.lock``. A folder is owned while its ``.lock`` is held; this is true
        of a process killed with SIGKILL only until the kernel reaps it.
    """
    lock = Path(path) / ".lock"
    if not lock.is_file():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            try:
                return json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                return {"pid": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def signal_run(path, sig=_signal.SIGINT) -> str:
    """Send ``sig`` to the process that owns the run folder ``path``; a one-line message.

    The process is identified by the lock it holds, not by a pid read from a
    file: the pid recorded in ``.lock`` must hold the lock (``/proc/locks``)
    and have the recorded start time, so a stale or crafted pid is never
    signalled.
    """
    path = Path(path)
    owner = run_owner(path)
    name = path.name
    if owner is None:
        return f"{name}: not running"
    pid = owner.get("pid")
    if owner.get("host") not in (None, socket.gethostname()):
        return f"{name}: runs on host {owner.get('host')}; stop it there"
    if not isinstance(pid, int) or pid <= 0:
        return f"{name}: its owner cannot be identified; not signalled"
    holders = _lock_holders(path / ".lock")
    if holders is not None and pid not in holders:
        return f"{name}: process {pid} does not hold the run's lock; not signalled"
    if owner.get("start_ticks") is not None and _proc_start(pid) != owner.get("start_ticks"):
        return f"{name}: process {pid} is not the one that started the run; not signalled"
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return f"{name}: its process has ended"
    except PermissionError:
        return f"{name}: not allowed to signal process {pid}"
    return f"{name}: stopping after the current epoch"
