"""Physical views of collop's data for figures and tables: units, isotropic coefficients, support, errors.

Everything here is plain numpy/xarray (no plotting library): the app's
figures (:mod:`dashboards.plots`) and any script that wants the same
numbers call these functions.

- :class:`Units`: the axis units of a dataset, derived from its
  ``velocity_units`` and ``time_units`` attributes (A in v/t, D in v^2/t,
  f in 1/v^2, F(v) in 1/v).
- :func:`isotropic_view`: any Fokker-Planck operator as ``A_par, D_par,
  D_perp(time, speed)``.
- :func:`coefficient_support` / :func:`masked`: where a coefficient is
  backed by particles; values elsewhere are shown blank, never as 0.
- :func:`normalised_difference`, :func:`rollout_error_by_time`: the
  rollout error of DESIGN section 4, frame by frame.
- :func:`sampling_table`: how well each population of a phase-space file
  is sampled, with the sampler's coverage warnings.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .moments import speed_shells

__all__ = ["Units", "COEFFICIENTS", "isotropic_view", "coefficient_support", "masked", "operator_times",
           "normalised_difference", "rollout_error_by_time", "sampling_table", "FEW_PARTICLES",
           "ESS_FRACTION_DOC"]

#: Isotropic Fokker-Planck coefficients with their plot symbols.
COEFFICIENTS = {"A_par": "A∥", "D_par": "D∥", "D_perp": "D⊥"}

#: Populations with fewer particles are flagged ``poor``: a 51 x 51 histogram of 10,000 particles holds
#: about 4 per bin on average, and its fullest bins have relative Poisson noise of several per cent.
FEW_PARTICLES = 10_000

#: What ``ess_fraction`` means, for tables and tooltips.
ESS_FRACTION_DOC = ("ess_fraction = ESS / particles requested, where ESS = (Σw)² / Σw² is Kish's effective "
                    "sample size of the importance weights w = target pdf / particle density over all candidate "
                    "particles at t0. It exceeds 1 when the candidates hold more effective samples than were "
                    "requested: the request, not the coverage, then limits the sample.")

_PER = re.compile(r"^1\s*/\s*(.+)$")


def _paren(unit: str) -> str:
    """``unit`` as a factor of a product or power: parenthesised unless it is one plain name."""
    return unit if re.fullmatch(r"[A-Za-z_]\w*", unit) else f"({unit})"


@dataclass(frozen=True)
class Units:
    """Units of a dataset's axes, from its ``velocity_units`` and ``time_units`` attributes.

    Parameters
    ----------
    v : str
        Velocity unit (e.g. ``"0.01c"``); empty when unknown.
    t : str
        Time unit (e.g. ``"frame"``, ``"1/omega_p"``); empty when unknown.

    Notes
    -----
    Derived units follow DESIGN section 4: A = <dv>/dt in v/t, D = <dv dv>/dt
    in v^2/t, the density f in 1/v^2 (so that sum(f) dvx dvy is a particle
    fraction) and the radial distribution F(v) = v * integral f dtheta in
    1/v. A time unit ``1/X`` divides as a product: v/(1/omega_p) is written
    ``v·omega_p``.
    """

    v: str = ""
    t: str = ""

    @classmethod
    def of(cls, ds) -> "Units":
        """The units named in the attributes of a dataset (phase space, operator or particles)."""
        attrs = getattr(ds, "attrs", {}) or {}
        return cls(str(attrs.get("velocity_units") or ""), str(attrs.get("time_units") or ""))

    def _per_time(self, num: str) -> str:
        if not num or not self.t:
            return ""
        num = f"({num})" if "/" in num and not num.endswith("²") else num
        m = _PER.match(self.t)
        return f"{num}·{_paren(m.group(1))}" if m else f"{num}/{_paren(self.t)}"

    @property
    def velocity(self) -> str:
        return self.v

    @property
    def time(self) -> str:
        return self.t

    @property
    def A(self) -> str:
        """Unit of the drift ``A`` (velocity per time)."""
        return self._per_time(self.v)

    @property
    def D(self) -> str:
        """Unit of the diffusion ``D`` (velocity squared per time)."""
        return self._per_time(f"{_paren(self.v)}²" if self.v else "")

    @property
    def f(self) -> str:
        """Unit of the phase-space density ``f(vx, vy)``."""
        return f"1/{_paren(self.v)}²" if self.v else ""

    @property
    def F(self) -> str:
        """Unit of the radial distribution ``F(v)``."""
        return f"1/{_paren(self.v)}" if self.v else ""

    def coefficient(self, name: str) -> str:
        """Unit of an isotropic coefficient (``A_par``, ``D_par``, ``D_perp``)."""
        return self.A if name.startswith("A") else self.D


def isotropic_view(op: xr.Dataset) -> xr.Dataset:
    """An operator in isotropic form ``A_par, D_par, D_perp(time, speed)``.

    Parameters
    ----------
    op : xarray.Dataset
        An ``operator`` dataset, isotropic (returned with its coefficients,
        and ``n_samples`` if it has one) or full (``A(time, component, vx,
        vy)``, ``D(time, component, component2, vx, vy)``).

    Returns
    -------
    xarray.Dataset
        ``A_par`` (velocity/time), ``D_par`` and ``D_perp`` (velocity^2/time)
        on ``(time, speed)``, plus ``n_samples`` when the operator counts the
        particles behind each value (Tracks); the operator's attributes.

    Notes
    -----
    A full operator is projected cell by cell on the radial unit vector
    ``v_hat`` and its normal ``n_hat``: ``A_par = A.v_hat``, ``D_par =
    v_hat.D.v_hat``, ``D_perp = n_hat.D.n_hat``, then averaged over speed
    shells one bin wide with the tent weights of
    :func:`collop.moments.speed_shells` (shells no cell reaches are dropped).
    Particle counts are summed over the same weights.
    """
    if op.attrs.get("operator") != "fokker_planck_full":
        keep = [n for n in (*COEFFICIENTS, "n_samples") if n in op]
        return op[keep]
    vx, vy = op["vx"].values, op["vy"].values
    VX, VY = np.meshgrid(vx, vy, indexing="ij")
    s = np.hypot(VX, VY)
    safe = np.where(s > 0, s, 1.0)
    ux, uy = np.where(s > 0, VX / safe, 1.0), np.where(s > 0, VY / safe, 0.0)
    A, D = op["A"].values, op["D"].values                 # (T, 2, N, M), (T, 2, 2, N, M)
    fields = {
        "A_par": A[:, 0] * ux + A[:, 1] * uy,
        "D_par": D[:, 0, 0] * ux * ux + (D[:, 0, 1] + D[:, 1, 0]) * ux * uy + D[:, 1, 1] * uy * uy,
        "D_perp": D[:, 0, 0] * uy * uy - (D[:, 0, 1] + D[:, 1, 0]) * ux * uy + D[:, 1, 1] * ux * ux,
    }
    M, centres, _, _ = speed_shells(vx, vy)
    weight = M.sum(1)
    keep = weight > 0
    out = {}
    for name, c in fields.items():
        flat = c.reshape(c.shape[0], -1) @ M.T
        out[name] = (("time", "speed"), flat[:, keep] / weight[keep])
    if "n_samples" in op and op["n_samples"].dims == ("time", "vx", "vy"):
        n = op["n_samples"].values.reshape(op.sizes["time"], -1) @ M.T
        out["n_samples"] = (("time", "speed"), n[:, keep])
    return xr.Dataset(out, coords={"time": op["time"].values, "speed": centres[keep]}, attrs=dict(op.attrs))


def operator_times(iso: xr.Dataset, data_times) -> np.ndarray:
    """For each time of an operator, the index of the nearest data frame (all frames for a constant one)."""
    t = np.asarray(data_times, dtype=float)
    ot = np.asarray(iso["time"].values, dtype=float)
    return np.abs(t[None, :] - ot[:, None]).argmin(axis=1)


def coefficient_support(iso: xr.Dataset, f: xr.DataArray | None = None) -> xr.DataArray:
    """Where the coefficients of an operator are backed by particles: a bool ``(time, speed)`` array.

    Parameters
    ----------
    iso : xarray.Dataset
        An operator in isotropic form (:func:`isotropic_view`).
    f : xarray.DataArray, optional
        The phase-space densities the operator was learned from, dims
        ``(population, time, vx, vy)`` (or without ``population``), in
        1/velocity^2. Not needed when ``iso`` holds ``n_samples``.

    Returns
    -------
    xarray.DataArray of bool
        True where the value is an estimate from particles.

    Notes
    -----
    - With ``n_samples`` (Tracks): ``n_samples >= attrs["min_count"]``
      (default 1), the rule the estimator itself uses to leave a bin empty.
    - Otherwise the pooled mass of ``f`` on speed shells one bin wide (tent
      weights of :func:`collop.moments.speed_shells`) must be positive at
      the data frame nearest to each operator time, or at any frame for a
      time-invariant operator: a trained operator is only constrained where
      the data it was fitted on holds particles.
    - Without either, everything is supported.
    """
    shape = (iso.sizes["time"], iso.sizes["speed"])
    coords = {"time": iso["time"].values, "speed": iso["speed"].values}
    if "n_samples" in iso:
        need = max(float(iso.attrs.get("min_count", 1) or 1), 1e-300)
        ok = iso["n_samples"].transpose("time", "speed").values >= need
        return xr.DataArray(ok, dims=("time", "speed"), coords=coords, name="support")
    if f is None:
        return xr.DataArray(np.ones(shape, bool), dims=("time", "speed"), coords=coords, name="support")
    arr = f.transpose(*[d for d in f.dims if d not in ("vx", "vy")], "vx", "vy")
    if "population" in arr.dims:
        arr = arr.sum("population")
    M, centres, width, _ = speed_shells(f["vx"].values, f["vy"].values)
    mass = arr.values.reshape(arr.sizes["time"], -1).astype(float) @ M.T      # (T, S)
    speed = iso["speed"].values
    k = np.clip(np.rint(speed / width - 0.5).astype(int), 0, mass.shape[1] - 1)
    has = mass[:, k] > 0                                                       # (T_data, S_op)
    if iso.sizes["time"] == 1:
        ok = has.any(axis=0, keepdims=True)
    else:
        ok = has[operator_times(iso, f["time"].values)]
    return xr.DataArray(ok, dims=("time", "speed"), coords=coords, name="support")


def masked(iso: xr.Dataset, support: xr.DataArray) -> xr.Dataset:
    """The coefficients of ``iso`` with NaN where ``support`` is False (plots leave NaN blank)."""
    out = iso.copy()
    for name in COEFFICIENTS:
        if name in out:
            out[name] = out[name].where(support.values)
    return out


def normalised_difference(f_hat: xr.DataArray, f: xr.DataArray) -> xr.DataArray:
    """``(f_hat - f) / max_v f(t)``: each frame's difference over that frame's data peak (dimensionless)."""
    peak = f.max(dim=("vx", "vy"))
    return ((f_hat - f) / peak.where(peak > 0, 1.0)).rename("difference")


def rollout_error_by_time(f_hat: xr.DataArray, f: xr.DataArray) -> xr.DataArray:
    """The rollout error of each frame: mean over bins of ``|f_hat - f| / max_v f(t)``.

    Parameters
    ----------
    f_hat, f : xarray.DataArray
        Rollout and data with trailing dims ``(vx, vy)`` and a ``time`` dim
        (any leading dims, e.g. ``population``).

    Returns
    -------
    xarray.DataArray
        Dimensionless, dims of ``f`` without ``vx, vy``. Its mean over
        populations and frames t >= 1 is the rollout MAE of DESIGN section 4.
    """
    return np.abs(normalised_difference(f_hat, f)).mean(dim=("vx", "vy")).rename("rollout_error")


def _sampling_records(ds: xr.Dataset) -> dict[str, dict]:
    raw = ds.attrs.get("sampling")
    try:
        recs = json.loads(raw) if isinstance(raw, str) else list(raw or [])
    except (TypeError, ValueError):
        return {}
    return {str(r.get("name")): r for r in recs if isinstance(r, dict)}


def _coverage_warnings(rec: dict) -> list[str]:
    """The sampler's coverage rules (:func:`collop.phasespace.sample_population`) on stored numbers."""
    out = []
    req, acc = rec.get("requested"), rec.get("accepted")
    if req is not None and acc is not None and acc < req:
        out.append(f"accepted {int(acc)} of {int(req)} requested particles")
    ess = rec.get("ess")
    if req is not None and ess is not None and ess < req:
        out.append(f"effective sample size {ess:.4g} < {int(req)} requested")
    if (rec.get("clipped_fraction") or 0) > 0.05:
        out.append(f"{100 * rec['clipped_fraction']:.3g}% of the target mass is under-covered (w > M)")
    if (rec.get("outside_fraction") or 0) > 0.01:
        out.append(f"{100 * rec['outside_fraction']:.3g}% of the target mass lies where there are no particles")
    return out


def sampling_table(ds: xr.Dataset) -> pd.DataFrame:
    """How well each population of a phase-space dataset is sampled, one row per population.

    Parameters
    ----------
    ds : xarray.Dataset
        A ``phasespace`` dataset; its per-population variables
        (``n_particles``, ``acceptance_rate``, ``ess``, ``ess_fraction``,
        ``clipped_fraction``, ``outside_fraction``) and its ``sampling``
        attribute are used when present.

    Returns
    -------
    pandas.DataFrame
        Columns ``population``, ``n_particles``, ``in_grid`` (fraction of
        the population's particles on the grid at t0), ``peak_noise`` (see
        Notes), the stored sampling variables, ``flag`` (``"poor"``,
        ``"check"`` or ``""``) and ``warnings`` (``"; "``-joined).

    Notes
    -----
    ``peak_noise = 1 / sqrt(N h^2 max f(t0))`` is the relative Poisson noise
    of the fullest bin at t0 (N particles, bin area h^2). A population is
    flagged ``poor`` when it holds fewer than :data:`FEW_PARTICLES`
    particles or when more than half of its target mass lies where there are
    no particles, and ``check`` when the sampler recorded any coverage
    warning (the file's own ``sampling`` warnings, else the sampler's rules
    applied to the stored fractions). See :data:`ESS_FRACTION_DOC` for
    ``ess_fraction``.
    """
    pops = [str(p) for p in ds["population"].values]
    h2 = float(np.diff(ds["vx"].values).mean() * np.diff(ds["vy"].values).mean())
    f0 = ds["f"].isel(time=0)
    in_grid = (f0.sum(("vx", "vy")) * h2).values.astype(float)
    peak = f0.max(("vx", "vy")).values.astype(float)
    cols = {"population": pops}
    n = ds["n_particles"].values.astype(float) if "n_particles" in ds else np.full(len(pops), np.nan)
    cols["n_particles"] = n
    cols["in_grid"] = in_grid
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["peak_noise"] = np.where((n > 0) & (peak > 0), 1.0 / np.sqrt(n * h2 * peak), np.inf)
    stats = ("acceptance_rate", "ess", "ess_fraction", "clipped_fraction", "outside_fraction")
    for name in stats:
        if name in ds and ds[name].dims == ("population",):
            cols[name] = ds[name].values.astype(float)
    df = pd.DataFrame(cols)
    recs = _sampling_records(ds)
    flags, warns = [], []
    for i, p in enumerate(pops):
        rec = dict(recs.get(p, {}))
        for name in stats:
            if name in df and name not in rec:
                rec[name] = float(df[name].iloc[i])
        if "requested" not in rec and "n_requested" in ds.attrs:
            rec["requested"] = int(ds.attrs["n_requested"])
        if "accepted" not in rec and np.isfinite(n[i]):
            rec["accepted"] = int(n[i])
        w = [str(x) for x in rec["warnings"]] if isinstance(rec.get("warnings"), list) else _coverage_warnings(rec)
        few = np.isfinite(n[i]) and n[i] < FEW_PARTICLES
        if few:
            w.insert(0, f"few particles: {int(n[i]):,} < {FEW_PARTICLES:,}")
        poor = few or (rec.get("outside_fraction") or 0) > 0.5
        flags.append("poor" if poor else "check" if w else "")
        warns.append("; ".join(w))
    df["flag"] = flags
    df["warnings"] = warns
    return df
