"""A training worker process: ``python -m dashboards.worker``.

The app keeps one *warm* worker waiting: it imports torch and collop first,
then blocks reading one JSON job from its standard input. When the app hands
it a job it runs the job's spec with :func:`collop.pipeline.run` (in this
process's main thread, so SIGINT and SIGTERM stop the training cleanly after
the epoch) and exits. Every job gets its own process; the app starts the next
warm worker at once.

Job (one JSON line)::

    {"kind": "train" | "tracks", "run_dir": "...", "spec": {...}, "method": "...",
     "dataset": "..."}

Whatever happens, the run folder ends with a ``run.json`` whose ``status`` is
final. Errors the pipeline reports before it creates its run (a bad option, a
bad file) are recorded here from the exception itself. Anything the job
prints goes to ``<run_dir>/log.txt``.
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
    import collop.metrics  # noqa: F401
    import collop.operators.fokker_planck  # noqa: F401
    import collop.pipeline  # noqa: F401
    import collop.pipeline.train  # noqa: F401
    import collop.train  # noqa: F401


def _write_json(path: Path, obj) -> None:
    from collop.io import atomic_write_text
    from collop.runs import to_json

    atomic_write_text(path, to_json(obj) + "\n")


def run_job(job: dict) -> int:
    """Run one job (see the module docstring); returns 0, 3 (diverged), 130 (stopped) or 2/1 (failed)."""
    import warnings

    from collop.pipeline import StopFlag, handle_signals, run, spec_from_dict
    from collop.pipeline.context import failure_text
    from collop.runs import RunFolder, _proc_start
    from collop.schema import CollopError

    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(run_dir)
    _write_json(run_dir / "job.json", {"pid": os.getpid(), "start_ticks": _proc_start(os.getpid()),
                                        "kind": job["kind"], "method": job.get("method"),
                                        "dataset": job.get("dataset"), "spec": job.get("spec"),
                                        "started": time.time()})
    fd = os.open(run_dir / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.close(fd)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)

    stop = StopFlag()
    error, status, rc = None, None, 0
    try:
        with handle_signals(stop), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            spec = spec_from_dict(job["spec"])
            result = run(spec, stop=stop)
        status = result.status
        rc = {"finished": 0, "stopped": 130, "diverged": 3}.get(status, 1)
    except KeyboardInterrupt:
        status, rc = "stopped", 130
    except CollopError as exc:
        error, status, rc = failure_text(exc), "failed", 2
    except BaseException as exc:  # never leave a run without a final status
        import traceback

        traceback.print_exc()
        error, status, rc = failure_text(exc), "failed", 1
    _finish(folder, job, status, error)
    return rc


def _finish(folder, job: dict, status: str, error: str | None) -> None:
    """Give the run a final status if the pipeline did not (it refused the job, or was interrupted)."""
    from collop.runs import _now

    if not folder.exists():   # refused before the run was created: record why, from the exception
        info = {"id": folder.path.name, "kind": job["kind"], "method": job.get("method"),
                "params": _params(job.get("spec") or {}), "spec": job.get("spec"),
                "dataset": job.get("dataset", ""), "status": status, "pid": os.getpid(),
                "created": _now(), "updated": _now()}
        if error:
            info["error"] = error
        _write_json(folder.run_file, info)
        folder.append_event({"event": "done", "status": status, "message": error or ""})
        return
    info = folder.read()
    if info.get("status") == "running":  # ended without saying so
        folder.set_status(status if status in ("stopped", "failed") else "failed", error=error)
        folder.append_event({"event": "done", "status": status, "message": error or ""})


def _params(spec: dict) -> dict:
    """A refused job's flat parameters, as a started run records them."""
    flat = {k: v for k, v in spec.items() if k not in ("options", "penalties", "objective", "kind", "out")}
    for group in ("options", "penalties", "objective"):
        flat.update(spec.get(group) or {})
    return flat


def main() -> int:
    """Warm up, wait for one job on stdin, run it."""
    _warm()
    line = sys.stdin.readline()
    if not line.strip():  # the app went away before giving a job
        return 0
    return run_job(json.loads(line))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
