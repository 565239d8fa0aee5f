"""Background trainings: launched outside the Bokeh event loop, followed through the run folder.

Each job is a job spec (:mod:`collop.pipeline`) sent as JSON to its own worker
process (:mod:`dashboards.worker`), which runs it with
:func:`collop.pipeline.run`, exactly as ``collop train``/``collop run`` would,
so a run started from the app and one started from a terminal leave identical
folders. One warm worker (torch already
imported) waits for the next job, so Start answers at once; the app starts
it when the Fokker-Planck tab is first shown, not with the server (its
imports, several CPU-seconds, slowed the first page loads). The app never
waits for a job: a small thread per job only ``wait()`` s for the process to
reap it (no GIL held), and everything the page shows is read back from the
run folder.

Stop sends SIGINT to the process that owns the run folder, identified by the
folder's lock (:func:`collop.runs.signal_run`), or, while the run is still
starting, to the worker named in ``job.json`` if its start time matches; the
job stops after the current epoch and records ``stopped``. That works from any
session, after a page reload, and for runs launched from a terminal on this
host.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .config import REPO_ROOT

__all__ = ["JobManager", "get_manager", "new_run_id", "run_label"]

_MANAGERS: dict[str, "JobManager"] = {}
_LOCK = threading.Lock()


def new_run_id(method: str) -> str:
    """A fresh run id: ``<method>-<YYYYmmdd-HHMMSS>-<4 hex>``."""
    return f"{method}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


_AUTO_ID = re.compile(r"(?P<method>.+)-(?P<date>\d{8})-(?P<hh>\d{2})(?P<mm>\d{2})\d{2}-(?P<tag>[0-9a-f]{4})")


def run_label(run_id: str, method: str | None = None) -> str:
    """A short legend label: ``ps-tensor 07:48 cfd8`` for an id from :func:`new_run_id`.

    A renamed run keeps its name, prefixed with the method when the name
    does not already say it.
    """
    m = _AUTO_ID.fullmatch(run_id)
    if m:
        return f"{m['method']} {m['hh']}:{m['mm']} {m['tag']}"
    return run_id if not method or method in run_id else f"{method} · {run_id}"


class ProcessTable:
    """The processes a manager started, by id: which are alive, and waiting for one to end."""

    def __init__(self):
        self._procs: dict[str, subprocess.Popen] = {}
        self._exit: dict[str, int] = {}
        self._lock = threading.Lock()

    def running(self) -> list[str]:
        """Ids of the jobs started here whose processes are alive."""
        with self._lock:
            return [k for k, p in self._procs.items() if p.poll() is None]

    def wait(self, job_id: str, timeout: float | None = None) -> int | None:
        """Wait for a job started here to end; its exit status (None on timeout / unknown)."""
        with self._lock:
            proc = self._procs.get(job_id)
            if proc is None:
                return self._exit.get(job_id)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def stop_folder(d: Path, label: str, stopping: str = "stopping") -> str:
    """SIGINT to the process that owns folder ``d`` (its lock holder), or, while it is still starting, to the
    process named in its ``job.json`` if that process's start time matches; a one-line message."""
    from collop.runs import _proc_start, run_owner, signal_run

    if run_owner(d) is not None:
        msg = signal_run(d, signal.SIGINT)
        return msg if "not" in msg or stopping == "stopping" else f"{label}: {stopping}"
    try:   # still starting: the process has not claimed the folder yet
        job = json.loads((d / "job.json").read_text())
    except (OSError, ValueError):
        job = {}
    pid = job.get("pid")
    if isinstance(pid, int) and job.get("start_ticks") and _proc_start(pid) == job["start_ticks"]:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return f"{label}: not running"
        return f"{label}: stopping"
    return f"{label}: not running"


class JobManager(ProcessTable):
    """Starts and stops trainings whose run folders live under ``runs_root``.

    Parameters
    ----------
    runs_root : path-like
        Folder of run folders.
    python : str
        Interpreter of the workers (default: this one).
    warm : bool
        Keep one worker with torch imported waiting for the next job.
    eager : bool
        Start that worker now; otherwise on :meth:`prepare` or after the first job.
    """

    def __init__(self, runs_root, python: str | None = None, warm: bool = True, eager: bool = True):
        self.runs_root = Path(runs_root).absolute()
        self.python = python or sys.executable
        self.warm = warm
        self._spare: subprocess.Popen | None = None
        super().__init__()
        if warm and eager:
            self._spare = self._spawn()

    def prepare(self) -> None:
        """Start the warm worker if there should be one and there is none (a job is coming)."""
        if not self.warm:
            return
        with self._lock:
            if self._spare is None or self._spare.poll() is not None:
                self._spare = self._spawn()

    # -- processes -----------------------------------------------------------------
    def _spawn(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        env.setdefault("OMP_NUM_THREADS", "1")
        return subprocess.Popen([self.python, "-m", "dashboards.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(REPO_ROOT),
                                env=env, start_new_session=True, text=True)

    def _take_worker(self) -> subprocess.Popen:
        with self._lock:
            proc = self._spare if self._spare is not None and self._spare.poll() is None else None
            self._spare = None
        if proc is None:
            proc = self._spawn()
        return proc

    def _launch(self, job: dict) -> str:
        self.runs_root.mkdir(parents=True, exist_ok=True)
        proc = self._take_worker()
        proc.stdin.write(json.dumps(job) + "\n")
        proc.stdin.close()
        run_id = Path(job["run_dir"]).name
        with self._lock:
            self._procs[run_id] = proc
        threading.Thread(target=self._reap, args=(run_id, proc), daemon=True,
                         name=f"collop-reap-{run_id}").start()
        if self.warm:
            with self._lock:
                if self._spare is None:
                    self._spare = self._spawn()
        return run_id

    def _reap(self, run_id: str, proc: subprocess.Popen) -> None:
        rc = proc.wait()  # blocks in the OS, not in Python: the event loop is never held
        with self._lock:
            self._exit[run_id] = rc
            self._procs.pop(run_id, None)

    # -- jobs --------------------------------------------------------------------------
    def start(self, spec, run_id: str | None = None) -> str:
        """Run a job spec (its ``out`` is replaced by a new folder under ``runs_root``); returns the run id."""
        import dataclasses

        from collop.pipeline import resolve, spec_to_dict

        if spec.kind == "train":
            method = resolve(spec).method
        else:
            method = spec.kind
        run_id = run_id or new_run_id(method)
        out = self.runs_root / run_id
        spec = dataclasses.replace(spec, out=str(out))
        d = spec_to_dict(spec)
        dataset = d.get("data") or d.get("particles")
        return self._launch({"kind": spec.kind, "run_dir": str(out), "spec": d, "method": method,
                             "dataset": os.path.abspath(dataset) if dataset else None})

    def start_fp(self, data, *, train, test=(), model="tensor", symmetry="isotropic", nt=None,
                 reg=0.0, seed=0, curriculum=None, smooth=0.0, reg_velocity=0.0,
                 run_id: str | None = None) -> str:
        """Train a Fokker-Planck operator on ``data`` in a new run folder; returns the run id."""
        from collop.pipeline import TrainSpec

        spec = TrainSpec(data=os.path.abspath(data), train=list(train), test=list(test) or None,
                         family="fokker_planck", out=str(self.runs_root / "_"),
                         options={"model": model, "symmetry": symmetry, "nt": nt},
                         penalties={"reg": float(reg), "reg_velocity": float(reg_velocity)},
                         objective={"smooth": float(smooth)}, curriculum=curriculum or None, seed=int(seed))
        return self.start(spec, run_id)

    def start_tracks(self, particles, data, *, test=(), ndump=1, symmetry="isotropic",
                     run_id: str | None = None) -> str:
        """The Tracks estimate (scored on ``data``'s test populations) in a new run folder."""
        from collop.pipeline import TracksSpec

        spec = TracksSpec(particles=os.path.abspath(particles), ndump=int(ndump), symmetry=symmetry,
                          grid_from=os.path.abspath(data), data=os.path.abspath(data),
                          test=list(test) or None, out=str(self.runs_root / "_"))
        return self.start(spec, run_id)

    def stop(self, run_id: str) -> str:
        """Ask a run to stop (SIGINT to the process that owns it); returns a one-line message."""
        return stop_folder(self.runs_root / run_id, run_id)

    def close(self, stop_jobs: bool = False, timeout: float = 30.0) -> None:
        """Let the warm worker go; with ``stop_jobs`` also stop (then kill) running jobs."""
        with self._lock:
            spare, self._spare = self._spare, None
            procs = list(self._procs.values())
        if spare is not None and spare.poll() is None:
            spare.kill()                 # it holds no job: nothing to save
            spare.wait()
            spare.stdin.close()
        if stop_jobs:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            deadline = time.monotonic() + timeout
            for p in procs:
                try:
                    p.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def get_manager(runs_root, warm: bool = True, eager: bool = True) -> JobManager:
    """The one :class:`JobManager` of a runs folder in this server process (shared by sessions)."""
    key = str(Path(runs_root).absolute())
    with _LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(key, warm=warm, eager=eager)
        return _MANAGERS[key]

