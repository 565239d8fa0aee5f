"""The 2D periodic electrostatic PIC engine: configuration, field solve, time loop, diagnostics.

See :class:`PICConfig` for the normalisation and the equations.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from ...phasespace import Maxwellian, Waterbag
from ...schema import CollopError
from . import kernels as K

__all__ = ["PICError", "PICConfig", "PIC", "field_solve"]

QM = -1.0
"""Charge-to-mass ratio of the electrons in normalised units (``q = -e``, ``m = m_e``)."""


class PICError(CollopError, ValueError):
    """A bad PIC configuration or state (one-line message)."""


@dataclass(frozen=True)
class PICConfig:
    """Parameters of a 2D electrostatic PIC run, in normalised units.

    Parameters
    ----------
    nx, ny : int
        Grid cells along x and y (the box is ``nx*dx`` by ``ny*dx``, periodic).
    dx : float
        Cell size ``Delta_x`` in Debye lengths ``lambda_D = v_th / omega_p`` (same along x and y).
    ppc : int
        Particles per cell ``N_ppc``; ``N = ppc * nx * ny`` electrons.
    order : {1, 2}
        Shape-function order ``m`` of deposit and gather: 1 = linear (CIC),
        2 = quadratic (TSC).
    dt : float
        Time step ``omega_p * Delta_t``.
    t_max : float
        Duration ``omega_p * t_max``; ``round(t_max / dt)`` steps.
    dt_dump : float
        Dump period ``omega_p * Delta_t_dump``; must be a whole number of steps.
    distribution : {"waterbag", "maxwellian"}
        Initial velocity distribution.
    v_w : float
        Waterbag radius in units of ``v_th`` (paper eq. 7; default 2, i.e. the
        waterbag's per-component rms speed ``v_w / 2`` equals ``v_th``).
    v_th : float
        Maxwellian thermal speed per component (units of ``v_th``; default 1).
    seed : int
        Seed of the initial positions and velocities (numpy PCG64).
    quiet : bool
        Quiet start: positions on a regular ``sqrt(ppc) x sqrt(ppc)`` lattice per
        cell (``ppc`` must be a perfect square) and velocities in ``(v, -v)``
        pairs (zero total momentum). Default: uniform random positions.
    name : str
        Label recorded in the output (e.g. the preset name).

    Notes
    -----
    Units: time in ``1/omega_p``, length in ``lambda_D``, velocity in ``v_th =
    lambda_D omega_p`` (identified with the paper's ``0.01c``, so that the
    waterbag radius ``v_w = 0.02c`` is 2 and Table 4's population names apply
    unchanged), density in ``n_0``, electric field in ``m v_th omega_p / e``.
    With electrons of charge ``-e`` over a fixed uniform ion background,

    .. math::

        \\frac{d\\mathbf{x}_p}{dt} = \\mathbf{v}_p,\\qquad
        \\frac{d\\mathbf{v}_p}{dt} = -\\mathbf{E}(\\mathbf{x}_p),\\qquad
        \\nabla\\cdot\\mathbf{E} = 1 - n,\\qquad \\mathbf{E} = -\\nabla\\phi,

    and a cold plasma oscillates at ``omega = 1``. Each macro-electron carries the
    density-area ``w = nx ny dx^2 / N``, so ``n`` averages to 1; the number of
    particles per Debye area is ``N_D = ppc / dx^2``, and PIC collisions scale as
    ``1 / N_D`` (reduced further by the finite particle size, ``dx`` and ``m``).

    Deposit: ``n_ij = (w / dx^2) sum_p S(x_i - x_p) S(y_j - y_p)``. Field solve by
    FFT: ``phi_k = (1 - n)_k / k^2`` (``phi_0 = 0``), ``E_k = -i k phi_k`` with the
    Nyquist wavenumber's derivative set to zero. Gather with the same ``S``.
    Leapfrog: ``v^{n+1/2} = v^{n-1/2} - E(x^n) dt``, ``x^{n+1} = x^n + v^{n+1/2} dt``,
    started with ``v^{-1/2} = v^0 + E(x^0) dt / 2``. Dumped velocities at step ``n``
    are ``(v^{n-1/2} + v^{n+1/2}) / 2`` (frame 0 is exactly the initial ``v^0``).

    Diagnostics (per unit area, units ``n_0 m v_th^2``) at every step:
    kinetic ``K^n = (w / 2A) sum_p (|v^{n-1/2}|^2 + |v^{n+1/2}|^2) / 2``, field
    ``W^n = (dx^2 / 2A) sum_ij |E_ij^n|^2``, total ``K + W``; momentum per particle
    ``P^n = (1/N) sum_p (v^{n-1/2} + v^{n+1/2}) / 2`` (units ``m v_th``).
    """

    nx: int = 256
    ny: int = 256
    dx: float = 1.0
    ppc: int = 4
    order: int = 1
    dt: float = 0.1
    t_max: float = 100.0
    dt_dump: float = 1.0
    distribution: str = "waterbag"
    v_w: float = 2.0
    v_th: float = 1.0
    seed: int = 0
    quiet: bool = False
    name: str = "custom"

    def __post_init__(self):
        for k in ("nx", "ny", "ppc", "order", "seed"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise PICError(f"{k} must be an integer, got {v!r}")
            object.__setattr__(self, k, int(v))
        for k in ("dx", "dt", "t_max", "dt_dump", "v_w", "v_th"):
            v = getattr(self, k)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise PICError(f"{k} must be a number, got {v!r}") from None
            if not math.isfinite(v) or v <= 0:
                raise PICError(f"{k} must be positive and finite, got {v!r}")
            object.__setattr__(self, k, v)
        if self.nx < 4 or self.ny < 4:
            raise PICError(f"need at least 4 cells per axis, got nx={self.nx}, ny={self.ny}")
        if self.ppc < 1:
            raise PICError(f"ppc must be >= 1, got {self.ppc}")
        if self.order not in (1, 2):
            raise PICError(f"order (shape-function order m) must be 1 or 2, got {self.order}")
        if self.distribution not in ("waterbag", "maxwellian"):
            raise PICError(f"distribution must be 'waterbag' or 'maxwellian', got {self.distribution!r}")
        if self.dt > 1.0:
            raise PICError(f"dt = {self.dt:g}/omega_p is too large: the leapfrog needs omega_p dt < 2 "
                           "and resolving the plasma period needs omega_p dt <= 1")
        if self.dt_dump < self.dt * (1 - 1e-9):
            raise PICError(f"dt_dump = {self.dt_dump:g} is shorter than dt = {self.dt:g}")
        k = self.dt_dump / self.dt
        if abs(k - round(k)) > 1e-6 * k:
            raise PICError(f"dt_dump = {self.dt_dump:g} is not a whole number of steps dt = {self.dt:g}")
        if self.t_max < self.dt_dump * (1 - 1e-9):
            raise PICError(f"t_max = {self.t_max:g} is shorter than dt_dump = {self.dt_dump:g}")
        if self.quiet and round(math.sqrt(self.ppc)) ** 2 != self.ppc:
            raise PICError(f"quiet start needs a square number of particles per cell, got ppc={self.ppc}")
        vmax = (self.v_w if self.distribution == "waterbag" else 4 * self.v_th)
        if vmax * self.dt > self.dx:
            raise PICError(f"time step too long: fast particles (v = {vmax:g}) cross more than a cell "
                           f"per step (v dt = {vmax * self.dt:g} > dx = {self.dx:g})")

    # derived ----------------------------------------------------------------------------------
    @property
    def n_particles(self) -> int:
        return self.ppc * self.nx * self.ny

    @property
    def box(self) -> tuple:
        """Box size ``(Lx, Ly)`` in Debye lengths."""
        return (self.nx * self.dx, self.ny * self.dx)

    @property
    def dump_every(self) -> int:
        return int(round(self.dt_dump / self.dt))

    @property
    def n_frames(self) -> int:
        return int(round(self.t_max / self.dt)) // self.dump_every + 1

    @property
    def n_steps(self) -> int:
        """Steps up to the last dump."""
        return (self.n_frames - 1) * self.dump_every

    @property
    def particles_per_debye_area(self) -> float:
        return self.ppc / self.dx ** 2

    def replace(self, **kw) -> "PICConfig":
        return replace(self, **kw)

    def as_attrs(self) -> dict:
        """Parameters and derived numbers as netCDF attributes."""
        a = {f"pic_{k}": (int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()}
        a.update(pic_n_particles=self.n_particles, pic_box=list(self.box),
                 pic_particles_per_debye_area=self.particles_per_debye_area,
                 pic_dump_every=self.dump_every, pic_n_steps=self.n_steps,
                 length_units="lambda_D")
        return a


def _kgrid(nx, ny, dx, device, dtype):
    import torch

    kx = 2 * np.pi * np.fft.fftfreq(nx, dx)
    ky = 2 * np.pi * np.fft.rfftfreq(ny, dx)
    k2 = kx[:, None] ** 2 + ky[None, :] ** 2
    k2[0, 0] = 1.0
    inv = 1.0 / k2
    inv[0, 0] = 0.0
    dx_ = kx.copy()
    if nx % 2 == 0:
        dx_[nx // 2] = 0.0  # Nyquist: no derivative (keeps E real and the gradient anti-symmetric)
    dy_ = ky.copy()
    if ny % 2 == 0:
        dy_[-1] = 0.0
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return t(inv), t(dx_)[:, None], t(dy_)[None, :]


def field_solve(dens, kgrid):
    """``E = -grad phi`` with ``-lap phi = 1 - dens`` by FFT; ``dens`` an (nx, ny) torch tensor."""
    import torch

    inv_k2, kx, ky = kgrid
    nx, ny = dens.shape
    rho_k = torch.fft.rfft2(1.0 - dens)
    phi_k = rho_k * inv_k2
    Ex = torch.fft.irfft2(-1j * kx * phi_k, s=(nx, ny))
    Ey = torch.fft.irfft2(-1j * ky * phi_k, s=(nx, ny))
    return Ex.contiguous(), Ey.contiguous()


class PIC:
    """A PIC state that can be advanced step by step.

    Parameters
    ----------
    cfg : PICConfig
        Parameters (units: see :class:`PICConfig`).
    device : str
        ``"cpu"`` (default) or ``"cuda"``; CUDA uses the torch kernels.
    backend : {"auto", "numba", "torch"}
        Particle kernels on CPU: ``auto`` is numba where available.
    x, y, vx, vy : array-like, optional
        Initial positions (``lambda_D``) and velocities (``v_th``) of all
        ``cfg.n_particles`` particles, replacing the sampled ones (e.g. a cold
        plasma wave in tests).

    Attributes
    ----------
    n : int
        Steps taken. ``time = n * dt``.
    """

    def __init__(self, cfg: PICConfig, *, device: str = "cpu", backend: str = "auto",
                 x=None, y=None, vx=None, vy=None):
        import torch

        self.cfg = cfg
        if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
            raise PICError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise PICError("device 'cuda' asked for but torch sees no CUDA device")
        if backend not in ("auto", "numba", "torch"):
            raise PICError(f"backend must be 'auto', 'numba' or 'torch', got {backend!r}")
        if backend == "numba" and device != "cpu":
            raise PICError("the numba backend needs device 'cpu'")
        self.device = torch.device(device)
        self.backend = ("numba" if device == "cpu" else "torch") if backend == "auto" else backend
        self.n = 0
        N = cfg.n_particles
        self.w_cell = (cfg.nx * cfg.ny) / N  # particle weight / cell area: mean density 1
        self.area = cfg.box[0] * cfg.box[1]
        x0, y0, vx0, vy0 = self._initial(x, y, vx, vy)
        self.kgrid = _kgrid(cfg.nx, cfg.ny, cfg.dx, self.device, torch.float64)
        self.ids = np.arange(N, dtype=np.int64)  # ids[k]: id of the particle stored at k
        if self.backend == "numba":
            self.x, self.y, self.vx, self.vy = (np.ascontiguousarray(a, dtype=np.float64)
                                                for a in (x0, y0, vx0, vy0))
            self._sort()
            self._priv = np.empty((K.N_CHUNKS, cfg.nx * cfg.ny))
            self.dens = K.deposit_numba(self.x, self.y, cfg.dx, (cfg.nx, cfg.ny), cfg.order,
                                        self.w_cell, self._priv)
            Ex, Ey = field_solve(torch.from_numpy(self.dens), self.kgrid)
            self.Ex, self.Ey = Ex.numpy(), Ey.numpy()
            ex, ey = K.gather_numba(self.x, self.y, cfg.dx, cfg.order, self.Ex, self.Ey)
        else:
            t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), device=self.device)  # noqa
            self.x, self.y, self.vx, self.vy = (t(a).clone() for a in (x0, y0, vx0, vy0))
            self.dens = K.deposit_torch(self.x, self.y, cfg.dx, (cfg.nx, cfg.ny), cfg.order, self.w_cell)
            self.Ex, self.Ey = field_solve(self.dens, self.kgrid)
            ex, ey = K.gather_torch(self.x, self.y, cfg.dx, cfg.order, self.Ex, self.Ey)
        # v^{-1/2} = v^0 - (q/m) E(x^0) dt / 2
        self.vx -= QM * ex * (cfg.dt / 2)
        self.vy -= QM * ey * (cfg.dt / 2)
        self._P_prev = None

    def _initial(self, x, y, vx, vy):
        cfg = self.cfg
        N = cfg.n_particles
        given = [a is not None for a in (x, y, vx, vy)]
        if any(given) and not all(given):
            raise PICError("give all of x, y, vx, vy or none")
        if all(given):
            arrs = [np.asarray(a, dtype=np.float64).reshape(-1) for a in (x, y, vx, vy)]
            if any(a.size != N for a in arrs):
                raise PICError(f"initial arrays must have cfg.n_particles = {N} entries")
            if not all(np.all(np.isfinite(a)) for a in arrs):
                raise PICError("initial arrays contain NaN or Inf")
            Lx, Ly = cfg.box
            arrs[0] = np.mod(arrs[0], Lx)
            arrs[1] = np.mod(arrs[1], Ly)
            arrs[0][arrs[0] >= Lx] = 0.0
            arrs[1][arrs[1] >= Ly] = 0.0
            return arrs
        ss = np.random.SeedSequence(cfg.seed)
        rx, rv = (np.random.Generator(np.random.PCG64(s)) for s in ss.spawn(2))
        Lx, Ly = cfg.box
        if cfg.quiet:
            s = int(round(math.sqrt(cfg.ppc)))
            gx = (np.arange(cfg.nx * s) + 0.5) * (cfg.dx / s)
            gy = (np.arange(cfg.ny * s) + 0.5) * (cfg.dx / s)
            X, Y = np.meshgrid(gx, gy, indexing="ij")
            x0, y0 = X.reshape(-1), Y.reshape(-1)
        else:
            x0 = rx.random(N) * Lx
            y0 = rx.random(N) * Ly
        shape = Waterbag(cfg.v_w) if cfg.distribution == "waterbag" else Maxwellian(cfg.v_th)
        if cfg.quiet:
            half = shape.sample((N + 1) // 2, rv)
            v = np.concatenate([half, -half])[:N]
            v = v[rv.permutation(N)]
        else:
            v = shape.sample(N, rv)
        return x0, y0, v[:, 0].copy(), v[:, 1].copy()

    SORT_EVERY = 25
    """Steps between re-orderings of the particles by grid row (numba path; cache locality)."""

    def _sort(self):
        perm = K.row_sort_perm(self.x, self.cfg.dx, self.cfg.nx)
        for a in ("x", "y", "vx", "vy", "ids"):
            setattr(self, a, getattr(self, a)[perm])

    @property
    def time(self) -> float:
        return self.n * self.cfg.dt

    def field_energy(self) -> float:
        """``W = (dx^2 / 2A) sum |E|^2`` at the current step (units ``n_0 m v_th^2``)."""
        e2 = (self.Ex * self.Ex + self.Ey * self.Ey).sum()
        return float(e2) * self.cfg.dx ** 2 / (2 * self.area)

    def step(self, dump: bool = False):
        """Advance one step; return the diagnostics at the step's start time (and velocities).

        Returns
        -------
        diag : dict
            ``time``, ``kinetic``, ``field``, ``total`` (per unit area, ``n_0 m v_th^2``) and
            ``momentum`` (2,) (per particle, ``m v_th``) at time ``n * dt`` before the step.
        v : ndarray (N, 2) float32 or None
            With ``dump``: velocities at time ``n * dt`` (``(v^{n-1/2} + v^{n+1/2}) / 2``).
        """
        import torch

        cfg = self.cfg
        N = cfg.n_particles
        W = self.field_energy()
        t = self.time
        if self.backend == "numba":
            vd = np.empty((N, 2)) if dump else None
            dens = self.dens
            k2, P = K.step_numba(self.x, self.y, self.vx, self.vy, self.Ex, self.Ey, QM, cfg.dt,
                                 cfg.box, cfg.dx, cfg.order, self.w_cell, self._priv, dens, vd)
            Ex, Ey = field_solve(torch.from_numpy(dens), self.kgrid)
            self.Ex, self.Ey = Ex.numpy(), Ey.numpy()
            v = None
            if dump:
                v = np.empty((N, 2), dtype=np.float32)
                v[self.ids] = vd
            if (self.n + 1) % self.SORT_EVERY == 0:
                self._sort()
        else:
            vd = torch.empty((N, 2), dtype=self.x.dtype, device=self.device) if dump else None
            k2, P, self.dens = K.step_torch(self.x, self.y, self.vx, self.vy, self.Ex, self.Ey, QM,
                                            cfg.dt, cfg.box, cfg.dx, cfg.order, self.w_cell, vd)
            self.Ex, self.Ey = field_solve(self.dens, self.kgrid)
            v = vd.float().cpu().numpy() if dump else None
        P = P / N
        Pn = P if self._P_prev is None else 0.5 * (P + self._P_prev)
        self._P_prev = P
        kin = 0.5 * self.w_cell * cfg.dx ** 2 * k2 / self.area
        self.n += 1
        return {"time": t, "kinetic": kin, "field": W, "total": kin + W, "momentum": Pn}, v

    def _by_id(self, a, b):
        if self.backend != "numba":
            a, b = a.cpu().numpy(), b.cpu().numpy()
        out = np.empty((self.cfg.n_particles, 2))
        out[self.ids, 0] = a
        out[self.ids, 1] = b
        return out

    def velocities(self):
        """Current half-step velocities ``v^{n-1/2}``, (N, 2) float64 in particle-id order."""
        return self._by_id(self.vx, self.vy)

    def positions(self):
        """Current positions ``x^n`` (``lambda_D``), (N, 2) float64 in particle-id order."""
        return self._by_id(self.x, self.y)
