"""Reading and writing collop datasets, and readers of foreign formats.

* collop's own netCDF files: :func:`open_dataset`, :func:`write_dataset`.
* foreign formats -> collop datasets: :func:`read_osiris` (OSIRIS RAW dumps),
  :func:`read_openpmd` (openPMD particle series), :func:`read_refcode` (the
  reference code's histogram folders), :func:`read_lammps` (LAMMPS text
  dumps); :func:`convert` detects the format
  and writes a netCDF file (the ``collop convert`` command).
"""
from ._common import ReaderError, ReaderWarning
from .convert import FORMATS, convert, detect_format, read_foreign
from .lammps import read_lammps
from .netcdf import atomic_path, atomic_write_text, open_dataset, write_dataset
from .openpmd import read_openpmd
from .osiris import read_osiris
from .refcode import read_refcode

__all__ = ["open_dataset", "write_dataset", "atomic_write_text", "atomic_path",
           "convert", "detect_format", "read_foreign", "FORMATS", "read_osiris",
           "read_openpmd", "read_refcode", "read_lammps", "ReaderError", "ReaderWarning"]
