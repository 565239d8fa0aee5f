"""Finding, opening and pairing the app's datasets, with one-line errors.

Opened datasets are cached per file version (path, size, modification
time) and shared by all sessions: they are read-only.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import xarray as xr

from collop.io import open_dataset
from collop.schema import CollopError

from .config import Config, PathError
from .text import one_line

__all__ = ["DatasetError", "one_line", "sniff_kind", "load", "dataset_options", "partner_file"]


class DatasetError(ValueError):
    """A dataset the app cannot use; the message is one readable line."""


def _stamp(path) -> tuple[str, int, int]:
    st = os.stat(path)
    return str(path), st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=256)
def _sniff(stamp) -> str | None:
    import h5py

    try:
        with h5py.File(stamp[0], "r") as fh:
            kind = fh.attrs.get("collop_kind")
    except Exception:  # not HDF5: listed, and the error shows when it is chosen
        return None
    return kind.decode() if isinstance(kind, bytes) else (None if kind is None else str(kind))


def sniff_kind(path) -> str | None:
    """``collop_kind`` of a file from its attributes only (None if unreadable or absent)."""
    try:
        return _sniff(_stamp(path))
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _load(stamp, kind):
    return open_dataset(stamp[0], kind)


def load(path, kind: str = "phasespace") -> xr.Dataset:
    """Open and validate a dataset (cached per file version).

    Raises
    ------
    DatasetError
        With a one-line message naming the file and what is wrong.
    """
    try:
        return _load(_stamp(path), kind)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or one_line(exc)}") from None
    except (CollopError, ValueError) as exc:
        raise DatasetError(one_line(exc)) from None


def dataset_options(config: Config) -> dict[str, str]:
    """Label -> name of the files a user can choose as the dataset.

    Files recognised as particles or operator files (the partners of a
    phase-space file) are left out; unreadable files stay, so that choosing
    one shows why it cannot be used.
    """
    out = {}
    for name in config.list_files():
        kind = sniff_kind(config.resolve(name))
        if kind in ("particles", "operator"):
            continue
        out[config.label(name)] = name
    return out


def partner_file(config: Config, path, ds: xr.Dataset, kind: str) -> Path | None:
    """The particles or truth file that goes with a phase-space file, if present.

    ``attrs["particles_file"]`` / ``attrs["truth_file"]`` (relative to the
    file) when set, else the sibling ``<stem>_particles.nc`` /
    ``<stem>_truth.nc``. Only files under a configured data root count.
    """
    path = Path(path)
    attr = {"particles": "particles_file", "operator": "truth_file"}[kind]
    suffix = {"particles": "_particles", "operator": "_truth"}[kind]
    rel = ds.attrs.get(attr)
    cand = path.parent / str(rel) if rel else path.with_name(f"{path.stem}{suffix}{path.suffix}")
    if not cand.is_file() or config.name_of(cand) is None:
        return None
    name = config.name_of(cand)
    try:
        config.resolve(name)
    except PathError:
        return None
    return Path(os.path.realpath(cand))
