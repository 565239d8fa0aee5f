"""Progress of ``collop sweep``: a bar over the points fed by the sweep's events, and clean stops."""
from __future__ import annotations

import sys

__all__ = ["Progress", "running"]


class Progress:
    """A tqdm bar over a sweep's points, fed by its events."""

    def __init__(self, args, desc: str):
        self.args, self.desc = args, desc
        self.bar = None
        self.running, self.failed = set(), 0

    def write(self, msg: str) -> None:
        if self.args.quiet:
            return
        if self.bar is not None:
            self.bar.write(f"collop: {msg}", file=sys.stderr)
        else:
            print(f"collop: {msg}", file=sys.stderr, flush=True)

    def __call__(self, ev: dict) -> None:
        from .._common import progress

        stage = ev.get("stage")
        label = f"{self.desc} {stage}" if stage else self.desc
        if ev.get("event") == "sweep" and ev.get("status") == "started":
            self.close()
            self.running, self.failed = set(), 0
            self.bar = progress(self.args, total=ev["n_points"], initial=ev["n_done"], desc=label, unit="point")
            if ev["n_done"]:
                self.write(f"{label}: {ev['n_done']} of {ev['n_points']} point(s) done already; "
                           f"running {ev['n_todo']} on {ev['where']}")
            else:
                self.write(f"{label}: running {ev['n_points']} point(s) on {ev['where']}")
        elif ev.get("event") == "sweep" and ev.get("status") == "stopping":
            self.write("stopping: running points stop after their current epoch (Ctrl-C again to abort)")
        elif ev.get("event") == "point" and self.bar is not None:
            st = ev.get("status")
            if st == "started":
                self.running.add(ev["point"])
            else:
                self.running.discard(ev["point"])
                if st == "failed":
                    self.failed += 1
                    self.write(f"point {ev['point']} failed: {ev.get('error')}")
                if st != "stopped":
                    self.bar.update(1)
            mae = (ev.get("metrics") or {}).get("rollout_mae")
            post = {"running": len(self.running), "failed": self.failed}
            if mae is not None:
                post["last_mae"] = f"{mae:.3e}"
            self.bar.set_postfix(post, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def running(args, fn):
    """Call ``fn(stop)`` with Ctrl-C/SIGTERM as a clean stop (a second one aborts)."""
    from ...pipeline.context import StopFlag

    stop = getattr(args, "_stop", None) or StopFlag()
    stop.graceful = True
    try:
        return fn(stop)
    finally:
        stop.graceful = False
