"""Known-truth particle data: particles evolved by a given isotropic Fokker-Planck operator.

The operator is

.. math::

    C[f] = -\\nabla_v\\cdot(\\mathbf{A} f) + \\tfrac12 \\nabla_v\\nabla_v : (\\mathsf{D} f),\\quad
    \\mathbf{A} = A_\\parallel(v,t)\\,\\hat v,\\quad
    \\mathsf{D} = D_\\parallel(v,t)\\,\\hat v\\hat v^T + D_\\perp(v,t)(I - \\hat v\\hat v^T),

whose particles follow the Ito SDE ``dv = A dt + B dW`` with ``B B^T = D``, i.e.
``B = sqrt(D_par) v_hat v_hat^T + sqrt(D_perp) (I - v_hat v_hat^T)``. Learned
operators can then be compared with the truth (:func:`truth_operator_dataset`).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import xarray as xr

from ..datasets import isotropic_operator_dataset, particles_dataset
from ..grid import VelocityGrid
from ..phasespace import Mixture, parse_population
from ..schema import CollopError

__all__ = ["IsotropicTruth", "default_truth", "generate", "truth_operator_dataset"]

_CHUNK = 1 << 16  # particles per work item; fixed so that a seed always gives the same numbers


@dataclass(frozen=True)
class IsotropicTruth:
    """An isotropic, time- and speed-dependent Fokker-Planck operator.

    Parameters
    ----------
    A_par : callable
        ``A_par(speed, time)`` drift along ``v_hat`` (velocity_units / time_units);
        arguments are broadcasting ndarrays (speed in velocity_units, time in time_units).
    D_par, D_perp : callable
        Diffusion along / across ``v_hat`` (velocity_units**2 / time_units), same signature;
        must be non-negative.
    name : str
        Short name recorded in generated datasets.
    params : dict
        The parameters of the operator, recorded (as a string) in generated datasets.

    Notes
    -----
    ``C[f] = -div(A f) + 1/2 div div(D f)`` with ``A = A_par v_hat`` and
    ``D = D_par v_hat v_hat^T + D_perp (I - v_hat v_hat^T)`` (``D_ij = <dv_i dv_j>/dt``).
    """

    A_par: Callable
    D_par: Callable
    D_perp: Callable
    name: str = "truth"
    params: dict = field(default_factory=dict, compare=False, hash=False)

    def __str__(self):
        return f"{self.name}(" + ", ".join(f"{k}={v!r}" for k, v in self.params.items()) + ")"

    @classmethod
    def constant(cls, A_par: float = 0.0, D_par: float = 0.0, D_perp: float = 0.0, *,
                 nu: float = 0.0, name: str = "constant") -> "IsotropicTruth":
        """``A_par = A_par - nu * v`` and constant ``D_par``, ``D_perp`` (linear drag when ``nu > 0``)."""
        return cls(partial(_linear, a=A_par, b=-nu), partial(_linear, a=D_par, b=0.0),
                   partial(_linear, a=D_perp, b=0.0), name,
                   {"A_par": A_par, "nu": nu, "D_par": D_par, "D_perp": D_perp})

    def coefficients(self, speed, time):
        """``(A_par, D_par, D_perp)`` broadcast to the shape of ``speed`` and ``time`` together."""
        speed, time = np.asarray(speed, dtype=float), np.asarray(time, dtype=float)
        shp = np.broadcast_shapes(speed.shape, time.shape)
        return tuple(np.broadcast_to(np.asarray(fn(speed, time), dtype=float), shp)
                     for fn in (self.A_par, self.D_par, self.D_perp))

    def tabulate(self, time, speed, velocity_units: str = "0.01c", time_units: str = "frame",
                 source: str | None = None) -> xr.Dataset:
        """The operator on ``time`` x ``speed`` as an isotropic ``operator`` dataset (method "truth")."""
        time, speed = np.asarray(time, dtype=float), np.asarray(speed, dtype=float)
        A, Dp, Dq = self.coefficients(speed[None, :], time[:, None])
        return isotropic_operator_dataset(time, speed, A, Dp, Dq, method="truth",
                                          velocity_units=velocity_units, time_units=time_units,
                                          source=source or f"collop.sim.langevin:{self.name}",
                                          attrs={"truth": str(self)})


def _linear(s, t, a, b):
    return a + b * s + 0.0 * t


def _g(t, tau):
    return 1.0 + np.exp(-t / tau)


def _default_A(s, t, v_c, nu0, tau):
    return -nu0 * _g(t, tau) * s / (1.0 + 0.25 * (s / v_c) ** 2)


def _default_D(s, t, v_c, D0, tau, c):
    return D0 * _g(t, tau) / (1.0 + c * (s / v_c) ** 2)


def default_truth(v_c: float = 2.0, D0: float = 0.006, nu0: float = 0.004,
                  tau: float = 30.0) -> IsotropicTruth:
    """A time- and speed-dependent test operator (velocity unit 0.01c, time unit one frame).

    Parameters
    ----------
    v_c : float
        Speed scale of the coefficients (velocity units).
    D0 : float
        Late-time diffusion at ``v = 0`` (velocity_units**2 / frame).
    nu0 : float
        Late-time drag rate at small speed (1 / frame).
    tau : float
        Relaxation time of the time dependence (frames).

    Notes
    -----
    .. math::

        g(t) = 1 + e^{-t/\\tau},\\quad
        D_\\parallel = \\frac{D_0 g(t)}{1 + (v/v_c)^2},\\quad
        D_\\perp = \\frac{D_0 g(t)}{1 + \\tfrac12 (v/v_c)^2},\\quad
        A_\\parallel = -\\frac{\\nu_0 g(t) v}{1 + \\tfrac14 (v/v_c)^2}.

    Coefficients halve from ``t = 0`` to ``t >> tau``; ``D_par < D_perp`` away
    from ``v = 0`` and the drag saturates at large speed.
    """
    return IsotropicTruth(partial(_default_A, v_c=v_c, nu0=nu0, tau=tau),
                          partial(_default_D, v_c=v_c, D0=D0, tau=tau, c=1.0),
                          partial(_default_D, v_c=v_c, D0=D0, tau=tau, c=0.5),
                          "default_truth", {"v_c": v_c, "D0": D0, "nu0": nu0, "tau": tau})


def _initial(initial, n_particles, rng, unit):
    if isinstance(initial, np.ndarray):
        v = np.asarray(initial, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2:
            raise CollopError(f"initial velocities must have shape (N, 2), got {v.shape}")
        return v.copy(), f"array{v.shape}"
    if isinstance(initial, str):
        initial = parse_population(initial, unit)
    elif isinstance(initial, (list, tuple)):
        if not initial:
            raise CollopError("initial: empty list of population names")
        initial = Mixture(tuple(parse_population(p, unit) if isinstance(p, str) else p
                                for p in initial))
    if n_particles is None or n_particles <= 0:
        raise CollopError(f"n_particles must be a positive integer, got {n_particles}")
    if isinstance(initial, Mixture):
        return initial.sample(int(n_particles), rng, stratified=True), repr(initial)
    if not hasattr(initial, "sample"):
        raise CollopError("initial must be a shape, a population name, a list of names or "
                          f"an (N, 2) array, got {initial!r}")
    return initial.sample(int(n_particles), rng), repr(initial)


class _Noise:
    """Standard normal draws from a seeded torch CPU generator (~4x faster than numpy's)."""

    def __init__(self, seed_seq: np.random.SeedSequence):
        import torch

        self._torch = torch
        self._gen = torch.Generator().manual_seed(int(seed_seq.generate_state(1, np.uint64)[0] >> 1))

    def normal(self, n):
        return self._torch.randn((2, n), generator=self._gen, dtype=self._torch.float32).numpy()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_step(truth: "IsotropicTruth", dt: float, t_end: float, unit: float = 1.0,
               max_rate: float = 0.5) -> float:
    """Refuse an Euler-Maruyama step at which the drag is unstable.

    Along ``v_hat`` the drift step ``s += A_par(s) dt`` is the Euler step of
    ``ds/dt = A_par(s)``, which is stable where ``|dA_par/ds| dt < 2`` and
    first-order accurate while it is small. The largest
    ``|dA_par/ds|`` over speeds up to ``20 unit`` and the run's times must
    satisfy ``|dA_par/ds| dt <= max_rate`` (0.5: a step's first-order error
    stays below about an eighth of its change).

    Returns
    -------
    float
        ``max |dA_par/ds| dt``.

    Raises
    ------
    CollopError
        When the bound is exceeded (one line giving the largest stable step).
    """
    s = np.linspace(0.0, 20.0, 801) * unit
    t = np.linspace(0.0, max(float(t_end), 0.0), 25)
    rates = []
    for tk in t:
        A, _, _ = truth.coefficients(s, np.asarray(tk))
        rates.append(np.max(np.abs(np.diff(np.asarray(A, dtype=float))) / np.diff(s)))
    nu = float(np.nanmax(rates))
    if not np.isfinite(nu) or nu * dt > max_rate:
        limit = max_rate / nu if nu > 0 and np.isfinite(nu) else 0.0
        raise CollopError(f"Euler-Maruyama step {dt:g} is unstable for {truth}: |dA_par/dv| x step = "
                          f"{nu * dt:.3g} > {max_rate}; use a step below {limit:.3g} (a smaller --dt "
                          "or more --inner sub-steps)")
    return nu * dt


def _advance(v, rng, truth, t, dt, n_inner):
    """``n_inner`` Euler-Maruyama steps of ``v`` (2, n) float64 in place, starting at time ``t``.

    ``rng.normal(n)`` returns standard normal draws of shape (2, n).
    """
    sdt = np.sqrt(dt)
    vx, vy = v
    for j in range(n_inner):
        s = np.sqrt(vx * vx + vy * vy)
        A, Dp, Dq = truth.coefficients(s, np.asarray(t + j * dt))
        if Dp.size and (Dp.min() < 0 or Dq.min() < 0):
            raise CollopError(f"{truth}: negative diffusion coefficient at t={t + j * dt:g}")
        with np.errstate(invalid="ignore", divide="ignore"):
            inv = np.where(s > 0, 1.0 / s, 0.0)
        ux, uy = vx * inv, vy * inv  # v_hat, zero at v = 0
        dw = rng.normal(s.size)
        bq = np.sqrt(Dq) * sdt
        proj = (np.sqrt(Dp) * sdt - bq) * (ux * dw[0] + uy * dw[1])
        proj += A * dt  # drift and the parallel part of the noise both lie along v_hat
        vx += proj * ux + bq * dw[0]
        vy += proj * uy + bq * dw[1]


def generate(truth: IsotropicTruth, initial, *, n_particles: int | None = None, n_frames: int,
             dt_frame: float = 1.0, n_inner: int = 4, seed: int = 0, unit: float = 1.0,
             velocity_units: str = "0.01c", time_units: str = "frame", progress: bool = False,
             dtype=np.float32, n_threads: int | None = None) -> xr.Dataset:
    """Evolve particles under ``truth`` and return them as a ``particles`` dataset.

    Parameters
    ----------
    truth : IsotropicTruth
        The operator; velocities in ``velocity_units``, time in ``time_units``.
    initial : shape, str, list of str, or ndarray (N, 2)
        Initial velocity distribution: a shape from :mod:`collop.phasespace`, a
        population name, a list of names (a :class:`Mixture` with equal weights,
        ``n_particles`` split evenly across components, in order) or the
        velocities themselves.
    n_particles : int
        Number of particles (ignored for an array ``initial``).
    n_frames : int
        Frames after the initial one; the output has ``n_frames + 1`` frames.
    dt_frame : float
        Time between frames (time_units).
    n_inner : int
        Euler-Maruyama sub-steps per frame (``dt = dt_frame / n_inner``).
    seed : int
        Seed: numpy PCG64 draws the initial velocities, seeded torch CPU generators
        the noise (one per block of 65536 particles); same seed, same numbers.
    unit : float
        Velocity unit of population names, in ``velocity_units``.
    velocity_units, time_units : str
        Units recorded in the dataset.
    progress : bool
        tqdm progress bar over frames.
    dtype : numpy dtype
        Storage type of ``v`` (the integration runs in float64).
    n_threads : int, optional
        Worker threads (default: CPUs available, at most 8); does not change the numbers.

    Returns
    -------
    xarray.Dataset
        ``particles`` dataset ``v(time, particle, component)``, time ``arange(n_frames+1) * dt_frame``.

    Notes
    -----
    Ito SDE ``dv = A(v, t) dt + B(v, t) dW`` with ``B B^T = D``; one sub-step is
    ``v += A dt + sqrt(D_perp dt) xi + (sqrt(D_par dt) - sqrt(D_perp dt)) (v_hat.xi) v_hat``
    with ``xi ~ N(0, I)``. At ``v = 0``, ``v_hat = 0``: no drift and ``B = sqrt(D_perp) I``.
    """
    if n_frames < 0 or n_inner < 1 or dt_frame <= 0:
        raise CollopError(f"need n_frames >= 0, n_inner >= 1, dt_frame > 0; "
                          f"got {n_frames}, {n_inner}, {dt_frame}")
    check_step(truth, dt_frame / n_inner, n_frames * dt_frame, unit)
    if n_particles is not None and not isinstance(initial, np.ndarray):
        need = (n_frames + 1) * int(n_particles) * 2 * np.dtype(dtype).itemsize
        have = _memory_bytes()
        if have and need > 0.5 * have:
            raise CollopError(f"n_particles {n_particles} x {n_frames + 1} frames need "
                              f"{need / 2**30:.3g} GiB, more than half of this machine's "
                              f"{have / 2**30:.3g} GiB")
    ss = np.random.SeedSequence(seed)
    v, init_desc = _initial(initial, n_particles, np.random.Generator(np.random.PCG64(ss.spawn(1)[0])), unit)
    # ss.spawn continues the children sequence: chunk c's noise uses child c + 1
    N = len(v)
    out = np.empty((n_frames + 1, N, 2), dtype=dtype)
    out[0] = v
    v = np.ascontiguousarray(v.T)  # (2, N): contiguous components
    chunks = [slice(a, min(a + _CHUNK, N)) for a in range(0, N, _CHUNK)]
    rngs = [_Noise(s) for s in ss.spawn(len(chunks))]
    dt = dt_frame / n_inner
    frames = range(1, n_frames + 1)
    if progress:
        from tqdm.auto import tqdm
        frames = tqdm(frames, desc="langevin", unit="frame")
    n_threads = n_threads or min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                 else os.cpu_count() or 1)

    def work(k, c):
        vc = v[:, chunks[c]]  # a view: advanced in place
        _advance(vc, rngs[c], truth, (k - 1) * dt_frame, dt, n_inner)
        out[k, chunks[c]] = vc.T

    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        for k in frames:
            list(pool.map(partial(work, k), range(len(chunks))))
    attrs = {"generator": "collop.sim.langevin.generate", "truth": str(truth), "initial": init_desc,
             "seed": int(seed), "n_inner": int(n_inner), "dt_frame": float(dt_frame), "unit": float(unit)}
    return particles_dataset(out, np.arange(n_frames + 1) * dt_frame, velocity_units=velocity_units,
                             time_units=time_units, source=f"collop.sim.langevin:{truth.name}",
                             attrs=attrs)


def truth_operator_dataset(truth: IsotropicTruth, ds: xr.Dataset, n_speed: int | None = None) -> xr.Dataset:
    """The true operator tabulated on the times of ``ds`` (a particles or phasespace dataset).

    Speeds run from 0 to the grid corner (phasespace; spacing half a bin unless
    ``n_speed`` is given) or to the largest particle speed (particles; ``n_speed``
    points, default 101). Units are those of ``ds``.
    """
    kind = ds.attrs.get("collop_kind")
    if kind == "phasespace":
        g = VelocityGrid.from_dataset(ds)
        speed = g.speed_nodes(g.h / 2) if n_speed is None else np.linspace(0, g.corner_speed, n_speed)
    elif kind == "particles":
        v = ds["v"]
        vmax = max(float(np.sqrt((np.asarray(v.isel(time=slice(a, a + 8)).values)[..., :2] ** 2)
                                 .sum(-1)).max()) for a in range(0, ds.sizes["time"], 8))
        speed = np.linspace(0, vmax, n_speed or 101)
    else:
        raise CollopError(f"truth_operator_dataset needs a particles or phasespace dataset, got {kind!r}")
    return truth.tabulate(ds["time"].values, speed, ds.attrs.get("velocity_units", "unknown"),
                          ds.attrs.get("time_units", "unknown"),
                          source=f"collop.sim.langevin:{truth.name} on {ds.attrs.get('source', '?')}")
