"""Forward-Euler sub-step counts that keep each frame's stencil stable."""
from __future__ import annotations

import numpy as np
import torch

from . import _kernels as _k
from .autograd import _use_kernel
from .discretisation import stencil_offsets, stencil_radius

__all__ = ["stable_substeps"]


def _rates_torch(W: torch.Tensor) -> np.ndarray:
    """Pure-torch :func:`._kernels.stability_rates`: per frame (Gershgorin rate, drift rate), (T, 2)."""
    T, K = W.shape[:2]
    r = stencil_radius(K)
    gersh = W.abs().sum(1).amax((-2, -1))
    drift = torch.zeros_like(gersh)
    if r == 1:
        pairs = [(W[:, km] - W[:, kp], W[:, km] + W[:, kp])       # (-1, 0)/(+1, 0), (0, -1)/(0, +1)
                 for km, kp in ((1, 7), (3, 5))]
    else:
        off = torch.as_tensor(stencil_offsets(r), dtype=W.dtype, device=W.device)[:, :, None, None]
        pairs = [((o * W).sum(1), (o * o * W).sum(1)) for o in (off[:, 0], off[:, 1])]
    for m1, m2 in pairs:
        denom = torch.maximum(m2, 0.1 * m1.abs())
        rate = torch.where(denom > 0, m1 * m1 / torch.where(denom > 0, denom, torch.ones_like(denom)),
                           torch.zeros_like(denom))
        drift = torch.maximum(drift, rate.amax((-2, -1)))
    rates = torch.stack([gersh, drift], -1).double().cpu().numpy()
    rates[~torch.isfinite(W).reshape(T, -1).all(1).cpu().numpy()] = np.nan
    return rates


def stable_substeps(W: torch.Tensor, dt, *, safety: float = 0.9, max_substeps: int = 10_000,
                    per_frame: bool = False, backend: str = "auto"):
    """Forward-Euler sub-steps per frame that keep every frame's operator stable.

    Parameters
    ----------
    W : Tensor, shape (T, K, N, M)
        Stencil weights of the frames (1 / time units), ``K = (2r + 1)**2``.
    dt : float or Tensor of shape (T,)
        Frame intervals (time units).
    safety : float
        Fraction of each bound that a sub-step may use (dimensionless, ``<= 1``).
    max_substeps : int
        Upper limit of the count.
    per_frame : bool
        Return each frame's own count, ``ndarray (T,)`` of int, instead of the
        largest one. The solver then sub-steps each frame only as finely as
        that frame needs.
    backend : {"auto", "numba", "torch"}
        ``auto``: the fused kernel for CPU float32/float64 stencils.

    Returns
    -------
    int or ndarray of int, shape (T,)
        Sub-steps ``n`` per frame (``dt_sub = dt / n``), at least 1. A frame
        with a non-finite weight gets 1, so the caller sees the non-finite
        result at once instead of paying for ``max_substeps``.

    Notes
    -----
    Two bounds per frame, the stricter wins; with ``w_k = W_k`` at one cell:

    * **Gershgorin.** The eigenvalues of the frame's operator lie in discs of
      centre ``w_0`` and radius ``R = sum_{k != 0} |w_k|``; Euler needs
      ``dt_sub (|w_0| + R) <= 2 safety`` at every cell. For pure diffusion this
      is exactly the von Neumann limit ``dt <= h^2 / (2 D)``. This holds for
      any radius.
    * **Centred drift.** Frozen-coefficient von Neumann analysis of one Euler
      sub-step at low wavenumber ``theta`` along an axis: the symbol of the
      stencil is

      .. math::
          \\lambda(\\theta) = \\sum_k w_k e^{i a_k \\theta}
          = m_0 + i\\,\\theta\\, m_1 - \\tfrac12 \\theta^2 m_2 + O(\\theta^3),
          \\qquad m_p = \\sum_k a_k^p w_k,

      and with ``m_0 = 0`` (a conservative operator) the amplification factor
      obeys ``|1 + dt_sub \\lambda|^2 = 1 - \\theta^2 (dt_sub m_2 - dt_sub^2 m_1^2)
      + O(\\theta^4)``. Long waves are damped only if

      .. math:: dt_{sub}\\, m_1^2 \\le m_2,

      a limit the Gershgorin bound misses when drift dominates (``|m_1|``
      large, ``m_2`` small). For the Fokker-Planck stencil ``m_1 = -A / h``
      and ``m_2 = D / h^2`` (``D`` as in ``1/2 div div(D f)``), i.e.
      ``dt_sub <= D / A^2``. The demand is capped beyond a cell Peclet number
      ``|A| h / D = 10``: ``m_2`` is replaced by ``max(m_2, 0.1 |m_1|)``,
      i.e. ``dt_sub <= h / (10 |A|)`` there. As ``D -> 0`` (e.g. early in
      training) no sub-step count makes centred drift strictly stable, and the
      cap keeps the growth per frame bounded. The rate ``m_1^2 / max(m_2, 0.1 |m_1|)``
      is evaluated along ``vx`` (offsets ``a_k``) and along ``vy`` (offsets
      ``b_k``) at every cell; Euler needs ``dt_sub * rate <= safety``. Long
      waves oblique to the axes are not checked separately.

      Which columns enter the moments: for ``r = 1`` only the axis neighbours,
      ``m_1 = W_+ - W_-`` and ``m_2 = W_+ + W_-`` (columns 7/1 along ``vx``,
      5/3 along ``vy``), as in every release so far, so Fokker-Planck counts
      are unchanged bit for bit; the diagonal ``D_xy`` columns that the full
      moments would add contribute only through differences of ``D_xy``
      between neighbouring cells. For ``r > 1`` the moments run over all
      columns, ``m_1 = sum_k a_k W_k`` and ``m_2 = sum_k a_k^2 W_k``: the
      symbol along ``vx`` involves every column, and a wide (kernel) stencil
      may carry its drift and diffusion off the axes.

    The count is ``n = ceil(max(dt G / (2 safety), dt rate / safety))`` per
    frame (``G`` the largest Gershgorin sum), clipped to ``[1, max_substeps]``.
    """
    T = W.shape[0]
    with torch.no_grad():
        dtt = torch.as_tensor(dt, dtype=torch.float64).expand(T).cpu().numpy()
        if backend != "torch" and _use_kernel(W, W):
            rates = _k.stability_rates(W.detach().contiguous().numpy())      # (T, 2)
        else:
            rates = _rates_torch(W.detach())
        if not np.isfinite(rates).all():
            return np.ones(T, dtype=np.int64) if per_frame else 1
        need = np.maximum(rates[:, 0] * dtt / (2.0 * safety), rates[:, 1] * dtt / safety)
    counts = np.clip(np.ceil(need), 1, max_substeps).astype(np.int64)
    return counts if per_frame else int(counts.max())
