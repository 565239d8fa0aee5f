"""Cost of one kernel-operator training epoch (issue 14's speed target), against a plain-PyTorch baseline.

The case of the issue: N_u = 10, full batch, a forward-difference k x k
tensor kernel (k = 2 and 4), two sim3 populations x 96 frames (0..95) on the
51 x 51 grid, one thread, in float64 (as the reference code's trainer runs)
and float32 (collop's default). An epoch is one Adam step on the unrolled
rollout MAE of eq. 8 (forward, adjoint, step), timed by
``Trainer(...).fit(op, record)`` as ``collop train kernel`` runs it.

Two states of the kernel are timed, because the forward-Euler sub-steps per
frame (from the stability bound) set the cost:

* ``zero``: the kernel as initialised (zero), one sub-step per frame, the
  number of Euler steps per frame the reference code takes;
* ``trained``: after ``--warmup-train`` epochs of Table 2's first kernel stage
  (N_u = 1, lr 1e-2), with as many sub-steps as the bound then asks for.

``--substeps N`` gives collop's trainings and its rollout-error score a
fixed number of forward-Euler sub-steps per frame (``--substeps 1``: one step
per frame, the paper's and the reference code's scheme, without its clamp;
default: the stability estimate's count).

``--l1`` sets the kernel's L1 penalty in collop's trainings (the family's
default when not given; ``--l1 0`` is the unpenalised training of the
reference code). The penalty bounds the entries no data constrain, and
with them the sub-step count of the trained kernel (docs/kernel.md).

Baselines, printed beside collop's figures:

* the public reference code's ``K2D_Tensor``, as *quoted* in issue 14 (not
  run here: it is not installed): about 8 s (k = 2) and 30 s (k = 4) per
  epoch on this CPU at 1 thread, float64, measured on a busy machine (up to
  2x faster on a quiet one);
* ``plain``: the same operator written as plain PyTorch autograd in this
  script (zero-padded cross-correlation by ``unfold``, forward difference,
  one Euler step per frame, ``f`` clamped at zero as the reference's
  ``ensure_non_negative_f``), trained on the same schedule in the same run.
  It is not the reference code; it measures what a straightforward autograd
  implementation costs on this machine now;
* ``ps-tensor``: collop's own PS-Tensor (isotropic Fokker-Planck, tensor
  coefficients) epoch on the same set and dtype, in the same run. Its ratio
  to the kernel epoch does not depend on the machine's load.

Rollout error: after the ``trained`` timing, the kernel (collop: flux form,
stable sub-steps; plain: one clamped Euler step per frame) is rolled out
from frame 0 over all frames of the two populations and scored as
``collop evaluate`` does (DESIGN section 4: mean over frames t >= 1 and bins
of |f_hat - f| / max_v f(t)); both have had the same epochs.

CPU time (``time.process_time``) is the steadier figure on a shared machine;
wall time is printed too.

Usage: python benchmarks/bench_kernel.py [--data data/sim3_split.nc]
       [--populations normal_-2_0,ring_2.0] [--k 2,4] [--dtype float64,float32]
       [--epochs 5] [--warmup-train 30] [--l1 L] [--substeps N] [--no-plain] [--no-pstensor] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUOTED_REFERENCE_S = {2: 8.0, 4: 30.0}          # issue 14: K2D_Tensor, float64, 1 thread, busy machine
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def load(data: str, populations: list[str], frames: int):
    from collop.io import open_dataset
    from collop.objectives import RolloutMAE

    ds = open_dataset(data, "phasespace").isel(time=slice(0, frames))
    return ds, RolloutMAE.load(ds, populations)


def time_collop(ds, rec, k: int, dtype: str, epochs: int, warmup_train: int, nu: int = 10,
                l1: float = 0.0, substeps: int | None = None) -> dict:
    """Wall and CPU seconds per N_u = ``nu`` epoch of collop's trainer, at the zero and at a trained kernel.

    Also the rollout error (``collop evaluate``'s) of the kernel after the trained timing.
    """
    from collop.metrics import evaluate

    from collop.objectives import RolloutMAE, RolloutOptions
    from collop.operators.kernel import KernelOperator, KernelOptions, KernelPenalties
    from collop.solvers import make_solver
    from collop.train import Stage, Trainer

    op = KernelOperator.from_options(KernelOptions(k=k, scheme="forward", model="tensor"), rec)
    obj = RolloutMAE(RolloutOptions(dtype=dtype, substeps=substeps), penalties=KernelPenalties(l1=l1))
    kw = dict(objective=obj, snapshot_every=0, checkpoint_every=0)
    out = {}

    def timed(state):
        # one untimed epoch compiles the fused kernels for this radius and dtype; the lr is Table 2's at N_u = 10
        Trainer([Stage(nu, 1e-3, 1)], **kw).fit(op, rec)
        tr = Trainer([Stage(nu, 1e-3, epochs)], **kw)
        w, c = time.perf_counter(), time.process_time()
        tr.fit(op, rec)
        w, c = (time.perf_counter() - w) / epochs, (time.process_time() - c) / epochs
        sub = [h["mean_substeps"] for h in tr.history_]
        out[state] = {"wall_s": w, "cpu_s": c, "mean_substeps": float(np.mean(sub)),
                      "max_substeps": int(max(h["n_substeps"] for h in tr.history_)),
                      "loss": float(tr.history_[-1]["loss"])}

    with torch.no_grad():
        for p in op.parameters():
            p.zero_()
    timed("zero")
    Trainer([Stage(1, 1e-2, warmup_train)], **kw).fit(op, rec)
    timed("trained")
    ev = evaluate(op, ds, list(rec.names), solver=make_solver("euler", substeps))
    out["rollout_mae"], out["negative_mass"] = ev["rollout_mae"], ev["rollout_negative_mass"]
    return out


def time_pstensor(rec, dtype: str, epochs: int, nu: int = 10) -> dict:
    """Wall and CPU seconds per N_u = ``nu`` epoch of PS-Tensor (isotropic FP, tensor) on the same record."""
    from collop.objectives import RolloutMAE, RolloutOptions
    from collop.operators.fokker_planck import FokkerPlanck, FokkerPlanckOptions
    from collop.train import Stage, Trainer

    op = FokkerPlanck.from_options(FokkerPlanckOptions(model="tensor"), rec)
    kw = dict(objective=RolloutMAE(RolloutOptions(dtype=dtype)), snapshot_every=0, checkpoint_every=0)
    Trainer([Stage(nu, 1e-2, 1)], **kw).fit(op, rec)
    tr = Trainer([Stage(nu, 1e-2, epochs)], **kw)
    w, c = time.perf_counter(), time.process_time()
    tr.fit(op, rec)
    return {"wall_s": (time.perf_counter() - w) / epochs, "cpu_s": (time.process_time() - c) / epochs,
            "mean_substeps": float(np.mean([h["mean_substeps"] for h in tr.history_]))}


class PlainKernel(torch.nn.Module):
    """``C[f] = sum_i D_i^+ (K_i * f)`` in plain PyTorch: zero padding, one Euler step per frame, clamp at 0.

    ``K`` is stored in collop's natural units (``h / dt``), so that Adam takes the same steps as collop's.

    Written for this benchmark as a same-run baseline (the structure of a
    straightforward autograd implementation, as the public reference code
    trains its ``K2D_Tensor``); offsets ``-floor(k/2) .. floor((k-1)/2)``.
    """

    def __init__(self, n: int, m: int, k: int, dtype, scale: float = 1.0):
        super().__init__()
        self.k, self.scale = k, scale          # K = scale * parameter: collop's natural units h / dt
        self.K = torch.nn.Parameter(torch.zeros(2, k * k, n, m, dtype=dtype))

    def step(self, f, dt: float, h: float):
        k, lo = self.k, self.k // 2
        B, n, m = f.shape
        fp = torch.nn.functional.pad(f[:, None], (lo, k - 1 - lo, lo, k - 1 - lo))
        patches = torch.nn.functional.unfold(fp, k).view(B, k * k, n, m)       # f(i + l, j + m) per (l, m)
        K = self.K * self.scale
        gx = (patches * K[0]).sum(1)
        gy = (patches * K[1]).sum(1)
        dgx = (torch.nn.functional.pad(gx, (0, 0, 0, 1))[:, 1:, :] - gx) / h     # forward difference, zero pad
        dgy = (torch.nn.functional.pad(gy, (0, 1))[:, :, 1:] - gy) / h
        return torch.clamp(f + dt * (dgx + dgy), min=0.0)

    def loss(self, fs, nu: int, dt: float, h: float):
        T, P, n, m = fs.shape
        S = T - nu
        f = fs[:S].reshape(S * P, n, m)
        total = fs.new_zeros(())
        for u in range(nu):
            f = self.step(f, dt, h)
            total = total + (f - fs[u + 1:u + 1 + S].reshape(S * P, n, m)).abs().mean()
        return total / nu


def time_plain(rec, k: int, dtype: str, epochs: int, warmup_train: int, nu: int = 10) -> dict:
    """Wall and CPU seconds per N_u = ``nu`` epoch of :class:`PlainKernel` (Adam, full batch).

    The schedule of :func:`time_collop`: one untimed and ``epochs`` timed epochs at
    the zero kernel, ``warmup_train`` N_u = 1 epochs (lr 1e-2), one untimed and
    ``epochs`` timed epochs again; then the rollout error of the result.
    """
    from collop.metrics import rollout_error

    dt_ = DTYPES[dtype]
    f_all = rec.f.to(dt_)                                           # (P, T, N, M)
    fs = f_all.permute(1, 0, 2, 3).contiguous()                     # (T, P, N, M)
    dt, h = float(np.mean(rec.dt)), float(rec.grid.h)
    model = PlainKernel(*rec.grid.shape, k, dt_, scale=h / dt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(n_u):
        opt.zero_grad(set_to_none=True)
        loss = model.loss(fs, n_u, dt, h)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def timed():
        for g in opt.param_groups:
            g["lr"] = 1e-3
        epoch(nu)
        w, c = time.perf_counter(), time.process_time()
        for _ in range(epochs):
            epoch(nu)
        return {"wall_s": (time.perf_counter() - w) / epochs, "cpu_s": (time.process_time() - c) / epochs}

    out = {"zero": timed()}
    for g in opt.param_groups:
        g["lr"] = 1e-2
    for _ in range(warmup_train):
        epoch(1)
    out["trained"] = timed()
    with torch.no_grad():
        f = f_all[:, 0]
        roll = [f]
        for _ in range(f_all.shape[1] - 1):
            f = model.step(f, dt, h)
            roll.append(f)
        ev = rollout_error(torch.stack(roll, 1).numpy(), f_all.numpy())
    out["rollout_mae"], out["negative_mass"] = ev["rollout_mae"], ev["rollout_negative_mass"]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "sim3_split.nc"))
    ap.add_argument("--populations", default="normal_-2_0,ring_2.0",
                    help="two populations (default: those of the reference code's example data)")
    ap.add_argument("--frames", type=int, default=96, help="frames 0 .. frames-1 (default 96)")
    ap.add_argument("--k", default="2,4")
    ap.add_argument("--dtype", default="float64,float32")
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs per case")
    ap.add_argument("--warmup-train", type=int, default=30,
                    help="N_u = 1 epochs (lr 1e-2) before the 'trained' timing")
    ap.add_argument("--l1", type=float, default=None,
                    help="L1 penalty of collop's kernel (default: the family's; 0: none, as the reference code)")
    ap.add_argument("--substeps", type=int, default=None,
                    help="fixed forward-Euler sub-steps per frame in collop's trainings and score (default: "
                         "the stability estimate's)")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain-PyTorch baseline")
    ap.add_argument("--no-pstensor", action="store_true", help="skip the PS-Tensor baseline")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)

    torch.set_num_threads(1)
    from collop.solvers import set_kernel_threads
    set_kernel_threads(1)
    pops = [p for p in a.populations.split(",") if p]
    ds, rec = load(a.data, pops, a.frames)
    P, T, n, m = rec.f.shape
    from collop.operators.kernel import KernelPenalties

    l1 = KernelPenalties().l1 if a.l1 is None else a.l1
    print(f"data {a.data}: populations {', '.join(pops)}, {T} frames, {n} x {m} bins; N_u = 10, full batch "
          f"({P} x {T - 10} unrolls), forward scheme, tensor kernel, L1 penalty {l1:g}, "
          f"{a.substeps or 'estimated'} sub-steps per frame, 1 thread")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2-core machine)")
    rows = []
    for dtype in a.dtype.split(","):
        ps = None if a.no_pstensor else time_pstensor(rec, dtype, a.epochs)
        if ps:
            print(f"PS-Tensor {dtype:7s}: {ps['cpu_s']:7.3f} s CPU {ps['wall_s']:7.3f} s wall per epoch, "
                  f"{ps['mean_substeps']:5.2f} sub-steps/frame", flush=True)
        for k in [int(x) for x in a.k.split(",")]:
            res = time_collop(ds, rec, k, dtype, a.epochs, a.warmup_train, l1=l1, substeps=a.substeps)
            plain = None if a.no_plain else time_plain(rec, k, dtype, a.epochs, a.warmup_train)
            q = QUOTED_REFERENCE_S.get(k)
            rows.append({"k": k, "dtype": dtype, "l1": l1, "substeps": a.substeps, "collop": res, "plain": plain, "pstensor": ps,
                         "quoted_reference_s": q})
            for state in ("zero", "trained"):
                r = res[state]
                line = (f"k={k} {dtype:7s} {state:7s}: collop {r['cpu_s']:7.3f} s CPU {r['wall_s']:7.3f} s wall "
                        f"per epoch, {r['mean_substeps']:5.2f} sub-steps/frame")
                if q:
                    line += f"; quoted reference {q:4.0f} s -> {q / r['cpu_s']:6.1f}x (CPU), {q / r['wall_s']:5.1f}x (wall)"
                if plain:
                    pc = plain[state]["cpu_s"]
                    line += f"; plain PyTorch {pc:6.3f} s CPU -> {pc / r['cpu_s']:5.1f}x"
                if ps:
                    line += f"; / PS-Tensor epoch {r['cpu_s'] / ps['cpu_s']:5.2f}"
                print(line, flush=True)
            line = (f"k={k} {dtype:7s} rollout error after {2 * (a.epochs + 1)} N_u = 10 and {a.warmup_train} "
                    f"N_u = 1 epochs: collop {res['rollout_mae']:.4e} (negative mass {res['negative_mass']:.1e})")
            if plain:
                line += f"; plain PyTorch {plain['rollout_mae']:.4e} (clamped, 1 Euler step per frame)"
            print(line, flush=True)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if a.json:
        a.json.write_text(json.dumps({"data": a.data, "populations": pops, "frames": T, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
