"""Score any operator file on any data file, through its family's objective."""
from __future__ import annotations

import math

from .. import objectives
from ..io import open_dataset
from ..operators import registry
from ..schema import CollopError

__all__ = ["evaluate_file"]


#: A per-population score above this is a diverged rollout: the rollout error is normalised by the
#: data's maximum (DESIGN §4), so 1e3 means the prediction is off by a thousand times the data's peak.
DIVERGED = 1e3


def _finite(v) -> bool:
    """Whether a per-population score is a number that says something: finite and not diverged."""
    return isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= DIVERGED


def evaluate_file(operator, data, populations="all", *, integrator: str | None = None) -> dict:
    """Test metrics of the operator file ``operator`` on the populations of ``data``.

    The operator's family (by its file's form) names the objective, whose
    ``evaluate`` scores it: for grid operators the rollout error of DESIGN §4,
    with the time integrator recorded in the file unless ``integrator``
    overrides it.

    Raises
    ------
    CollopError
        Unreadable files, mismatched units, unknown populations, or a rollout
        that is not finite, or diverges (a score above :data:`DIVERGED`), on
        every population: an operator the solver cannot advance, e.g. negative
        diffusion (anti-diffusion grows without bound for any time step) or
        coefficients far too large.

    Warns
    -----
    UserWarning
        When the rollout is not finite or diverges on some populations only.
    """
    import warnings

    op_ds = open_dataset(operator, "operator")
    family = registry.for_form(op_ds.attrs.get("operator"))
    obj = objectives.get(family.objective)
    ds = open_dataset(data, obj.data_kind)
    names = obj.select(ds, populations)
    for key in ("velocity_units", "time_units"):
        if op_ds.attrs.get(key) != ds.attrs.get(key):
            raise CollopError(f"{operator}: {key} {op_ds.attrs.get(key)!r} differ from "
                              f"{ds.attrs.get(key)!r} of {data}")
    if ds.sizes.get("time", 0) < 2:
        raise CollopError(f"{data}: has {ds.sizes.get('time', 0)} frame(s); a rollout needs at least 2")
    obj.load(ds, names, role="test")
    options = None
    if integrator is not None:
        if not hasattr(obj, "options_from_file"):
            raise CollopError(f"{operator}: the {family.family} family has no time integrator to choose")
        options = obj.options_from_file(op_ds, integrator=integrator)
    result = obj.evaluate(op_ds, ds, names, options)
    per = result.get("per_population", {})
    bad = [n for n, v in per.items() if not _finite(v)]
    if per and len(bad) == len(per):
        raise CollopError(f"{operator}: the rollout is not finite (or diverges) on any population of {data} "
                          "(the operator cannot be advanced stably: check for negative diffusion "
                          "or coefficients far larger than the data's scale)")
    if bad:
        warnings.warn(f"{operator}: the rollout is not finite (or diverges) on {', '.join(bad)}", stacklevel=2)
    return result
