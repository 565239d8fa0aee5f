"""What every ``collop`` command shares: the parser class, argument types, threads, notes."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..options import one_line  # noqa: F401 (the commands' one-line errors)
from ..schema import CollopError

__all__ = ["UsageError", "Parser", "positive_int", "nonneg_int", "positive_float", "nonneg_float",
           "seed_type", "common_options", "note", "one_line", "threads", "progress", "out_file",
           "EXIT_OK", "EXIT_INTERNAL", "EXIT_USAGE", "EXIT_DIVERGED", "EXIT_INTERRUPTED", "names"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(CollopError):
    """A bad command line (reported in one line, exit status 2)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line :class:`UsageError` s."""

    def error(self, message):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _number_type(kind, lo, strict, what, hi=None):
    """An argparse type: ``kind(s)``, finite, above ``lo`` (strictly if ``strict``), at most ``hi``."""
    def parse(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None
        if not math.isfinite(v) or (v <= lo if strict else v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
        return v
    parse.__name__ = what
    return parse


positive_int = _number_type(int, 0, True, "a positive integer")
nonneg_int = _number_type(int, 0, False, "an integer >= 0")
positive_float = _number_type(float, 0.0, True, "a positive number")
nonneg_float = _number_type(float, 0.0, False, "a number >= 0")
#: Seeds are integers in [0, 2**32 - 1] in every command.
seed_type = _number_type(int, 0, False, "a seed, an integer from 0 to 4294967295", hi=2**32 - 1)


def common_options(defaults: bool) -> argparse.ArgumentParser:
    """``--threads`` and ``-q``; sub-commands take them too (without overriding the global ones)."""
    p = Parser(add_help=False)
    sup = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="CPU threads for torch and the kernels (default 1)",
                   **({"default": None} if defaults else sup))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notes",
                   **({"default": False} if defaults else sup))
    return p


def note(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"collop: {msg}", file=sys.stderr, flush=True)


def names(spec) -> list[str]:
    from ..data import parse_names

    return parse_names(spec)


def threads(n):
    """Set torch's and the kernels' thread counts for the command (default 1); restore afterwards."""
    from ..pipeline.context import use_threads

    return use_threads(n or 1)


def progress(args, **kw):
    from tqdm import tqdm

    return tqdm(disable=bool(getattr(args, "quiet", False)), file=sys.stderr, dynamic_ncols=True, **kw)


def out_file(path, what: str = "--out") -> Path:
    """Check before any work that the output file ``path`` can be written."""
    from ..pipeline.context import check_out_file

    return check_out_file(path, what)
