"""Listing the runs of a runs folder."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from .folder import RunFolder
from .ownership import run_owner

__all__ = ["list_runs", "_pid_alive"]


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
        if info.get("status") == "running" and info.get("host") == host:
            if (d / ".lock").exists():
                info["alive"] = run_owner(d) is not None
            elif "pid" in info:
                alive = _pid_alive(info["pid"])
                if alive is not None:
                    info["alive"] = alive
        runs.append(info)
    runs.sort(key=lambda r: (str(r.get("created", "")), r.get("id", "")))
    return runs
