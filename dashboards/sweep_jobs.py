"""Sweeps launched from the app: ``collop sweep run`` in a process of its own, followed through its folder.

A sweep started from the page is exactly the command a user would type,
``python -m collop sweep run SPEC --out FOLDER --workers N``, run in its own
session (so it outlives the page and is not stopped by the server's Ctrl-C)
with its output in ``FOLDER/sweep.log``. It runs its points on a dask
``LocalCluster`` (:mod:`collop.sweep.runner`), or with ``--scheduler`` on a
running scheduler the server was told of (:mod:`dashboards.config`). The app never waits for it: a
small thread per sweep only ``wait()`` s for the process, and everything the
page shows is read back from the folder (``sweep.json``, the points' run
folders), like a sweep started from a terminal with ``--out`` in the same
place.

Sweep folders live in ``<runs>/sweeps/`` (:func:`sweeps_root`), a folder the
run listing does not descend into. Besides what the sweep writes, the app
keeps two files in each folder it launched: ``spec.json`` (the sweep spec)
and ``job.json`` (the process id and start time, so a sweep still starting,
before it holds the folder's lock, can be stopped or seen to have died).

Stop sends SIGINT to the process that owns the folder's lock
(:func:`collop.runs.signal_run`), or, while it starts, to the process named
in ``job.json`` if its start time matches: running points stop after their
current epoch (resumable), and the rest are skipped.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from collop.io import atomic_write_text

from .config import REPO_ROOT
from .jobs import ProcessTable, stop_folder
from .runstore import run_dir

__all__ = ["SWEEPS", "SweepJobs", "get_sweep_jobs", "sweeps_root", "sweep_dir", "list_sweeps", "new_sweep_id",
           "sweep_info", "log_tail"]

#: Folder of sweep folders inside the runs folder.
SWEEPS = "sweeps"

_MANAGERS: dict[str, "SweepJobs"] = {}
_LOCK = threading.Lock()


def sweeps_root(runs_root) -> Path:
    """``<runs>/sweeps``: the app's sweep folders."""
    return Path(runs_root).absolute() / SWEEPS


def new_sweep_id(kind: str = "sweep") -> str:
    """A fresh sweep id: ``<kind>-<YYYYmmdd-HHMMSS>-<4 hex>``."""
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def sweep_dir(root, sweep_id: str) -> Path:
    """The folder of sweep ``sweep_id`` under ``root`` (a plain name; nothing outside ``root``)."""
    return run_dir(root, sweep_id)


def log_tail(folder, n: int = 1) -> str:
    """The last ``n`` non-empty lines of a sweep folder's ``sweep.log`` ('' without one)."""
    try:
        with open(Path(folder) / "sweep.log", "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def sweep_info(folder) -> dict | None:
    """What the app knows of one sweep folder (None if it is none).

    Returns
    -------
    dict
        ``id``, ``path``, ``status`` (``sweep.json``'s; ``starting`` before
        it exists, or before a resumed sweep rewrites it, while the process
        lives; ``failed`` if the process ended
        without writing it, ``interrupted`` for a ``running`` sweep whose
        process is gone), ``name``, ``counts``, ``n_points``, ``updated``,
        ``error`` (the log's last line for a failed start), ``index`` (the
        contents of ``sweep.json``, or None).
    """
    from collop.runs.listing import _pid_alive
    from collop.schema import CollopError
    from collop.sweep import read_sweep

    folder = Path(folder)
    info = {"id": folder.name, "path": str(folder), "name": "", "counts": {}, "n_points": 0, "updated": "",
            "error": None, "index": None}
    if (folder / "sweep.json").is_file():
        try:
            idx = read_sweep(folder)
        except CollopError as exc:
            return {**info, "status": "unknown", "error": str(exc)}
        status = idx.get("status", "unknown")
        if status == "running" and idx.get("alive") is False:
            status = "interrupted"
        if status != "running" and _resuming(folder):
            status = "starting"
        return {**info, "status": status, "name": str(idx.get("name") or ""), "counts": idx.get("counts") or {},
                "n_points": len(idx.get("points") or []), "updated": str(idx.get("updated") or ""), "index": idx}
    try:
        job = json.loads((folder / "job.json").read_text())
    except (OSError, ValueError):
        return None
    alive = _pid_alive(job.get("pid"))
    return {**info, "status": "starting" if alive else "failed", "name": str(job.get("name") or ""),
            "updated": str(job.get("started") or ""),
            "error": None if alive else (log_tail(folder) or "the sweep process ended before it started")}


def _resuming(folder: Path) -> bool:
    """Whether a process launched on the folder after its index was last written still lives (a resume starting)."""
    from collop.runs.listing import _pid_alive

    try:
        if os.stat(folder / "job.json").st_mtime_ns <= os.stat(folder / "sweep.json").st_mtime_ns:
            return False
        job = json.loads((folder / "job.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(_pid_alive(job.get("pid")))


def list_sweeps(runs_root) -> list[dict]:
    """Every sweep folder in ``<runs>/sweeps`` (:func:`sweep_info`), newest first."""
    root = sweeps_root(runs_root)
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and not d.name.startswith("."):
            info = sweep_info(d)
            if info is not None:
                try:
                    info["mtime"] = max(os.stat(d / f).st_mtime for f in ("sweep.json", "job.json")
                                        if (d / f).exists())
                except ValueError:
                    info["mtime"] = 0.0
                out.append(info)
    out.sort(key=lambda r: (-r["mtime"], r["id"]))
    return out


class SweepJobs(ProcessTable):
    """Starts and stops sweeps whose folders live in ``<runs_root>/sweeps``.

    Parameters
    ----------
    runs_root : path-like
        The app's runs folder.
    python : str
        Interpreter of the sweep processes (default: this one).
    """

    def __init__(self, runs_root, python: str | None = None):
        self.root = sweeps_root(runs_root)
        self.python = python or sys.executable
        super().__init__()

    def start(self, spec: dict, *, workers: int = 2, scheduler: str | None = None, sweep_id: str | None = None,
              kind: str = "sweep") -> str:
        """Run a sweep spec (JSON data, :mod:`collop.sweep.grid`) in a new folder; returns its id.

        ``scheduler`` (an address or scheduler file) sends the points to a
        running dask scheduler instead of a new local cluster of ``workers``.
        The spec and the scheduler are checked by the sweep process itself
        (before it writes its index); what it refuses ends the process at
        once, and :func:`sweep_info` reports the reason (the log's last line).
        """
        _check_workers(workers)
        sweep_id = sweep_id or new_sweep_id(kind)
        self.root.mkdir(parents=True, exist_ok=True)
        folder = sweep_dir(self.root, sweep_id)
        folder.mkdir(parents=False, exist_ok=False)
        atomic_write_text(folder / "spec.json", json.dumps(spec, indent=1) + "\n")
        self._launch(sweep_id, folder, str(folder / "spec.json"), workers, scheduler, str(spec.get("name") or ""))
        return sweep_id

    def resume(self, sweep_id: str, *, workers: int = 2, scheduler: str | None = None) -> str:
        """Run the points of an existing sweep folder that are not done (``collop sweep run FOLDER``)."""
        from collop.runs import run_owner

        _check_workers(workers)
        folder = sweep_dir(self.root, sweep_id)
        if not (folder / "sweep.json").is_file():
            raise ValueError(f"{sweep_id}: not a sweep folder (no sweep.json)")
        if run_owner(folder) is not None or sweep_id in self.running():
            raise ValueError(f"{sweep_id}: is running already")
        self._launch(sweep_id, folder, str(folder), workers, scheduler, "", mode="ab")
        return sweep_id

    def _launch(self, sweep_id: str, folder: Path, spec_arg: str, workers: int, scheduler: str | None, name: str,
                mode: str = "wb") -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        env.setdefault("OMP_NUM_THREADS", "1")
        where = ["--scheduler", str(scheduler)] if scheduler else ["--workers", str(int(workers))]
        cmd = [self.python, "-m", "collop", "sweep", "run", spec_arg, "--out", str(folder), *where, "--quiet"]
        with open(folder / "sweep.log", mode) as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=str(REPO_ROOT), env=env, start_new_session=True)
        from collop.runs.ownership import _proc_start

        atomic_write_text(folder / "job.json", json.dumps(
            {"pid": proc.pid, "start_ticks": _proc_start(proc.pid), "name": name,
             "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": cmd[1:4]}) + "\n")
        with self._lock:
            self._procs[sweep_id] = proc
        threading.Thread(target=self._reap, args=(sweep_id, proc), daemon=True,
                         name=f"collop-sweep-{sweep_id}").start()

    def _reap(self, sweep_id: str, proc: subprocess.Popen) -> None:
        rc = proc.wait()          # blocks in the OS, not in Python: the event loop is never held
        with self._lock:
            self._exit[sweep_id] = rc
            self._procs.pop(sweep_id, None)

    def stop(self, sweep_id: str) -> str:
        """Ask a sweep to stop (SIGINT to its process); returns a one-line message."""
        return stop_folder(sweep_dir(self.root, sweep_id), sweep_id,
                           stopping="stopping (running points end after their epoch)")

    def close(self, timeout: float = 30.0) -> None:
        """Stop every sweep started here (SIGINT, then SIGKILL of its process group after ``timeout``)."""
        with self._lock:
            procs = list(self._procs.items())
        for sid, p in procs:
            if p.poll() is None:
                self.stop(sid)
                with _suppress():
                    p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for _, p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _check_workers(workers) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a positive number, got {workers!r}")


def _suppress():
    import contextlib

    return contextlib.suppress(ProcessLookupError, PermissionError)


def get_sweep_jobs(runs_root) -> SweepJobs:
    """The one :class:`SweepJobs` of a runs folder in this server process (shared by sessions)."""
    key = str(Path(runs_root).absolute())
    with _LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = SweepJobs(key)
        return _MANAGERS[key]
