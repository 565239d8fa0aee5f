"""The weak form of the metriplectic kinetic equation (Zhao et al., eqs. 4-7 and B2-B5).

For a test function ``psi`` the kinetic equation
``df/dt = div int omega [f' grad f - f grad' f'] dv'`` gives, after
integration by parts and symmetrisation over the pair,

.. math::
    \\left(\\frac{\\partial f}{\\partial t}\\Big|_c, \\psi\\right)
    = \\iint f f' \\,\\tfrac12\\left[\\omega : (H + H')
      + D \\cdot (\\nabla\\psi - \\nabla'\\psi')\\right] dv\\, dv',

with ``H = hess psi(v)``, ``H' = hess psi(v')`` and
``D = d omega_ij/dv_j - d omega_ij/dv'_j = 2 div_u omega``. This is eq. (B4)
with the roles of ``v`` and ``v'`` averaged, which reuses each sampled pair
twice. Drawing ``P`` pairs ``(n, n')``, ``n != n'``, of the particles at a
frame gives the unbiased estimate of eq. (B5).

With the frame of :mod:`collop.kinetic.geometry` and the kernel
``omega = G_r r~r~^T + G_s s~s~^T`` each pair contributes

.. math::
    c = A\\, G_r + B\\, G_s + C\\, \\partial_s G_r,

where, with ``h_xx = x~^T (H + H') x~``, ``q_x = x~ . (grad psi - grad' psi')``,
``a = |u|``, ``c = u . r``:

.. math::
    A = \\tfrac12 h_{rr} - \\frac{q_u}{a} - \\frac{c\\, q_r}{a s}, \\quad
    B = \\tfrac12 h_{ss} - \\frac{q_u}{a} + \\frac{c\\, q_r}{a s}, \\quad
    C = -\\frac{c\\, q_r}{a}.

For ``G_r = G_s = G`` (Landau, CM1) this is ``c = G (tr(P (H + H'))/2 - 2 q_u/a)``.
The coefficients depend on the data only, so gradients flow through the
gains alone. The MD side (eq. B3),
``(1/(N dt)) sum_i [psi(v_i^{l+1}) - psi(v_i^l)]``, is computed once.
"""
from __future__ import annotations

import numpy as np
import torch

from .geometry import PairFrame, pair_frame
from .kernels import Kernel
from .testfunctions import TestFunctions

__all__ = ["pair_coefficients", "pair_contributions", "model_side", "md_side", "md_side_variance", "frame_means",
           "time_weights", "TIME_RULES"]

#: Quadrature rules for the model side over a frame interval (:func:`time_weights`).
TIME_RULES = ("cubic", "trapezoid", "forward")


def pair_coefficients(fr: PairFrame, d1, d2, isotropic: bool):
    """The coefficients ``(A, B, C)`` (or ``(L,)`` for isotropic kernels) of every pair and test function.

    Parameters
    ----------
    fr : PairFrame
        Frames of ``P`` pairs.
    d1, d2 : tuple
        :meth:`TestFunctions.derivatives` at the first and second velocity of each pair.
    isotropic : bool
        ``G_r = G_s`` and no ``s`` dependence: return ``L`` with ``c = G L``.

    Returns
    -------
    tuple of Tensor, each ``(P, K)``
        Zero for pairs with ``u = 0``.
    """
    g1, al1, be1, y1 = d1
    g2, al2, be2, y2 = d2
    ok_u = fr.ok_u[:, None]
    a = torch.where(fr.ok_u, fr.a, torch.ones_like(fr.a))[:, None]
    uh = fr.uh[:, None, :]
    gd = g1[..., None] * y1 - g2[..., None] * y2                      # grad psi - grad' psi'
    q_u = (uh * gd).sum(-1)
    yu1, yu2 = (uh * y1).sum(-1), (uh * y2).sum(-1)
    tr_p = (2 * al1 + be1 * ((y1 * y1).sum(-1) - yu1 * yu1)
            + 2 * al2 + be2 * ((y2 * y2).sum(-1) - yu2 * yu2))          # tr(P (H + H'))
    zero = torch.zeros((), dtype=a.dtype)
    if isotropic:
        return (torch.where(ok_u, 0.5 * tr_p - 2 * q_u / a, zero),)
    rt, st = fr.rt[:, None, :], fr.st[:, None, :]
    yr1, yr2 = (rt * y1).sum(-1), (rt * y2).sum(-1)
    ys1, ys2 = (st * y1).sum(-1), (st * y2).sum(-1)
    h_rr = al1 + be1 * yr1 * yr1 + al2 + be2 * yr2 * yr2
    h_ss = al1 + be1 * ys1 * ys1 + al2 + be2 * ys2 * ys2
    q_r = (rt * gd).sum(-1)
    ok_s = fr.ok_s[:, None]
    s = torch.where(fr.ok_s, fr.s, torch.ones_like(fr.s))[:, None]
    cc = fr.c[:, None]
    k = torch.where(ok_s, cc * q_r / (a * s), zero)
    A = torch.where(ok_s, 0.5 * h_rr - q_u / a - k, 0.25 * tr_p - q_u / a)
    B = torch.where(ok_s, 0.5 * h_ss - q_u / a + k, 0.25 * tr_p - q_u / a)
    C = torch.where(ok_s, -cc * q_r / a, zero)
    return (torch.where(ok_u, A, zero), torch.where(ok_u, B, zero), torch.where(ok_u, C, zero))


def pair_contributions(kernel: Kernel, fr: PairFrame, coeffs) -> torch.Tensor:
    """``c (P, K)``: each pair's symmetrised weak-form term (differentiable in the kernel's parameters)."""
    if kernel.isotropic:
        Gr, _, _ = kernel.frame_gains(fr)
        return Gr[:, None] * coeffs[0]
    Gr, Gs, dGr = kernel.frame_gains(fr, ds=True)
    A, B, C = coeffs
    return Gr[:, None] * A + Gs[:, None] * B + dGr[:, None] * C


def model_side(kernel: Kernel, v1, v2, tf: TestFunctions, vbar=None) -> torch.Tensor:
    """``(df/dt|_c, psi_k)`` estimated from the pairs ``(v1[p], v2[p])``: the mean of :func:`pair_contributions`."""
    fr = pair_frame(v1, v2, vbar)
    with torch.no_grad():
        coeffs = pair_coefficients(fr, tf.derivatives(v1), tf.derivatives(v2), kernel.isotropic)
    return pair_contributions(kernel, fr, coeffs).mean(0)


def frame_means(v: np.ndarray, tf: TestFunctions, chunk: int = 200_000) -> np.ndarray:
    """``(1/N) sum_i psi_k(v_i)`` for every frame: ``v (..., N, 3)`` -> ``(..., K)`` (float64)."""
    v = np.asarray(v)
    lead = v.shape[:-2]
    flat = v.reshape(-1, v.shape[-2], 3)
    out = np.zeros((flat.shape[0], len(tf)))
    for f in range(flat.shape[0]):
        acc = np.zeros(len(tf))
        for i in range(0, flat.shape[1], chunk):
            x = torch.as_tensor(np.asarray(flat[f, i:i + chunk], dtype=np.float64))
            acc += tf.values(x).sum(0).numpy()
        out[f] = acc / flat.shape[1]
    return out.reshape(*lead, len(tf))


def md_side(v: np.ndarray, times: np.ndarray, tf: TestFunctions) -> np.ndarray:
    """Eq. (B3): ``(psi_k(t_{l+1}) - psi_k(t_l)) / (t_{l+1} - t_l)`` averaged over particles.

    Parameters
    ----------
    v : array, shape (..., T, N, 3)
        Velocities of the same particles at ``T`` frames.
    times : array, shape (T,)

    Returns
    -------
    ndarray, shape (..., T-1, K)
        In 1 / time units.
    """
    m = frame_means(v, tf)
    dt = np.diff(np.asarray(times, dtype=float))
    return np.diff(m, axis=-2) / dt[:, None]


def md_side_variance(v: np.ndarray, times: np.ndarray, tf: TestFunctions, chunk: int = 200_000) -> np.ndarray:
    """Sampling variance of :func:`md_side`: ``var_i[psi_k(v_i^{l+1}) - psi_k(v_i^l)] / (N dt_l^2)``.

    The MD side is a mean over ``N`` particles of per-particle increments;
    treating the increments as independent, its variance is their variance
    over particles divided by ``N``. Used to weight the weak-form residuals
    by their noise (``weights="noise"`` of the objective).

    Parameters
    ----------
    v : array, shape (..., T, N, 3)
        Velocities of the same particles at ``T`` frames.
    times : array, shape (T,)

    Returns
    -------
    ndarray, shape (..., T-1, K)
        In 1 / time**2.
    """
    v = np.asarray(v)
    lead, (T, N) = v.shape[:-3], v.shape[-3:-1]
    flat = v.reshape((-1, T, N, 3))
    dt = np.diff(np.asarray(times, dtype=float))
    out = np.zeros((flat.shape[0], T - 1, len(tf)))
    for m in range(flat.shape[0]):
        for lo in range(0, N, chunk):
            prev = tf.values(torch.as_tensor(np.asarray(flat[m, 0, lo:lo + chunk], dtype=np.float64))).numpy()
            for t in range(1, T):
                cur = tf.values(torch.as_tensor(np.asarray(flat[m, t, lo:lo + chunk], dtype=np.float64))).numpy()
                d = cur - prev
                out[m, t - 1] += (d * d).sum(0)
                prev = cur
    means = np.diff(frame_means(flat, tf), axis=1)                       # (F, T-1, K): mean increments
    var = out / N - means * means
    return (np.maximum(var, 0) / N / (dt[:, None] ** 2)).reshape(*lead, T - 1, len(tf))


def time_weights(times, rule: str = "cubic") -> np.ndarray:
    """Quadrature weights ``W (T-1, T)`` with ``(1/dt_l) int_{t_l}^{t_{l+1}} b dt ~ sum_j W[l, j] b(t_j)``.

    The MD side is the finite difference ``(m(t_{l+1}) - m(t_l))/dt_l``, which
    equals the interval mean of ``dm/dt``; the model side ``b(t)`` is known at
    the frames, so it is averaged over the interval by one of:

    ``"cubic"``
        The exact integral of the cubic through the four frames nearest the
        interval (``l-1 .. l+2``, shifted inside at the ends; quadratic for
        3 frames, the trapezoid for 2). Error ``O(dt^4)`` per interval
        (interior, uniform frames: weights ``(-1, 13, 13, -1)/24``).
    ``"trapezoid"``
        ``(b_l + b_{l+1})/2``; error ``-dt^2 b''/12``, which for a mode
        relaxing at rate ``lambda`` biases a fitted kernel strength by
        ``-(lambda dt)^2/12``.
    ``"forward"``
        ``b_l`` (eq. 5 as written); first order.

    Parameters
    ----------
    times : array (T,)
        Increasing frame times (any spacing).
    rule : {"cubic", "trapezoid", "forward"}
    """
    t = np.asarray(times, dtype=float)
    T = t.size
    if rule not in TIME_RULES:
        raise ValueError(f"unknown time rule {rule!r}; known: {', '.join(TIME_RULES)}")
    W = np.zeros((max(T - 1, 0), T))
    for l in range(T - 1):
        if rule == "forward":
            W[l, l] = 1.0
            continue
        if rule == "trapezoid" or T == 2:
            W[l, l] = W[l, l + 1] = 0.5
            continue
        n = min(4, T)
        lo = min(max(l - 1, 0), T - n)
        idx = np.arange(lo, lo + n)
        x = (t[idx] - t[l]) / (t[l + 1] - t[l])                       # nodes in units of the interval
        for q, j in enumerate(idx):                                      # exact integral of each Lagrange basis
            others = np.delete(x, q)
            coeffs = np.poly(others) / np.prod(x[q] - others)
            W[l, j] = np.polyval(np.polyint(coeffs), 1.0) - np.polyval(np.polyint(coeffs), 0.0)
    return W
