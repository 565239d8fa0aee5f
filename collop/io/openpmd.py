"""openPMD particle series -> a collop ``particles`` dataset, through openpmd-api.

Conventions of the result
-------------------------
* ``time`` is each iteration's ``time * timeUnitSI``, in seconds
  (``time_units = "s"``).
* ``v(time, particle, component)`` is the velocity in m/s
  (``velocity_units = "m/s"``), from the ``momentum`` record:
  each component times its ``unitSI``; per real particle (divided by
  ``weighting**weightingPower`` where the record is ``macroWeighted``); then
  ``v = p / (gamma m)`` with ``gamma = sqrt(1 + |p|^2 / (m c)^2)`` and ``m``
  from the species' ``mass`` record (SI, per real particle likewise). The
  momentum's ``unitDimension`` must be that of a momentum (L M T^-1), or of a
  velocity (L T^-1: taken as is). A species without ``mass`` keeps its
  momentum in kg m/s (``velocity_units = "kg m/s"``, with a warning).
* Components are the momentum's ``x, y[, z]``.
* ``particle`` ids come from the species' ``id`` record; particles are
  matched across iterations by id (sorting + ``searchsorted``), and only
  those present in every iteration are kept (a warning says how many were
  dropped). Without an ``id`` record, iterations with equal particle counts
  are taken to keep the particle order (ids 0..n-1, with a warning); unequal
  counts are an error.
* ``iteration(time)`` keeps the openPMD iteration index.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..datasets import particles_dataset
from ._common import ReaderError, ReaderWarning, choose_species, first_line, gather, match_ids, reader_error

__all__ = ["read_openpmd", "openpmd_series_path", "is_openpmd_file"]

C_LIGHT = 299_792_458.0  # m/s
_MOMENTUM = (1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0)  # L M T I theta N J
_VELOCITY = (1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0)
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<n>\d+)(?P<suffix>\.(h5|hdf5|bp|bp4|bp5|json))$")


def is_openpmd_file(path) -> bool:
    """True if ``path`` is an HDF5 file with the root attribute ``openPMD``."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "openPMD" in f.attrs
    except Exception:
        return False


def openpmd_series_path(src) -> str:
    """The path openpmd-api should open for ``src``.

    ``src`` may be a series pattern (``diags/openpmd_%T.h5``), one file (one
    iteration of a file-based series, or a whole group-based series), or a
    folder holding the files of one file-based series (their names differ
    only in the iteration number).
    """
    s = str(src)
    if "%" in Path(s).name:
        if not Path(s).parent.is_dir():
            raise reader_error("folder of the series pattern does not exist", src)
        return s
    p = Path(s)
    if not p.exists():
        raise reader_error("no such file or folder", src)
    if p.is_file():
        return s
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in (".h5", ".hdf5"))
    if not files:
        raise reader_error("no openPMD HDF5 files (*.h5) in this folder", src)
    patterns = set()
    for f in files:
        m = _NUMBERED.match(f.name)
        patterns.add(f"{m.group('prefix')}%T{m.group('suffix')}" if m else f.name)
    if len(patterns) > 1:
        raise reader_error(f"holds files of several series ({', '.join(sorted(patterns))}); "
                           "give one file or a pattern such as openpmd_%T.h5", src)
    return str(p / patterns.pop())


def _series_files(path: str) -> list[Path]:
    """The HDF5 files of a series path (a pattern's matches, or the file itself)."""
    p = Path(path)
    if p.suffix not in (".h5", ".hdf5"):
        return []
    if "%" not in p.name:
        return [p]
    rx = re.compile("^" + "".join(r"\d+" if part.startswith("%") else re.escape(part)
                                  for part in re.split(r"(%0?\d*T)", p.name) if part) + "$")
    return sorted(f for f in p.parent.iterdir() if rx.match(f.name))


def _preflight(path: str, src) -> None:
    """Clean one-line errors for unreadable or non-openPMD HDF5 files.

    openpmd-api reports these with multi-line HDF5 error stacks on stderr and
    an unspecific message; h5py opens each file first and says which one and why.
    """
    import h5py

    files = _series_files(path)
    if "%" in Path(path).name and Path(path).suffix in (".h5", ".hdf5") and not files:
        raise reader_error("no files match this openPMD series pattern", src)
    for f in files:
        try:
            with h5py.File(f, "r") as h:
                ok = "openPMD" in h.attrs
        except Exception as exc:
            raise reader_error(f"cannot be read as HDF5, truncated or not an HDF5 file "
                               f"({first_line(exc)})", f) from None
        if not ok:
            raise reader_error("is an HDF5 file but not openPMD (no root attribute 'openPMD')", f)


def _component(rc, series):
    """A record component as a float64 array (constant components broadcast)."""
    if rc.constant:
        value = np.float64(rc.get_attribute("value"))
        return np.full(tuple(rc.shape), value)
    a = rc.load_chunk()
    series.flush()
    return np.asarray(a, dtype=np.float64)


def _dims(record) -> tuple:
    return tuple(float(x) for x in record.unit_dimension)


def _weighted(record, species, series, where) -> float | np.ndarray:
    """The factor ``weighting**weightingPower`` that makes a macroWeighted record per real particle."""
    if not (record.contains_attribute("macroWeighted") and int(record.get_attribute("macroWeighted"))):
        return 1.0
    power = float(record.get_attribute("weightingPower")) if record.contains_attribute("weightingPower") else 1.0
    if power == 0.0:
        return 1.0
    if "weighting" not in species:
        raise reader_error("record is macroWeighted but the species has no 'weighting' record", where)
    w = _component(species["weighting"][_scalar()], series)
    return w ** power


def _scalar():
    import openpmd_api as io

    return io.Record_Component.SCALAR


def _read_iteration(series, it, index, species, where):
    if species not in it.particles:
        raise reader_error(f"iteration {index} has no species {species!r}; it has "
                           f"{', '.join(it.particles) or 'none'}", where)
    sp = it.particles[species]
    if "momentum" not in sp:
        raise reader_error(f"species {species!r} has no 'momentum' record", where)
    mom = sp["momentum"]
    comps = [c for c in ("x", "y", "z") if c in mom]
    if comps[:2] != ["x", "y"]:
        raise reader_error(f"momentum has components {', '.join(mom)}; need x and y", where)
    dims = _dims(mom)
    if not (np.allclose(dims, _MOMENTUM) or np.allclose(dims, _VELOCITY)):
        raise reader_error(f"momentum has unitDimension {list(dims)}; expected a momentum "
                           "(L M T^-1) or a velocity (L T^-1)", where)
    p = np.stack([_component(mom[c], series) * float(mom[c].unit_SI) for c in comps], axis=1)
    p = p / np.reshape(_weighted(mom, sp, series, where), (-1, 1))
    units = "m/s"
    if np.allclose(dims, _MOMENTUM):
        if "mass" in sp:
            mrec = sp["mass"]
            m = _component(mrec[_scalar()], series) * float(mrec[_scalar()].unit_SI)
            m = m / _weighted(mrec, sp, series, where)
            m = np.broadcast_to(np.asarray(m, dtype=np.float64), (p.shape[0],)).reshape(-1, 1)
            if np.any(m <= 0) or not np.all(np.isfinite(m)):
                raise reader_error(f"species {species!r} has a non-positive mass", where)
            gamma = np.sqrt(1.0 + np.sum((p / (m * C_LIGHT)) ** 2, axis=1, keepdims=True))
            p = p / (gamma * m)
        else:
            units = "kg m/s"
    n = p.shape[0]
    if "id" in sp:
        ids = _component_int(sp["id"][_scalar()], series)
        if ids.shape != (n,):
            raise reader_error(f"record 'id' has {ids.size} values for {n} particles", where)
    else:
        ids = None
    t_unit = float(it.time_unit_SI) if it.contains_attribute("timeUnitSI") else 1.0
    return float(it.time) * t_unit, p, ids, comps, units


def _component_int(rc, series):
    if rc.constant:
        return np.full(tuple(rc.shape), int(rc.get_attribute("value")), dtype=np.int64)
    a = np.asarray(rc.load_chunk())
    series.flush()
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError("particle ids above 2**63")
    return a.astype(np.int64)


def read_openpmd(src, species: str | None = None):
    """Read an openPMD particle series into a ``particles`` dataset.

    Parameters
    ----------
    src : str or path-like
        A series pattern (``diags/openpmd_%T.h5``), one file, or a folder
        holding the files of one file-based series.
    species : str, optional
        The particle species; needed when the series has several.

    Returns
    -------
    xarray.Dataset
        ``particles`` dataset with ``v`` in m/s and ``time`` in s (see the
        module notes).

    Raises
    ------
    ReaderError
        One line naming the file and the problem: not openPMD or unreadable,
        no particles, unknown species, no ``id`` while counts differ, ...
    """
    import openpmd_api as io

    path = openpmd_series_path(src)
    _preflight(path, src)
    try:
        series = io.Series(path, io.Access.read_only)
    except Exception as exc:  # openpmd-api raises many kinds
        raise reader_error(f"cannot be read as an openPMD series, truncated or not openPMD "
                           f"({first_line(exc)})", src) from None
    try:
        indices = sorted(int(i) for i in series.iterations)
        if not indices:
            raise reader_error("openPMD series has no iterations", src)
        first = series.iterations[indices[0]]
        names = list(first.particles)
        if not names:
            raise reader_error(f"iteration {indices[0]} has no particle species", src)
        species = choose_species(names, species, src)
        times, vs, ids_all, wheres = [], [], [], []
        comps0 = units0 = None
        for i in indices:
            where = path.replace("%T", str(i)) if "%T" in path else f"{path} (iteration {i})"
            try:
                t, v, ids, comps, units = _read_iteration(series, series.iterations[i], i, species,
                                                          where)
            except ReaderError:
                raise
            except (RuntimeError, OSError, ValueError, KeyError, io.Error) as exc:
                raise reader_error(f"iteration {i} cannot be read ({first_line(exc)})", where) from None
            if comps0 is None:
                comps0, units0 = comps, units
            elif comps != comps0 or units != units0:
                raise reader_error(f"iteration {i} has momentum components {comps} ({units}); "
                                   f"iteration {indices[0]} has {comps0} ({units0})", where)
            times.append(t)
            vs.append(v)
            ids_all.append(ids)
            wheres.append(where)
    finally:
        series.close()
    tarr = np.asarray(times)
    if tarr.size > 1 and np.any(np.diff(tarr) <= 0):
        k = int(np.argmax(np.diff(tarr) <= 0))
        raise reader_error(f"iteration {indices[k + 1]} has time {tarr[k + 1]:g} s, not after "
                           f"iteration {indices[k]} ({tarr[k]:g} s)", wheres[k + 1])
    counts = [v.shape[0] for v in vs]
    if any(i is None for i in ids_all):
        k = next(j for j, i in enumerate(ids_all) if i is None)
        if len(set(counts)) > 1:
            j = int(np.argmax(np.asarray(counts) != counts[0]))
            raise reader_error(f"species {species!r} has no 'id' record and particle counts differ "
                               f"between iterations ({counts[0]} at iteration {indices[0]}, "
                               f"{counts[j]} at iteration {indices[j]}): particles cannot be matched",
                               wheres[k])
        warnings.warn(f"{src}: species {species!r} has no 'id' record; particles are taken to keep "
                      "their order between iterations (ids 0..n-1)", ReaderWarning, stacklevel=2)
        common = np.arange(counts[0], dtype=np.int64)
        v = np.stack(vs).astype(np.float32)
        id_note = "no 'id' record: particle = index within each iteration"
    else:
        common = match_ids(ids_all, wheres)
        v = np.empty((len(vs), common.size, len(comps0)), dtype=np.float32)
        for k in range(len(vs)):
            v[k] = gather(ids_all[k], common, vs[k], wheres[k])
        id_note = "particle = openPMD 'id' record"
    if not np.all(np.isfinite(v)):
        raise reader_error("velocities contain NaN or Inf values", src)
    if units0 != "m/s":
        warnings.warn(f"{src}: species {species!r} has no 'mass' record; kept the momentum in kg m/s",
                      ReaderWarning, stacklevel=2)
    ds = particles_dataset(v, tarr, common, velocity_units=units0, time_units="s",
                           source=f"openPMD {path} (species {species})",
                           attrs={"openpmd_species": species, "id_convention": id_note,
                                  "velocity_quantity": ("velocity p / (gamma m)" if units0 == "m/s"
                                                        else "momentum per real particle")})
    return ds.assign_coords(iteration=("time", np.asarray(indices, dtype=np.int64)))
