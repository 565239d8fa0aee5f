"""``collop convert``: other codes' output to collop files."""
from __future__ import annotations

import sys
import warnings

from ._common import EXIT_OK, one_line, out_file

__all__ = ["add_parser", "cmd_convert"]


def add_parser(sub, common) -> None:
    from ..io import FORMATS

    cv = sub.add_parser("convert", parents=[common], help="OSIRIS / openPMD / reference-code data to netCDF",
                        description="Convert OSIRIS RAW dumps or an openPMD series to a particles file, "
                                    "or a reference-code folder to a phase-space file.")
    cv.add_argument("src", metavar="SRC", help="file, folder or openPMD pattern (data_%%T.h5)")
    cv.add_argument("--out", required=True, metavar="OUT.nc")
    cv.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    cv.add_argument("--species", default=None, metavar="NAME", help="particle species (OSIRIS, openPMD)")
    cv.set_defaults(func=cmd_convert)


def cmd_convert(args) -> int:
    from ..io import convert

    out = out_file(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = convert(args.src, out, args.format, species=args.species)
    for w in caught:
        print(f"collop: warning: {one_line(w.message)}", file=sys.stderr)
    if not args.quiet:
        dims = " x ".join(f"{n} {d}" for d, n in ds.sizes.items())
        print(f"convert: {ds.attrs['collop_kind']} ({dims}) -> {out}")
    return EXIT_OK
