"""Kernels equivalent to a Fokker-Planck operator (Carvalho et al., Section 2.2, Fig. 4/18).

:func:`kernel_from_fokker_planck` writes the flux-form Fokker-Planck operator
of :func:`collop.solvers.fp_flux_divergence` as a kernel operator, exactly
(to round-off) when the window can hold its face flux:

=========  ===========  ===========
scheme     diagonal D   full D
=========  ===========  ===========
forward    k >= 2       k >= 3
backward   k >= 3       k >= 3
centred    never        never
=========  ===========  ===========

(reference window offsets ``-floor(k/2) .. floor((k-1)/2)``). With the
paper's printed offsets ``-floor((k-1)/2) .. floor(k/2)`` the diagonal-D
entries swap (backward ``k >= 2``, forward ``k >= 3``) and full ``D`` still
needs ``k >= 3``. Full ``D`` needs ``k = 3`` because collop's cross term
``d_y (D_xy f)`` on an x-face is centred and spans three cells in ``y``; a
one-sided cross term would fit in ``k = 2``. The smallest ``k`` of each entry
is tested in ``tests/operators/test_kernel_equivalence.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from ._kernel_stencil import window_offsets

__all__ = ["kernel_from_fokker_planck"]


def kernel_from_fokker_planck(coeffs: torch.Tensor, h: float, k: int, scheme: str = "forward",
                              convention: str = "reference") -> torch.Tensor:
    """The kernel whose operator equals the flux-form Fokker-Planck operator of ``coeffs``.

    Parameters
    ----------
    coeffs : Tensor, shape (T, 5, N, M)
        ``(A_x, A_y, D_xx, D_yy, D_xy)`` at the bin centres (as
        :func:`collop.solvers.fp_stencil_weights` takes them).
    h : float
    k, scheme, convention
        The kernel's size and scheme: forward ``k >= 2`` holds diagonal ``D``,
        ``k >= 3`` full ``D``; backward needs ``k >= 3`` (see the module Notes).

    Returns
    -------
    Tensor, shape (T, 2, N, M, k, k)

    Raises
    ------
    ValueError
        When the window cannot hold the Fokker-Planck face flux.

    Notes
    -----
    The Fokker-Planck face flux ``J_{i+1/2}`` (:func:`collop.solvers.fp_flux_divergence`)
    is written as ``F = -J = sum w_s g(i+s)`` with ``g`` placed entirely on the
    cell the scheme reads for that face (``i + 1`` forward, ``i`` backward).
    Centred schemes cannot be built this way.
    """
    if scheme == "centred":
        raise ValueError("a centred scheme shares each g(i) between two faces: no kernel holds a general "
                         "Fokker-Planck flux")
    T, _, n, m = coeffs.shape
    off = list(window_offsets(k, convention))
    s = 1 if scheme == "forward" else 0                 # the cell whose g carries face i+1/2
    K = coeffs.new_zeros(T, 2, n, m, k, k)
    ax, ay, dxx, dyy, dxy = coeffs.unbind(1)

    def put(comp, cell_i, cell_j, df, value):
        # flux of the face i+1/2 (x) or j+1/2 (y) owned by cell (i, j): f at relative offsets
        li = df[0] - (s if comp == 0 else 0)
        mi = df[1] - (s if comp == 1 else 0)
        if li not in off or mi not in off:
            raise ValueError(f"a {k} x {k} {scheme} kernel ({convention} offsets) cannot hold the "
                             "Fokker-Planck flux")
        ci, cj = torch.as_tensor(cell_i), torch.as_tensor(cell_j)
        K[:, comp, ci, cj, off.index(li), off.index(mi)] += value

    half = 0.5
    for comp in (0, 1):
        a = ax if comp == 0 else ay
        dd = dxx if comp == 0 else dyy
        # faces between (i, j) and the next cell along comp; the owner cell is i+s (x) / j+s (y)
        if comp == 0:
            ii, jj = np.meshgrid(np.arange(n - 1), np.arange(m), indexing="ij")
            nxt = (ii + 1, jj)
        else:
            ii, jj = np.meshgrid(np.arange(n), np.arange(m - 1), indexing="ij")
            nxt = (ii, jj + 1)
        oi, oj = (ii + s, jj) if comp == 0 else (ii, jj + s)
        ii_t, jj_t = torch.as_tensor(ii), torch.as_tensor(jj)
        n_t = tuple(torch.as_tensor(x) for x in nxt)
        # -J = -(A f)_avg + (D f)_diff / (2h) + cross / 4
        lo = (0, 0)
        hi = (1, 0) if comp == 0 else (0, 1)
        put(comp, oi, oj, lo, -half * a[:, ii_t, jj_t] - dd[:, ii_t, jj_t] / (2 * h))
        put(comp, oi, oj, hi, -half * a[:, n_t[0], n_t[1]] + dd[:, n_t[0], n_t[1]] / (2 * h))
        # cross term: + (1/4) [(d_perp (D_xy f))(cell) + (d_perp (D_xy f))(next)], centred, zero outside
        for base, (bi, bj) in ((lo, (ii, jj)), (hi, nxt)):
            for sgn in (-1, 1):
                if comp == 0:
                    ci, cj = bi, bj + sgn
                    ok = (cj >= 0) & (cj < m)
                    df = (base[0], sgn)
                else:
                    ci, cj = bi + sgn, bj
                    ok = (ci >= 0) & (ci < n)
                    df = (sgn, base[1])
                okt = torch.as_tensor(ok)
                if not ok.any():
                    continue
                val = sgn * dxy[:, torch.as_tensor(np.clip(ci, 0, n - 1)), torch.as_tensor(np.clip(cj, 0, m - 1))]
                val = torch.where(okt, val, torch.zeros_like(val)) / (4 * 2 * h)
                if bool((val != 0).any()):
                    put(comp, oi, oj, df, val)
    return K
