"""A sweep's folder: its index ``sweep.json``, its ``events.jsonl`` and its lock.

The layout is described in :mod:`collop.sweep.runner`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SweepFolder", "SweepResult", "INDEX_VERSION", "SUMMARY_METRICS"]

#: format version of sweep.json
INDEX_VERSION = 1
#: a point's headline metrics: copied into its events, and the first metric columns of its table
SUMMARY_METRICS = ("rollout_mae", "rollout_mae_std", "rollout_l1_rel", "train_seconds", "best_loss",
                   "epochs")


class SweepFolder:
    """A sweep's folder: ``sweep.json``, ``events.jsonl``, a lock, and one run folder per point."""

    def __init__(self, path):
        from ..runs import RunFolder

        self.path = Path(path)
        self._folder = RunFolder(self.path)      # its lock and its events file

    @property
    def index_file(self) -> Path:
        return self.path / "sweep.json"

    @property
    def events_file(self) -> Path:
        return self._folder.events_file

    def exists(self) -> bool:
        return self.index_file.is_file()

    def claim(self) -> None:
        self._folder.claim()

    def release(self) -> None:
        self._folder.release()

    def read(self) -> dict:
        """The contents of ``sweep.json``."""
        with open(self.index_file) as fh:
            return json.load(fh)

    def write(self, index: dict) -> None:
        from ..io import atomic_write_text
        from ..runs import _now, to_json

        index["updated"] = _now()
        atomic_write_text(self.index_file, to_json(index) + "\n")

    def append_event(self, ev: dict) -> dict:
        return self._folder.append_event(ev)

    def events(self) -> list[dict]:
        return self._folder.events()


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns.

    Attributes
    ----------
    status : {"finished", "stopped", "incomplete"}
        ``finished``: every point is done; ``incomplete``: some failed.
    path : Path
        The sweep folder.
    points : list of dict
        The index entries of the points (``sweep.json``'s ``points``).
    counts : dict
        Points per status.
    seconds : float
        Wall time of this call.
    """

    status: str
    path: Path
    points: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0

    def table(self):
        """The points as a :class:`pandas.DataFrame` (see :func:`collop.sweep.sweep_table`)."""
        from .table import sweep_table

        return sweep_table(self.path)
