"""collop's own file format: netCDF4/HDF5 through h5netcdf.

Reads validate the dataset against its kind (:mod:`collop.schema`); writes go
to a temporary file in the destination folder that is renamed into place, so
an interrupted or failed write never leaves a half-written file behind.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import xarray as xr

from ..schema import SchemaError, validate

__all__ = ["open_dataset", "write_dataset", "atomic_write_text", "atomic_path"]


def open_dataset(path, kind: str | None = None, *, load: bool = True,
                 check_values: bool = True) -> xr.Dataset:
    """Open a collop netCDF file and validate it.

    Parameters
    ----------
    path : str or path-like
        The file.
    kind : {"particles", "phasespace", "operator"}, optional
        The kind the caller needs.
    load : bool
        Load the data into memory (and close the file). Set to False for large
        particle files; the dataset is then read lazily.
    check_values : bool
        Check that the data are finite.

    Raises
    ------
    SchemaError
        If the file is missing, unreadable, or breaks the data contract.
    """
    p = Path(path)
    src = str(path)
    if not p.exists():
        raise SchemaError("no such file", src)
    if p.is_dir():
        raise SchemaError("is a directory, expected a netCDF file", src)
    try:
        ds = xr.open_dataset(p, engine="h5netcdf")
    except Exception as exc:  # h5py/h5netcdf raise many kinds
        raise SchemaError(f"cannot be read as netCDF/HDF5 ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})", src) from None
    try:
        if load:
            ds.load()
            ds.close()
        ds.attrs.pop("collop_path", None)
        ds.encoding["source"] = src
        validate(ds, kind, source=src, check_values=check_values)
    except SchemaError:
        ds.close()
        raise
    return ds


def _umask_mode(path: str) -> None:
    """Give a ``mkstemp`` file the permissions a plain ``open`` would have."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        _umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_dataset(ds: xr.Dataset, path, *, compress: int | None = 4) -> Path:
    """Validate ``ds`` and write it to ``path`` atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A dataset of one of collop's kinds.
    path : str or path-like
        Destination; its folder must exist.
    compress : int or None
        gzip level for the data variables (None: no compression).
    """
    path = Path(path)
    validate(ds, source=str(path))
    encoding = {}
    if compress:
        for name, var in ds.data_vars.items():
            if var.ndim >= 1 and var.dtype.kind in "fiu":
                encoding[name] = {"compression": "gzip", "compression_opts": int(compress),
                                  "shuffle": True}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding, invalid_netcdf=False)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write(text)
    return path
