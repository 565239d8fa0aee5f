"""Reference constructions shared by the solver tests.

Everything here is built from the stencil *convention* (column ``k`` of a
radius-``r`` stencil sits at offset ``(k // (2r+1) - r, k % (2r+1) - r)``,
zero outside the grid), independently of the code under test.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from collop.solvers import probe_stencil, stencil_apply, stencil_tendency


def offsets(r: int):
    d = 2 * r + 1
    return [(k // d - r, k % d - r) for k in range(d * d)]


def dense_matrix(W: torch.Tensor) -> np.ndarray:
    """The ``(N*M) x (N*M)`` matrix ``L`` of one stencil ``W (K, N, M)``, built entry by entry:
    ``L[(i, j), (i + a_k, j + b_k)] = W[k, i, j]`` where the neighbour is inside the grid."""
    K, n, m = W.shape
    r = (int(round(K ** 0.5)) - 1) // 2
    L = np.zeros((n * m, n * m))
    Wn = W.detach().double().numpy()
    ii, jj = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    for k, (a, b) in enumerate(offsets(r)):
        ok = (ii + a >= 0) & (ii + a < n) & (jj + b >= 0) & (jj + b < m)
        L[(ii * m + jj)[ok], ((ii + a) * m + jj + b)[ok]] += Wn[k][ok]
    return L


def stencil(op, grid, times, dtype=torch.float64):
    return op.stencil(grid, times, dtype=dtype).detach()


def euler_matrix(W: torch.Tensor) -> torch.Tensor:
    """Dense matrix of one Euler sub-step ``f -> f + W f`` (W already times dt), via the torch path."""
    n, m = W.shape[-2:]
    E = torch.eye(n * m, dtype=W.dtype).reshape(1, n * m, n, m)
    return stencil_apply(E, W, backend="torch").reshape(n * m, n * m).T   # column j = image of e_j


def tendency_matrix(W: torch.Tensor) -> torch.Tensor:
    n, m = W.shape[-2:]
    E = torch.eye(n * m, dtype=W.dtype).reshape(1, n * m, n, m)
    return stencil_tendency(E, W).reshape(n * m, n * m).T


def mass_operator(symmetry, grid, times, make_iso, make_full):
    """Time-dependent Fokker-Planck operators with nonzero A, D_par != D_perp and D_xy != 0."""
    if symmetry == "isotropic":
        return make_iso(grid, times,
                        lambda s, t: -0.5 * s * (1 + t),
                        lambda s, t: 0.8 + 0.2 * np.exp(-s ** 2 / 4) * (1 + t),
                        lambda s, t: 0.3 + 0.1 * t + 0 * s)
    return make_full(grid, times,
                     lambda x, y, t: 0.2 - 0.3 * x,
                     lambda x, y, t: -0.1 * (1 + t) - 0.3 * y,
                     lambda x, y, t: 0.6 + 0.05 * x ** 2 / (1 + x ** 2),
                     lambda x, y, t: 0.4 + 0.1 * t + 0 * x,
                     lambda x, y, t: 0.25 * np.tanh(x * y) * (1 + 0.2 * t))


def flux_form_stencil(n: int, m: int, seed: int, eps: float = 0.1, kappa: float = 1.0) -> torch.Tensor:
    """Radius-2 stencil ``(25, n, m)`` of a random flux-form operator (float64).

    Face fluxes are linear combinations of ``f`` within radius 2 of the tendency's cell:
    ``J_x(i+1/2, j) = sum_{p=-1..2, q=-2..2} c_pq(i, j) f(i+p, j+q)`` (likewise ``J_y``), with
    ``c = -kappa (delta_{p,1} - delta_{p,0}) delta_{q,0} + eps * N(0, 1)``: a diffusive part plus a
    random one (``eps = 0.1`` keeps the spectrum in the left half-plane). ``J = 0`` on the outer
    faces and the tendency is ``-(J_x(i+1/2) - J_x(i-1/2)) - (J_y(j+1/2) - J_y(j-1/2))``, so every
    column of the operator sums to zero. The stencil comes from :func:`probe_stencil`.
    """
    rng = np.random.default_rng(seed)
    cx = torch.as_tensor(eps * rng.standard_normal((4, 5, n - 1, m)))     # p = -1..2, q = -2..2
    cy = torch.as_tensor(eps * rng.standard_normal((5, 4, n, m - 1)))     # p = -2..2, q = -1..2
    cx[2, 2] -= kappa
    cx[1, 2] += kappa
    cy[2, 2] -= kappa
    cy[2, 1] += kappa

    def tendency(g):
        f = F.pad(g[:, 0], (2, 2, 2, 2))
        jx = sum(cx[p, q] * f[:, 1 + p:p + n, q:q + m] for p in range(4) for q in range(5))
        jy = sum(cy[p, q] * f[:, p:p + n, 1 + q:q + m] for p in range(5) for q in range(4))
        jx = F.pad(jx, (0, 0, 1, 1))      # zero flux through the outer faces
        jy = F.pad(jy, (1, 1))
        return -(jx[:, 1:] - jx[:, :-1]) - (jy[:, :, 1:] - jy[:, :, :-1])

    return probe_stencil(tendency, 1, (n, m), 2)[0]


def diffusive_stencil(n: int, m: int, r: int, seed: int) -> torch.Tensor:
    """Random symmetric graph Laplacian of radius ``r``: ``(L f)(x) = sum_y c_xy (f(y) - f(x))``
    over the cells ``y != x`` within radius ``r``, ``c_xy = c_yx ~ U(0, 1)`` (float64, ``(K, n, m)``).

    Symmetric and diagonally dominant: a diffusive, mass-conserving operator."""
    d = 2 * r + 1
    rng = np.random.default_rng(seed)
    W = np.zeros((d * d, n, m))
    for a, b in offsets(r):
        if (a, b) <= (0, 0):
            continue                                   # each pair once, as (a, b) > (0, 0)
        i0, i1 = max(0, -a), min(n, n - a)             # cells x with x + (a, b) inside the grid
        j0, j1 = max(0, -b), min(m, m - b)
        c = rng.uniform(0.0, 1.0, (i1 - i0, j1 - j0))
        kp, km, k0 = (a + r) * d + (b + r), (-a + r) * d + (-b + r), r * d + r
        W[kp, i0:i1, j0:j1] += c                       # x receives from x + (a, b)
        W[km, i0 + a:i1 + a, j0 + b:j1 + b] += c       # x + (a, b) receives from x
        W[k0, i0:i1, j0:j1] -= c
        W[k0, i0 + a:i1 + a, j0 + b:j1 + b] -= c
    return torch.as_tensor(W)


def fourth_order_stencil(n: int, m: int, h: float, Ax: float, Ay: float, nu: float) -> torch.Tensor:
    """Radius-2 constant-coefficient stencil of ``-A . grad f + nu lap f`` with fourth-order centred
    differences on bin width ``h`` (zero outside the grid), float64 ``(25, n, m)``."""
    W = torch.zeros(25, n, m, dtype=torch.float64)
    d1 = {-2: 1 / 12, -1: -8 / 12, 1: 8 / 12, 2: -1 / 12}                 # h f' = sum d1[a] f(i + a)
    d2 = {-2: -1 / 12, -1: 16 / 12, 0: -30 / 12, 1: 16 / 12, 2: -1 / 12}  # h^2 f''
    for a, c in d1.items():
        W[(a + 2) * 5 + 2] -= Ax * c / h
        W[2 * 5 + a + 2] -= Ay * c / h
    for a, c in d2.items():
        W[(a + 2) * 5 + 2] += nu * c / h ** 2
        W[2 * 5 + a + 2] += nu * c / h ** 2
    return W


def embed(W: torch.Tensor, r: int) -> torch.Tensor:
    """A radius-1 stencil ``(T, 9, N, M)`` written as radius ``r`` (zero outer columns)."""
    d = 2 * r + 1
    out = W.new_zeros(W.shape[0], d * d, *W.shape[2:])
    for k, (a, b) in enumerate(offsets(1)):
        out[:, (a + r) * d + (b + r)] = W[:, k]
    return out
