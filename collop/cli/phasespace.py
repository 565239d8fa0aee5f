"""``collop phasespace``: sub-populations of particles and their velocity histograms."""
from __future__ import annotations

import os
import sys
import warnings

from ._common import (EXIT_OK, UsageError, names, nonneg_int, one_line, out_file, positive_float,
                      positive_int, seed_type)

__all__ = ["add_parser", "cmd_phasespace"]


def add_parser(sub, common) -> None:
    ps = sub.add_parser("phasespace", parents=[common], help="phase-space file from particles",
                        description="Sample sub-populations of particles and histogram their evolution.")
    ps.add_argument("particles", metavar="PARTICLES.nc")
    ps.add_argument("--populations", required=True, metavar="NAMES|table4")
    ps.add_argument("--t0", type=nonneg_int, default=0, help="start frame index")
    ps.add_argument("--n-particles", type=positive_int, default=300_000, metavar="N",
                    help="particles per population")
    ps.add_argument("--n-bins", type=positive_int, default=51, metavar="N")
    ps.add_argument("--vmax", type=positive_float, default=None, metavar="V",
                    help="grid half-width (default 5 * unit)")
    ps.add_argument("--unit", type=positive_float, default=1.0, metavar="U",
                    help="velocity unit of the population names")
    ps.add_argument("--seed", type=seed_type, default=0, help="seed (0 to 2**32 - 1; default 0)")
    ps.add_argument("--deposit", choices=("tsc", "cic", "ngp"), default="tsc",
                    help="particle shape of the histograms: tsc (quadratic, default), cic (linear) "
                         "or ngp (the plain histogram, as in the paper)")
    ps.add_argument("--out", required=True, metavar="FILE.nc")
    ps.set_defaults(func=cmd_phasespace)


def cmd_phasespace(args) -> int:
    from ..grid import VelocityGrid
    from ..io import open_dataset, write_dataset
    from ..phasespace import TABLE4, build_phasespace, parse_population

    out = out_file(args.out)
    pops = []
    for n in names(args.populations):
        pops.extend(TABLE4 if n.lower() == "table4" else [n])
    if not pops:
        raise UsageError("--populations: no population names")
    if len(set(pops)) != len(pops):
        raise UsageError(f"--populations: repeated names in {args.populations!r}")
    for n in pops:
        parse_population(n, args.unit)
    if args.n_bins < 3:
        raise UsageError(f"--n-bins {args.n_bins}: need at least 3 bins")
    grid = VelocityGrid.regular(args.n_bins, 5.0 * args.unit if args.vmax is None else args.vmax)
    parts = open_dataset(args.particles, "particles", load=False)
    try:
        if "run" in parts.dims:
            raise UsageError(f"{args.particles}: has a 'run' dimension (several MD runs); phasespace "
                             "needs one run")
        nt = parts.sizes["time"]
        if args.t0 >= nt:
            raise UsageError(f"--t0 {args.t0}: {args.particles} has {nt} frames")
        if parts.sizes["particle"] == 0:
            raise UsageError(f"{args.particles}: holds no particles")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = build_phasespace(parts, pops, grid=grid, t0=args.t0, n_particles=args.n_particles,
                                  seed=args.seed, unit=args.unit, progress=not args.quiet,
                                  deposit=args.deposit)
        for w in caught:
            print(f"collop: warning: {one_line(w.message)}", file=sys.stderr)
    finally:
        parts.close()
    # the particles behind the histograms, relative to the output (the app offers Tracks with it)
    ds.attrs["particles_file"] = os.path.relpath(os.path.abspath(args.particles),
                                                 os.path.dirname(os.path.abspath(out)))
    write_dataset(ds, out)
    if not args.quiet:
        print(f"phasespace: {len(pops)} population(s) x {ds.sizes['time']} frames -> {out}")
    return EXIT_OK
