"""The symmetries of a Fokker-Planck operator: isotropic or full.

A symmetry maps the learned channels at its inputs to the cartesian
coefficients ``(A_x, A_y, D_xx, D_yy, D_xy)`` on the grid, constrains raw MLP
outputs (``D >= 0``) and projects tensors onto ``D >= 0``.

Notes
-----
Isotropic: ``A = A_par v_hat``, ``D = D_par v_hat v_hat^T + D_perp (I - v_hat v_hat^T)``,
functions of the speed ``v = |v|``. Full: the five cartesian coefficients as
functions of ``(vx, vy)``, with ``D`` positive semi-definite.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Isotropic", "Full", "SYMMETRIES"]


class Isotropic:
    """``A_par(v, t), D_par(v, t), D_perp(v, t)`` with ``v = |v|``."""

    name = "isotropic"
    n_inputs = 1
    softplus_channels = (1, 2)  # raw MLP channels that pass through softplus
    channels = ("A_par", "D_par", "D_perp")

    @staticmethod
    def inputs(vx: torch.Tensor, vy: torch.Tensor):
        """Unique speeds of the points and the inverse index (speeds repeat on a grid)."""
        s = torch.hypot(vx, vy)
        s = torch.where(_unit(vx, vy)[2], torch.zeros_like(s), s)
        key = torch.round(s * 1e9 / s.max().clamp_min(1e-300))
        _, first, inverse = np.unique(key.numpy(), return_index=True, return_inverse=True)
        return s[torch.as_tensor(first)][:, None], torch.as_tensor(inverse.reshape(-1))

    @staticmethod
    def constrain(raw: torch.Tensor) -> torch.Tensor:
        return torch.cat([raw[..., :1], F.softplus(raw[..., 1:])], -1)

    @staticmethod
    def project_(values: torch.Tensor, speed_nodes: torch.Tensor | None = None) -> None:
        values[..., 1:].clamp_(min=0)
        if speed_nodes is not None and float(speed_nodes[0]) == 0.0:
            # at v = 0 the operator is isotropic: A_par(0) = 0 and D_par(0) = D_perp(0);
            # no cell lies strictly between the first two nodes, so without this
            # tie D_par(0) would be a free, unused parameter.
            values[:, 0, 0] = 0.0
            values[:, 0, 1] = values[:, 0, 2]

    @staticmethod
    def cartesian(ch: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
        """``(T, P, 3)`` isotropic channels to ``(T, 5, P)`` ``(A_x, A_y, D_xx, D_yy, D_xy)``.

        At ``v = 0`` the direction is undefined: ``A = 0`` and ``D = D_perp I``.
        """
        R = _isotropic_matrix(vx, vy).to(ch.dtype)
        return torch.einsum("cqp,tpq->tcp", R, ch)


def _unit(vx, vy):
    """Unit vectors ``v / |v|`` and the mask of ``v = 0``.

    Speeds below ``1e-9`` of the largest are zero: grid centres from
    ``linspace`` put the middle cell at ~1e-16, not at 0, and a spurious
    direction there would make ``A_par(0)`` and ``D_par(0)`` matter.
    """
    s = torch.hypot(vx, vy)
    zero = s <= 1e-9 * s.max().clamp_min(1e-300)
    safe = torch.where(zero, torch.ones_like(s), s)
    return (torch.where(zero, torch.zeros_like(s), vx / safe),
            torch.where(zero, torch.zeros_like(s), vy / safe), zero)


def _isotropic_matrix(vx, vy):
    """``R (5, 3, P)``: cartesian channels = ``sum_ch R[:, ch] * (A_par, D_par, D_perp)[ch]``."""
    ux, uy, zero = _unit(vx, vy)
    R = torch.zeros(5, 3, vx.numel(), dtype=vx.dtype)
    R[0, 0], R[1, 0] = ux, uy
    R[2, 1], R[2, 2] = ux * ux, torch.where(zero, torch.ones_like(ux), uy * uy)
    R[3, 1], R[3, 2] = uy * uy, torch.where(zero, torch.ones_like(ux), ux * ux)
    R[4, 1], R[4, 2] = ux * uy, -ux * uy
    return R


Isotropic.cartesian_matrix = staticmethod(_isotropic_matrix)


class Full:
    """``A_x, A_y, D_xx, D_yy, D_xy`` as functions of ``(vx, vy, t)``."""

    name = "full"
    n_inputs = 2
    softplus_channels = (2, 3)  # the diagonal of the Cholesky factor
    channels = ("A_x", "A_y", "D_xx", "D_yy", "D_xy")

    @staticmethod
    def inputs(vx, vy):
        return torch.stack([vx, vy], -1), torch.arange(vx.numel())

    @staticmethod
    def constrain(raw):
        l11, l22, l21 = F.softplus(raw[..., 2]), F.softplus(raw[..., 3]), raw[..., 4]
        return torch.stack([raw[..., 0], raw[..., 1], l11 * l11, l21 * l21 + l22 * l22,
                            l11 * l21], -1)

    @staticmethod
    def project_(values, speed_nodes=None):
        # only the cells whose D is not positive semi-definite change: both eigenvalues are >= 0
        # exactly when a + c >= 0 and a c >= b^2 (NaN compares False and is left to propagate)
        a, c, b = values[..., 2], values[..., 3], values[..., 4]
        bad = ((a * c) < (b * b)) | ((a + c) < 0)
        if not bool(bad.any()):
            return
        idx = bad.nonzero(as_tuple=True)
        cols = values[..., 2:5]
        a, c, b = a[idx], c[idx], b[idx]
        m = 0.5 * (a + c)
        r = torch.sqrt((0.5 * (a - c)) ** 2 + b ** 2)
        lp, lm = (m + r).clamp(min=0), (m - r).clamp(min=0)
        # eigenvector of the larger eigenvalue: angle theta with tan(2 theta) = 2b / (a - c)
        th = 0.5 * torch.atan2(2 * b, a - c)
        cs, sn = torch.cos(th), torch.sin(th)
        cols[idx] = torch.stack([lp * cs * cs + lm * sn * sn, lp * sn * sn + lm * cs * cs,
                                 (lp - lm) * cs * sn], -1)

    @staticmethod
    def cartesian(ch, vx, vy):
        return ch.permute(0, 2, 1)

    @staticmethod
    def cartesian_matrix(vx, vy):
        return torch.eye(5, dtype=vx.dtype)[:, :, None].expand(5, 5, vx.numel())


SYMMETRIES = {"isotropic": Isotropic, "full": Full}
