"""Build the default PIC datasets: data/sim1.nc, sim2.nc, sim3.nc and the particle subsets.

For each preset (``collop.sim.pic.PRESETS``): run it (every particle's velocity
at every dump is streamed to ``OUTDIR/<sim>_all.nc``), sample the paper's
Table 4 sub-populations at frame 0 (3e5 requested each) and histogram them on
51 x 51 bins over [-5, 5]^2 (units of v_th = the paper's 0.01c) into
``OUTDIR/<sim>.nc``; for sim1 and sim2 also keep a random subset of the
particles (``OUTDIR/<sim>_particles.nc``, velocities rounded to 2^-13 relative
precision so that they compress, for ``collop tracks``). The relaxation of the
kurtosis of v_x, v_y (all particles) is measured and everything is summarised
in ``OUTDIR/summary.json``.

Usage: python benchmarks/pic_data.py OUTDIR [--sims sim1,sim2,sim3] [--subset N] [--seed S]
       [--threads N] [--keep-all]
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from collop.io import open_dataset, write_dataset
from collop.phasespace import TABLE4, build_phasespace
from collop.sim.pic import generate, preset

KEEP_BITS = 13  # mantissa bits kept in the particle subsets: relative rounding error <= 2^-14


def round_mantissa(a, keep=KEEP_BITS):
    """Round float32 values to ``keep`` mantissa bits (round half up on the magnitude)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32)
    drop = 23 - keep
    u = (u + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return u.view(np.float32)


def relaxation(t, kurt, target=3.0):
    """Relaxation of the kurtosis toward ``target``.

    Returns the e-folding time ``tau`` of a least-squares fit
    ``log(target - K) = a - t / tau`` over the frames with ``K < target - 0.02``
    (above that the noise of the estimate dominates), the time at which ``K``
    first crosses half-way from ``K(0)`` to ``target`` (None if never), and the
    fraction of the way covered at the end.
    """
    t = np.asarray(t, dtype=float)
    k = np.asarray(kurt, dtype=float)
    gap = target - k
    ok = gap > 0.02
    tau = None
    if ok.sum() >= 3:
        slope = np.polyfit(t[ok], np.log(gap[ok]), 1)[0]
        tau = float(-1.0 / slope) if slope < 0 else None
    half = target - 0.5 * gap[0]
    cross = np.flatnonzero(k >= half)
    t_half = float(t[cross[0]]) if cross.size else None
    return {"tau_fit": tau, "t_half": t_half, "kurtosis_start": float(k[0]),
            "kurtosis_end": float(k[-1]), "fraction_relaxed": float((k[-1] - k[0]) / gap[0])}


def build(outdir: Path, sims=("sim1", "sim2", "sim3"), subset: int = 8000, seed: int = 0,
          keep_all: bool = False, progress: bool = True):
    outdir.mkdir(parents=True, exist_ok=True)
    summary_path = outdir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for sim in sims:
        cfg = preset(sim, seed=seed)
        full = outdir / f"{sim}_all.nc"
        t = time.perf_counter()
        generate(cfg, full, progress=progress)
        t_pic = time.perf_counter() - t
        print(f"{sim}: PIC {cfg.n_particles} particles, {cfg.n_steps} steps: {t_pic:.1f} s", flush=True)
        parts = open_dataset(full, "particles", load=False, check_values=False)
        try:
            times = parts["time"].values
            kurt = parts["kurtosis"].values.mean(axis=1)
            E = parts["total_energy"].values
            P = parts["momentum"].values
            info = {
                "n_particles": cfg.n_particles, "grid": [cfg.nx, cfg.ny], "ppc": cfg.ppc,
                "order": cfg.order, "dx_over_lambda_D": cfg.dx,
                "particles_per_debye_area": cfg.particles_per_debye_area, "omega_p_dt": cfg.dt,
                "t_max": float(times[-1]), "dt_dump": cfg.dt_dump, "frames": int(times.size),
                "distribution": cfg.distribution, "pic_seconds": t_pic,
                "particle_steps_per_s": cfg.n_particles * cfg.n_steps / t_pic,
                "energy_rel_change_end": float((E[-1] - E[0]) / E[0]),
                "energy_rel_change_max": float(np.max(np.abs(E - E[0])) / E[0]),
                "momentum_drift_max": float(np.max(np.abs(P - P[0]))),
                "relaxation": relaxation(times, kurt),
                "kurtosis": [[float(a), float(b)] for a, b in zip(times[::max(1, times.size // 20)],
                                                                    kurt[::max(1, times.size // 20)])],
            }
            t = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                # plain histograms, as in the paper: the shipped sim*.nc and docs/results.md use them
                ps = build_phasespace(parts, TABLE4, n_bins=51, vmax=5.0, n_particles=300_000,
                                      seed=seed, progress=progress, deposit="ngp")
            info["phasespace_warnings"] = [str(w.message) for w in caught]
            info["phasespace_n_particles"] = {str(p): int(n) for p, n in
                                              zip(ps["population"].values, ps["n_particles"].values)}
            if sim in ("sim1", "sim2"):
                ps.attrs["particles_file"] = f"{sim}_particles.nc"
            ps.attrs["pic_preset"] = sim
            for k in ("pic_nx", "pic_ny", "pic_ppc", "pic_order", "pic_dx", "pic_dt",
                      "pic_particles_per_debye_area", "length_units"):
                ps.attrs[k] = parts.attrs[k]
            write_dataset(ps, outdir / f"{sim}.nc")
            info["phasespace_seconds"] = time.perf_counter() - t
            if sim in ("sim1", "sim2"):
                rng = np.random.default_rng([seed, 1])
                ids = np.sort(rng.choice(parts.sizes["particle"], subset, replace=False))
                sub = parts.isel(particle=ids).load()
                for var in sub.variables.values():
                    var.encoding = {}
                sub["v"] = (sub["v"].dims, round_mantissa(sub["v"].values), sub["v"].attrs)
                sub.attrs["subset"] = (f"{subset} of {cfg.n_particles} particles (random, seed "
                                       f"[{seed}, 1]); velocities rounded to {KEEP_BITS} mantissa bits; "
                                       "kurtosis and energies are those of all particles")
                write_dataset(sub, outdir / f"{sim}_particles.nc", compress=9)
        finally:
            parts.close()
        if not keep_all:
            full.unlink()
        for f in (f"{sim}.nc", f"{sim}_particles.nc"):
            if (outdir / f).exists():
                info[f"size_{f}"] = (outdir / f).stat().st_size
        summary[sim] = info
        summary_path.write_text(json.dumps(summary, indent=1))
        r = info["relaxation"]
        print(f"{sim}: kurtosis {r['kurtosis_start']:.3f} -> {r['kurtosis_end']:.3f} "
              f"({100 * r['fraction_relaxed']:.0f}% of the way to 3), tau_fit={r['tau_fit']}, "
              f"t_half={r['t_half']}; energy change {100 * info['energy_rel_change_max']:.2f}% max",
              flush=True)
    return summary


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--sims", default="sim1,sim2,sim3")
    p.add_argument("--subset", type=int, default=8000, help="particles kept for Tracks (sim1, sim2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keep-all", action="store_true", help="keep the full particle files")
    a = p.parse_args()
    import numba
    import torch
    torch.set_num_threads(a.threads)
    numba.set_num_threads(a.threads)
    build(a.out, tuple(a.sims.split(",")), a.subset, a.seed, a.keep_all)
