"""The life of a run folder during one job: checks, ownership, events, final status.

:class:`RunContext` is the one writer of a run folder. It is entered only
after every input has been validated; it then takes the folder's lock
(:meth:`collop.runs.RunFolder.claim`), clears what a killed writer left
behind, writes ``run.json``, forwards events to ``events.jsonl`` and to the
caller's callback, and on the way out records the final status: ``finished``,
``stopped``, ``diverged``, or ``failed`` with the exception's one-line text.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..options import SpecError, one_line
from ..runs import RunFolder, to_json
from ..schema import CollopError

__all__ = ["RunResult", "StopFlag", "RunContext", "OutFolder", "check_out_file", "check_threads",
           "failure_text", "one_line", "finite_or_none", "use_threads"]


def failure_text(exc: BaseException) -> str:
    """One line for ``run.json``: a user error as it is, anything else with its type."""
    return one_line(exc) if isinstance(exc, CollopError) else one_line(f"{type(exc).__name__}: {exc}")


@dataclass
class RunResult:
    """What :func:`collop.pipeline.run` returns.

    Attributes
    ----------
    status : {"finished", "stopped", "diverged"}
    path : Path
        The run folder.
    metrics : dict or None
        The contents of ``metrics.json``.
    message : str
        Why a run stopped or diverged.
    """

    status: str
    path: Path
    metrics: dict | None = None
    message: str = ""
    info: dict = field(default_factory=dict)


class StopFlag:
    """A stop request shared by a job and whoever may stop it.

    ``set()`` asks the job to stop after the current epoch. Signal handlers
    (:func:`collop.pipeline.signals.handle_signals`) call :meth:`request`:
    while the job is in a phase that can stop cleanly (``graceful``, set by
    the pipeline during training) the first request sets the flag; otherwise,
    or on a second request, it raises :class:`KeyboardInterrupt`.
    """

    def __init__(self):
        self._event = threading.Event()
        self.graceful = False

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def request(self) -> bool:
        """A stop request from a signal; True if it was taken as a clean stop."""
        if self.graceful and not self.is_set():
            self.set()
            return True
        raise KeyboardInterrupt


def check_threads(n: int) -> None:
    """Refuse more threads than this machine has CPUs (torch and numba misbehave)."""
    cpus = os.cpu_count() or 1
    if n > cpus:
        raise SpecError(f"threads: {n} is more than this machine's {cpus} CPU(s)", field="threads")


@contextlib.contextmanager
def use_threads(n: int):
    """Run the block with ``n`` torch and kernel threads; restore the counts afterwards."""
    import numba
    import torch

    from ..solvers import set_kernel_threads

    check_threads(n)
    before, nb = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(n)
    set_kernel_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        set_kernel_threads(nb)


def _writable_dir(d: Path) -> bool:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".collop-write-test.", dir=d)
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


class OutFolder:
    """An output folder: checked before any work, created late, removed on failure if it is new."""

    def __init__(self, path, what: str = "out"):
        self.path = Path(path)
        self.what = what
        if self.path.exists() and not self.path.is_dir():
            raise SpecError(f"{self.what} {path}: exists and is not a folder", field=self.what)
        self.existed = self.path.exists()
        top = self.path.absolute()
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        self._top = top                    # topmost folder that mkdir(parents=True) creates
        base = self.path.absolute() if self.existed else top.parent
        if not base.is_dir():
            raise SpecError(f"{self.what} {path}: {base} is not a folder", field=self.what)
        if not _writable_dir(base):
            raise SpecError(f"{self.what} {path}: cannot write in {base}", field=self.what)

    def discard(self) -> None:
        """Remove what this job created (nothing if the folder existed before)."""
        if not self.existed and self._top.exists():
            shutil.rmtree(self._top, ignore_errors=True)


def check_out_file(path, what: str = "out") -> Path:
    """Check that the file ``path`` can be written (its folder exists and is writable)."""
    p = Path(path)
    if p.is_dir():
        raise CollopError(f"{path}: is a folder, expected a file name ({what})")
    parent = p.absolute().parent
    if not parent.is_dir():
        raise CollopError(f"{path}: folder {parent} does not exist ({what})")
    if not _writable_dir(parent):
        raise CollopError(f"{path}: cannot write in folder {parent} ({what})")
    return p


class RunContext:
    """Owns a run folder for the duration of a job (see the module docstring).

    Parameters
    ----------
    out : OutFolder
        The checked output folder.
    kind, method : str
        ``run.json``'s ``kind`` (job kind) and ``method``.
    params : dict
        ``run.json``'s ``params`` (flat, for listing runs).
    dataset : str
        The data the run is about.
    spec : dict
        The resolved job spec.
    callback : callable, optional
        Receives every event (with non-JSON values such as the operator).
    """

    def __init__(self, out: OutFolder, *, kind: str, method: str, params: dict, dataset: str,
                 spec: dict, callback=None):
        self.out = out
        self.run = RunFolder(out.path)
        self.kind, self.method, self.params = kind, method, params
        self.dataset, self.spec = dataset, spec
        self.callback = callback
        self.created = False
        self.trained = False

    # -- entering -------------------------------------------------------------------
    def claim(self) -> "RunContext":
        """Take the folder (lock) and clear temporary files a killed writer left."""
        self.run.claim()
        self.run.remove_orphans()
        return self

    def start(self, *, epochs_done: int | None = None) -> None:
        """Write ``run.json`` (status ``running``); on resume keep the events of ``epochs_done`` epochs."""
        if epochs_done is not None:
            self.run.truncate_events(epochs_done)
        self.run.create(self.kind, self.params, self.dataset, method=self.method, spec=self.spec)
        self.created = True

    # -- events ---------------------------------------------------------------------------
    def event(self, ev: dict, *, record: dict | None = None) -> None:
        """Send ``ev`` to the callback and append ``record`` (default: ``ev``) to ``events.jsonl``."""
        if record is not False:
            self.run.append_event(record if record is not None else ev)
        if self.callback is not None:
            self.callback(ev)

    def write_json(self, name: str, obj) -> Path:
        from ..io import atomic_write_text

        return atomic_write_text(self.run.path / name, to_json(obj) + "\n")

    # -- leaving ---------------------------------------------------------------------------
    def finish(self, status: str, *, metrics: dict | None, message: str = "", extra: dict | None = None):
        self.run.set_status(status, error=message if status == "diverged" else None, metrics=metrics)
        self.event({"event": "done", "status": status, "message": message, **(extra or {})})

    def fail(self, exc: BaseException) -> None:
        """Record a failure (status ``failed``, the exception's text) if the run exists."""
        if not self.created:
            return
        msg = ("interrupted before the run could be saved" if isinstance(exc, KeyboardInterrupt)
               else failure_text(exc))
        with contextlib.suppress(Exception):
            self.run.set_status("failed", error=msg)
            self.run.append_event({"event": "done", "status": "failed", "message": msg})

    def close(self, exc: BaseException | None = None) -> None:
        """Release the folder; a failure before any training removes a folder this job created.

        A job that fails writes none of its outputs; once an epoch has been
        trained the run is kept with status ``failed`` and the error.
        """
        try:
            if exc is not None:
                if not self.trained and not self.out.existed:
                    self.run.release()
                    self.out.discard()
                    return
                self.fail(exc)
        finally:
            self.run.release()


def finite_or_none(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None
