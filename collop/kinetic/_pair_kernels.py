"""Numba kernel of the weak-form pair terms: the frame, the test-function derivatives and the coefficients.

One pass over the sampled pairs computes what :func:`collop.kinetic.geometry.pair_frame`,
:meth:`collop.kinetic.testfunctions.TestFunctions.derivatives` and
:func:`collop.kinetic.weakform.pair_coefficients` compute in PyTorch (the
reference, which the tests compare with), without the intermediate arrays.

Profiles (``phi(q)``, ``phi'``, ``phi''``) are coded 0 ``exp``, 1 ``v2exp``,
2 ``shell``.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["pair_terms", "PROFILE_CODES", "orthogonal_unit"]

PROFILE_CODES = {"exp": 0, "gauss": 0, "v2exp": 1, "shell": 2}


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def orthogonal_unit(uhx, uhy, uhz):
    """A unit vector orthogonal to the unit vector ``(uhx, uhy, uhz)``: the axis least aligned with it,
    projected off it and normalised (the frame's ``r~`` where ``r`` is parallel to ``u``)."""
    ax, ay, az = abs(uhx), abs(uhy), abs(uhz)
    ex, ey, ez = 0.0, 0.0, 0.0
    if ax <= ay and ax <= az:
        ex = 1.0
    elif ay <= az:
        ey = 1.0
    else:
        ez = 1.0
    d = ex * uhx + ey * uhy + ez * uhz
    wx, wy, wz = ex - d * uhx, ey - d * uhy, ez - d * uhz
    nw = math.sqrt(wx * wx + wy * wy + wz * wz)
    return wx / nw, wy / nw, wz / nw


@numba.njit(fastmath=True, cache=True, nogil=True, error_model="numpy")
def _profile(code, q, C):
    if code == 0:
        e = math.exp(-q)
        return -e, e
    if code == 1:
        e = math.exp(-q)
        return (1.0 - q) * e, (q - 2.0) * e
    d = q - C
    e = math.exp(-d * d)
    return -2.0 * d * e, (4.0 * d * d - 2.0) * e


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True, error_model="numpy")
def pair_terms(V, vbar, frame, i1, i2, N, centres, widths, codes, consts, sigma, isotropic, tol):
    """Inputs ``x (P, 3)`` = ``(|u|/sigma, |r|/sigma, s/sigma^2)`` and coefficients ``(n_c, P, K)``.

    ``n_c = 1`` (``L``) for isotropic kernels, else 3 (``A, B, C``); see
    :mod:`collop.kinetic.weakform` for the formulas and the degenerate cases.
    ``V (F*N, 3)``, ``vbar (F, 3)``; pair ``p`` is particles ``i1[p], i2[p]`` of frame ``frame[p]``.
    """
    P = frame.shape[0]
    K = centres.shape[0]
    nc = 1 if isotropic else 3
    x = np.empty((P, 3), dtype=np.float32)
    coef = np.zeros((nc, P, K), dtype=np.float32)
    for p in numba.prange(P):
        f = frame[p]
        a1 = f * N + i1[p]
        a2 = f * N + i2[p]
        v1x, v1y, v1z = float(V[a1, 0]), float(V[a1, 1]), float(V[a1, 2])
        v2x, v2y, v2z = float(V[a2, 0]), float(V[a2, 1]), float(V[a2, 2])
        bx, by, bz = float(vbar[f, 0]), float(vbar[f, 1]), float(vbar[f, 2])
        ux, uy, uz = v1x - v2x, v1y - v2y, v1z - v2z
        rx, ry, rz = v1x + v2x - 2 * bx, v1y + v2y - 2 * by, v1z + v2z - 2 * bz
        a2n = ux * ux + uy * uy + uz * uz
        scale2 = v1x * v1x + v1y * v1y + v1z * v1z + v2x * v2x + v2y * v2y + v2z * v2z
        rho2 = rx * rx + ry * ry + rz * rz
        rho = math.sqrt(rho2)
        if not a2n > tol * tol * scale2:
            x[p, 0] = 1.0
            x[p, 1] = rho / sigma
            x[p, 2] = 0.0
            continue                                   # u = 0: every coefficient stays 0
        a = math.sqrt(a2n)
        uhx, uhy, uhz = ux / a, uy / a, uz / a
        c = ux * rx + uy * ry + uz * rz
        cu = uhx * rx + uhy * ry + uhz * rz
        px, py, pz = rx - cu * uhx, ry - cu * uhy, rz - cu * uhz
        np2 = px * px + py * py + pz * pz
        ok_s = np2 > tol * tol * rho2
        if ok_s:
            npr = math.sqrt(np2)
            rtx, rty, rtz = px / npr, py / npr, pz / npr
            s = a * npr
        else:                                          # any unit vector orthogonal to u~
            rtx, rty, rtz = orthogonal_unit(uhx, uhy, uhz)
            s = 0.0
        stx = uhy * rtz - uhz * rty
        sty = uhz * rtx - uhx * rtz
        stz = uhx * rty - uhy * rtx
        x[p, 0] = a / sigma
        x[p, 1] = rho / sigma
        x[p, 2] = s / (sigma * sigma)
        for k in range(K):
            ws = widths[k] * sigma
            # particle 1
            y1x = (v1x / sigma - centres[k, 0]) / widths[k]
            y1y = (v1y / sigma - centres[k, 1]) / widths[k]
            y1z = (v1z / sigma - centres[k, 2]) / widths[k]
            q1 = y1x * y1x + y1y * y1y + y1z * y1z
            d11, d21 = _profile(codes[k], q1, consts[k])
            g1, al1, be1 = 2 * d11 / ws, 2 * d11 / (ws * ws), 4 * d21 / (ws * ws)
            y2x = (v2x / sigma - centres[k, 0]) / widths[k]
            y2y = (v2y / sigma - centres[k, 1]) / widths[k]
            y2z = (v2z / sigma - centres[k, 2]) / widths[k]
            q2 = y2x * y2x + y2y * y2y + y2z * y2z
            d12, d22 = _profile(codes[k], q2, consts[k])
            g2, al2, be2 = 2 * d12 / ws, 2 * d12 / (ws * ws), 4 * d22 / (ws * ws)
            gdx, gdy, gdz = g1 * y1x - g2 * y2x, g1 * y1y - g2 * y2y, g1 * y1z - g2 * y2z
            q_u = uhx * gdx + uhy * gdy + uhz * gdz
            yu1 = uhx * y1x + uhy * y1y + uhz * y1z
            yu2 = uhx * y2x + uhy * y2y + uhz * y2z
            tr_p = 2 * al1 + be1 * (q1 - yu1 * yu1) + 2 * al2 + be2 * (q2 - yu2 * yu2)
            if isotropic:
                coef[0, p, k] = 0.5 * tr_p - 2 * q_u / a
                continue
            if ok_s:
                yr1 = rtx * y1x + rty * y1y + rtz * y1z
                yr2 = rtx * y2x + rty * y2y + rtz * y2z
                ys1 = stx * y1x + sty * y1y + stz * y1z
                ys2 = stx * y2x + sty * y2y + stz * y2z
                h_rr = al1 + be1 * yr1 * yr1 + al2 + be2 * yr2 * yr2
                h_ss = al1 + be1 * ys1 * ys1 + al2 + be2 * ys2 * ys2
                q_r = rtx * gdx + rty * gdy + rtz * gdz
                kk = c * q_r / (a * s)
                coef[0, p, k] = 0.5 * h_rr - q_u / a - kk
                coef[1, p, k] = 0.5 * h_ss - q_u / a + kk
                coef[2, p, k] = -c * q_r / a
            else:
                coef[0, p, k] = 0.25 * tr_p - q_u / a
                coef[1, p, k] = 0.25 * tr_p - q_u / a
    return x, coef
