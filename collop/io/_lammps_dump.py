"""One LAMMPS text dump file -> its snapshots: ``(timestep, time, units, v, ids, types, path)``.

The file is memory-mapped (or decompressed) once, the ``ITEM:`` headers are
found with one regular-expression scan, and each ``ATOMS`` block is parsed by
pandas' C tokenizer and reordered by id with one ``argsort``. Errors are
one-line :class:`~collop.io._common.ReaderError` s naming the file and line.
:mod:`collop.io.lammps` joins the snapshots of one or more files.
"""
from __future__ import annotations

import gzip
import io
import mmap
import re
from pathlib import Path

import numpy as np

from ._common import first_line, reader_error

__all__ = ["read_dump_file"]

_HEADER = re.compile(rb"ITEM:[ \t]*([^\r\n]*)")


def _open_bytes(path: Path):
    """The file's bytes (a memory map for plain files, decompressed bytes for .gz)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            if path.stat().st_size == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise reader_error(f"cannot be read ({first_line(exc)})", path) from None


def _line_no(buf, pos: int) -> int:
    """1-based line number of byte ``pos`` (error messages only: it scans the file up to ``pos``)."""
    return bytes(buf[:pos]).count(b"\n") + 1


class _Dump:
    """Snapshots of one dump file, parsed one at a time."""

    def __init__(self, path: Path):
        self.path = path
        self.buf = _open_bytes(path)
        if len(self.buf) == 0 or not bytes(self.buf[:4096]).strip():
            raise reader_error("is empty: no LAMMPS snapshot (ITEM: TIMESTEP ...)", path)
        # "ITEM:" is a literal prefix, which the regex engine finds by fast search; only
        # matches at the start of a line (after optional blanks) are headers
        self.items = [(m.group(1).decode("ascii", "replace").strip(), m.start(), m.end())
                      for m in _HEADER.finditer(self.buf) if self._at_line_start(m.start())]
        first = bytes(self.buf[:200]).lstrip()
        if not self.items or not first.startswith(b"ITEM:"):
            line = first.splitlines()[0][:60].decode("ascii", "replace") if first else ""
            raise reader_error(f"is not a LAMMPS text dump: it starts with {line!r}, expected "
                               "'ITEM: TIMESTEP' (or 'ITEM: UNITS', 'ITEM: TIME')", path)

    def _at_line_start(self, pos: int) -> bool:
        before = bytes(self.buf[max(0, pos - 64):pos]).rstrip(b" \t")
        return before.endswith((b"\n", b"\r")) or (not before and pos <= 64)

    def _body(self, k: int) -> bytes:
        """The text between header ``k`` and the next header."""
        end = self.items[k + 1][1] if k + 1 < len(self.items) else len(self.buf)
        return bytes(self.buf[self.items[k][2]:end])

    def _scalar(self, k: int, what: str, kind=int):
        body = self._body(k).split()
        if len(body) != 1:
            line = _line_no(self.buf, self.items[k][1]) + 1
            raise reader_error(f"line {line}: ITEM: {what} must be followed by one number, "
                               f"found {len(body)} values" if body else
                               f"line {line}: ITEM: {what} has no value (truncated dump?)", self.path)
        try:
            return kind(body[0])
        except ValueError:
            line = _line_no(self.buf, self.items[k][1]) + 1
            raise reader_error(f"line {line}: ITEM: {what} value {body[0].decode('ascii', 'replace')!r} "
                               f"is not {'an integer' if kind is int else 'a number'}", self.path) from None

    def snapshots(self):
        """Yield ``(timestep, time, units, columns, block_offset, natoms, block)`` per snapshot.

        A snapshot is the run of items up to its ``ATOMS`` section; LAMMPS puts
        ``UNITS`` and ``TIME`` (``dump_modify units/time yes``) before
        ``TIMESTEP``. ``time`` and ``units`` are None when absent;
        ``block_offset`` is the byte offset of the ATOMS block (for line
        numbers in error messages).
        """
        items, k = self.items, 0
        while k < len(items):
            first = k
            timestep = time = units = natoms = None
            while k < len(items) and not items[k][0].startswith("ATOMS"):
                name = items[k][0]
                if name == "TIMESTEP":
                    if timestep is not None:
                        raise reader_error(f"snapshot of timestep {timestep} has no 'ITEM: ATOMS' "
                                           "section", self.path)
                    timestep = self._scalar(k, "TIMESTEP")
                elif name == "NUMBER OF ATOMS":
                    natoms = self._scalar(k, "NUMBER OF ATOMS")
                elif name == "TIME":
                    time = self._scalar(k, "TIME", float)
                elif name == "UNITS":
                    body = self._body(k).split()
                    units = body[0].decode("ascii", "replace") if body else None
                k += 1
            if timestep is None:
                raise reader_error(f"line {_line_no(self.buf, items[first][1])}: a snapshot without "
                                   "'ITEM: TIMESTEP'", self.path)
            if k >= len(items):
                raise reader_error(f"snapshot of timestep {timestep} has no 'ITEM: ATOMS' section "
                                   "(truncated dump?)", self.path)
            if natoms is None:
                raise reader_error(f"snapshot of timestep {timestep} has no 'ITEM: NUMBER OF ATOMS'",
                                   self.path)
            if natoms < 0:
                raise reader_error(f"snapshot of timestep {timestep}: NUMBER OF ATOMS is {natoms}",
                                   self.path)
            columns = items[k][0].split()[1:]
            yield timestep, time, units, columns, items[k][2], natoms, self._body(k)
            k += 1


def _parse_block(block: bytes, ncol: int, natoms: int, timestep: int, dump: "_Dump",
                 offset: int, last: bool) -> np.ndarray:
    """The ``(natoms, ncol)`` float array of an ATOMS block; one-line errors name the bad line.

    ``offset`` is the block's byte offset in the file, ``last`` whether it is
    the file's last block (a short last line is then reported as truncation).
    """
    path = dump.path
    if natoms == 0:
        if block.strip():
            raise reader_error(f"snapshot of timestep {timestep}: NUMBER OF ATOMS is 0 but atom lines "
                               "follow", path)
        return np.zeros((0, ncol))
    import pandas as pd

    try:  # pandas' C tokenizer: ~3x numpy.loadtxt on large blocks
        a = pd.read_csv(io.BytesIO(block), sep=r"\s+", header=None, dtype=np.float64,
                        engine="c").to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        a = None
    if a is not None and a.shape == (natoms, ncol) and not np.isnan(a).any():
        return a
    # error path only: find the first bad line (a Python loop is fine here)
    rows = block.split(b"\n")
    last_row = max((i for i, ln in enumerate(rows) if ln.strip()), default=-1)
    line0 = _line_no(dump.buf, offset)  # the ATOMS header's line; its newline starts the block
    seen = 0
    for i, ln in enumerate(rows):
        toks = ln.split()
        if not toks:
            continue
        seen += 1
        where = f"line {line0 + i}"
        if len(toks) != ncol:
            if last and i == last_row and len(toks) < ncol and seen <= natoms:
                raise reader_error(f"{where}: the file ends inside the snapshot of timestep {timestep} "
                                   f"({len(toks)} of {ncol} values on its last line; truncated dump)",
                                   path)
            raise reader_error(f"{where}: {len(toks)} values, the ATOMS header names {ncol} columns "
                               "(malformed line)", path)
        try:
            [float(t) for t in toks]
        except ValueError:
            bad = next(t for t in toks if not _is_float(t))
            raise reader_error(f"{where}: {bad.decode('ascii', 'replace')!r} is not a number "
                               "(malformed line)", path) from None
    if seen < natoms:
        raise reader_error(f"snapshot of timestep {timestep} is truncated: NUMBER OF ATOMS is {natoms}, "
                           f"the dump holds {seen} atom lines", path)
    if seen == natoms and a is not None and a.shape == (natoms, ncol):
        return a  # every line is well formed: the NaN are in the text (the schema rejects them)
    raise reader_error(f"snapshot of timestep {timestep}: NUMBER OF ATOMS is {natoms}, the dump holds "
                       f"{seen} atom lines", path)


def _is_float(t: bytes) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def _column_index(columns, path, timestep):
    missing = [c for c in ("id", "vx", "vy") if c not in columns]
    if missing:
        raise reader_error(f"snapshot of timestep {timestep}: ITEM: ATOMS has columns "
                           f"{' '.join(columns) or '(none)'}; missing {', '.join(missing)} "
                           "(the dump needs id vx vy [vz])", path)
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise reader_error(f"snapshot of timestep {timestep}: ITEM: ATOMS repeats column(s) "
                           f"{', '.join(dup)}", path)
    comps = ["vx", "vy"] + (["vz"] if "vz" in columns else [])
    return columns.index("id"), [columns.index(c) for c in comps], \
        (columns.index("type") if "type" in columns else None)



def read_dump_file(path: Path, species):
    """The snapshots of one dump file (atoms of type ``species`` only, if given), in file order."""
    dump = _Dump(path)
    out = []
    for timestep, time, units, columns, offset, natoms, block in dump.snapshots():
        i_id, i_v, i_type = _column_index(columns, path, timestep)
        last = offset + len(block) >= len(dump.buf)
        a = _parse_block(block, len(columns), natoms, timestep, dump, offset, last)
        ids_f = a[:, i_id]
        if np.any(ids_f != np.round(ids_f)) or np.any(np.abs(ids_f) > 2 ** 53):
            raise reader_error(f"snapshot of timestep {timestep}: the id column holds non-integer "
                               "values", path)
        ids = ids_f.astype(np.int64)
        types = a[:, i_type].astype(np.int64) if i_type is not None else None
        if species is not None:
            if types is None:
                raise reader_error(f"atom type {species!r} asked but the dump has no 'type' column", path)
            try:
                want = int(species)
            except ValueError:
                raise reader_error(f"species {species!r} must be a LAMMPS atom type (an integer)",
                                   path) from None
            keep = types == want
            if not keep.any():
                raise reader_error(f"snapshot of timestep {timestep} has no atom of type {want}; types "
                                   f"found {', '.join(map(str, np.unique(types)))}", path)
            ids, types, a = ids[keep], types[keep], a[keep]
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if ids.size > 1 and np.any(ids[1:] == ids[:-1]):
            raise reader_error(f"snapshot of timestep {timestep} repeats atom id(s) "
                               f"{', '.join(map(str, np.unique(ids[1:][ids[1:] == ids[:-1]])[:5]))}", path)
        out.append((timestep, time, units, a[:, i_v][order], ids,
                    types[order] if types is not None else None, path))
    if isinstance(dump.buf, mmap.mmap):
        dump.buf.close()
    return out
