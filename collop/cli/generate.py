"""``collop generate``: synthetic particle data (Langevin with a known operator, the built-in PIC)."""
from __future__ import annotations

import contextlib
import os
import time

from ._common import (EXIT_OK, Parser, UsageError, names, out_file, positive_float, positive_int,
                      seed_type)

__all__ = ["add_parser", "cmd_generate_langevin", "cmd_generate_pic", "cmd_generate_md"]


def add_parser(sub, common) -> None:
    gen = sub.add_parser("generate", help="synthetic particle data")
    gsub = gen.add_subparsers(dest="generator", metavar="{langevin,pic,md}", parser_class=Parser)
    gsub.required = True
    lg = gsub.add_parser("langevin", parents=[common], help="particles under a known Fokker-Planck operator",
                         description="Particles evolved by collop.sim.langevin.default_truth().")
    lg.add_argument("--out", required=True, metavar="FILE.nc")
    lg.add_argument("--initial", default="waterbag_2", metavar="NAMES",
                    help="population name(s) of the initial distribution (default waterbag_2)")
    lg.add_argument("--n-particles", type=positive_int, default=1_000_000, metavar="N")
    lg.add_argument("--frames", type=positive_int, default=120, metavar="N",
                    help="frames after the initial one (default 120)")
    lg.add_argument("--dt", type=positive_float, default=1.0, help="time between frames")
    lg.add_argument("--inner", type=positive_int, default=4, metavar="N",
                    help="Euler-Maruyama steps per frame")
    lg.add_argument("--seed", type=seed_type, default=0, help="seed (0 to 2**32 - 1; default 0)")
    lg.add_argument("--truth-out", default=None, metavar="OP.nc",
                    help="also write the true operator, tabulated on the frame times")
    lg.set_defaults(func=cmd_generate_langevin)

    pc = gsub.add_parser("pic", parents=[common], help="2D electrostatic PIC (presets sim1-3)",
                         description="Run the built-in 2D electrostatic PIC (collop.sim.pic) and "
                                     "stream every particle's velocity at every dump to --out. "
                                     "Units: time 1/omega_p, length lambda_D, velocity v_th = 0.01c.")
    pc.add_argument("--preset", default="sim1", choices=["sim1", "sim2", "sim3"])
    pc.add_argument("--out", required=True, metavar="FILE.nc")
    pc.add_argument("--seed", type=seed_type, default=None, help="seed (default: the preset's, 0)")
    pc.add_argument("--nx", type=positive_int, metavar="N", help="cells along x")
    pc.add_argument("--ny", type=positive_int, metavar="N", help="cells along y")
    pc.add_argument("--ppc", type=positive_int, metavar="N", help="particles per cell")
    pc.add_argument("--order", type=int, choices=[1, 2], help="shape-function order m")
    pc.add_argument("--dx", type=positive_float, help="cell size (lambda_D)")
    pc.add_argument("--dt", type=positive_float, help="time step (1/omega_p)")
    pc.add_argument("--t-max", type=positive_float, help="duration (1/omega_p)")
    pc.add_argument("--dt-dump", type=positive_float, help="dump period (1/omega_p)")
    pc.add_argument("--distribution", choices=["waterbag", "maxwellian"])
    pc.add_argument("--v-w", type=positive_float, help="waterbag radius (v_th)")
    pc.add_argument("--v-th", type=positive_float, help="Maxwellian thermal speed (v_th)")
    pc.add_argument("--quiet-start", action="store_true", default=None,
                    help="lattice positions and (v, -v) velocity pairs")
    pc.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    pc.add_argument("--compress", type=int, default=None, choices=range(0, 10), metavar="0-9",
                    help="gzip level of v (default none)")
    pc.set_defaults(func=cmd_generate_pic)

    md = gsub.add_parser("md", parents=[common], help="one-component-plasma molecular dynamics (OpenMM)",
                         description="Equilibrate a one-component plasma at Gamma, replace the velocities "
                                     "with each run's initial distribution, run NVE and dump every ion's "
                                     "velocity (collop.sim.md). Units: time 1/omega_p, velocity v_th, "
                                     "length the Wigner-Seitz radius a.")
    md.add_argument("--preset", default="gamma2p3", choices=["gamma0p23", "gamma2p3", "tiny"],
                    help="gamma0p23 (Gamma = 0.232), gamma2p3 (Gamma = 2.321) or tiny (tests)")
    md.add_argument("--out", required=True, metavar="FILE.nc")
    md.add_argument("--seed", type=seed_type, default=0, help="seed (0 to 2**32 - 1; default 0)")
    md.add_argument("--n", type=positive_int, metavar="N", help="ions per run")
    md.add_argument("--gamma", type=positive_float, help="coupling parameter Gamma")
    md.add_argument("--dt", type=positive_float, help="time step (1/omega_p)")
    md.add_argument("--dt-dump", type=positive_float, help="dump period (1/omega_p)")
    md.add_argument("--t-production", type=positive_float, help="NVE run length (1/omega_p)")
    md.add_argument("--t-equilibration", type=positive_float, help="thermostatted equilibration (1/omega_p)")
    md.set_defaults(func=cmd_generate_md)


def cmd_generate_langevin(args) -> int:
    """``collop generate langevin``: particles under :func:`collop.sim.langevin.default_truth`."""
    from ..io import write_dataset
    from ..phasespace import parse_population
    from ..sim.langevin import default_truth, generate, truth_operator_dataset

    out = out_file(args.out)
    truth_out = out_file(args.truth_out, "--truth-out") if args.truth_out else None
    if truth_out is not None and os.path.abspath(truth_out) == os.path.abspath(out):
        raise UsageError("--truth-out: is the same file as --out")
    pops = names(args.initial)
    if not pops:
        raise UsageError("--initial: no population names")
    for n in pops:
        parse_population(n)  # CollopError naming the bad name
    truth = default_truth()
    ds = generate(truth, pops[0] if len(pops) == 1 else pops, n_particles=args.n_particles,
                  n_frames=args.frames, dt_frame=args.dt, n_inner=args.inner, seed=args.seed,
                  progress=not args.quiet, n_threads=args.threads)
    truth_ds = truth_operator_dataset(truth, ds) if truth_out is not None else None
    existed = out.exists()
    write_dataset(ds, out)
    if truth_ds is not None:
        try:
            write_dataset(truth_ds, truth_out)
        except BaseException:
            if not existed:             # a command that fails writes none of its outputs
                with contextlib.suppress(OSError):
                    out.unlink()
            raise
    if not args.quiet:
        print(f"langevin: {args.n_particles} particles x {args.frames + 1} frames -> {out}"
              + (f"; truth -> {truth_out}" if truth_out else ""))
    return EXIT_OK


def cmd_generate_pic(args) -> int:
    """``collop generate pic``: run a PIC preset and write its particles file."""
    from ..sim.pic import generate, preset

    out = out_file(args.out)
    cfg = preset(args.preset, seed=args.seed, nx=args.nx, ny=args.ny, ppc=args.ppc, order=args.order,
                 dx=args.dx, dt=args.dt, t_max=args.t_max, dt_dump=args.dt_dump,
                 distribution=args.distribution, v_w=args.v_w, v_th=args.v_th, quiet=args.quiet_start)
    t = time.perf_counter()
    generate(cfg, out, device=args.device, progress=not args.quiet, compress=args.compress or None)
    if not args.quiet:
        print(f"pic {cfg.name}: {cfg.n_particles} particles x {cfg.n_frames} frames "
              f"({cfg.n_steps} steps) in {time.perf_counter() - t:.1f} s -> {out}")
    return EXIT_OK


def cmd_generate_md(args) -> int:
    """``collop generate md``: run an MD preset (with overrides) and write its particles file."""
    from ..sim.md import generate, preset

    out = out_file(args.out)
    cfg = preset(args.preset, n=args.n, gamma=args.gamma, dt=args.dt, dt_dump=args.dt_dump,
                 t_production=args.t_production, t_equilibration=args.t_equilibration)
    t = time.perf_counter()
    ds = generate(cfg, out, seed=args.seed, progress=not args.quiet, threads=args.threads)
    if not args.quiet:
        print(f"md {cfg.name}: {ds.sizes['run']} runs x {ds.sizes['time']} frames x {ds.sizes['particle']} ions "
              f"in {time.perf_counter() - t:.1f} s -> {out}")
    return EXIT_OK
