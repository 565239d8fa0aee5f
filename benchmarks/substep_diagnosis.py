"""Why does forward Euler need many sub-steps per frame on PIC data? Measure the stability estimates.

For an operator file (e.g. a PS-Tensor run's ``operator.nc`` or a snapshot)
and its phase-space data, this prints per analysed frame:

* the forward-Euler count of each term of the bound of
  :func:`collop.solvers.stable_substeps` (Gershgorin discs, centred drift),
  over all cells and over the cells where the data hold mass (the pooled
  peak density of every population and frame, relative to its maximum, above
  1e-2, 1e-3, 1e-4), and the data mass at the cell that sets each maximum;
* the exact count (dense eigenvalues of the frame's operator; a mode may
  grow by at most 1e-4 per frame beyond its exact growth) against the Gershgorin
  bound and the spectral (Ritz, ``m = 16`` Arnoldi steps) estimate;
* the cheapest RKL2 plan (sub-steps x stages) by the exact spectrum, and the
  spectrum's extent (most negative real part, largest imaginary part).

Usage::

    python benchmarks/substep_diagnosis.py --operator RUN/operator.nc --data data/sim1.nc \\
        [--frames 0,worst,-1] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collop.data import Record  # noqa: E402
from collop.io import open_dataset  # noqa: E402
from collop.metrics import as_operator  # noqa: E402
from collop.solvers import set_kernel_threads, spectral_substeps, stable_substeps  # noqa: E402
from collop.solvers.rkl import STAGE_CHOICES, rkl2_amplification  # noqa: E402
from collop.solvers.stability import min_stable_counts  # noqa: E402

SAFETY = 0.9     # stable_substeps' default


def per_cell_rates(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (Gershgorin sum ``sum_k |W_k|``, centred-drift rate) of one radius-1 stencil ``W (9, N, M)``."""
    gersh = np.abs(W).sum(0)
    drift = np.zeros(W.shape[1:])
    for km, kp in ((1, 7), (3, 5)):
        diff, both = W[km] - W[kp], W[km] + W[kp]
        den = np.maximum(both, 0.1 * np.abs(diff))
        drift = np.maximum(drift, np.where(den > 0, diff ** 2 / np.where(den > 0, den, 1.0), 0.0))
    return gersh, drift


def dense(W: np.ndarray) -> np.ndarray:
    """The matrix of one stencil ``W (K, N, M)`` (column k at offset (k // d - r, k % d - r))."""
    K, n, m = W.shape
    d = int(round(K ** 0.5))
    r = (d - 1) // 2
    L = np.zeros((n * m, n * m))
    ii, jj = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    for k in range(K):
        a, b = k // d - r, k % d - r
        ok = (ii + a >= 0) & (ii + a < n) & (jj + b >= 0) & (jj + b < m)
        L[(ii * m + jj)[ok], ((ii + a) * m + jj + b)[ok]] += W[k][ok]
    return L


def rkl2_best(z: np.ndarray) -> dict:
    """Cheapest (sub-steps x stages) RKL2 plan for eigenvalues ``z`` (one frame)."""
    best = None
    for s in STAGE_CHOICES:
        n = int(min_stable_counts(z[None], lambda x, s=s: rkl2_amplification(x, s))[0])
        if best is None or n * s < best[0] * best[1]:
            best = (n, s)
    return {"substeps": best[0], "stages": best[1], "applications": best[0] * best[1]}


def analyse(op_file: str, data_file: str, frames, dense_eig: bool = True) -> dict:
    ds = open_dataset(data_file, "phasespace")
    op = as_operator(open_dataset(op_file, "operator"), ds)
    rec = Record.from_dataset(ds, "all", dtype=torch.float64)
    W = op.stencil(rec.grid, rec.times[:-1], dtype=torch.float64).detach()
    dt = torch.as_tensor(rec.dt, dtype=torch.float64)
    f = rec.f.numpy()
    peak = f.max(axis=(0, 1))
    rel = peak / peak.max()
    out = {"operator": op_file, "data": data_file, "frames": {}}
    t0 = time.process_time()
    g_all = stable_substeps(W, dt, per_frame=True)
    frames = [int(g_all.argmax()) if k == "worst" else int(k) % W.shape[0] for k in frames]
    out["gershgorin_counts_all_frames"] = {"mean": float(g_all.mean()), "max": int(g_all.max())}
    t1 = time.process_time()
    s_all = spectral_substeps(W, dt, cap=g_all)
    t2 = time.process_time()
    out["spectral_counts_all_frames"] = {"mean": float(s_all.mean()), "max": int(s_all.max())}
    out["cpu_seconds"] = {"gershgorin_all_frames": round(t1 - t0, 3), "spectral_all_frames": round(t2 - t1, 3)}
    for k in frames:
        Wk = W[k].numpy()
        dtk = float(dt[k])
        gersh, drift = per_cell_rates(Wk)
        need_g = gersh * dtk / (2 * SAFETY)
        need_d = drift * dtk / SAFETY
        row = {"gershgorin_bound": int(g_all[k]), "spectral_estimate": int(s_all[k])}
        for name, need in (("gershgorin_term", need_g), ("drift_term", need_d)):
            i = np.unravel_index(need.argmax(), need.shape)
            row[name] = {"count_all_cells": float(np.ceil(need.max())),
                         "rel_mass_at_max": float(rel[i]), "cell": [int(i[0]), int(i[1])],
                         **{f"count_mass>{thr:g}": float(np.ceil(need[rel > thr].max()))
                            for thr in (1e-2, 1e-3, 1e-4)}}
        if dense_eig:
            lam = np.linalg.eigvals(dense(Wk)) * dtk
            exact = int(min_stable_counts(lam[None])[0])
            row["exact_euler_count"] = exact
            row["gershgorin_over_exact"] = round(int(g_all[k]) / exact, 2)
            row["spectral_over_exact"] = round(int(s_all[k]) / exact, 2)
            row["spectrum"] = {"min_re_dt_lambda": float(lam.real.min()),
                               "max_abs_im_dt_lambda": float(np.abs(lam.imag).max()),
                               "max_re_dt_lambda": float(lam.real.max())}
            row["rkl2_best_exact"] = rkl2_best(lam)
        out["frames"][k] = row
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--operator", required=True, nargs="+", metavar="OP.nc")
    p.add_argument("--data", required=True)
    p.add_argument("--frames", default="0,worst,-1",
                   help="frames to analyse densely; 'worst': the largest Gershgorin count (default 0,worst,-1)")
    p.add_argument("--no-dense", action="store_true", help="skip the dense eigenvalues")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    set_kernel_threads(a.threads)
    frames = [x if x == "worst" else int(x) for x in a.frames.split(",")]
    for op in a.operator:
        print(json.dumps(analyse(op, a.data, frames, not a.no_dense), indent=1), flush=True)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"# cpu {ru.ru_utime + ru.ru_stime:.1f} s", flush=True)


if __name__ == "__main__":
    main()
