"""One entry point for the foreign formats: detect, read, write a collop netCDF file.

Formats
-------
``osiris``
    OSIRIS RAW dumps (:func:`collop.io.osiris.read_osiris`): a folder with
    ``MS/RAW/<species>/`` (or a species folder of ``RAW-*.h5``), or one RAW
    ``.h5`` file -> ``particles``.
``openpmd``
    An openPMD particle series (:func:`collop.io.openpmd.read_openpmd`): a
    pattern with ``%T``, an openPMD ``.h5`` file, or a folder of them ->
    ``particles``.
``refcode``
    The reference code's folder layout (:func:`collop.io.refcode.read_refcode`):
    population folders holding ``f/NNNNNN.npy`` and ``args.yaml`` ->
    ``phasespace``.
``lammps``
    LAMMPS text dumps (:func:`collop.io.lammps.read_lammps`): a file of
    snapshots (``ITEM: TIMESTEP`` ... ``ITEM: ATOMS id vx vy vz ...``,
    optionally gzipped) or a folder of dump files -> ``particles``.
"""
from __future__ import annotations

from pathlib import Path

from ._common import first_line, reader_error
from .netcdf import write_dataset

__all__ = ["FORMATS", "detect_format", "read_foreign", "convert"]

FORMATS = ("osiris", "openpmd", "refcode", "lammps")


def _h5_kind(path: Path) -> str | None:
    import h5py

    from .openpmd import is_openpmd_file
    from .osiris import is_osiris_raw

    if is_openpmd_file(path):
        return "openpmd"
    if is_osiris_raw(path):
        return "osiris"
    try:
        with h5py.File(path, "r"):
            pass
    except Exception as exc:
        raise reader_error(f"cannot be read as HDF5, truncated or not an HDF5 file ({first_line(exc)})",
                           path) from None
    raise reader_error("is an HDF5 file but neither an OSIRIS RAW dump (TYPE/QUANTS attributes, "
                       "p1/p2/tag datasets) nor openPMD (root attribute 'openPMD')", path)


def detect_format(src) -> str:
    """The format of ``src``: one of :data:`FORMATS`.

    Raises
    ------
    ReaderError
        ``src`` does not exist or is none of the formats.
    """
    from .lammps import _looks_like_dump_name, is_lammps_dump
    from .refcode import is_refcode_folder

    s = str(src)
    p = Path(s)
    if "%T" in p.name:
        return "openpmd"
    if not p.exists():
        raise reader_error("no such file or folder", src)
    if p.is_file():
        if p.suffix in (".h5", ".hdf5", ".hdf"):
            return _h5_kind(p)
        if p.suffix in (".bp", ".json"):
            return "openpmd"
        if is_lammps_dump(p) or _looks_like_dump_name(p):
            return "lammps"
        if p.stat().st_size == 0:
            raise reader_error("is empty", src)
        raise reader_error("unknown format: expected an OSIRIS RAW or openPMD .h5 file, a LAMMPS "
                           "text dump (ITEM: TIMESTEP ...), or a folder", src)
    if (p / "MS" / "RAW").is_dir() or (p / "RAW").is_dir() or any(p.glob("RAW-*.h5")):
        return "osiris"
    if is_refcode_folder(p):
        return "refcode"
    h5 = sorted(p.glob("*.h5"))
    if h5:
        return _h5_kind(h5[0])
    if any(d.is_dir() and any(d.glob("RAW-*.h5")) for d in p.iterdir()):
        return "osiris"
    if any(f.is_file() and (_looks_like_dump_name(f) or is_lammps_dump(f)) for f in p.iterdir()):
        return "lammps"
    raise reader_error("unknown format: no OSIRIS MS/RAW folder, openPMD .h5 files, reference-code "
                       "population folders (NAME/f/NNNNNN.npy + args.yaml) or LAMMPS dumps", src)


def read_foreign(src, format: str = "auto", *, species: str | None = None):
    """Read ``src`` in a foreign format into a collop dataset (not written anywhere).

    Parameters
    ----------
    src : str or path-like
        File, folder or openPMD pattern.
    format : {"auto", "osiris", "openpmd", "refcode", "lammps"}
        ``"auto"`` detects it (:func:`detect_format`).
    species : str, optional
        Particle species (OSIRIS, openPMD) or atom type (LAMMPS); not used by
        ``refcode``.
    """
    fmt = detect_format(src) if format == "auto" else format
    if fmt == "osiris":
        from .osiris import read_osiris
        return read_osiris(src, species)
    if fmt == "openpmd":
        from .openpmd import read_openpmd
        return read_openpmd(src, species)
    if fmt == "refcode":
        if species is not None:
            raise reader_error("--species does not apply to a reference-code folder (it holds "
                               "phase-space histograms, not particles)", src)
        from .refcode import read_refcode
        return read_refcode(src)
    if fmt == "lammps":
        from .lammps import read_lammps
        return read_lammps(src, species)
    raise reader_error(f"unknown format {format!r}; expected auto, {', '.join(FORMATS)}", src)


def convert(src, out, format: str = "auto", *, species: str | None = None):
    """Convert ``src`` to a collop netCDF file ``out``.

    The whole input is read and validated before anything is written, and the
    file is written through a temporary file renamed into place, so a failure
    leaves no ``out`` behind (and an existing ``out`` untouched).

    Parameters
    ----------
    src : str or path-like
        File, folder or openPMD pattern (see :func:`read_foreign`).
    out : str or path-like
        The netCDF file to write.
    format : {"auto", "osiris", "openpmd", "refcode", "lammps"}
        Input format; ``"auto"`` detects it.
    species : str, optional
        Particle species (OSIRIS, openPMD) or atom type (LAMMPS).

    Returns
    -------
    xarray.Dataset
        The dataset written.
    """
    ds = read_foreign(src, format, species=species)
    write_dataset(ds, out)
    return ds
