"""OSIRIS RAW particle dumps -> a collop ``particles`` dataset.

Layout read
-----------
An OSIRIS run writes the RAW diagnostic of species ``S`` to
``<run>/MS/RAW/S/RAW-S-NNNNNN.h5``, one HDF5 file per dump (NNNNNN is the
dump number). Each file holds, at its root,

* one 1-D dataset per quantity: ``x1, x2[, x3]`` (positions), ``p1, p2, p3``
  (momenta), ``ene``, ``q``, and ``tag``: an ``(n, 2)`` integer array of
  ``(node, id)`` pairs that label each particle for the whole run (written
  when the species has ``add_tag = .true.`` in the input deck; OSIRIS makes
  the node negative for particles already picked for the TRACKS diagnostic);
* root attributes ``TIME``, ``TIME UNITS``, ``ITER``, ``NAME`` (species),
  ``TYPE`` (``"particles"``), and ``QUANTS``/``UNITS``/``LABELS`` (the units
  of each quantity, aligned with ``QUANTS``); newer files also put ``UNITS``
  on each dataset;
* a ``SIMULATION`` group with ``DT``, ``NDIMS``, ``XMIN``, ``XMAX``, ...

Conventions of the result
-------------------------
* ``v(time, particle, component)`` holds the momenta ``p1, p2[, p3]`` **as
  OSIRIS stores them**: ``p = gamma m v`` in units of ``m c`` (OSIRIS labels
  them ``m_e c``). ``velocity_units`` is the file's unit string for ``p1``
  (``"m_e c"``). For non-relativistic plasmas p/(m c) equals v/c to
  O(v^2/c^2). Pass ``as_velocity=True`` to get ``v/c = p / sqrt(1 + |p|^2)``
  instead (``velocity_units = "c"``; needs all three momenta).
* ``time`` is the ``TIME`` attribute of each dump, ``time_units`` its
  ``TIME UNITS`` (e.g. ``"1 / \\omega_p"``); ``iteration(time)`` is ``ITER``.
* ``particle`` ids are the tags packed into one int64,
  ``abs(node) * 2**32 + id`` (stable across dumps); the pairs are also kept as
  coordinates ``tag_node(particle)`` and ``tag_id(particle)``.
* Particles are matched across dumps by tag (sorting + ``searchsorted``, no
  loop over particles). A particle missing from some dumps (it left through
  an open boundary, or was injected later) is dropped: only particles present
  in **all** dumps are kept, with a :class:`~collop.io._common.ReaderWarning`
  saying how many. A dump without ``tag`` is an error, and so is a record
  whose dumps have no tag in common.
"""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from ..datasets import particles_dataset
from ._common import choose_species, first_line, gather, match_ids, reader_error

__all__ = ["read_osiris", "find_osiris_dumps", "is_osiris_raw"]

_DUMP = re.compile(r"^RAW-(?P<species>.+)-(?P<n>\d+)\.h5$")


def _text(value) -> str | None:
    """An OSIRIS attribute (array of bytes, bytes or str) as a str."""
    if value is None:
        return None
    a = np.asarray(value)
    if a.ndim > 0:
        if a.size == 0:
            return None
        a = a.reshape(-1)[0]
    v = a.item() if hasattr(a, "item") else a
    return v.decode("utf-8", "replace").strip() if isinstance(v, bytes) else str(v).strip()


def _texts(value) -> list[str]:
    if value is None:
        return []
    return [(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip()
            for v in np.asarray(value).reshape(-1)]


def _number(value):
    a = np.asarray(value).reshape(-1)
    return a[0].item() if a.size else None


def is_osiris_raw(path) -> bool:
    """True if ``path`` is an HDF5 file that looks like an OSIRIS RAW dump."""
    try:
        with h5py.File(path, "r") as f:
            kind = (_text(f.attrs.get("TYPE")) or "").lower()
            return kind == "particles" or ("QUANTS" in f.attrs and "p1" in f) or \
                ("p1" in f and "SIMULATION" in f)
    except Exception:  # not HDF5, unreadable: not ours
        return False


def find_osiris_dumps(src, species: str | None = None) -> tuple[str, list[Path]]:
    """The species and its RAW files (sorted by dump number) under ``src``.

    Parameters
    ----------
    src : str or path-like
        A run folder (holding ``MS/RAW``), its ``MS`` or ``MS/RAW`` folder, one
        species folder, or a single ``RAW-*.h5`` file (one dump).
    species : str, optional
        Which species; needed when ``src`` holds several.

    Raises
    ------
    ReaderError
        Nothing to read, an unknown species, or several species and no choice.
    """
    p = Path(src)
    if not p.exists():
        raise reader_error("no such file or folder", src)
    if p.is_file():
        m = _DUMP.match(p.name)
        sp = m.group("species") if m else None
        if species is not None and sp is not None and sp != species:
            raise reader_error(f"is a dump of species {sp!r}, not {species!r}", src)
        return (sp or species or ""), [p]
    for sub in (p / "MS" / "RAW", p / "RAW"):
        if sub.is_dir():
            p = sub
            break
    own = sorted(p.glob("RAW-*.h5"))
    if own:  # a species folder
        by_species = {}
        for f in own:
            m = _DUMP.match(f.name)
            if m:
                by_species.setdefault(m.group("species"), []).append(f)
        if species is not None:
            if species not in by_species:
                raise reader_error(f"no RAW dumps of species {species!r}; found "
                                   f"{', '.join(sorted(by_species))}", src)
            files = by_species[species]
        elif len(by_species) == 1:
            species, files = next(iter(by_species.items()))
        else:
            raise reader_error(f"holds dumps of several species ({', '.join(sorted(by_species))}); "
                               "choose one with --species", src)
        return species, sorted(files, key=lambda f: int(_DUMP.match(f.name).group("n")))
    folders = sorted(d.name for d in p.iterdir() if d.is_dir() and any(d.glob("RAW-*.h5")))
    if not folders:
        raise reader_error("no OSIRIS RAW dumps (MS/RAW/<species>/RAW-<species>-NNNNNN.h5) here", src)
    species = choose_species(folders, species, src, what="species")
    return find_osiris_dumps(p / species, species)


def _open(path):
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # truncated, not HDF5, permissions
        raise reader_error(f"cannot be read as HDF5, truncated or not an HDF5 file "
                           f"({first_line(exc)})", path) from None


def _momenta(f, path, ncomp):
    names = [n for n in ("p1", "p2", "p3") if n in f]
    if names[:2] != ["p1", "p2"]:
        kind = _text(f.attrs.get("TYPE"))
        if kind is None and "QUANTS" not in f.attrs:
            raise reader_error("is not an OSIRIS RAW file (no TYPE/QUANTS attributes and no "
                               "p1, p2 datasets)", path)
        raise reader_error("has no momentum datasets 'p1' and 'p2'", path)
    if ncomp is not None:
        if ncomp > len(names):
            raise reader_error(f"has momenta {', '.join(names)}; {ncomp} components asked", path)
        names = names[:ncomp]
    return names


def _units(f, name, path):
    ds_units = _text(f[name].attrs.get("UNITS")) if "UNITS" in f[name].attrs else None
    if ds_units:
        return ds_units
    quants, units = _texts(f.attrs.get("QUANTS")), _texts(f.attrs.get("UNITS"))
    if name in quants and len(units) == len(quants):
        return units[quants.index(name)] or None
    return None


def _tags(f, path) -> np.ndarray:
    if "tag" not in f:
        raise reader_error("no 'tag' dataset: particles cannot be matched between dumps "
                           "(set add_tag = .true. for the species in the OSIRIS input deck)", path)
    try:
        t = np.asarray(f["tag"][()])
    except Exception as exc:
        raise reader_error(f"dataset 'tag' cannot be read ({first_line(exc)})", path) from None
    if t.ndim != 2 or t.shape[1] != 2 or not np.issubdtype(t.dtype, np.integer):
        raise reader_error(f"dataset 'tag' has shape {t.shape} and dtype {t.dtype}; expected "
                           "(n, 2) integer (node, id) pairs", path)
    node = np.abs(t[:, 0].astype(np.int64))
    pid = t[:, 1].astype(np.int64)
    if np.any(pid < 0) or np.any(pid >= 2 ** 32) or np.any(node >= 2 ** 31):
        raise reader_error("dataset 'tag' holds ids out of range", path)
    return (node << 32) | pid


def _header(f, path):
    if "TIME" not in f.attrs:
        raise reader_error("no 'TIME' attribute (not an OSIRIS RAW dump?)", path)
    t = _number(f.attrs["TIME"])
    it = _number(f.attrs["ITER"]) if "ITER" in f.attrs else None
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise reader_error(f"attribute 'TIME' is {t!r}, not a number", path) from None
    return t, (int(it) if it is not None else -1), _text(f.attrs.get("TIME UNITS"))


def read_osiris(src, species: str | None = None, *, components: int | None = None,
                as_velocity: bool = False):
    """Read OSIRIS RAW dumps into a ``particles`` dataset.

    Parameters
    ----------
    src : str or path-like
        A run folder with ``MS/RAW/<species>/``, a species folder, or one
        ``RAW-<species>-NNNNNN.h5`` file (a one-frame record).
    species : str, optional
        The species (folder name); needed when there are several.
    components : {2, 3}, optional
        Keep ``p1, p2`` (2) or ``p1, p2, p3`` (3). Default: every momentum
        the dumps hold (OSIRIS writes all three, also in 2-D runs).
    as_velocity : bool
        Convert the momenta ``u = p/(m c)`` to velocities ``v/c = u /
        sqrt(1 + |u|^2)`` (uses p3 for |u| even when only two components are
        kept). Default False: keep the momenta and their units.

    Returns
    -------
    xarray.Dataset
        ``particles`` dataset: ``v`` in ``velocity_units`` (``"m_e c"`` as
        OSIRIS names it, or ``"c"`` with ``as_velocity``), ``time`` in the
        dumps' ``TIME UNITS``; see the module notes for ids.

    Raises
    ------
    ReaderError
        One line naming the file and the problem: truncated or foreign HDF5,
        no ``tag``, no ids common to all dumps, repeated times, ...
    """
    species, files = find_osiris_dumps(src, species)
    if components not in (None, 2, 3):
        raise reader_error(f"components must be 2 or 3, not {components!r}", src)
    # pass 1: headers and tags -> ids common to all dumps
    times, iters, ids_all, names, tunits, vunits = [], [], [], None, None, None
    for path in files:
        with _open(path) as f:
            try:
                comps = _momenta(f, path, components)
                t, it, tu = _header(f, path)
                ids = _tags(f, path)
                if any(f[c].shape != (ids.size,) for c in comps):
                    raise reader_error(f"datasets {', '.join(comps)} and 'tag' differ in length", path)
                need = ("p1", "p2", "p3") if as_velocity else comps
                if as_velocity and not all(c in f for c in need):
                    raise reader_error("as_velocity needs all three momenta p1, p2, p3", path)
                vu = _units(f, "p1", path)
            except (OSError, KeyError, RuntimeError) as exc:  # h5py errors inside a damaged file
                raise reader_error(f"cannot be read, truncated or damaged ({first_line(exc)})",
                                   path) from None
        if names is None:
            names, tunits, vunits = comps, tu, vu
        elif comps != names:
            raise reader_error(f"has momenta {', '.join(comps)}, the first dump "
                               f"{', '.join(names)}", path)
        if tu != tunits:
            raise reader_error(f"TIME UNITS {tu!r} differ from {tunits!r} of {files[0]}", path)
        times.append(t)
        iters.append(it)
        ids_all.append(ids)
    order = np.argsort(times, kind="stable")
    tarr = np.asarray(times)[order]
    if tarr.size > 1 and np.any(np.diff(tarr) <= 0):
        k = int(np.argmax(np.diff(tarr) <= 0))
        raise reader_error(f"has the same TIME {tarr[k + 1]:g} as {files[order[k]]}", files[order[k + 1]])
    files = [files[i] for i in order]
    ids_all = [ids_all[i] for i in order]
    common = match_ids(ids_all, [str(f) for f in files])
    del ids_all
    # pass 2: momenta, gathered into the common order
    nc = len(names)
    v = np.empty((len(files), common.size, nc), dtype=np.float32)
    for k, path in enumerate(files):
        with _open(path) as f:
            try:
                ids = _tags(f, path)
                cols = [np.asarray(f[c][()], dtype=np.float64) for c in
                        (("p1", "p2", "p3") if as_velocity else names)]
            except (OSError, KeyError, RuntimeError) as exc:
                raise reader_error(f"cannot be read, truncated or damaged ({first_line(exc)})",
                                   path) from None
        p = gather(ids, common, np.stack(cols, axis=1), path)
        if as_velocity:
            p = p / np.sqrt(1.0 + np.sum(p * p, axis=1, keepdims=True))
            p = p[:, :nc]
        if not np.all(np.isfinite(p)):
            raise reader_error("momenta contain NaN or Inf values", path)
        v[k] = p
    vunits_out = "c" if as_velocity else (vunits or "m_e c")
    attrs = {
        "osiris_species": species,
        "osiris_quantities": ",".join(names),
        "velocity_quantity": ("velocity v/c from the OSIRIS momenta" if as_velocity else
                              "OSIRIS momenta p = gamma m v in units of m c (= v/c for |v| << c)"),
        "id_convention": "particle = abs(tag node) * 2**32 + tag id",
    }
    if vunits is None and not as_velocity:
        attrs["velocity_units_note"] = "the files name no units for p1; OSIRIS's m_e c assumed"
    ds = particles_dataset(v, tarr, common, velocity_units=vunits_out,
                           time_units=tunits or "1 / \\omega_p",
                           source=f"OSIRIS RAW {Path(src)} (species {species})", attrs=attrs)
    ds = ds.assign_coords(iteration=("time", np.asarray(iters, dtype=np.int64)[order]),
                          tag_node=("particle", (common >> 32).astype(np.int64)),
                          tag_id=("particle", (common & 0xFFFFFFFF).astype(np.int64)))
    return ds
