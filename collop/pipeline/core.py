"""``run(spec)``: the one place a job is run."""
from __future__ import annotations

from .spec import SPECS, spec_from_dict, spec_from_json

__all__ = ["run", "JOBS", "register_job"]

#: job kind -> "module:function" that runs its spec
JOBS: dict[str, object] = {
    "train": "collop.pipeline.train:run_train",
    "tracks": "collop.pipeline.tracks:run_tracks",
}


def register_job(kind: str, spec_cls: type, runner) -> None:
    """Add a job kind: its spec class and the function that runs it."""
    SPECS[kind] = spec_cls
    JOBS[kind] = runner


def _runner(kind: str):
    import importlib

    entry = JOBS[kind]
    if isinstance(entry, str):
        mod, _, fn = entry.partition(":")
        entry = JOBS[kind] = getattr(importlib.import_module(mod), fn)
    return entry


def run(spec, *, callback=None, stop=None, resume: bool = False, **kw):
    """Run a job spec and return its :class:`~collop.pipeline.context.RunResult`.

    Parameters
    ----------
    spec : TrainSpec, TracksSpec, dict or str
        The job (a spec, its dict, or its JSON text).
    callback : callable, optional
        Receives every event of the run as a dict (``stage``, ``epoch``,
        ``snapshot``, ``checkpoint``, ``done``); events also go to the run
        folder's ``events.jsonl``.
    stop : threading.Event or StopFlag, optional
        When set, the job stops after the current epoch and saves its best
        weights (status ``stopped``).
    resume : bool
        Continue the run in ``spec.out`` from its checkpoint.
    **kw
        Passed to the job kind's runner (``progress=True`` for a Tracks progress bar).

    Notes
    -----
    Every input is validated before the run folder is touched; errors are
    :class:`collop.CollopError` with one line naming the file or the field.
    The run folder is then locked for this process, and whatever happens it
    ends with a final status in ``run.json``: ``finished``, ``stopped``,
    ``diverged`` or ``failed`` (with the exception's text). See
    :mod:`collop.runs` for the folder's files.
    """
    if isinstance(spec, (str, bytes)):
        spec = spec_from_json(spec)
    elif isinstance(spec, dict):
        spec = spec_from_dict(spec)
    kind = getattr(spec, "kind", None)
    if kind not in JOBS:
        raise TypeError(f"not a job spec: {spec!r}")
    return _runner(kind)(spec, callback=callback, stop=stop, resume=resume, **kw)
