"""The sparse map from a Fokker-Planck operator's channels to its radius-1 stencil."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..grid import VelocityGrid
from ..solvers import _probe_kappa

__all__ = ["_build_stencil_matrix"]


def _build_stencil_matrix(sym, grid: VelocityGrid, dtype):
    """Compose the flux-form stencil (probed kappa) with the symmetry's cartesian map."""
    n, m = grid.shape
    VX, VY = grid.mesh()
    vx = torch.as_tensor(VX.ravel())
    vy = torch.as_tensor(VY.ravel())
    x, inverse = sym.inputs(vx, vy)
    R = sym.cartesian_matrix(vx, vy)                              # (5, C, P)
    C = R.shape[1]
    kappa = _probe_kappa(n, m, float(grid.h)).reshape(5, 9, n * m)
    ii, jj = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    rows, cols, vals = [], [], []
    for k in range(9):
        a, b = k // 3 - 1, k % 3 - 1
        ok = ((ii + a >= 0) & (ii + a < n) & (jj + b >= 0) & (jj + b < m)).ravel()
        cell = np.flatnonzero(ok)
        nb = ((ii + a) * m + (jj + b)).ravel()[cell]
        v = torch.einsum("cp,cqp->qp", kappa[:, k, cell], R[:, :, nb])   # (C, ncell)
        for q in range(C):
            keep = v[q] != 0
            rows.append(k * n * m + cell[keep.numpy()])
            cols.append(inverse[nb].numpy()[keep.numpy()] * C + q)
            vals.append(v[q][keep])
    idx = torch.as_tensor(np.stack([np.concatenate(rows), np.concatenate(cols)]))
    shape = (9 * n * m, x.shape[0] * C)
    G = torch.sparse_coo_tensor(idx, torch.cat(vals), shape, check_invariants=True).coalesce().to(dtype)
    GT = torch.sparse_coo_tensor(idx.flip(0), torch.cat(vals), shape[::-1],
                                 check_invariants=True).coalesce().to(dtype)
    with warnings.catch_warnings():  # torch flags sparse CSR as beta; we use only CSR @ dense
        warnings.simplefilter("ignore", UserWarning)
        return G.to_sparse_csr(), GT.to_sparse_csr(), x
