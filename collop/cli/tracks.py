"""``collop tracks``: the Tracks estimate of a Fokker-Planck operator, as a run folder."""
from __future__ import annotations

from ._common import UsageError, names, positive_int, positive_float

__all__ = ["add_parser", "cmd_tracks"]


def add_parser(sub, common) -> None:
    tr = sub.add_parser("tracks", parents=[common], help="operator from particle tracks",
                        description="Fokker-Planck coefficients from particle tracks (Tracks method).")
    tr.add_argument("particles", metavar="PARTICLES.nc")
    tr.add_argument("--ndump", type=positive_int, required=True, metavar="N",
                    help="interval length in frames")
    tr.add_argument("--overlap", action="store_true", help="overlapping intervals")
    tr.add_argument("--symmetry", default="isotropic", choices=("isotropic", "full"))
    tr.add_argument("--grid-from", default=None, metavar="PHASESPACE.nc",
                    help="use the velocity grid of this phase-space file")
    tr.add_argument("--n-bins", type=positive_int, default=None, metavar="N", help="default 51 (at least 3)")
    tr.add_argument("--vmax", type=positive_float, default=None, metavar="V")
    tr.add_argument("--data", default=None, metavar="PHASESPACE.nc",
                    help="also write the rollout error on this file to DIR/metrics.json")
    tr.add_argument("--populations", default=None, metavar="C,D,..",
                    help="populations of --data (default: all)")
    tr.add_argument("--out", required=True, metavar="DIR")
    tr.set_defaults(func=cmd_tracks, resume=False,
                    field_flags={"ndump": "--ndump", "out": "--out", "grid_from": "--grid-from",
                                 "test": "--populations", "data": "--data", "n_bins": "--n-bins",
                                 "vmax": "--vmax", "threads": "--threads"})


def cmd_tracks(args) -> int:
    from ..pipeline import TracksSpec
    from .train import _run_spec

    if args.grid_from and (args.vmax is not None or args.n_bins is not None):
        raise UsageError("--grid-from takes the grid from a file; leave out --vmax and --n-bins")
    if args.populations and not args.data:
        raise UsageError("--populations needs --data PHASESPACE.nc")
    if args.n_bins is not None and args.n_bins < 3:
        raise UsageError(f"--n-bins {args.n_bins}: need at least 3 bins")
    spec = TracksSpec(particles=str(args.particles), ndump=args.ndump, overlap=bool(args.overlap),
                      symmetry=args.symmetry, grid_from=args.grid_from, n_bins=args.n_bins, vmax=args.vmax,
                      data=args.data, test=names(args.populations) if args.populations else None,
                      threads=args.threads or 1, out=str(args.out))
    return _run_spec(args, spec)
