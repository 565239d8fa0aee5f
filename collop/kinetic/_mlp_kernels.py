"""Numba kernels of :class:`collop.kinetic.kernels.PairMLP` (float32): outputs, input tangent, gradients.

The networks are tiny (10 units) and evaluated on ~1e5 pairs per step, so
PyTorch spends its time streaming (P, 10) arrays through memory. These
kernels process pairs in blocks of :data:`BLOCK` with the block index
innermost and branch-free (SIMD across pairs), keep a block's activations
in cache, and recompute the forward pass in the backward pass.

Layout (``n`` nets, ``H`` hidden units, ``L`` linear layers, ``L >= 2``)::

    W_in (n, H, n_in), b_in (n, H)
    W_hid (n, L-2, H, H), b_hid (n, L-2, H)
    W_out (n, H), b_out (n,)

Hidden layers use ``tanh`` (a [13/6] rational approximation on [-9, 9],
relative error ~1e-7, vectorisable); net 0 may carry the forward-mode
tangent with respect to one input column. :func:`forward` gives
``y (n, P)`` and ``ydot (P)``; :func:`backward` the parameter gradients for
given ``dL/dy``, ``dL/dydot``.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["forward", "backward", "tanh32", "BLOCK"]

#: pairs per block: a block's activations and tangents (3 x 5 x 10 x 256 float32, 150 KB) stay in L2;
#: on the CM2 weak-form step (P = 1e5, 2 threads) the backward kernel took 18.9 ms at 64, 14.6 ms at 256
BLOCK = 256

_OPTS = dict(fastmath=True, cache=True, nogil=True, error_model="numpy")
_F = np.float32


@numba.njit(**_OPTS)
def tanh32(x):
    """tanh by a rational approximation on [-9, 9] (the float32 kernel of Eigen), max rel. error ~1e-7."""
    x = min(max(x, _F(-9.0)), _F(9.0))
    x2 = x * x
    p = _F(-2.76076847742355e-16)
    p = p * x2 + _F(2.00018790482477e-13)
    p = p * x2 + _F(-8.60467152213735e-11)
    p = p * x2 + _F(5.12229709037114e-08)
    p = p * x2 + _F(1.48572235717979e-05)
    p = p * x2 + _F(6.37261928875436e-04)
    p = p * x2 + _F(4.89352455891786e-03)
    p = p * x
    q = _F(1.19825839466702e-06)
    q = q * x2 + _F(1.18534705686654e-04)
    q = q * x2 + _F(2.26843463243900e-03)
    q = q * x2 + _F(4.89352518554385e-03)
    return p / q


@numba.njit(**_OPTS)
def _block_forward(x, p0, nb, W_in, b_in, W_hid, b_hid, W_out, b_out, net, h, y):
    """Activations ``h (L-1, H, BLOCK)`` and outputs ``y (BLOCK)`` of ``net`` for pairs ``p0:p0+nb``."""
    H = W_in.shape[1]
    n_in = W_in.shape[2]
    nh = W_hid.shape[1]
    for o in range(H):
        for b in range(nb):
            h[0, o, b] = b_in[net, o]
        for i in range(n_in):
            w = W_in[net, o, i]
            for b in range(nb):
                h[0, o, b] += w * x[p0 + b, i]
        for b in range(nb):
            h[0, o, b] = tanh32(h[0, o, b])
    for l in range(nh):
        for o in range(H):
            for b in range(nb):
                h[l + 1, o, b] = b_hid[net, l, o]
            for i in range(H):
                w = W_hid[net, l, o, i]
                for b in range(nb):
                    h[l + 1, o, b] += w * h[l, i, b]
            for b in range(nb):
                h[l + 1, o, b] = tanh32(h[l + 1, o, b])
    for b in range(nb):
        y[b] = b_out[net]
    for i in range(H):
        w = W_out[net, i]
        for b in range(nb):
            y[b] += w * h[nh, i, b]


@numba.njit(**_OPTS)
def _block_tangent(W_in, W_hid, W_out, net, col, ts, nb, h, zt, hd, yd):
    """Tangents along input ``col`` (times ``ts``): pre-activation ``zt``, post ``hd``, output ``yd``."""
    H = W_in.shape[1]
    nh = W_hid.shape[1]
    for o in range(H):
        c = W_in[net, o, col] * ts
        for b in range(nb):
            t = h[0, o, b]
            zt[0, o, b] = c
            hd[0, o, b] = (_F(1.0) - t * t) * c
    for l in range(nh):
        for o in range(H):
            for b in range(nb):
                zt[l + 1, o, b] = _F(0.0)
            for i in range(H):
                w = W_hid[net, l, o, i]
                for b in range(nb):
                    zt[l + 1, o, b] += w * hd[l, i, b]
            for b in range(nb):
                t = h[l + 1, o, b]
                hd[l + 1, o, b] = (_F(1.0) - t * t) * zt[l + 1, o, b]
    for b in range(nb):
        yd[b] = _F(0.0)
    for i in range(H):
        w = W_out[net, i]
        for b in range(nb):
            yd[b] += w * hd[nh, i, b]


@numba.njit(parallel=True, **_OPTS)
def forward(x, W_in, b_in, W_hid, b_hid, W_out, b_out, col, ts):
    """``y (n, P)`` of every net and ``ydot (P)``, the derivative of net 0 along input ``col`` times ``ts`` (col < 0: none)."""
    P = x.shape[0]
    n = W_in.shape[0]
    H = W_in.shape[1]
    L1 = W_hid.shape[1] + 1
    out = np.empty((n, P), dtype=np.float32)
    outd = np.zeros(P, dtype=np.float32)
    nblocks = (P + BLOCK - 1) // BLOCK
    for blk in numba.prange(nblocks):
        p0 = blk * BLOCK
        nb = min(BLOCK, P - p0)
        h = np.empty((L1, H, BLOCK), dtype=np.float32)
        y = np.empty(BLOCK, dtype=np.float32)
        for net in range(n):
            _block_forward(x, p0, nb, W_in, b_in, W_hid, b_hid, W_out, b_out, net, h, y)
            for b in range(nb):
                out[net, p0 + b] = y[b]
            if col >= 0 and net == 0:
                zt = np.empty((L1, H, BLOCK), dtype=np.float32)
                hd = np.empty((L1, H, BLOCK), dtype=np.float32)
                _block_tangent(W_in, W_hid, W_out, net, col, ts, nb, h, zt, hd, y)
                for b in range(nb):
                    outd[p0 + b] = y[b]
    return out, outd


@numba.njit(**_OPTS)
def _block_backward(x, p0, nb, W_in, W_hid, W_out, net, col, ts, want, h, zt, hd, dy, dyd,
                    gWi, gbi, gWh, gbh, gWo, gbo, dz, dzd, gh, ghd):
    """Accumulate the gradients of one block of one net (``want``: with the tangent path)."""
    H = W_in.shape[1]
    n_in = W_in.shape[2]
    nh = W_hid.shape[1]
    # output layer
    acc = _F(0.0)
    for b in range(nb):
        acc += dy[b]
    gbo[net] += acc
    for i in range(H):
        acc = _F(0.0)
        for b in range(nb):
            acc += dy[b] * h[nh, i, b]
        if want:
            for b in range(nb):
                acc += dyd[b] * hd[nh, i, b]
        gWo[net, i] += acc
        w = W_out[net, i]
        for b in range(nb):
            gh[i, b] = w * dy[b]
        if want:
            for b in range(nb):
                ghd[i, b] = w * dyd[b]
    # layer l: h[l] = tanh(z[l]); z[l] from h[l-1] (W_hid[l-1]) or from x (W_in) at l = 0
    for l in range(nh, -1, -1):
        for o in range(H):
            if want:
                for b in range(nb):
                    t = h[l, o, b]
                    d1 = _F(1.0) - t * t
                    dz[o, b] = d1 * (gh[o, b] - _F(2.0) * t * zt[l, o, b] * ghd[o, b])
                    dzd[o, b] = ghd[o, b] * d1
            else:
                for b in range(nb):
                    t = h[l, o, b]
                    dz[o, b] = gh[o, b] * (_F(1.0) - t * t)
        if l > 0:
            for o in range(H):
                acc = _F(0.0)
                for b in range(nb):
                    acc += dz[o, b]
                gbh[net, l - 1, o] += acc
                for i in range(H):
                    acc = _F(0.0)
                    for b in range(nb):
                        acc += dz[o, b] * h[l - 1, i, b]
                    if want:
                        for b in range(nb):
                            acc += dzd[o, b] * hd[l - 1, i, b]
                    gWh[net, l - 1, o, i] += acc
            for i in range(H):
                for b in range(nb):
                    gh[i, b] = _F(0.0)
                if want:
                    for b in range(nb):
                        ghd[i, b] = _F(0.0)
            for o in range(H):
                for i in range(H):
                    w = W_hid[net, l - 1, o, i]
                    for b in range(nb):
                        gh[i, b] += w * dz[o, b]
                    if want:
                        for b in range(nb):
                            ghd[i, b] += w * dzd[o, b]
        else:
            for o in range(H):
                acc = _F(0.0)
                for b in range(nb):
                    acc += dz[o, b]
                gbi[net, o] += acc
                for i in range(n_in):
                    acc = _F(0.0)
                    for b in range(nb):
                        acc += dz[o, b] * x[p0 + b, i]
                    if want and i == col:
                        for b in range(nb):
                            acc += dzd[o, b] * ts
                    gWi[net, o, i] += acc


@numba.njit(parallel=True, **_OPTS)
def backward(x, W_in, b_in, W_hid, b_hid, W_out, b_out, col, ts, gy, gyd, n_chunks):
    """Gradients of ``sum(gy * y) + sum(gyd * ydot)`` with respect to every weight (float64 accumulators)."""
    P = x.shape[0]
    n = W_in.shape[0]
    H = W_in.shape[1]
    n_in = W_in.shape[2]
    nh = W_hid.shape[1]
    L1 = nh + 1
    gWi = np.zeros((n_chunks, n, H, n_in))
    gbi = np.zeros((n_chunks, n, H))
    gWh = np.zeros((n_chunks, n, max(nh, 1), H, H))
    gbh = np.zeros((n_chunks, n, max(nh, 1), H))
    gWo = np.zeros((n_chunks, n, H))
    gbo = np.zeros((n_chunks, n))
    nblocks = (P + BLOCK - 1) // BLOCK
    per = (nblocks + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        h = np.empty((L1, H, BLOCK), dtype=np.float32)
        hd = np.empty((L1, H, BLOCK), dtype=np.float32)
        zt = np.empty((L1, H, BLOCK), dtype=np.float32)
        dz = np.empty((H, BLOCK), dtype=np.float32)
        dzd = np.empty((H, BLOCK), dtype=np.float32)
        gh = np.empty((H, BLOCK), dtype=np.float32)
        ghd = np.empty((H, BLOCK), dtype=np.float32)
        y = np.empty(BLOCK, dtype=np.float32)
        dy = np.empty(BLOCK, dtype=np.float32)
        dyd = np.zeros(BLOCK, dtype=np.float32)
        for blk in range(c * per, min(nblocks, (c + 1) * per)):
            p0 = blk * BLOCK
            nb = min(BLOCK, P - p0)
            for net in range(n):
                want = col >= 0 and net == 0
                _block_forward(x, p0, nb, W_in, b_in, W_hid, b_hid, W_out, b_out, net, h, y)
                if want:
                    _block_tangent(W_in, W_hid, W_out, net, col, ts, nb, h, zt, hd, y)
                for b in range(nb):
                    dy[b] = gy[net, p0 + b]
                if want:
                    for b in range(nb):
                        dyd[b] = gyd[p0 + b]
                _block_backward(x, p0, nb, W_in, W_hid, W_out, net, max(col, 0), ts, want, h, zt, hd, dy, dyd,
                                gWi[c], gbi[c], gWh[c], gbh[c], gWo[c], gbo[c], dz, dzd, gh, ghd)
    return (gWi.sum(0), gbi.sum(0), gWh.sum(0)[:, :nh], gbh.sum(0)[:, :nh], gWo.sum(0), gbo.sum(0))
