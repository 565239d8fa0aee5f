"""The ``collop`` command line.

Commands
--------
``collop train FAMILY DATA.nc --train A,B [--test C,D] [options] --out DIR``
    Learn an operator of a registered family (``fp``: Fokker-Planck) from a
    data file; the run folder gets ``operator.nc``, ``metrics.json``,
    ``run.json``, ``events.jsonl``, ``snapshots/`` and ``checkpoint.pt``.
``collop run SPEC.json [--resume]``
    Run a job spec (as recorded in any run folder's ``run.json``).
``collop evaluate --operator OP.nc --data DATA.nc [--populations C,D] [--out FILE]``
    Test metrics of any operator file on any data file (JSON).
``collop tracks PARTICLES.nc --ndump N --out DIR``
    The Tracks estimate of the operator from particle tracks, as a run folder.
``collop generate langevin|pic ...``
    Synthetic particle data.
``collop phasespace PARTICLES.nc --populations NAMES|table4 --out FILE.nc``
    Phase-space evolution of sub-populations sampled from particles.
``collop convert SRC --out OUT.nc``
    Other codes' output to collop files.

One module per command group; every training goes through
:func:`collop.pipeline.run`.

Exit status
-----------
0 success; 1 internal error (with a traceback); 2 user error (one line
``collop: error: ...`` on stderr, nothing written); 3 training diverged (best
weights written); 130 interrupted (Ctrl-C or SIGTERM: a training still
writes its best weights, with status ``stopped``).
"""
from __future__ import annotations

import contextlib
import sys

__all__ = ["main", "build_parser"]

# Harmless warnings of torch's sparse and numpy interop that would clutter the terminal.
_QUIET_WARNINGS = (r"Sparse CSR tensor support is in beta", r"Sparse invariant checks",
                   r"The given NumPy array is not writable")


def build_parser():
    """The ``collop`` argument parser."""
    from .. import __version__
    from . import convert, evaluate, generate, phasespace, rollout, sweep, tracks, train
    from ._common import Parser, common_options

    common = common_options(False)
    parser = Parser(prog="collop", parents=[common_options(True)],
                    description="Learn plasma collision operators from particle data.")
    parser.add_argument("--version", action="version", version=f"collop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    train.add_parsers(sub, common)
    evaluate.add_parser(sub, common)
    tracks.add_parser(sub, common)
    generate.add_parser(sub, common)
    phasespace.add_parser(sub, common)
    convert.add_parser(sub, common)
    sweep.add_parser(sub, common)
    rollout.add_parser(sub, common)
    return parser


def _message(exc, args=None) -> str:
    """The error's one line, with a spec field the command has a flag for named by its flag."""
    from ._common import one_line

    msg = one_line(exc)
    flags = getattr(args, "field_flags", None) or {}
    field = getattr(exc, "field", None)
    if field and field in flags and msg.startswith(field):
        msg = flags[field] + msg[len(field):]
    return msg


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
    try:                        # Ctrl-C while the libraries load is an interrupt, not a traceback
        with _held_signals() as held:
            from ..pipeline.context import StopFlag
            from ..pipeline.signals import handle_signals
        if held:
            raise KeyboardInterrupt
        stop = StopFlag()       # Ctrl-C / SIGTERM: a clean stop during training, else an interrupt
        with handle_signals(stop):
            return _main(argv, stop)
    except KeyboardInterrupt:
        print("collop: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _held_signals():
    """Hold SIGINT and SIGTERM while the block runs; yields the list of those that arrived.

    The first imports load compiled extensions (pydantic's core among them)
    whose initialisation turns an interrupt into a crash with a traceback
    (a Rust panic); held, the signal is acted on once they are loaded.
    """
    import signal
    import threading

    held: list = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield held
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _main(argv, stop) -> int:
    import traceback
    import warnings

    from ..schema import CollopError
    from ._common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, one_line, threads

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except CollopError as exc:
        print(f"collop: error: {_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "func", None) is None:
        print("collop: error: no command given (see 'collop --help')", file=sys.stderr)
        return EXIT_USAGE
    args._stop = stop
    with warnings.catch_warnings():
        for pattern in _QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            with threads(args.threads):
                return int(args.func(args))
        except CollopError as exc:
            print(f"collop: error: {_message(exc, args)}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("collop: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except MemoryError:
            print("collop: error: out of memory (try fewer particles, frames or time nodes)", file=sys.stderr)
            return EXIT_USAGE
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            print(f"collop: error: {where}{one_line(exc.strerror or exc)}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:  # a bug: show where
            traceback.print_exc()
            print(f"collop: internal error: {one_line(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
            return EXIT_INTERNAL
