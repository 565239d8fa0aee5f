"""The ``tracks`` job: the Tracks estimate of a Fokker-Planck operator from particle tracks."""
from __future__ import annotations

import dataclasses
import os
import time

from ..data import select_populations
from ..grid import VelocityGrid
from ..io import open_dataset, write_dataset
from ..options import to_dict
from ..options import SpecError
from ..schema import CollopError
from .context import OutFolder, RunContext, RunResult, check_threads, use_threads
from .spec import TracksSpec

__all__ = ["run_tracks"]


def _check_units(a, a_path, b, b_path, keys=("velocity_units", "time_units")) -> None:
    for key in keys:
        if a.attrs.get(key) != b.attrs.get(key):
            raise CollopError(f"{a_path}: {key} {a.attrs.get(key)!r} differ from "
                              f"{b.attrs.get(key)!r} of {b_path}")


def grid_of(ds, path) -> VelocityGrid:
    """The velocity grid of a phase-space dataset (one line naming the file if it has none)."""
    try:
        return VelocityGrid.from_dataset(ds)
    except ValueError as exc:
        raise CollopError(f"{path}: {exc}") from None


def _abs(p):
    return os.path.abspath(p) if p else p


def run_tracks(spec: TracksSpec, *, callback=None, stop=None, resume: bool = False,
               progress: bool = False) -> RunResult:
    """Run a tracks spec (see :func:`collop.pipeline.run`)."""
    from ..metrics import evaluate
    from ..tracks import estimate

    spec = dataclasses.replace(spec, particles=_abs(spec.particles), out=_abs(spec.out),
                               data=_abs(spec.data), grid_from=_abs(spec.grid_from))
    check_threads(spec.threads)
    if resume:
        raise SpecError("resume: a tracks run has nothing to resume; start it again in a new folder",
                        field="resume")
    if spec.grid_from and (spec.vmax is not None or spec.n_bins is not None):
        raise SpecError("grid_from takes the grid from a file; leave out vmax and n_bins", field="grid_from")
    if spec.test is not None and not spec.data:
        raise SpecError("test: test populations need a phase-space file to score on (data)", field="test")
    parts = open_dataset(spec.particles, "particles", load=False)
    try:
        n_frames = parts.sizes["time"]
        if "run" in parts.dims:
            raise CollopError(f"{spec.particles}: has a 'run' dimension (several MD runs); Tracks "
                              "needs one run")
        if parts.sizes["particle"] == 0:
            raise CollopError(f"{spec.particles}: holds no particles")
        if spec.ndump >= n_frames:
            raise SpecError(f"ndump {spec.ndump}: {spec.particles} has {n_frames} frames; "
                            "ndump must be below that", field="ndump")
        grid = None
        if spec.grid_from:
            gds = open_dataset(spec.grid_from, "phasespace")
            _check_units(gds, spec.grid_from, parts, spec.particles, keys=("velocity_units",))
            grid = grid_of(gds, spec.grid_from)
        data = names = None
        if spec.data:
            data = open_dataset(spec.data, "phasespace")
            names = select_populations(data, list(spec.test) if spec.test is not None else "all")
            _check_units(data, spec.data, parts, spec.particles)
            grid_of(data, spec.data)
        out = OutFolder(spec.out)
        from .train import _refuse_if_owned
        _refuse_if_owned(out.path)
        if out.existed and (out.path / "run.json").exists():
            raise SpecError(f"out {spec.out}: already holds a run (run.json); choose another folder",
                            field="out")
        params = {"particles": spec.particles, "ndump": spec.ndump, "overlap": bool(spec.overlap),
                  "symmetry": spec.symmetry, "data": spec.data, "test": names, "n_bins": spec.n_bins,
                  "vmax": spec.vmax, "grid_from": spec.grid_from}
        resolved = to_dict(spec) | {"test": names}
        ctx = RunContext(out, kind="tracks", method="tracks", params=params,
                         dataset=spec.data or spec.particles, spec=resolved, callback=callback)
        ctx.claim()
        exc_out = None
        try:
            ctx.start()
            ctx.event({"event": "stage", "stage": 0, "n_stages": 1, "n_unroll": 0, "lr": 0.0, "epochs": 0})
            t0 = time.perf_counter()
            with use_threads(spec.threads):
                op = estimate(parts, ndump=spec.ndump, overlap=spec.overlap, symmetry=spec.symmetry,
                              grid=grid, n_bins=spec.n_bins or 51, vmax=spec.vmax, progress=progress)
            seconds = time.perf_counter() - t0
            ctx.trained = True
            op.attrs["particles"] = str(spec.particles)
            op_path = out.path / "operator.nc"
            write_dataset(op, op_path)
            metrics = None
            if data is not None:
                op_ds = open_dataset(op_path, "operator")
                metrics = {**evaluate(op_ds, data, names), "train_seconds": seconds, "status": "finished",
                           "method": "tracks", "train": [], "test": names, "best_loss": None, "seed": None,
                           "data": spec.data, "particles": spec.particles, "ndump": spec.ndump,
                           "overlap": bool(spec.overlap), "symmetry": spec.symmetry,
                           "operator": "operator.nc"}
                ctx.write_json("metrics.json", metrics)
            ctx.finish("finished", metrics=metrics,
                       extra={"seconds": round(seconds, 4), "rollout_mae": (metrics or {}).get("rollout_mae")})
        except BaseException as exc:
            exc_out = exc
            raise
        finally:
            ctx.close(exc_out)
    finally:
        parts.close()
    return RunResult("finished", out.path, metrics, "", info={"seconds": seconds})
