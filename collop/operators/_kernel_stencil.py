"""Geometry and stencil of the kernel operators (:mod:`collop.operators.kernel`).

``SCHEMES`` (face weights of the outer difference), :func:`window_offsets`,
:func:`kernel_radius` and :func:`kernel_stencil`, which turns the kernels
``K_x, K_y`` into the radius-``r`` stencil the grid solver advances.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["SCHEMES", "window_offsets", "kernel_radius", "kernel_stencil"]

#: face weights ``(w_0, w_1)``: ``F_{i+1/2} = w_0 g(i) + w_1 g(i+1)``
SCHEMES = {"forward": (0.0, 1.0), "backward": (1.0, 0.0), "centred": (0.5, 0.5)}


def window_offsets(k: int, convention: str = "reference") -> np.ndarray:
    """The ``k`` window offsets ``l`` (and ``m``) of a ``k x k`` kernel, in cells.

    ``reference``: ``-floor(k/2) .. floor((k-1)/2)``; ``paper`` (eq. 6 as
    printed): ``-floor((k-1)/2) .. floor(k/2)``.
    """
    lo = k // 2 if convention == "reference" else (k - 1) // 2
    return np.arange(-lo, k - lo)


def kernel_radius(k: int, scheme: str = "forward", convention: str = "reference") -> int:
    """Stencil radius (cells) of a ``k x k`` kernel operator with the given scheme."""
    off = window_offsets(k, convention)
    w0, w1 = SCHEMES[scheme]
    shifts = [s for s, w in ((0, w0), (1, w1)) if w]
    lo = min(off[0] + s - 1 for s in shifts)          # the lower face (i - 1/2) reaches furthest down
    hi = max(off[-1] + s for s in shifts)
    return int(max(-lo, hi))


def kernel_stencil(K: torch.Tensor, h: float, scheme: str, k: int, convention: str = "reference") -> torch.Tensor:
    """Stencil ``W (T, (2r+1)**2, N, M)`` of ``C[f] = sum_i D_i (K_i * f)`` in flux form.

    Parameters
    ----------
    K : Tensor, shape (T, 2, N, M, k, k)
        The kernels ``K_x, K_y`` at the bin centres (velocity units / time units).
    h : float
        Bin width (velocity units).
    scheme : {"forward", "backward", "centred"}
    k : int
    convention : {"reference", "paper"}

    Returns
    -------
    Tensor, shape (T, (2r+1)**2, N, M), 1/time units
        With ``r = kernel_radius(k, scheme, convention)``; see the module Notes
        for the face fluxes. Differentiable in ``K``.

    Notes
    -----
    With ``F_{i+1/2} = sum_s w_s g(i+s)`` and ``g = K_x * f``, the x part of
    ``C(i, j) = (F_{i+1/2} - F_{i-1/2}) / h`` is, for every window offset ``(l, m)``,

    .. math::
        + \\frac{w_s}{h} [i+\\tfrac12 \\text{ interior}] K_x(i+s, j; l, m) f(i+s+l, j+m)
        - \\frac{w_s}{h} [i-\\tfrac12 \\text{ interior}] K_x(i-1+s, j; l, m) f(i-1+s+l, j+m),

    and likewise along y. Each of these (at most eight) groups is one shifted
    slice of ``K`` for all ``k x k`` offsets at once, added into the stencil
    columns of its cell offsets with one ``index_add`` (whose gradient is an
    ``index_select``), so the cost is a few passes over ``K`` whatever ``k``.
    """
    T, _, n, m = K.shape[:4]
    r = kernel_radius(k, scheme, convention)
    d = 2 * r + 1
    off = np.asarray(window_offsets(k, convention), dtype=np.int64)
    L, Mo = np.meshgrid(off, off, indexing="ij")             # (k, k): l, m of each window entry
    w = SCHEMES[scheme]
    dt_, dev = K.dtype, K.device
    # interior faces: face i+1/2 exists for 0 <= i <= N-2 (x) and j+1/2 for 0 <= j <= M-2 (y)
    up_x = torch.zeros(n, 1, dtype=dt_, device=dev)
    up_x[: n - 1] = 1.0
    up_y = torch.zeros(1, m, dtype=dt_, device=dev)
    up_y[:, : m - 1] = 1.0
    lo_x = torch.roll(up_x, 1, 0)                 # face i-1/2 interior: i-1 >= 0 and i-1 <= N-2
    lo_y = torch.roll(up_y, 1, 1)
    Kx = torch.nn.functional.pad(K[:, 0].permute(0, 3, 4, 1, 2), (0, 0, 1, 1))    # (T, k, k, N+2, M)
    Ky = torch.nn.functional.pad(K[:, 1].permute(0, 3, 4, 1, 2), (1, 1, 0, 0))    # (T, k, k, N, M+2)
    W = K.new_zeros(T, d * d, n, m)

    def add(da, db, term):
        # term (T, k, k, N, M) multiplies f at the cell offsets (l + da, m + db)
        cols = torch.as_tensor(((L + da + r) * d + (Mo + db + r)).ravel(), device=dev)
        W.index_add_(1, cols, term.reshape(T, k * k, n, m))

    for s, ws in ((0, w[0]), (1, w[1])):
        if not ws:
            continue
        c = ws / h
        add(s, 0, (c * up_x) * Kx[..., 1 + s:1 + s + n, :])
        add(s - 1, 0, (-c * lo_x) * Kx[..., s:s + n, :])
        add(0, s, (c * up_y) * Ky[..., :, 1 + s:1 + s + m])
        add(0, s - 1, (-c * lo_y) * Ky[..., :, s:s + m])
    return W
