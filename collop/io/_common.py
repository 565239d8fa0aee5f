"""Helpers shared by the readers of foreign formats (OSIRIS, openPMD, the reference code)."""
from __future__ import annotations

import warnings

import numpy as np

from ..schema import SchemaError

__all__ = ["ReaderError", "ReaderWarning", "first_line", "match_ids", "reader_error", "choose_species"]


class ReaderError(SchemaError):
    """A foreign input file or folder cannot be converted.

    The one-line message names the file (``source``) and the problem, like
    every :class:`~collop.schema.SchemaError`.
    """


class ReaderWarning(UserWarning):
    """Something in the input was dropped or assumed; the conversion went on."""


def first_line(exc: BaseException) -> str:
    """``"Type: first line of the message"`` of an exception, for one-line errors."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def reader_error(problem: str, source) -> ReaderError:
    """A :class:`ReaderError` whose message is ``"SOURCE: PROBLEM"`` on one line."""
    return ReaderError(" ".join(str(problem).split()), str(source))


def choose_species(found, species, src, *, what: str = "particle species") -> str:
    """``species``, or the only one ``found``; a one-line ReaderError otherwise."""
    found = list(found)
    if species is None:
        if len(found) > 1:
            raise reader_error(f"has several {what} ({', '.join(found)}); choose one with --species", src)
        return found[0]
    if species not in found:
        raise reader_error(f"no {what} {species!r}; found {', '.join(found)}", src)
    return species


def match_ids(ids_per_dump, sources, *, what: str = "particles") -> np.ndarray:
    """Sorted ids present in every dump.

    Particles that leave (or enter) the record are dropped with a
    :class:`ReaderWarning`; the result is the intersection, so every particle
    kept has a velocity at every time.

    Parameters
    ----------
    ids_per_dump : list of ndarray of int64
        The ids of each dump (any order; each must be unique within its dump).
    sources : list of str
        The file of each dump, for messages.

    Raises
    ------
    ReaderError
        An id repeated within one dump, or no id common to all dumps.
    """
    common = None
    for ids, src in zip(ids_per_dump, sources):
        u = np.sort(ids)  # sort-based: numpy's hash-based unique is slow on large int64 ids
        repeated = int(np.count_nonzero(u[1:] == u[:-1]))
        if repeated:
            raise reader_error(f"{repeated} repeated particle id(s); ids must be unique "
                               "within a dump", src)
        common = u if common is None else np.intersect1d(common, u, assume_unique=True)
    counts = [len(i) for i in ids_per_dump]
    if common is None:
        return np.zeros(0, dtype=np.int64)
    if common.size == 0:
        i = int(np.argmax(np.asarray(counts) != counts[0])) if len(set(counts)) > 1 else len(counts) - 1
        raise reader_error(f"no particle id is common to all dumps ({counts[0]} {what} in "
                           f"{sources[0]}, {counts[i]} in this one): the ids do not match "
                           "between dumps", sources[i])
    if any(c != common.size for c in counts):
        warnings.warn(f"kept the {common.size} {what} present in all {len(counts)} dumps "
                      f"(dumps hold {min(counts)} to {max(counts)})", ReaderWarning, stacklevel=3)
    return common


def gather(ids, common, values, src) -> np.ndarray:
    """Rows of ``values`` (aligned with ``ids``) in the order of ``common`` (sorted).

    Vectorised: one argsort and one searchsorted per dump.
    """
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[order], common)
    pos = np.clip(pos, 0, max(ids.size - 1, 0))
    if ids.size == 0 or not np.array_equal(ids[order][pos], common):
        raise reader_error("particle ids changed between the two reads of this dump", src)
    return values[order[pos]]
