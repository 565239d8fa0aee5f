"""LAMMPS text dumps (``dump custom ... id vx vy vz``) -> a collop ``particles`` dataset.

Layout read
-----------
A text dump holds snapshots, each a run of ``ITEM:`` sections::

    ITEM: TIMESTEP
    1000
    ITEM: NUMBER OF ATOMS
    4000
    ITEM: BOX BOUNDS pp pp pp
    0 10
    0 10
    0 10
    ITEM: ATOMS id type vx vy vz x y z
    1 1 0.12 -0.3 0.05 1.0 2.0 3.0
    ...

(``dump_modify ... units yes`` and ``time yes`` add ``ITEM: UNITS`` and
``ITEM: TIME`` sections, which are read when present.) The ``ATOMS`` columns
may come in any order; ``id``, ``vx`` and ``vy`` are needed, ``vz`` is read
when present, ``type`` is kept as a coordinate, the rest is ignored. Sources:
one file (any number of snapshots, optionally gzipped), or a folder of dump
files (``*.lammpstrj``, ``*.dump``, ``dump.*``, each optionally ``.gz``),
ordered by timestep.

Conventions of the result
-------------------------
* ``v(time, particle, component)`` float32 in the dump's velocity units:
  those of its ``units`` style when the dump names it (``ITEM: UNITS``), else
  ``"LAMMPS velocity units (see the input's units command)"``.
* ``time``: ``ITEM: TIME`` when written; else ``timestep * dt`` when ``dt``
  is given; else the timestep itself (``time_units = "timestep"``). The
  timesteps are kept as ``timestep(time)``.
* ``particle``: the atom ids, sorted; every snapshot must hold the same ids.
  ``type(particle)`` from the first snapshot when the dump has a ``type``
  column.

Parsing is vectorised (:mod:`collop.io._lammps_dump`): the file is
memory-mapped (or decompressed) once, the ``ITEM:`` headers are found with
one regular-expression scan, and each ``ATOMS`` block is parsed by pandas'
C tokenizer and reordered by id with one ``argsort``. Any problem (an empty
or truncated file, a malformed line, missing columns, ids that change
between snapshots) is a one-line :class:`~collop.io._common.ReaderError`
naming the file, and nothing is returned.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..datasets import particles_dataset
from ._common import reader_error
from ._lammps_dump import read_dump_file

__all__ = ["read_lammps", "is_lammps_dump", "find_lammps_dumps", "LAMMPS_VELOCITY_UNITS"]

LAMMPS_VELOCITY_UNITS = {
    "lj": ("sigma/tau (LJ reduced)", "tau (LJ reduced)"),
    "real": ("Angstrom/fs", "fs"),
    "metal": ("Angstrom/ps", "ps"),
    "si": ("m/s", "s"),
    "cgs": ("cm/s", "s"),
    "electron": ("Bohr/atomic time unit", "fs"),
    "micro": ("um/us", "us"),
    "nano": ("nm/ns", "ns"),
}
"""``units`` style -> (velocity unit, time unit) of LAMMPS (its ``units`` command)."""

_SUFFIXES = (".lammpstrj", ".dump", ".lammps", ".lmp")


def is_lammps_dump(path) -> bool:
    """True if ``path`` starts with ``ITEM:`` lines, among them ``ITEM: TIMESTEP``."""
    p = Path(path)
    try:
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rb") as f:
            head = f.read(512)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    return head.lstrip().startswith(b"ITEM:") and b"ITEM: TIMESTEP" in head


def _looks_like_dump_name(p: Path) -> bool:
    name = p.name[:-3] if p.name.endswith(".gz") else p.name
    return name.startswith("dump.") or any(name.endswith(s) for s in _SUFFIXES)


def find_lammps_dumps(src) -> list[Path]:
    """The dump files of ``src``: the file itself, or a folder's dump files (unsorted).

    Raises
    ------
    ReaderError
        ``src`` does not exist, or a folder holds no dump file.
    """
    p = Path(src)
    if not p.exists():
        raise reader_error("no such file or folder", src)
    if p.is_file():
        return [p]
    files = sorted(f for f in p.iterdir() if f.is_file() and (_looks_like_dump_name(f) or is_lammps_dump(f)))
    if not files:
        raise reader_error("no LAMMPS dump files (*.lammpstrj, *.dump, dump.*) in this folder", src)
    return files

def read_lammps(src, species: str | None = None, *, dt: float | None = None,
                time_units: str | None = None, velocity_units: str | None = None):
    """Read LAMMPS text dump(s) into a ``particles`` dataset.

    Parameters
    ----------
    src : str or path-like
        A dump file (several snapshots, optionally ``.gz``) or a folder of
        dump files.
    species : str, optional
        An atom type (the ``type`` column): keep only atoms of that type.
    dt : float, optional
        The LAMMPS time step, to turn timesteps into times when the dump has
        no ``ITEM: TIME``.
    time_units, velocity_units : str, optional
        Override the unit names (defaults: from ``ITEM: UNITS``, see the
        module docstring).

    Returns
    -------
    xarray.Dataset
        ``v(time, particle, component)`` float32; coordinates ``time``,
        ``timestep(time)``, ``particle`` (sorted ids), ``component``
        (``x, y[, z]``) and ``type(particle)`` when the dump has types.

    Raises
    ------
    ReaderError
        One line naming the file and the problem.
    """
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise reader_error(f"dt must be a positive number, got {dt!r}", src)
    snaps = []  # (timestep, time, units, v (n, c) in id order, ids, types, path)
    for path in find_lammps_dumps(src):
        snaps.extend(read_dump_file(path, species))
    if not snaps:
        raise reader_error("holds no snapshot", src)
    snaps.sort(key=lambda s: s[0])
    steps = np.array([s[0] for s in snaps], dtype=np.int64)
    if np.any(np.diff(steps) == 0):
        i = int(np.flatnonzero(np.diff(steps) == 0)[0])
        raise reader_error(f"timestep {steps[i]} appears twice", snaps[i + 1][6])
    ref_ids, ref_path, ref_step = snaps[0][4], snaps[0][6], snaps[0][0]
    ncomp = snaps[0][3].shape[1]
    for ts, _, _, v, ids, _, path in snaps[1:]:
        if v.shape[1] != ncomp:
            raise reader_error(f"snapshot of timestep {ts} has {v.shape[1]} velocity components, "
                               f"timestep {ref_step} has {ncomp}", path)
        if ids.shape != ref_ids.shape or not np.array_equal(ids, ref_ids):
            only_a = np.setdiff1d(ref_ids, ids).size
            only_b = np.setdiff1d(ids, ref_ids).size
            raise reader_error(f"atom ids change between snapshots: timestep {ts} has {ids.size} atoms, "
                               f"timestep {ref_step} ({ref_path.name}) {ref_ids.size}; {only_a} id(s) "
                               f"missing, {only_b} new (collop needs the same atoms in every snapshot)",
                               path)
    if ref_ids.size == 0:
        raise reader_error("holds no atoms", ref_path)
    units = next((s[2] for s in snaps if s[2]), None)
    times = [s[1] for s in snaps]
    if all(t is not None for t in times):
        time = np.array(times, dtype=float)
        tu = LAMMPS_VELOCITY_UNITS.get(units, (None, "LAMMPS time units"))[1]
    elif dt is not None:
        time = steps * float(dt)
        tu = LAMMPS_VELOCITY_UNITS.get(units, (None, "LAMMPS time units"))[1]
    else:
        time, tu = steps.astype(float), "timestep"
    if np.any(np.diff(time) <= 0):
        raise reader_error("snapshot times are not increasing", src)
    vu = LAMMPS_VELOCITY_UNITS.get(units, ("LAMMPS velocity units (see the input's units command)",))[0]
    v = np.stack([s[3] for s in snaps]).astype(np.float32)
    attrs = {"lammps_files": ", ".join(sorted({str(s[6]) for s in snaps}))}
    if units:
        attrs["lammps_units"] = units
    if species is not None:
        attrs["lammps_type"] = str(species)
    ds = particles_dataset(v, time, ref_ids, velocity_units=velocity_units or vu,
                           time_units=time_units or tu, source=f"LAMMPS dump {src}", attrs=attrs)
    ds = ds.assign_coords(timestep=("time", steps))
    if snaps[0][5] is not None:
        ds = ds.assign_coords(type=("particle", snaps[0][5]))
    return ds

