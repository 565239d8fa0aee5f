"""Geometry of a pair of velocities: the frame ``(u~, r~, s~)`` of Zhao et al. (Appendix A).

For velocities ``v, v'`` and the mean velocity ``v_bar``

.. math::
    u = v - v', \\quad r = v + v' - 2 \\bar v, \\quad s = u \\times r,
    \\quad P = I - \\tilde u \\tilde u^T,

with ``u~ = u/|u|``, ``r~ = P r / |P r|`` and ``s~ = s / |s| = u~ x r~``, three
orthonormal vectors. Kernels of the metriplectic family are
``omega = G_r r~ r~^T + G_s s~ s~^T`` (CM2; ``G_r = G_s`` gives CM1 and Landau).

Degenerate pairs
----------------
* ``r`` parallel to ``u`` (or ``r = 0``): ``r~`` is undefined; :func:`pair_frame`
  then gives *some* orthonormal pair ``r~, s~`` orthogonal to ``u~`` and
  flags the pair (``ok_s`` False). Kernels use the direction average
  ``omega = (G_r + G_s)/2 P`` there, which is symmetric, rotation covariant and
  independent of the arbitrary choice.
* ``u = 0`` (``v = v'``): ``P`` is undefined; kernels set ``omega = 0``
  (``ok_u`` False). Such pairs have probability zero for continuous data.

All divisions use safe denominators, so neither values nor gradients are NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["PairFrame", "pair_frame", "degenerate_tolerance"]


def degenerate_tolerance(dtype) -> float:
    """Relative size below which ``|u|`` or ``sin(angle(u, r))`` count as zero (100 machine epsilons)."""
    return 100.0 * torch.finfo(dtype).eps


@dataclass
class PairFrame:
    """Magnitudes and the orthonormal frame of velocity pairs (all shapes ``(P,)`` or ``(P, 3)``).

    Attributes
    ----------
    a : Tensor
        ``|u|`` (velocity units).
    rho : Tensor
        ``|r|`` (velocity units).
    s : Tensor
        ``|u x r|`` (velocity units squared).
    c : Tensor
        ``u . r`` (velocity units squared).
    uh, rt, st : Tensor
        ``u~``, ``r~``, ``s~``: orthonormal; arbitrary (but orthonormal) where
        degenerate.
    ok_u : Tensor of bool
        ``u != 0``.
    ok_s : Tensor of bool
        ``u`` and ``r`` not parallel (and ``ok_u``).
    """

    a: torch.Tensor
    rho: torch.Tensor
    s: torch.Tensor
    c: torch.Tensor
    uh: torch.Tensor
    rt: torch.Tensor
    st: torch.Tensor
    ok_u: torch.Tensor
    ok_s: torch.Tensor


def _safe_norm(x: torch.Tensor, ok_of_sq) -> tuple[torch.Tensor, torch.Tensor]:
    """``(|x|, ok)`` with ``ok = ok_of_sq(|x|^2)``; the norm is taken of 1 where not ok (NaN-free gradients)."""
    sq = (x * x).sum(-1)
    ok = ok_of_sq(sq)
    return torch.sqrt(torch.where(ok, sq, torch.ones_like(sq))), ok


def _perpendicular(uh: torch.Tensor) -> torch.Tensor:
    """A unit vector orthogonal to each unit vector ``uh``: the axis least aligned with it, projected."""
    k = uh.abs().argmin(-1)
    e = torch.nn.functional.one_hot(k, 3).to(uh.dtype)
    w = e - (e * uh).sum(-1, keepdim=True) * uh
    return w / w.norm(dim=-1, keepdim=True)


def pair_frame(v1: torch.Tensor, v2: torch.Tensor, vbar: torch.Tensor | None = None) -> PairFrame:
    """The frame of the pairs ``(v1[p], v2[p])``.

    Parameters
    ----------
    v1, v2 : Tensor, shape (P, 3)
        Velocities (any units).
    vbar : Tensor, shape (3,) or (P, 3), optional
        Mean velocity of the distribution (default 0).

    Returns
    -------
    PairFrame
    """
    u = v1 - v2
    r = v1 + v2
    if vbar is not None:
        r = r - 2 * vbar
    tol2 = degenerate_tolerance(u.dtype) ** 2
    scale2 = (v1 * v1).sum(-1) + (v2 * v2).sum(-1)
    a_safe, ok_u = _safe_norm(u, lambda sq: sq > tol2 * scale2)
    a = torch.where(ok_u, a_safe, torch.zeros_like(a_safe))
    e_x = torch.zeros_like(u)
    e_x[..., 0] = 1
    uh = torch.where(ok_u[..., None], u / a_safe[..., None], e_x)
    c = (u * r).sum(-1)
    rho = r.norm(dim=-1)
    pr = r - (uh * r).sum(-1, keepdim=True) * uh
    rho2 = (r * r).sum(-1)
    npr_safe, ok_pr = _safe_norm(pr, lambda sq: sq > tol2 * rho2)
    ok_s = ok_u & ok_pr
    rt = torch.where(ok_s[..., None], pr / npr_safe[..., None], _perpendicular(uh))
    st = torch.linalg.cross(uh, rt, dim=-1)
    s = torch.where(ok_s, a * npr_safe, torch.zeros_like(a))      # |u x r| = |u| |P r|
    return PairFrame(a=a, rho=rho, s=s, c=c, uh=uh, rt=rt, st=st, ok_u=ok_u, ok_s=ok_s)
