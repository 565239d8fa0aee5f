"""The runs folder as the app sees it: list, resolve, rename, delete (to a trash folder), read operators.

Everything is read from disk on demand, so every session (a reload, a second
tab, the command line) sees the same runs. Deleting a run moves its folder
into ``<runs>/.trash/`` (restorable, listed by :func:`list_trash`) until the
trash is emptied with :func:`empty_trash`.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
from pathlib import Path

import xarray as xr

from collop.io import atomic_write_text, open_dataset
from collop.runs import RunFolder, _pid_alive, list_runs, to_json

from .config import Config, PathError

__all__ = ["RunError", "list_all", "run_dir", "run_pid", "rename_run", "delete_run", "restore_run", "list_trash",
           "empty_trash", "load_operator", "snapshot_operator", "is_active", "same_file", "progress_of",
           "RESERVED", "TRASH"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
ACTIVE = ("running", "starting")
#: The trash folder inside the runs folder (hidden: never listed as a run).
TRASH = ".trash"
#: Names a run may not take: folders the app keeps in the runs folder.
RESERVED = frozenset({"uploads", "trash", "snapshots", "sweeps"})


class RunError(ValueError):
    """A run operation that cannot be done; the message is one line."""


def run_dir(root, run_id: str) -> Path:
    """The folder of run ``run_id`` under ``root`` (a plain name; nothing outside ``root``)."""
    if not isinstance(run_id, str) or not _NAME.fullmatch(run_id):
        shown = run_id if not isinstance(run_id, str) or len(run_id) <= 60 else run_id[:57] + "..."
        raise RunError(f"{shown!r}: not a run name (1 to 100 letters, digits, '_', '-', '.'; "
                       "starting with a letter or digit)")
    try:
        return Config.resolve_in(root, run_id)
    except PathError as exc:
        raise RunError(str(exc)) from None


def _starting(d: Path) -> dict | None:
    """A run folder whose worker has not created ``run.json`` yet."""
    try:
        job = json.loads((d / "job.json").read_text())
    except (OSError, ValueError):
        return None
    alive = _pid_alive(job.get("pid"))
    return {"id": d.name, "kind": job.get("kind"), "method": job.get("method"), "params": job.get("params", {}),
            "dataset": job.get("dataset", ""), "status": "starting" if alive else "failed",
            "error": None if alive else "the worker ended before the run started",
            "created": "", "pid": job.get("pid"), "host": socket.gethostname(), "path": str(d)}


def list_all(root) -> list[dict]:
    """Every run under ``root`` (see :func:`collop.runs.list_runs`), plus runs still starting.

    Each entry's ``id`` is its folder name. A ``running`` run whose process
    is gone is reported as ``failed`` with an explanatory error.
    """
    root = Path(root)
    runs = list_runs(root)
    for r in runs:
        r["id"] = Path(r["path"]).name
        if r.get("status") == "running" and r.get("alive") is False:
            r["status"] = "failed"
            r["error"] = r.get("error") or "the process ended without recording a status"
    if root.is_dir():
        seen = {r["id"] for r in runs}
        for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in seen):
            if not (d / "run.json").exists():
                s = _starting(d)
                if s is not None:
                    runs.append(s)
    return runs


def is_active(info: dict) -> bool:
    """Whether a run (an entry of :func:`list_all`) is starting or running."""
    return info.get("status") in ACTIVE


def run_pid(root, run_id: str) -> int | None:
    """Pid of an active run on this host (None if it is not active here)."""
    d = run_dir(root, run_id)
    for name in ("run.json", "job.json"):
        try:
            info = json.loads((d / name).read_text())
        except (OSError, ValueError):
            continue
        if name == "run.json" and (info.get("status") != "running" or info.get("host") != socket.gethostname()):
            return None
        pid = info.get("pid")
        return int(pid) if pid is not None and _pid_alive(pid) else None
    return None


def _info(root, run_id) -> dict:
    for r in list_all(root):
        if r["id"] == run_id:
            return r
    raise RunError(f"{run_id}: no such run")


def rename_run(root, old: str, new: str, reserved=()) -> str:
    """Rename a run folder (not while it runs); returns the new id.

    Parameters
    ----------
    reserved : iterable of str
        More names that are not allowed (besides :data:`RESERVED`), e.g. the
        uploads folder's name when it lies in the runs folder.
    """
    src, dst = run_dir(root, old), run_dir(root, new)
    if new.lower() in RESERVED | {str(r).lower() for r in reserved}:
        raise RunError(f"{new!r}: reserved for the app's own folders; choose another name")
    info = _info(root, old)
    if is_active(info):
        raise RunError(f"{old}: is {info['status']}; stop it before renaming")
    if dst.exists():
        raise RunError(f"{new}: a run with this name exists")
    os.rename(src, dst)
    rf = RunFolder(dst)
    if rf.exists():
        try:
            data = rf.read()
            data["id"] = new
            atomic_write_text(rf.run_file, to_json(data) + "\n")
        except (OSError, ValueError):
            pass
    return new


def delete_run(root, run_id: str) -> str:
    """Move a run folder into the trash (not while it runs); returns its name in the trash.

    The run can be brought back with :func:`restore_run` until
    :func:`empty_trash` removes it for good.
    """
    d = run_dir(root, run_id)
    info = _info(root, run_id)
    if is_active(info):
        raise RunError(f"{run_id}: is {info['status']}; stop it before deleting")
    trash = Path(root) / TRASH
    trash.mkdir(exist_ok=True)
    name, k = run_id, 1
    while (trash / name).exists():
        k += 1
        name = f"{run_id}.{k}"
    os.rename(d, trash / name)
    return name


def list_trash(root) -> list[str]:
    """Names of the runs in the trash, oldest deletion first."""
    trash = Path(root) / TRASH
    if not trash.is_dir():
        return []
    return [p.name for p in sorted(trash.iterdir(), key=lambda p: p.stat().st_mtime) if p.is_dir()]


def restore_run(root, name: str) -> str:
    """Move a run from the trash back into the runs folder; returns its id (``-restored`` added if taken)."""
    src = run_dir(Path(root) / TRASH, name)
    if not src.is_dir():
        raise RunError(f"{name}: not in the trash")
    base = re.sub(r"\.\d+$", "", name)
    candidates = (base if k == 0 else f"{base}-restored" if k == 1 else f"{base}-restored-{k}" for k in range(1000))
    new = next(c for c in candidates if not (Path(root) / c).exists())
    os.rename(src, run_dir(root, new))
    return new


def empty_trash(root) -> int:
    """Delete every run in the trash for good; returns how many."""
    trash = Path(root) / TRASH
    names = list_trash(root)
    for n in names:
        shutil.rmtree(trash / n)
    return len(names)


def _stamp(path):
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=64)
def _load_op(stamp) -> xr.Dataset:
    return open_dataset(stamp[0], "operator")


def load_operator(path) -> xr.Dataset | None:
    """An operator file (cached per file version); None if missing or unreadable."""
    try:
        return _load_op(_stamp(path))
    except (OSError, ValueError):
        return None


def snapshot_operator(run_path) -> xr.Dataset | None:
    """The newest operator of a run: ``operator.nc`` if written, else the latest snapshot."""
    run_path = Path(run_path)
    if (run_path / "operator.nc").exists():
        return load_operator(run_path / "operator.nc")
    snaps = RunFolder(run_path).snapshots()
    return load_operator(snaps[-1]) if snaps else None


def same_file(a, b) -> bool:
    """Whether two paths name the same file (False if either is missing)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, TypeError):
        return False


def progress_of(info: dict) -> tuple[int, int]:
    """(epochs done, epochs planned) of a run from its parameters and metrics (0, 0 if unknown)."""
    from collop.train import parse_curriculum

    params = info.get("params") or {}
    spec = params.get("curriculum") or ("ps-tensor" if params.get("model") == "tensor" else
                                        "ps-nn" if params.get("model") == "nn" else None)
    try:
        total = sum(s.epochs for s in parse_curriculum(spec)) if spec else 0
    except (ValueError, TypeError):
        total = 0
    done = int((info.get("metrics") or {}).get("epochs") or 0)
    return done, total
