"""Run folders: what a training run leaves on disk, so that other processes can follow it.

A run folder holds

``run.json``
    ``id`` (the folder name), ``kind`` (``"fp"``), ``method``, ``params``,
    ``dataset``, ``status`` (``running`` -> ``finished`` / ``stopped`` /
    ``diverged`` / ``failed``), ``created`` / ``updated`` (ISO 8601, UTC),
    ``pid``, ``host``, and once known ``error`` and ``metrics``. Rewritten
    atomically on every change, so a reader never sees half of it.
``events.jsonl``
    One JSON object per line, appended and flushed as the run goes:
    ``{"event": "stage"|"epoch"|"snapshot"|"done"|..., "time": ..., ...}``.
``snapshots/NNNNNN.nc``
    Operator files written during training (``NNNNNN``: epochs done).
``operator.nc``, ``metrics.json``, ``checkpoint.pt``
    Written by the command that owns the run (see :mod:`collop.cli`).

The command line (``collop train fp``) writes run folders; the app lists them
with :func:`list_runs`.
"""
from __future__ import annotations

import json
import math
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from .io import atomic_write_text, write_dataset

__all__ = ["RunFolder", "list_runs", "STATUSES", "SNAPSHOT_EVERY"]

#: Values of ``run.json``'s ``status``.
STATUSES = ("running", "finished", "stopped", "diverged", "failed")
#: Fewest epochs between two snapshots written by :meth:`RunFolder.save_snapshot`.
SNAPSHOT_EVERY = 25


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _clean(obj):
    """``obj`` with non-finite floats as None and numpy scalars/arrays as Python values."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalar / array
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def to_json(obj, indent: int | None = 2) -> str:
    """Strict JSON of ``obj`` (NaN/Inf written as null, numpy values as Python values)."""
    return json.dumps(_clean(obj), indent=indent, allow_nan=False)


class RunFolder:
    """One run's folder: ``run.json``, ``events.jsonl`` and ``snapshots/``.

    Parameters
    ----------
    path : str or path-like
        The folder; its name is the run's id.

    Examples
    --------
    >>> run = RunFolder("runs/fp-001")                      # doctest: +SKIP
    >>> run.create("fp", {"model": "tensor"}, "data.nc", method="ps-tensor")
    >>> run.append_event({"event": "epoch", "stage": 0, "epoch": 0, "loss": 0.1})
    >>> run.set_status("finished", metrics={"rollout_mae": 0.01})
    """

    def __init__(self, path):
        self.path = Path(path)
        self._last_snapshot = None

    # -- files ----------------------------------------------------------------
    @property
    def id(self) -> str:
        """The run's id: the folder name."""
        return self.path.resolve().name

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def snapshot_dir(self) -> Path:
        return self.path / "snapshots"

    def exists(self) -> bool:
        """Whether the folder holds a ``run.json``."""
        return self.run_file.is_file()

    def _write(self, info: dict) -> dict:
        atomic_write_text(self.run_file, to_json(info) + "\n")
        return info

    # -- run.json -------------------------------------------------------------
    def create(self, kind: str, params: dict, dataset: str, *, method: str | None = None) -> dict:
        """Create the folder (if needed) and write ``run.json`` with status ``running``.

        Parameters
        ----------
        kind : str
            Family of the run, ``"fp"`` for Fokker-Planck training.
        params : dict
            The run's parameters (JSON-serialisable; recorded as given).
        dataset : str
            Path of the training data.
        method : str, optional
            Method name (``ps-tensor``, ``ps-nn``, ...); default ``params["method"]``.

        Returns
        -------
        dict
            The contents of ``run.json``. When a ``run.json`` exists already
            (a resumed run) its ``created`` time is kept and ``resumed`` lists
            the times the run was restarted.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        now = _now()
        old = self.read() if self.exists() else {}
        info = {"id": self.id, "kind": kind, "method": method or params.get("method"),
                "params": dict(params), "dataset": str(dataset), "status": "running",
                "created": old.get("created", now), "updated": now, "pid": os.getpid(),
                "host": socket.gethostname()}
        if old:
            info["resumed"] = list(old.get("resumed", [])) + [now]
        return self._write(info)

    def set_status(self, status: str, error: str | None = None, metrics: dict | None = None,
                   **extra) -> dict:
        """Record a new status (and the error message or metrics) in ``run.json``.

        Parameters
        ----------
        status : {"running", "finished", "stopped", "diverged", "failed"}
        error : str, optional
            One-line message of what went wrong (failed or diverged runs).
        metrics : dict, optional
            The run's metrics (as in ``metrics.json``).
        **extra
            Further keys to store.
        """
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        info = self.read()
        info.update(status=status, updated=_now(), **extra)
        if error is not None:
            info["error"] = str(error)
        if metrics is not None:
            info["metrics"] = metrics
        return self._write(info)

    def read(self) -> dict:
        """The contents of ``run.json``."""
        with open(self.run_file) as fh:
            return json.load(fh)

    # -- events ---------------------------------------------------------------
    def append_event(self, event: dict) -> dict:
        """Append one event as a JSON line to ``events.jsonl`` (flushed at once).

        A ``time`` key (ISO 8601, UTC) is added unless present. Values that
        are not JSON (operators, tensors) are stored as their ``repr``; leave
        them out.
        """
        event = dict(event)
        event.setdefault("time", _now())
        line = to_json(event, indent=None)
        with open(self.events_file, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
        return event

    def events(self) -> list[dict]:
        """All events so far (a partly written last line is skipped)."""
        if not self.events_file.exists():
            return []
        out = []
        with open(self.events_file) as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    # -- snapshots ------------------------------------------------------------
    def save_snapshot(self, operator, epoch: int, *, grid=None, times=None, source: str = "",
                      attrs: dict | None = None, every: int = SNAPSHOT_EVERY,
                      event: dict | None = None) -> dict | None:
        """Write ``snapshots/NNNNNN.nc`` and append a ``snapshot`` event.

        Parameters
        ----------
        operator : FokkerPlanck or xarray.Dataset
            The operator (written with ``operator.to_dataset(grid, times, ...)``)
            or an ``operator`` dataset.
        epoch : int
            Epochs done in the whole run (``NNNNNN``).
        grid, times
            Passed to ``operator.to_dataset``.
        source : str
            Source attribute of the file.
        attrs : dict, optional
            Extra attributes of the file.
        every : int
            Skip the snapshot if the last one written by this object is fewer
            than ``every`` epochs ago (0: never skip).
        event : dict, optional
            Extra keys of the event.

        Returns
        -------
        dict or None
            The event, or None when the snapshot was skipped.
        """
        epoch = int(epoch)
        if self._last_snapshot is not None and every and epoch - self._last_snapshot < every:
            return None
        ds = operator if not hasattr(operator, "to_dataset") else operator.to_dataset(
            grid, times, source=source, attrs={"epoch": epoch, **(attrs or {})})
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        rel = Path("snapshots") / f"{epoch:06d}.nc"
        write_dataset(ds, self.path / rel)
        self._last_snapshot = epoch
        return self.append_event({"event": "snapshot", "epoch": epoch, **(event or {}),
                                  "path": rel.as_posix()})

    def snapshots(self) -> list[Path]:
        """Snapshot files, oldest first."""
        if not self.snapshot_dir.is_dir():
            return []
        return sorted(self.snapshot_dir.glob("[0-9]*.nc"))


def _pid_alive(pid) -> bool | None:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, TypeError, ValueError):
        return None
    return True


def list_runs(root) -> list[dict]:
    """The runs in the folders directly under ``root``, oldest first.

    Parameters
    ----------
    root : str or path-like
        A folder of run folders (a missing folder has no runs).

    Returns
    -------
    list of dict
        ``run.json`` of each run plus ``path`` (the folder). A ``running`` run
        started on this host also gets ``alive``: whether its process still
        exists (False means it was killed without updating its status).
        Unreadable ``run.json`` files are listed as ``{"id", "path",
        "status": "unknown", "error"}``.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    host = socket.gethostname()
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        run = RunFolder(d)
        if not run.exists():
            continue
        try:
            info = run.read()
        except (OSError, ValueError) as exc:
            info = {"id": d.name, "status": "unknown", "error": f"{run.run_file}: {exc}"}
        info["path"] = str(d)
        if info.get("status") == "running" and info.get("host") == host and "pid" in info:
            alive = _pid_alive(info["pid"])
            if alive is not None:
                info["alive"] = alive
        runs.append(info)
    runs.sort(key=lambda r: (str(r.get("created", "")), r.get("id", "")))
    return runs
