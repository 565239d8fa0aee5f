"""Local linear operators on the velocity grid as stencils of radius ``r``.

A local linear operator ``L`` on an ``N x M`` grid is stored as stencil
weights ``W (T, K, N, M)``, one stencil per frame, with ``K = (2r + 1)**2``:

.. math::
    (L f)_{i,j} = \\sum_{k=0}^{K-1} W_{k,i,j}\\, f_{i+a_k,\\, j+b_k},
    \\qquad (a_k, b_k) = (\\lfloor k / (2r+1) \\rfloor - r,\\; k \\bmod (2r+1) - r),

with ``f = 0`` outside the grid. ``r`` follows from ``K``
(:func:`stencil_radius`). The Fokker-Planck operator has ``r = 1``
(``(a_k, b_k) = (k // 3 - 1, k % 3 - 1)``); a ``k x k`` kernel operator needs
``r`` up to about ``ceil(k / 2) + 1``.

:func:`probe_stencil` turns any local linear function of channel fields into
per-cell coefficients, so a stencil is never derived by hand from a
discretisation: :func:`fp_stencil_weights` is the probe of
:func:`fp_flux_divergence` contracted with the coefficient maps.
"""
from __future__ import annotations

from functools import lru_cache, partial
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["N_CHANNELS", "stencil_radius", "stencil_offsets", "probe_stencil", "stencil_weights",
           "fp_flux_divergence", "fp_stencil_weights"]

N_CHANNELS = 5  #: Fokker-Planck channels: A_x, A_y, D_xx, D_yy, D_xy


def stencil_radius(K: int) -> int:
    """Radius ``r`` of a stencil with ``K = (2r + 1)**2`` columns.

    Parameters
    ----------
    K : int
        Number of stencil columns (``W.shape[1]``).

    Returns
    -------
    int
        ``r >= 0``.

    Raises
    ------
    ValueError
        If ``K`` is not the square of an odd number.
    """
    K = int(K)
    r = (int(round(K ** 0.5)) - 1) // 2
    if K < 1 or (2 * r + 1) ** 2 != K:
        raise ValueError(f"a stencil has (2r+1)**2 columns (1, 9, 25, 49, 81, ...), got {K}")
    return r


def stencil_offsets(r: int) -> np.ndarray:
    """Cell offsets of the stencil columns of radius ``r``.

    Parameters
    ----------
    r : int
        Stencil radius (cells), ``r >= 0``.

    Returns
    -------
    ndarray of int, shape ((2r+1)**2, 2)
        Row ``k`` is ``(a_k, b_k) = (k // (2r+1) - r, k % (2r+1) - r)``: the
        offset along ``vx`` (first grid axis) and ``vy`` (second), in cells.
    """
    d = 2 * r + 1
    k = np.arange(d * d)
    return np.stack([k // d - r, k % d - r], axis=1)


def probe_stencil(fn: Callable[[torch.Tensor], torch.Tensor], n_channels: int, shape: tuple[int, int],
                  r: int, *, check: bool = True) -> torch.Tensor:
    """Stencil coefficients of a local linear function of channel fields.

    Parameters
    ----------
    fn : callable
        ``fn(g) -> out`` maps channel fields ``g`` of shape ``(B, n_channels,
        N, M)`` (float64) to ``(B, N, M)``. It must be linear in ``g`` and
        local: ``out(i, j)`` may depend on ``g(i + a, j + b)`` only for
        ``|a|, |b| <= r``. Units: whatever ``fn`` maps; ``kappa`` has the units
        of ``out`` per unit of ``g``.
    n_channels : int
        Number of input channels ``C``.
    shape : (int, int)
        Grid shape ``(N, M)`` (cells).
    r : int
        Stencil radius (cells).
    check : bool
        Apply the assembled coefficients to a random field and compare with
        ``fn`` (one extra call); raises when ``fn`` is not linear or reaches
        further than ``r``.

    Returns
    -------
    Tensor, float64, shape (C, (2r+1)**2, N, M)
        ``kappa[c, k, i, j] = d out(i, j) / d g_c(i + a_k, j + b_k)``, zero
        where the neighbour lies outside the grid.

    Raises
    ------
    ValueError
        With ``check``, if ``fn`` is not linear and local within radius ``r``.

    Notes
    -----
    Graph colouring: the cells are split into ``(2r+1)**2`` colour classes
    ``(i mod (2r+1), j mod (2r+1))``. Two cells of one class are at least
    ``2r + 1`` apart along some axis, so within radius ``r`` of any cell there
    is exactly one cell of each class. Setting ``g_c = 1`` on one class (zero
    elsewhere) therefore gives, at every ``(i, j)``, the coefficient of that
    class's cell, whose offset is

    .. math:: a = ((\\alpha - i + r) \\bmod (2r+1)) - r

    for class row ``alpha`` (likewise ``b``). ``C (2r+1)**2`` evaluations of
    ``fn``, batched per channel, give every coefficient.
    """
    n, m = (int(x) for x in shape)
    d = 2 * r + 1
    ii = torch.arange(n)[:, None]
    jj = torch.arange(m)[None, :]
    classes = [((ii % d == al) & (jj % d == be)).double() for al in range(d) for be in range(d)]
    cls = torch.stack(classes)                                              # (d*d, n, m)
    al = torch.arange(d).repeat_interleave(d)[:, None, None]
    be = torch.arange(d).repeat(d)[:, None, None]
    a = (al - ii + r) % d - r                                               # (d*d, n, m)
    b = (be - jj + r) % d - r
    k = (a + r) * d + (b + r)
    inside = (ii + a >= 0) & (ii + a < n) & (jj + b >= 0) & (jj + b < m)
    kappa = torch.zeros(n_channels, d * d, n, m, dtype=torch.float64)
    for c in range(n_channels):
        g = torch.zeros(d * d, n_channels, n, m, dtype=torch.float64)
        g[:, c] = cls
        out = fn(g)
        kappa[c].scatter_(0, k, torch.where(inside, out, torch.zeros_like(out)))
    if check:
        gen = torch.Generator().manual_seed(0)
        g = torch.rand(1, n_channels, n, m, dtype=torch.float64, generator=gen)
        ref = fn(g)[0]
        gp = F.pad(g[0], (r, r, r, r))
        got = torch.zeros(n, m, dtype=torch.float64)
        for kk, (oa, ob) in enumerate(stencil_offsets(r) + r):
            got = got + (kappa[:, kk] * gp[:, oa:oa + n, ob:ob + m]).sum(0)
        scale = float(ref.abs().max()) + float(got.abs().max())
        if not torch.allclose(got, ref, rtol=0.0, atol=1e-10 * scale + 1e-300):
            raise ValueError(f"the probed function is not linear and local within radius {r} "
                             f"(max deviation {float((got - ref).abs().max()):.3g} of {scale:.3g})")
    return kappa


def _nonzero_terms(kappa: torch.Tensor):
    return tuple((c, k, kappa[c, k].clone()) for c in range(kappa.shape[0]) for k in range(kappa.shape[1])
                 if kappa[c, k].abs().max() > 0)


def _assemble(terms, K: int, coeffs: torch.Tensor) -> torch.Tensor:
    T, C, n, m = coeffs.shape
    r = stencil_radius(K)
    d = 2 * r + 1
    cp = F.pad(coeffs, (r, r, r, r))
    cols = [None] * K
    for c, k, kap in terms:
        a, b = divmod(k, d)
        term = kap.to(dtype=coeffs.dtype, device=coeffs.device) * cp[:, c, a:a + n, b:b + m]
        cols[k] = term if cols[k] is None else cols[k] + term
    zero = coeffs.new_zeros(T, n, m)
    return torch.stack([zero if w is None else w for w in cols], dim=1)


def stencil_weights(kappa: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Stencil of ``f -> fn(coeffs * f)`` from the probe ``kappa`` of ``fn``.

    Parameters
    ----------
    kappa : Tensor, shape (C, K, N, M)
        :func:`probe_stencil` of a function of channel fields ``g_c``.
    coeffs : Tensor, shape (T, C, N, M)
        Per-frame coefficient maps ``c_c`` with ``g_c = c_c f`` (the units of
        the channel fields per unit of ``f``).

    Returns
    -------
    Tensor, shape (T, K, N, M)
        ``W[t, k, i, j] = sum_c kappa[c, k, i, j] coeffs[t, c, i + a_k, j + b_k]``
        (zero outside the grid), in the units of ``fn``'s output per unit of
        ``f``; same dtype and device as ``coeffs``.
    """
    return _assemble(_nonzero_terms(kappa), kappa.shape[1], coeffs)


def fp_flux_divergence(g: torch.Tensor, h: float) -> torch.Tensor:
    """Flux-form Fokker-Planck tendency from the products ``g = c * f``.

    Parameters
    ----------
    g : Tensor, shape (..., 5, N, M)
        ``(A_x f, A_y f, D_xx f, D_yy f, D_xy f)`` at cell centres, in
        velocity units / time units (drift) and velocity units**2 / time units
        (diffusion) times the units of ``f``.
    h : float
        Bin width (velocity units), the same along both axes.

    Returns
    -------
    Tensor, shape (..., N, M)
        ``C[f] = -div(A f) + 1/2 div div(D f)`` with zero flux through the
        outer boundary (units of ``f`` / time units).

    Notes
    -----
    The flux through the face between cells ``i`` and ``i+1`` (along ``vx``) is

    .. math::
        J_x = \\tfrac12 (g^{A_x}_i + g^{A_x}_{i+1})
              - \\frac{g^{D_{xx}}_{i+1} - g^{D_{xx}}_i}{2h}
              - \\frac{(\\partial_y g^{D_{xy}})_i + (\\partial_y g^{D_{xy}})_{i+1}}{4}

    with centred ``\\partial_y`` (zero outside the grid), likewise ``J_y``, and

    .. math::
        C[f]_{ij} = -\\frac{J_{x,i+1/2} - J_{x,i-1/2}}{h} - \\frac{J_{y,j+1/2} - J_{y,j-1/2}}{h}

    with ``J = 0`` on the outer faces, so ``sum(C[f]) = 0`` exactly: the
    scheme conserves ``sum(f)`` to round-off. The stencil has radius 1.
    """
    ax, ay, dxx, dyy, dxy = g.unbind(-3)
    # centred cross derivatives of D_xy f, zero outside the grid
    dxy_p = F.pad(dxy, (1, 1, 1, 1))
    d_dy = (dxy_p[..., 1:-1, 2:] - dxy_p[..., 1:-1, :-2]) / (2 * h)   # d/dvy at centres
    d_dx = (dxy_p[..., 2:, 1:-1] - dxy_p[..., :-2, 1:-1]) / (2 * h)   # d/dvx at centres
    jx = 0.5 * (ax[..., 1:, :] + ax[..., :-1, :]) \
        - 0.5 * (dxx[..., 1:, :] - dxx[..., :-1, :]) / h \
        - 0.25 * (d_dy[..., 1:, :] + d_dy[..., :-1, :])
    jy = 0.5 * (ay[..., :, 1:] + ay[..., :, :-1]) \
        - 0.5 * (dyy[..., :, 1:] - dyy[..., :, :-1]) / h \
        - 0.25 * (d_dx[..., :, 1:] + d_dx[..., :, :-1])
    jx = F.pad(jx, (0, 0, 1, 1))  # zero flux on the vx boundary faces
    jy = F.pad(jy, (1, 1))        # zero flux on the vy boundary faces
    return -(jx[..., 1:, :] - jx[..., :-1, :]) / h - (jy[..., :, 1:] - jy[..., :, :-1]) / h


@lru_cache(maxsize=16)
def _probe_kappa(n: int, m: int, h: float) -> torch.Tensor:
    """``kappa[c, k, i, j] = d(C f)(i, j) / d g_c(i + a_k, j + b_k)`` of the Fokker-Planck
    flux form (float64, shape ``(5, 9, n, m)``, radius 1): :func:`probe_stencil` of
    :func:`fp_flux_divergence`. Cached; do not modify the result."""
    return probe_stencil(partial(fp_flux_divergence, h=h), N_CHANNELS, (n, m), 1)


@lru_cache(maxsize=16)
def _kappa_terms(n: int, m: int, h: float):
    """The non-zero ``(channel, column, kappa map)`` terms of the Fokker-Planck stencil."""
    return _nonzero_terms(_probe_kappa(n, m, h))


def fp_stencil_weights(coeffs: torch.Tensor, h: float) -> torch.Tensor:
    """Stencil weights of the Fokker-Planck operator.

    Parameters
    ----------
    coeffs : Tensor, shape (T, 5, N, M)
        ``(A_x, A_y, D_xx, D_yy, D_xy)`` at cell centres for ``T`` frames, in
        velocity units / time units (``A``) and velocity units**2 / time units
        (``D``).
    h : float
        Bin width (velocity units).

    Returns
    -------
    Tensor, shape (T, 9, N, M)
        ``W`` such that ``C[f](i, j) = sum_k W[k, i, j] f(i + a_k, j + b_k)``
        with offsets ``(a_k, b_k) = (k // 3 - 1, k % 3 - 1)`` (radius 1);
        units 1 / time units. Same dtype and device as ``coeffs``.

    Notes
    -----
    ``W = stencil_weights(probe_stencil(fp_flux_divergence), coeffs)``: the
    discretisation of :func:`fp_flux_divergence` is the only definition of the
    scheme.
    """
    n, m = coeffs.shape[-2:]
    return _assemble(_kappa_terms(n, m, float(h)), 9, coeffs)
