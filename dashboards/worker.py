"""A training worker process: ``python -m dashboards.worker``.

The app keeps one *warm* worker waiting: it imports torch and collop first,
then blocks reading one JSON job from its standard input. When the app hands
it a job it runs the same command line the user could type
(:func:`collop.cli.main`, in this process's main thread, so a SIGINT stops
the training cleanly after the epoch) and exits. Every job gets its own
process; the app starts the next warm worker at once.

Job (one JSON line)::

    {"kind": "fp" | "tracks", "run_dir": "...", "argv": [...],
     "method": "...", "dataset": "...", "params": {...}}

Whatever happens, the run folder ends with a ``run.json`` whose ``status`` is
final and whose ``error`` names what went wrong: errors the command reports
before it creates its run (a bad option, a bad file) are recorded here.
The command's messages go to ``<run_dir>/log.txt``.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

__all__ = ["run_job", "main"]


def _warm() -> None:
    """Import what a training needs, so the job starts at once."""
    import torch

    torch.set_num_threads(1)
    import collop.cli  # noqa: F401
    import collop.metrics  # noqa: F401
    import collop.operators.fokker_planck  # noqa: F401
    import collop.train  # noqa: F401


def _last_error(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for ln in reversed(lines):
        if ln.startswith("collop: error:") or ln.startswith("collop: internal error:"):
            return ln.split(":", 2)[2].strip() if ln.startswith("collop: error:") else ln[len("collop: "):]
    return lines[-1] if lines else ""


def _write_json(path: Path, obj) -> None:
    from collop.io import atomic_write_text
    from collop.runs import to_json

    atomic_write_text(path, to_json(obj) + "\n")


def run_job(job: dict) -> int:
    """Run one job (see the module docstring) and return the command's exit status."""
    from collop.cli import main as cli_main
    from collop.runs import RunFolder

    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    run = RunFolder(run_dir)
    log = run_dir / "log.txt"
    _write_json(run_dir / "job.json", {"pid": os.getpid(), "kind": job["kind"], "method": job.get("method"),
                                        "dataset": job.get("dataset"), "params": job.get("params", {}),
                                        "argv": job["argv"], "started": time.time()})
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.close(fd)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)

    try:
        rc = int(cli_main(list(job["argv"])))
    except KeyboardInterrupt:
        rc = 130
    except BaseException as exc:  # never leave a run without a final status
        print(f"collop: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        rc = 1
    _finish(run, job, rc, log)
    return rc


def _finish(run, job: dict, rc: int, log: Path) -> None:
    """Give the run a final status if the command did not."""
    if not run.exists():  # the command refused the job before creating its run
        info = {"id": run.path.name, "kind": job["kind"], "method": job.get("method"),
                "params": job.get("params", {}), "dataset": job.get("dataset", ""),
                "status": "stopped" if rc == 130 else "failed", "pid": os.getpid()}
        from collop.runs import _now
        info.update(created=_now(), updated=_now())
        if rc != 130:
            info["error"] = _last_error(log) or f"exit status {rc}"
        _write_json(run.run_file, info)
        run.append_event({"event": "done", "status": info["status"], "message": info.get("error", "")})
        return
    info = run.read()
    if info.get("status") == "running":  # the command died without saying so
        status = "stopped" if rc == 130 else "failed"
        msg = "" if rc == 130 else (_last_error(log) or f"exit status {rc}")
        run.set_status(status, error=msg or None)
        run.append_event({"event": "done", "status": status, "message": msg})


def main() -> int:
    """Warm up, wait for one job on stdin, run it."""
    _warm()
    line = sys.stdin.readline()
    if not line.strip():  # the app went away before giving a job
        return 0
    return run_job(json.loads(line))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
