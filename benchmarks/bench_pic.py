"""PIC throughput in particle-steps per second (deposit + field solve + push).

Times ``PIC.step()`` (gather, push, deposit, FFT Poisson solve, energy and
momentum sums; no dumps) at 2e5 and 1e6 particles (4 per cell, waterbag, dx =
lambda_D, omega_p dt = 0.1), shape orders m = 1 and 2, on 1 and 2 threads.
Each figure is the best of ``--repeats`` timings of ``--steps`` steps after a
warm-up (numba compilation excluded). Other processes on the machine slow it
down: check the load average printed at the top.

Usage: python benchmarks/bench_pic.py [--sizes 200000,1000000] [--orders 1,2] [--threads 1,2]
       [--steps 20] [--repeats 3] [--backend auto|numba|torch] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import math
import os
import time

import torch

from collop.sim.pic import PIC, PICConfig
from collop.sim.pic import kernels as K


def bench(n, order, threads, steps=20, repeats=3, backend="auto", device="cpu"):
    side = int(round(math.sqrt(n / 4)))
    cfg = PICConfig(nx=side, ny=side, ppc=4, order=order, dt=0.1, t_max=1.0, dt_dump=1.0)
    torch.set_num_threads(threads)
    if K.HAVE_NUMBA:
        import numba
        numba.set_num_threads(threads)
    sim = PIC(cfg, backend=backend, device=device)
    for _ in range(3):
        sim.step()
    best = float("inf")
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            sim.step()
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t) / steps)
    return cfg.n_particles, best, sim.backend


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="200000,1000000")
    p.add_argument("--orders", default="1,2")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backend", default="auto")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    print(f"load average: {os.getloadavg()}, CPUs: {os.cpu_count()}")
    print(f"{'particles':>10} {'m':>2} {'threads':>7} {'backend':>7} {'s/step':>8} {'particle-steps/s':>17}")
    for n in (int(float(s)) for s in a.sizes.split(",")):
        for order in (int(s) for s in a.orders.split(",")):
            for th in (int(s) for s in a.threads.split(",")):
                N, sec, be = bench(n, order, th, a.steps, a.repeats, a.backend, a.device)
                print(f"{N:>10d} {order:>2d} {th:>7d} {be:>7} {sec:>8.4f} {N / sec:>17.3e}", flush=True)
