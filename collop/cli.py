"""The ``collop`` command line.

Commands
--------
``collop train fp DATA.nc --train A,B --test C,D --model tensor|nn --out DIR``
    Learn a Fokker-Planck operator from a phase-space file; writes
    ``DIR/operator.nc``, ``DIR/metrics.json`` and the run folder files of
    :mod:`collop.runs` (``run.json``, ``events.jsonl``, ``snapshots/``,
    ``checkpoint.pt``).
``collop evaluate --operator OP.nc --data DATA.nc [--populations C,D] [--out FILE]``
    Rollout error of any operator file on any phase-space file (JSON).
``collop tracks PARTICLES.nc --ndump N --out DIR``
    The Tracks estimate of the operator from particle tracks; writes
    ``DIR/operator.nc`` (and ``DIR/metrics.json`` with ``--data``) and the run
    folder files, so the app lists the run.
``collop generate langevin --out FILE.nc``
    Particles evolved by a known Fokker-Planck operator.
``collop generate pic --preset sim1|sim2|sim3 --out FILE.nc [--seed S] [overrides]``
    Particles of the built-in 2D electrostatic PIC.
``collop phasespace PARTICLES.nc --populations NAMES|table4 --out FILE.nc``
    Phase-space evolution of sub-populations sampled from particles.
``collop convert SRC --out OUT.nc [--format auto|osiris|openpmd|refcode] [--species NAME]``
    OSIRIS RAW dumps or an openPMD series -> particles file; a reference-code
    folder -> phase-space file (:mod:`collop.io.convert`).

Exit status
-----------
0 success; 1 internal error (with a traceback); 2 user error (bad option,
missing or malformed file: one line ``collop: error: ...`` on stderr, nothing
left in ``--out``); 3 training diverged (best weights written); 130
interrupted (``train fp`` still writes the operator and metrics, status
``stopped``).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

from .data import parse_names as split_names  # one parser for population lists

from .schema import CollopError

__all__ = ["main", "build_parser", "UsageError"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# Harmless warnings of torch's sparse and numpy interop that would clutter the terminal.
_QUIET_WARNINGS = (r"Sparse CSR tensor support is in beta", r"Sparse invariant checks",
                   r"The given NumPy array is not writable")


class UsageError(CollopError):
    """A bad command line (reported in one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line :class:`UsageError` s."""

    def error(self, message):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --- argument types ---------------------------------------------------------------

def _number_type(kind, lo, strict, what):
    """An argparse type: ``kind(s)``, finite, above ``lo`` (strictly if ``strict``)."""
    def parse(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None
        if not math.isfinite(v) or (v <= lo if strict else v < lo):
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
        return v
    parse.__name__ = what
    return parse


_positive_int = _number_type(int, 0, True, "a positive integer")
_nonneg_int = _number_type(int, 0, False, "an integer >= 0")
_positive_float = _number_type(float, 0.0, True, "a positive number")
_nonneg_float = _number_type(float, 0.0, False, "a number >= 0")




# --- the parser ---------------------------------------------------------------------

def _common(defaults: bool) -> argparse.ArgumentParser:
    """``--threads`` and ``-q``; sub-commands take them too (without overriding the global ones)."""
    p = _Parser(add_help=False)
    sup = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="CPU threads for torch and the stencil kernels (default 1)",
                   **({"default": 1} if defaults else sup))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notes",
                   **({"default": False} if defaults else sup))
    return p


def build_parser() -> argparse.ArgumentParser:
    """The ``collop`` argument parser."""
    from . import __version__

    common = _common(False)
    parser = _Parser(prog="collop", parents=[_common(True)],
                     description="Learn plasma collision operators from particle data.")
    parser.add_argument("--version", action="version", version=f"collop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # train fp
    train = sub.add_parser("train", help="learn an operator from phase-space data")
    tsub = train.add_subparsers(dest="family", metavar="{fp}", parser_class=_Parser)
    tsub.required = True
    fp = tsub.add_parser("fp", parents=[common], help="a Fokker-Planck operator",
                         description="Learn a Fokker-Planck operator from a phase-space file by "
                                     "unrolled rollouts (curriculum training).")
    fp.add_argument("data", metavar="DATA.nc", help="phase-space file")
    fp.add_argument("--train", required=True, metavar="A,B,..", help="training populations")
    fp.add_argument("--test", metavar="C,D,..", default=None,
                    help="test populations (default: all); may overlap --train")
    fp.add_argument("--model", required=True, choices=("tensor", "nn"),
                    help="discrete tensor or neural network coefficients")
    fp.add_argument("--symmetry", default="isotropic", choices=("isotropic", "full"))
    fp.add_argument("--nt", type=_positive_int, default=None, metavar="N",
                    help="time nodes (tensor; default one per frame); 1 = time-invariant")
    fp.add_argument("--reg", type=_nonneg_float, default=0.0, metavar="L",
                    help="weight of the time-derivative penalty (default 0)")
    fp.add_argument("--reg-order", type=int, choices=(1, 2), default=1)
    fp.add_argument("--reg-velocity", type=_nonneg_float, default=0.0, metavar="L",
                    help="weight of the penalty on velocity (speed) derivatives, per grid bin "
                         "(default 0)")
    fp.add_argument("--reg-velocity-order", type=int, choices=(1, 2), default=2)
    fp.add_argument("--smooth", type=_nonneg_float, default=0.0, metavar="SIGMA",
                    help="Gaussian smoothing of the training frames in velocity, in bins "
                         "(default 0: raw histograms, as in the paper; 1 removes most of the "
                         "noise bias of the diffusion, see the README)")
    fp.add_argument("--seed", type=int, default=0)
    fp.add_argument("--curriculum", default=None, metavar="SPEC",
                    help="a name (ps-tensor, ps-nn, kernel) or N_u:lr:epochs,... "
                         "(default ps-tensor or ps-nn by --model)")
    fp.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    fp.add_argument("--out", required=True, metavar="DIR", help="run folder")
    fp.set_defaults(func=cmd_train_fp)

    # evaluate
    ev = sub.add_parser("evaluate", parents=[common], help="rollout error of an operator file",
                        description="Rollout error of an operator file on a phase-space file; "
                                    "prints JSON.")
    ev.add_argument("--operator", required=True, metavar="OP.nc")
    ev.add_argument("--data", required=True, metavar="DATA.nc")
    ev.add_argument("--populations", default=None, metavar="C,D,..", help="default: all")
    ev.add_argument("--out", default=None, metavar="FILE", help="also write the JSON here")
    ev.set_defaults(func=cmd_evaluate)

    # tracks
    tr = sub.add_parser("tracks", parents=[common], help="operator from particle tracks",
                        description="Fokker-Planck coefficients from particle tracks (Tracks method).")
    tr.add_argument("particles", metavar="PARTICLES.nc")
    tr.add_argument("--ndump", type=_positive_int, required=True, metavar="N",
                    help="interval length in frames")
    tr.add_argument("--overlap", action="store_true", help="overlapping intervals")
    tr.add_argument("--symmetry", default="isotropic", choices=("isotropic", "full"))
    tr.add_argument("--grid-from", default=None, metavar="PHASESPACE.nc",
                    help="use the velocity grid of this phase-space file")
    tr.add_argument("--n-bins", type=_positive_int, default=None, metavar="N", help="default 51")
    tr.add_argument("--vmax", type=_positive_float, default=None, metavar="V")
    tr.add_argument("--data", default=None, metavar="PHASESPACE.nc",
                    help="also write the rollout error on this file to DIR/metrics.json")
    tr.add_argument("--populations", default=None, metavar="C,D,..",
                    help="populations of --data (default: all)")
    tr.add_argument("--out", required=True, metavar="DIR")
    tr.set_defaults(func=cmd_tracks)

    # generate langevin
    gen = sub.add_parser("generate", help="synthetic particle data")
    gsub = gen.add_subparsers(dest="generator", metavar="{langevin,pic}", parser_class=_Parser)
    gsub.required = True
    lg = gsub.add_parser("langevin", parents=[common],
                         help="particles under a known Fokker-Planck operator",
                         description="Particles evolved by collop.sim.langevin.default_truth().")
    lg.add_argument("--out", required=True, metavar="FILE.nc")
    lg.add_argument("--initial", default="waterbag_2", metavar="NAMES",
                    help="population name(s) of the initial distribution (default waterbag_2)")
    lg.add_argument("--n-particles", type=_positive_int, default=1_000_000, metavar="N")
    lg.add_argument("--frames", type=_positive_int, default=120, metavar="N",
                    help="frames after the initial one (default 120)")
    lg.add_argument("--dt", type=_positive_float, default=1.0, help="time between frames")
    lg.add_argument("--inner", type=_positive_int, default=4, metavar="N",
                    help="Euler-Maruyama steps per frame")
    lg.add_argument("--seed", type=int, default=0)
    lg.add_argument("--truth-out", default=None, metavar="OP.nc",
                    help="also write the true operator, tabulated on the frame times")
    lg.set_defaults(func=cmd_generate_langevin)
    _add_generate_pic(gsub, common)

    # phasespace
    ps = sub.add_parser("phasespace", parents=[common], help="phase-space file from particles",
                        description="Sample sub-populations of particles and histogram their evolution.")
    ps.add_argument("particles", metavar="PARTICLES.nc")
    ps.add_argument("--populations", required=True, metavar="NAMES|table4")
    ps.add_argument("--t0", type=_nonneg_int, default=0, help="start frame index")
    ps.add_argument("--n-particles", type=_positive_int, default=300_000, metavar="N",
                    help="particles per population")
    ps.add_argument("--n-bins", type=_positive_int, default=51, metavar="N")
    ps.add_argument("--vmax", type=_positive_float, default=None, metavar="V",
                    help="grid half-width (default 5 * unit)")
    ps.add_argument("--unit", type=_positive_float, default=1.0, metavar="U",
                    help="velocity unit of the population names")
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--deposit", choices=("tsc", "cic", "ngp"), default="tsc",
                    help="particle shape of the histograms: tsc (quadratic, default), cic (linear) "
                         "or ngp (the plain histogram, as in the paper)")
    ps.add_argument("--out", required=True, metavar="FILE.nc")
    ps.set_defaults(func=cmd_phasespace)

    # convert
    cv = sub.add_parser("convert", parents=[common], help="OSIRIS / openPMD / reference-code data to netCDF",
                        description="Convert OSIRIS RAW dumps or an openPMD series to a particles file, "
                                    "or a reference-code folder to a phase-space file.")
    cv.add_argument("src", metavar="SRC", help="file, folder or openPMD pattern (data_%%T.h5)")
    cv.add_argument("--out", required=True, metavar="OUT.nc")
    cv.add_argument("--format", default="auto", choices=("auto", "osiris", "openpmd", "refcode"))
    cv.add_argument("--species", default=None, metavar="NAME", help="particle species (OSIRIS, openPMD)")
    cv.set_defaults(func=cmd_convert)
    return parser


# --- helpers --------------------------------------------------------------------------

def _note(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"collop: {msg}", file=sys.stderr, flush=True)


def _one_line(msg) -> str:
    return " ".join(str(msg).split()) or "unknown error"


@contextlib.contextmanager
def _threads(n: int):
    """Set torch's and the stencil kernels' thread counts for the command; restore afterwards."""
    import torch

    from . import _stencil_kernels as k

    before = torch.get_num_threads()
    nb = None
    if getattr(k, "HAVE_NUMBA", False):
        import numba
        nb = numba.get_num_threads()
    torch.set_num_threads(n)
    k.set_kernel_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if nb is not None:
            k.set_kernel_threads(nb)


class _OutDir:
    """An output folder: checked before work, created late, removed on failure if it is new."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out {path}: exists and is not a folder")
        self.existed = self.path.exists()
        top = self.path.absolute()
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        self._top = top  # topmost folder that mkdir(parents=True) creates

    def make(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    def discard(self) -> None:
        if not self.existed and self._top.exists():
            shutil.rmtree(self._top, ignore_errors=True)


def _out_file(path) -> Path:
    """Check that an output file can be written (its folder exists, it is not a folder)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{path}: is a folder, expected a file name")
    if not p.absolute().parent.is_dir():
        raise UsageError(f"{path}: folder {p.absolute().parent} does not exist")
    return p


def _check_units(a, a_path, b, b_path, keys=("velocity_units", "time_units")) -> None:
    for key in keys:
        if a.attrs.get(key) != b.attrs.get(key):
            raise CollopError(f"{a_path}: {key} {a.attrs.get(key)!r} differ from "
                              f"{b.attrs.get(key)!r} of {b_path}")


def _grid_of(ds, path):
    from .grid import VelocityGrid

    try:
        return VelocityGrid.from_dataset(ds)
    except ValueError as exc:
        raise CollopError(f"{path}: {exc}") from None


def _metrics_text(metrics: dict) -> str:
    from .runs import to_json

    return to_json(metrics, indent=2)


def _progress(args, **kw):
    from tqdm import tqdm

    return tqdm(disable=bool(getattr(args, "quiet", False)), file=sys.stderr, dynamic_ncols=True, **kw)


# --- train fp ---------------------------------------------------------------------------

_RESUME_KEYS = ("data", "train", "model", "symmetry", "nt", "reg", "reg_order", "reg_velocity",
                "reg_velocity_order", "seed", "curriculum", "smooth")


def _curriculum(spec: str):
    from .train import parse_curriculum

    try:
        stages = parse_curriculum(spec)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--curriculum {spec!r}: {exc}") from None
    if not stages:
        raise UsageError(f"--curriculum {spec!r}: no stages")
    for s in stages:
        if s.n_unroll < 1 or not (s.lr > 0 and math.isfinite(s.lr)) or s.epochs < 0:
            raise UsageError(f"--curriculum {spec!r}: stage {s.n_unroll}:{s.lr:g}:{s.epochs} needs "
                             "N_u >= 1, lr > 0 and epochs >= 0")
    return stages


def cmd_train_fp(args) -> int:
    """``collop train fp``: see the module docstring."""
    import numpy as np

    from .data import Record, select_populations
    from .io import atomic_write_text, open_dataset, write_dataset
    from .metrics import evaluate
    from .operators.fokker_planck import FokkerPlanck
    from .runs import RunFolder
    from .train import Trainer

    # 1. validate everything before touching --out
    spec = args.curriculum or ("ps-tensor" if args.model == "tensor" else "ps-nn")
    stages = _curriculum(spec)
    data_path = str(args.data)
    ds = open_dataset(data_path, "phasespace")
    train_names = select_populations(ds, split_names(args.train))
    test_names = select_populations(ds, split_names(args.test) if args.test is not None else "all")
    grid = _grid_of(ds, data_path)
    times = np.asarray(ds["time"].values, dtype=float)
    if times.size < 2:
        raise CollopError(f"{data_path}: has {times.size} frame(s); training needs at least 2")
    out = _OutDir(args.out)
    run = RunFolder(out.path)
    params = {"data": os.path.abspath(data_path), "train": train_names, "test": test_names,
              "model": args.model, "symmetry": args.symmetry, "nt": args.nt, "reg": args.reg,
              "reg_order": args.reg_order, "reg_velocity": args.reg_velocity,
              "reg_velocity_order": args.reg_velocity_order, "seed": args.seed, "curriculum": spec,
              "smooth": args.smooth, "threads": args.threads}
    checkpoint = out.path / "checkpoint.pt"
    if out.existed:
        held = [n for n in ("run.json", "checkpoint.pt", "operator.nc", "metrics.json")
                if (out.path / n).exists()]
        if held and not args.resume:
            raise UsageError(f"--out {args.out}: already holds a run ({', '.join(held)}); pass "
                             "--resume to continue it or choose another folder")
        if args.resume and run.exists():
            try:
                old = run.read().get("params", {})
            except (OSError, ValueError) as exc:
                raise CollopError(f"{run.run_file}: cannot be read ({exc})") from None
            diff = [k for k in _RESUME_KEYS if k in old and old[k] != params[k]]
            if diff:
                raise UsageError(f"--resume {args.out}: the run was started with other "
                                 + ", ".join(f"{k} ({old[k]!r} != {params[k]!r})" for k in diff))
    if args.resume and not checkpoint.exists():
        _note(args, f"{checkpoint} does not exist; starting from scratch")

    # 2. build the operator and the trainer, then create the run folder
    out.make()
    stop = threading.Event()
    offsets = np.concatenate([[0], np.cumsum([s.epochs for s in stages])]).astype(int)
    bar = None
    try:
        op = FokkerPlanck.build(args.model, grid, times, symmetry=args.symmetry, nt=args.nt,
                                seed=args.seed, velocity_units=ds.attrs["velocity_units"],
                                time_units=ds.attrs["time_units"])
        record = Record.from_dataset(ds, train_names, smooth=args.smooth)
        run.create("fp", params, data_path, method=op.method)
    except BaseException:
        out.discard()
        raise

    # 3. train: from here on the run exists and failures are recorded in run.json
    def callback(ev):
        kind = ev.get("event")
        if kind == "stage":
            run.append_event({k: ev[k] for k in ("event", "stage", "n_stages", "n_unroll", "lr", "epochs")})
            if bar is not None and not args.quiet:
                bar.write(f"collop: stage {ev['stage'] + 1}/{ev['n_stages']}: unroll {ev['n_unroll']} "
                          f"frame(s), lr {ev['lr']:g}, {ev['epochs']} epochs")
        elif kind == "epoch":
            run.append_event({"event": "epoch", "stage": ev["stage"], "epoch": ev["epoch"],
                              "loss": ev["loss"], "seconds": round(float(ev["seconds"]), 4)})
            if bar is not None:
                done = int(offsets[ev["stage"]] + ev["epoch"] + 1)
                bar.set_postfix(stage=ev["stage"] + 1, loss=f"{ev['loss']:.3e}", refresh=False)
                bar.update(done - bar.n)
        elif kind == "snapshot":
            done = int(offsets[ev["stage"]] + ev["epoch"])
            run.save_snapshot(ev["operator"], done, grid=grid, times=times, source=data_path,
                              attrs={"stage": int(ev["stage"]), "status": "running"},
                              event={"stage": ev["stage"]})
        elif kind == "checkpoint":
            run.append_event({"event": "checkpoint", "stage": ev["stage"], "epoch": ev["epoch"]})

    previous = None

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        msg = "collop: stopping after this epoch (Ctrl-C again to abort)"
        (bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr))

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        bar = _progress(args, total=int(offsets[-1]), desc="train fp", unit="epoch")
        trainer = Trainer(stages, reg=args.reg, reg_order=args.reg_order,
                          reg_velocity=args.reg_velocity, reg_velocity_order=args.reg_velocity_order,
                          seed=args.seed,
                          callback=callback, checkpoint=checkpoint, stop=stop)
        trainer.fit(op, record)
        bar.close()
        status, message = trainer.status_, trainer.message_

        # 4. write the operator, then score the file as written
        best = trainer.best_loss_ if math.isfinite(trainer.best_loss_) else None
        attrs = {"data": data_path, "train": ",".join(train_names), "test": ",".join(test_names),
                 "model": args.model, "symmetry": args.symmetry, "seed": int(args.seed),
                 "nt": int(args.nt) if args.nt is not None else
                 (int(op.field.time_nodes.numel()) if args.model == "tensor" else 0),
                 "reg": float(args.reg), "reg_order": int(args.reg_order),
                 "reg_velocity": float(args.reg_velocity),
                 "reg_velocity_order": int(args.reg_velocity_order), "curriculum": spec,
                 "smooth": float(args.smooth), "status": status, "best_loss": best if best is not None else float("nan"),
                 "train_seconds": float(trainer.train_seconds_)}
        op_path = out.path / "operator.nc"
        write_dataset(op.to_dataset(grid, times, source=data_path, attrs=attrs), op_path)
        op_ds = open_dataset(op_path, "operator")
        scores = evaluate(op_ds, ds, test_names)
        metrics = {**scores, "train_seconds": float(trainer.train_seconds_), "status": status,
                   "message": message, "method": op.method, "model": args.model,
                   "symmetry": args.symmetry, "train": train_names, "test": test_names,
                   "best_loss": best, "seed": int(args.seed), "data": data_path,
                   "operator": "operator.nc", "epochs": len(trainer.history_),
                   "stage_reached": int(trainer.stage_reached_) + 1, "n_stages": len(stages)}
        atomic_write_text(out.path / "metrics.json", _metrics_text(metrics) + "\n")
        run.set_status(status, error=message if status == "diverged" else None, metrics=metrics)
        run.append_event({"event": "done", "status": status, "message": message, "best_loss": best,
                          "seconds": round(float(trainer.train_seconds_), 4),
                          "rollout_mae": metrics["rollout_mae"]})
    except KeyboardInterrupt:
        _close(bar)
        _record_failure(run, "interrupted before the run could be saved")
        raise
    except BaseException as exc:
        _close(bar)
        _record_failure(run, _failure_text(exc))
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    if status == "diverged":
        print(f"collop: error: {args.out}: training diverged: {_one_line(message)}", file=sys.stderr)
        return EXIT_DIVERGED
    if not args.quiet:
        print(f"{status}: rollout_mae {metrics['rollout_mae']:.4g} "
              f"(+- {metrics['rollout_mae_std']:.2g}) on {len(test_names)} population(s), "
              f"{metrics['train_seconds']:.1f} s -> {out.path / 'operator.nc'}")
    return EXIT_INTERRUPTED if status == "stopped" else EXIT_OK


def _close(bar):
    if bar is not None:
        with contextlib.suppress(Exception):
            bar.close()


def _failure_text(exc: BaseException) -> str:
    """One line for ``run.json``: a user error as it is, anything else with its type."""
    return _one_line(exc) if isinstance(exc, CollopError) else _one_line(f"{type(exc).__name__}: {exc}")


def _record_failure(run, message: str) -> None:
    with contextlib.suppress(Exception):
        run.set_status("failed", error=message)
        run.append_event({"event": "done", "status": "failed", "message": message})


# --- evaluate -----------------------------------------------------------------------------

def cmd_evaluate(args) -> int:
    """``collop evaluate``: rollout error of an operator file on a phase-space file."""
    from .data import select_populations
    from .io import atomic_write_text, open_dataset
    from .metrics import evaluate

    out = _out_file(args.out) if args.out else None
    op_ds = open_dataset(args.operator, "operator")
    ds = open_dataset(args.data, "phasespace")
    names = select_populations(ds, split_names(args.populations) if args.populations else "all")
    _check_units(op_ds, args.operator, ds, args.data)
    _grid_of(ds, args.data)
    result = {**evaluate(op_ds, ds, names), "method": op_ds.attrs.get("method"),
              "operator": str(args.operator), "data": str(args.data), "test": names}
    text = _metrics_text(result)
    print(text)
    if out is not None:
        atomic_write_text(out, text + "\n")
    return EXIT_OK


# --- tracks -------------------------------------------------------------------------------

def cmd_tracks(args) -> int:
    """``collop tracks``: Fokker-Planck coefficients from particle tracks."""
    from .data import select_populations
    from .io import atomic_write_text, open_dataset, write_dataset
    from .metrics import evaluate
    from .runs import RunFolder
    from .tracks import estimate

    if args.grid_from and (args.vmax is not None or args.n_bins is not None):
        raise UsageError("--grid-from takes the grid from a file; leave out --vmax and --n-bins")
    if args.populations and not args.data:
        raise UsageError("--populations needs --data PHASESPACE.nc")
    parts = open_dataset(args.particles, "particles", load=False)
    try:
        n_frames = parts.sizes["time"]
        if args.ndump >= n_frames:
            raise UsageError(f"--ndump {args.ndump}: {args.particles} has {n_frames} frames; "
                             f"--ndump must be below that")
        grid = None
        if args.grid_from:
            gds = open_dataset(args.grid_from, "phasespace")
            _check_units(gds, args.grid_from, parts, args.particles, keys=("velocity_units",))
            grid = _grid_of(gds, args.grid_from)
        data = names = None
        if args.data:
            data = open_dataset(args.data, "phasespace")
            names = select_populations(data, split_names(args.populations) if args.populations else "all")
            _check_units(data, args.data, parts, args.particles)
            _grid_of(data, args.data)
        out = _OutDir(args.out)
        run = RunFolder(out.path)
        if out.existed and run.exists():
            raise UsageError(f"--out {args.out}: already holds a run (run.json); choose another folder")
        params = {"particles": os.path.abspath(args.particles), "ndump": args.ndump, "overlap": bool(args.overlap),
                  "symmetry": args.symmetry, "data": os.path.abspath(args.data) if args.data else None,
                  "test": names, "n_bins": args.n_bins, "vmax": args.vmax, "grid_from": args.grid_from}
        # the run folder exists from here on (so the app lists it live); failures are recorded in it
        out.make()
        run.create("tracks", params, params["data"] or params["particles"], method="tracks")
        run.append_event({"event": "stage", "stage": 0, "n_stages": 1, "n_unroll": 0, "lr": 0.0, "epochs": 0})
        t0 = time.perf_counter()
        try:
            op = estimate(parts, ndump=args.ndump, overlap=args.overlap, symmetry=args.symmetry, grid=grid,
                          n_bins=args.n_bins or 51, vmax=args.vmax, progress=not args.quiet)
        except BaseException as exc:
            _record_failure(run, _failure_text(exc))
            raise
        seconds = time.perf_counter() - t0
    finally:
        parts.close()
    op.attrs["particles"] = str(args.particles)
    metrics = None
    try:
        op_path = out.path / "operator.nc"
        write_dataset(op, op_path)
        if data is not None:
            op_ds = open_dataset(op_path, "operator")
            metrics = {**evaluate(op_ds, data, names), "train_seconds": seconds, "status": "finished",
                       "method": "tracks", "train": [], "test": names, "best_loss": None, "seed": None,
                       "data": str(args.data), "particles": str(args.particles), "ndump": args.ndump,
                       "overlap": bool(args.overlap), "symmetry": args.symmetry,
                       "operator": "operator.nc"}
            atomic_write_text(out.path / "metrics.json", _metrics_text(metrics) + "\n")
            if not args.quiet:
                print(f"tracks: rollout_mae {metrics['rollout_mae']:.4g} on {len(names)} population(s)")
        run.set_status("finished", metrics=metrics)
        run.append_event({"event": "done", "status": "finished", "message": "", "seconds": round(seconds, 4),
                          "rollout_mae": (metrics or {}).get("rollout_mae")})
    except KeyboardInterrupt:
        _record_failure(run, "interrupted before the operator could be saved")
        raise
    except BaseException as exc:
        _record_failure(run, _failure_text(exc))
        raise
    if not args.quiet:
        print(f"tracks: {seconds:.1f} s -> {op_path}")
    return EXIT_OK


# --- generate langevin --------------------------------------------------------------------

def cmd_generate_langevin(args) -> int:
    """``collop generate langevin``: particles under :func:`collop.sim.langevin.default_truth`."""
    from .io import write_dataset
    from .phasespace import parse_population
    from .sim.langevin import default_truth, generate, truth_operator_dataset

    out = _out_file(args.out)
    truth_out = _out_file(args.truth_out) if args.truth_out else None
    names = split_names(args.initial)
    if not names:
        raise UsageError("--initial: no population names")
    for n in names:
        parse_population(n)  # CollopError naming the bad name
    truth = default_truth()
    ds = generate(truth, names[0] if len(names) == 1 else names, n_particles=args.n_particles,
                  n_frames=args.frames, dt_frame=args.dt, n_inner=args.inner, seed=args.seed,
                  progress=not args.quiet, n_threads=args.threads)
    write_dataset(ds, out)
    if truth_out is not None:
        write_dataset(truth_operator_dataset(truth, ds), truth_out)
    if not args.quiet:
        print(f"langevin: {args.n_particles} particles x {args.frames + 1} frames -> {out}"
              + (f"; truth -> {truth_out}" if truth_out else ""))
    return EXIT_OK


# --- generate pic ------------------------------------------------------------------------

def _add_generate_pic(gsub, common) -> None:
    """``collop generate pic``: a preset of :mod:`collop.sim.pic`, with overrides."""
    pc = gsub.add_parser("pic", parents=[common], help="2D electrostatic PIC (presets sim1-3)",
                         description="Run the built-in 2D electrostatic PIC (collop.sim.pic) and "
                                     "stream every particle's velocity at every dump to --out. "
                                     "Units: time 1/omega_p, length lambda_D, velocity v_th = 0.01c.")
    pc.add_argument("--preset", default="sim1", choices=["sim1", "sim2", "sim3"])
    pc.add_argument("--out", required=True, metavar="FILE.nc")
    pc.add_argument("--seed", type=int, default=None, help="seed (default: the preset's, 0)")
    pc.add_argument("--nx", type=_positive_int, metavar="N", help="cells along x")
    pc.add_argument("--ny", type=_positive_int, metavar="N", help="cells along y")
    pc.add_argument("--ppc", type=_positive_int, metavar="N", help="particles per cell")
    pc.add_argument("--order", type=int, choices=[1, 2], help="shape-function order m")
    pc.add_argument("--dx", type=_positive_float, help="cell size (lambda_D)")
    pc.add_argument("--dt", type=_positive_float, help="time step (1/omega_p)")
    pc.add_argument("--t-max", type=_positive_float, help="duration (1/omega_p)")
    pc.add_argument("--dt-dump", type=_positive_float, help="dump period (1/omega_p)")
    pc.add_argument("--distribution", choices=["waterbag", "maxwellian"])
    pc.add_argument("--v-w", type=_positive_float, help="waterbag radius (v_th)")
    pc.add_argument("--v-th", type=_positive_float, help="Maxwellian thermal speed (v_th)")
    pc.add_argument("--quiet-start", action="store_true", default=None,
                    help="lattice positions and (v, -v) velocity pairs")
    pc.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    pc.add_argument("--compress", type=int, default=None, choices=range(0, 10), metavar="0-9",
                    help="gzip level of v (default none)")
    pc.set_defaults(func=cmd_generate_pic)


def cmd_generate_pic(args) -> int:
    """``collop generate pic``: run a PIC preset and write its particles file."""
    from .sim.pic import generate, preset

    out = _out_file(args.out)
    cfg = preset(args.preset, seed=args.seed, nx=args.nx, ny=args.ny, ppc=args.ppc, order=args.order,
                 dx=args.dx, dt=args.dt, t_max=args.t_max, dt_dump=args.dt_dump,
                 distribution=args.distribution, v_w=args.v_w, v_th=args.v_th, quiet=args.quiet_start)
    t = time.perf_counter()
    generate(cfg, out, device=args.device, progress=not args.quiet, compress=args.compress or None)
    if not args.quiet:
        print(f"pic {cfg.name}: {cfg.n_particles} particles x {cfg.n_frames} frames "
              f"({cfg.n_steps} steps) in {time.perf_counter() - t:.1f} s -> {out}")
    return EXIT_OK


# --- phasespace ---------------------------------------------------------------------------

def cmd_phasespace(args) -> int:
    """``collop phasespace``: sub-populations of particles and their histograms."""
    from .grid import VelocityGrid
    from .io import open_dataset, write_dataset
    from .phasespace import TABLE4, build_phasespace, parse_population

    out = _out_file(args.out)
    names = []
    for n in split_names(args.populations):
        names.extend(TABLE4 if n.lower() == "table4" else [n])
    if not names:
        raise UsageError("--populations: no population names")
    if len(set(names)) != len(names):
        raise UsageError(f"--populations: repeated names in {args.populations!r}")
    for n in names:
        parse_population(n, args.unit)
    if args.n_bins < 3:
        raise UsageError(f"--n-bins {args.n_bins}: need at least 3 bins")
    grid = VelocityGrid.regular(args.n_bins, 5.0 * args.unit if args.vmax is None else args.vmax)
    parts = open_dataset(args.particles, "particles", load=False)
    try:
        nt = parts.sizes["time"]
        if args.t0 >= nt:
            raise UsageError(f"--t0 {args.t0}: {args.particles} has {nt} frames")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = build_phasespace(parts, names, grid=grid, t0=args.t0, n_particles=args.n_particles,
                                  seed=args.seed, unit=args.unit, progress=not args.quiet,
                                  deposit=args.deposit)
        for w in caught:
            print(f"collop: warning: {_one_line(w.message)}", file=sys.stderr)
    finally:
        parts.close()
    # the particles behind the histograms, relative to the output (the app offers Tracks with it)
    ds.attrs["particles_file"] = os.path.relpath(os.path.abspath(args.particles),
                                                 os.path.dirname(os.path.abspath(out)))
    write_dataset(ds, out)
    if not args.quiet:
        print(f"phasespace: {len(names)} population(s) x {ds.sizes['time']} frames -> {out}")
    return EXIT_OK


# --- convert -------------------------------------------------------------------------------

def cmd_convert(args) -> int:
    """``collop convert``: a foreign format (OSIRIS, openPMD, reference code) to a collop file."""
    from .io import convert

    out = _out_file(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = convert(args.src, out, args.format, species=args.species)
    for w in caught:
        print(f"collop: warning: {_one_line(w.message)}", file=sys.stderr)
    if not args.quiet:
        dims = " x ".join(f"{n} {d}" for d, n in ds.sizes.items())
        print(f"convert: {ds.attrs['collop_kind']} ({dims}) -> {out}")
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------

def main(argv=None) -> int:
    """Run the ``collop`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 1 internal error, 2 user error, 3 training
        diverged, 130 interrupted.
    """
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except CollopError as exc:
        print(f"collop: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "func", None) is None:
        print("collop: error: no command given (see 'collop --help')", file=sys.stderr)
        return EXIT_USAGE
    with warnings.catch_warnings():
        for pattern in _QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            with _threads(args.threads):
                return int(args.func(args))
        except CollopError as exc:
            print(f"collop: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("collop: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            print(f"collop: error: {where}{_one_line(exc.strerror or exc)}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:  # a bug: show where
            traceback.print_exc()
            print(f"collop: internal error: {_one_line(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
            return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
