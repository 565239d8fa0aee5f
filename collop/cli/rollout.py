"""``collop rollout``: roll a learned metriplectic operator forward from particles; write a particles file."""
from __future__ import annotations

from ._common import EXIT_OK, UsageError, names, note, out_file, positive_float, positive_int, seed_type

__all__ = ["add_parser", "cmd_rollout"]


def add_parser(sub, common) -> None:
    ro = sub.add_parser("rollout", parents=[common], help="particles under a learned collision kernel",
                        description="Roll the kinetic equation of a metriplectic operator file forward with "
                                    "the conservative particle solver (collop.kinetic.CollisionSolver), from "
                                    "the first frame of each run of an MD file, or from any particles file; "
                                    "writes a particles file with the same runs.")
    ro.add_argument("--operator", required=True, metavar="OP.nc", help="a metriplectic operator file")
    ro.add_argument("--particles", required=True, metavar="PARTICLES.nc",
                    help="initial velocities: an MD file (one run per initial distribution) or any particles file")
    ro.add_argument("--runs", default=None, metavar="A,B,..", help="runs of an MD file (default: all)")
    ro.add_argument("--frame", type=int, default=0, metavar="K",
                    help="start from frame K of the particles file (default 0)")
    ro.add_argument("--t-end", type=positive_float, default=None, metavar="T",
                    help="end time (time units); default: the particles file's last frame")
    ro.add_argument("--frames", type=positive_int, default=None, metavar="N",
                    help="output frames from the start to --t-end (default: the file's frames)")
    ro.add_argument("--angle", type=positive_float, default=0.1, metavar="RAD",
                    help="time step: median pair rotation per step (default 0.1)")
    ro.add_argument("--seed", type=seed_type, default=0)
    ro.add_argument("--out", required=True, metavar="OUT.nc")
    ro.set_defaults(func=cmd_rollout)


def cmd_rollout(args) -> int:
    import numpy as np

    from ..io import open_dataset, write_dataset
    from ..kinetic.rollout import rollout_runs
    from ..objectives.weak_form import run_velocities, select_runs
    from ..operators.metriplectic import FORM, Metriplectic
    from ..schema import CollopError

    out = out_file(args.out)
    if args.angle > 1:
        raise UsageError(f"--angle {args.angle:g}: at most 1 radian")
    op_ds = open_dataset(args.operator, "operator")
    if op_ds.attrs.get("operator") != FORM:
        raise CollopError(f"{args.operator}: is a {op_ds.attrs.get('operator')!r} operator; collop rollout "
                          f"needs a {FORM!r} one")
    op = Metriplectic.from_dataset(op_ds)
    parts = open_dataset(args.particles, "particles", load=False)
    try:
        for key in ("velocity_units", "time_units"):
            if op_ds.attrs.get(key) != parts.attrs.get(key):
                raise CollopError(f"{args.operator}: {key} {op_ds.attrs.get(key)!r} differ from "
                                  f"{parts.attrs.get(key)!r} of {args.particles}")
        if [str(c) for c in parts["component"].values] != ["x", "y", "z"]:
            raise CollopError(f"{args.particles}: needs 3 velocity components")
        t_file = np.asarray(parts["time"].values, dtype=float)
        if not 0 <= args.frame < t_file.size:
            raise UsageError(f"--frame {args.frame}: {args.particles} has {t_file.size} frame(s)")
        has_runs = "run" in parts["v"].dims
        if args.runs is not None and not has_runs:
            raise CollopError(f"{args.particles}: has no 'run' dimension; leave out --runs")
        if has_runs:
            runs = select_runs(parts, names(args.runs) if args.runs else "all")
            initial = {r: run_velocities(parts, r)[args.frame] for r in runs}
        else:
            initial = {"run0": np.asarray(parts["v"].isel(time=args.frame).values, dtype=np.float64)}
        t0 = float(t_file[args.frame])
        if args.t_end is None and args.frames is None:
            times = t_file[args.frame:]
        else:
            t_end = args.t_end if args.t_end is not None else float(t_file[-1])
            if t_end <= t0:
                raise UsageError(f"--t-end {t_end:g}: must be after the start time {t0:g}")
            times = np.linspace(t0, t_end, args.frames or max(2, t_file.size - args.frame))
        if times.size < 2:
            raise UsageError(f"{args.particles}: nothing to roll out after frame {args.frame}; give --t-end")
        src = parts.attrs.get("source", "")
    finally:
        parts.close()
    note(args, f"rolling {len(initial)} run(s) of {next(iter(initial.values())).shape[0]} particles "
               f"to t = {times[-1]:g} ({op.model})")
    ds = rollout_runs(op.kernel, initial, times, angle=args.angle, seed=args.seed,
                      velocity_units=op.velocity_units, time_units=op.time_units,
                      source=f"collop rollout of {args.operator} from {args.particles}",
                      attrs={"operator": str(args.operator), "initial_particles": str(args.particles),
                             "initial_frame": int(args.frame), "initial_source": src, "method": op.method})
    if not has_runs:
        ds = ds.isel(run=0, drop=True)
    write_dataset(ds, out)
    note(args, f"{int(ds['solver_steps'].sum())} solver steps -> {out}")
    return EXIT_OK
