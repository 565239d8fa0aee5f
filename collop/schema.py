"""Dataset kinds of collop and their validation.

Every dataset collop reads or writes is an :class:`xarray.Dataset` with
``attrs["collop_kind"]`` naming one of the kinds below. :func:`validate`
checks a dataset against its kind and raises :class:`SchemaError`, whose
one-line message names the file, the variable and what is wrong.

Kinds
-----
particles
    ``v(time, particle, component)`` float, optionally with a leading ``run``
    dimension (several MD runs, one per initial distribution) whose ``run``
    coordinate holds unique non-empty names; ``particle`` holds integer ids
    that are stable across time;
    ``component`` is a subset of ``("x", "y", "z")``.
phasespace
    ``f(population, time, vx, vy)`` float probability density of each
    population (``sum(f) * dvx * dvy`` is the fraction of its particles inside
    the grid), ``n_particles(population)``; ``vx``/``vy`` are uniform bin
    centres.
operator
    What an operator-finding method produced. ``attrs["operator"]`` names the
    form, and the family that writes it (:mod:`collop.operators.registry`)
    declares its variables: e.g. ``fokker_planck_isotropic``
    (``A_par, D_par, D_perp(time, speed)``) or ``fokker_planck_full``
    (``A(time, component, vx, vy)``, ``D(time, component, component2, vx, vy)``).

All kinds carry ``velocity_units``, ``time_units`` and ``source`` attributes.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["CollopError", "SchemaError", "KINDS", "validate", "check_kind", "check_increasing",
           "check_uniform", "operator_forms"]

KINDS = ("particles", "phasespace", "operator")
COMMON_ATTRS = ("collop_kind", "velocity_units", "time_units", "source")


def operator_forms() -> dict:
    """``{form: {variable: dims}}`` of every registered operator family."""
    from .operators.registry import forms

    return forms()


class CollopError(Exception):
    """Base class of the errors collop reports to its users in one line."""


class SchemaError(CollopError, ValueError):
    """A dataset does not follow collop's data contract.

    Parameters
    ----------
    message : str
        What is wrong, naming the variable where there is one.
    source : str, optional
        The file (or other origin) of the dataset; prefixed to the message.
    """

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        self.problem = message
        super().__init__(f"{source}: {message}" if source else message)


def _source(ds: xr.Dataset, source: str | None) -> str | None:
    return source or ds.encoding.get("source") or ds.attrs.get("collop_path")


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def check_kind(ds: xr.Dataset, kind: str, source: str | None = None) -> None:
    """Raise :class:`SchemaError` unless ``ds`` is a dataset of ``kind``."""
    src = _source(ds, source)
    got = ds.attrs.get("collop_kind")
    if got is None:
        raise SchemaError("not a collop dataset (no 'collop_kind' attribute); "
                          f"expected {_a(kind)} file", src)
    if got != kind:
        raise SchemaError(f"is {_a(got)} file, expected {_a(kind)} file", src)


def validate(ds: xr.Dataset, kind: str | None = None, *, source: str | None = None,
             check_values: bool = True) -> xr.Dataset:
    """Check ``ds`` against the data contract of its kind.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset.
    kind : {"particles", "phasespace", "operator"}, optional
        The kind the caller needs; a dataset of another kind is an error.
    source : str, optional
        Name of the file, used in error messages.
    check_values : bool
        Also check that data values are finite (reads all data).

    Returns
    -------
    xarray.Dataset
        ``ds`` itself, so calls can be chained.

    Raises
    ------
    SchemaError
        One-line message naming the file, the variable and the problem.
    """
    src = _source(ds, source)
    if kind is not None:
        check_kind(ds, kind, src)
    got = ds.attrs.get("collop_kind")
    if got not in KINDS:
        raise SchemaError(f"unknown collop_kind {got!r}; expected one of {', '.join(KINDS)}", src)
    for a in COMMON_ATTRS:
        if a not in ds.attrs:
            raise SchemaError(f"missing attribute {a!r}", src)
    {"particles": _validate_particles, "phasespace": _validate_phasespace,
     "operator": _validate_operator}[got](ds, src, check_values)
    return ds


# --- helpers -----------------------------------------------------------------

def _require_var(ds, name, dims, src, *, alt_dims=None):
    if name not in ds.variables:
        raise SchemaError(f"missing variable {name!r}", src)
    d = tuple(ds[name].dims)
    allowed = [tuple(dims)] + [tuple(a) for a in (alt_dims or [])]
    if d not in allowed:
        want = " or ".join("(" + ", ".join(a) + ")" for a in allowed)
        raise SchemaError(f"variable {name!r} has dimensions ({', '.join(d)}), expected {want}", src)
    if not np.issubdtype(ds[name].dtype, np.number):
        raise SchemaError(f"variable {name!r} is not numeric (dtype {ds[name].dtype})", src)


def _finite(ds, name, src, check_values, *, chunk_dim=None):
    if not check_values:
        return
    var = ds[name]
    if chunk_dim and chunk_dim in var.dims and var.sizes[chunk_dim] > 1:
        n = var.sizes[chunk_dim]
        step = max(1, int(2e7 // max(1, var.size // n)))
        for i in range(0, n, step):
            vals = np.asarray(var.isel({chunk_dim: slice(i, i + step)}).values)
            if not np.all(np.isfinite(vals)):
                raise SchemaError(f"variable {name!r} contains NaN or Inf values", src)
        return
    if not np.all(np.isfinite(np.asarray(var.values))):
        raise SchemaError(f"variable {name!r} contains NaN or Inf values", src)


def check_increasing(ds, name, src):
    """The 1-D coordinate ``name`` as floats; :class:`SchemaError` unless finite and increasing."""
    if name not in ds.coords:
        raise SchemaError(f"missing coordinate {name!r}", src)
    x = np.asarray(ds[name].values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise SchemaError(f"coordinate {name!r} must be a non-empty 1-D array", src)
    if not np.all(np.isfinite(x)):
        raise SchemaError(f"coordinate {name!r} contains NaN or Inf values", src)
    if x.size > 1 and not np.all(np.diff(x) > 0):
        raise SchemaError(f"coordinate {name!r} is not strictly increasing", src)
    return x


def check_uniform(ds, name, src):
    """:class:`SchemaError` unless ``name`` is a uniform coordinate of at least 3 bins."""
    x = check_increasing(ds, name, src)
    if x.size < 3:
        raise SchemaError(f"coordinate {name!r} needs at least 3 bins, has {x.size}", src)
    d = np.diff(x)
    if not np.allclose(d, d[0], rtol=1e-4, atol=0):
        raise SchemaError(f"coordinate {name!r} is not uniformly spaced", src)


# --- kinds ---------------------------------------------------------------------

def _validate_particles(ds, src, check_values):
    _require_var(ds, "v", ("time", "particle", "component"), src,
                 alt_dims=[("run", "time", "particle", "component")])
    if "run" in ds["v"].dims:
        if "run" not in ds.coords:
            raise SchemaError("missing coordinate 'run' (the names of the runs)", src)
        runs = np.asarray(ds["run"].values)
        if runs.dtype.kind not in "UO" or not all(isinstance(r, str) and r for r in runs.tolist()):
            raise SchemaError(f"coordinate 'run' must hold non-empty names (strings), has dtype {runs.dtype}",
                              src)
        if len(set(runs.tolist())) != runs.size:
            raise SchemaError("coordinate 'run' has duplicate names", src)
    check_increasing(ds, "time", src)
    if "particle" not in ds.coords:
        raise SchemaError("missing coordinate 'particle' (integer particle ids)", src)
    ids = np.asarray(ds["particle"].values)
    if not np.issubdtype(ids.dtype, np.integer):
        raise SchemaError(f"coordinate 'particle' must hold integer ids, has dtype {ids.dtype}", src)
    srt = np.sort(ids)  # sort-based: numpy's hash-based unique is ~4x slower on 1e6 int64 ids
    if srt.size > 1 and np.any(srt[1:] == srt[:-1]):
        raise SchemaError("coordinate 'particle' has duplicate ids", src)
    if "component" not in ds.coords:
        raise SchemaError("missing coordinate 'component'", src)
    comps = [str(c) for c in ds["component"].values]
    if comps not in (["x", "y"], ["x", "y", "z"]):
        raise SchemaError(f"coordinate 'component' is {comps}, expected ['x', 'y'] or ['x', 'y', 'z']", src)
    _finite(ds, "v", src, check_values, chunk_dim="time")


def _validate_phasespace(ds, src, check_values):
    _require_var(ds, "f", ("population", "time", "vx", "vy"), src)
    _require_var(ds, "n_particles", ("population",), src)
    if "population" not in ds.coords:
        raise SchemaError("missing coordinate 'population'", src)
    names = [str(p) for p in ds["population"].values]
    if len(set(names)) != len(names):
        raise SchemaError("coordinate 'population' has duplicate names", src)
    check_increasing(ds, "time", src)
    check_uniform(ds, "vx", src)
    check_uniform(ds, "vy", src)
    _finite(ds, "f", src, check_values)
    if check_values:
        if float(ds["f"].min()) < 0:
            raise SchemaError("variable 'f' has negative values (must be a density)", src)
        n = np.asarray(ds["n_particles"].values)
        if not np.all(np.isfinite(n)) or np.any(n <= 0):
            raise SchemaError("variable 'n_particles' must be positive and finite", src)


def _validate_operator(ds, src, check_values):
    from .operators.registry import for_form

    form = ds.attrs.get("operator")
    family = for_form(form) if isinstance(form, str) else None
    if family is None:
        raise SchemaError(f"attribute 'operator' is {form!r}, expected one of "
                          f"{', '.join(operator_forms())}", src)
    if "method" not in ds.attrs:
        raise SchemaError("missing attribute 'method'", src)
    for name, dims in family.forms[form].items():
        _require_var(ds, name, dims, src)
        _finite(ds, name, src, check_values)
    check_increasing(ds, "time", src)
    family.validate_dataset(ds, src)
