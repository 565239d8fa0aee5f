"""The claims of Zhao et al. (PRL 2025) measured on collop's MD data: Landau, CM1 and CM2 at Gamma 2.3 and 0.23.

Three phases:

``train``
    Trains Landau, CM1 and CM2 on the training runs (uniform, bi-Maxwellian,
    double-well) of each MD file with ``collop train metriplectic`` (one
    process after another; an operator already trained in ``--out`` is kept).
``evaluate``
    Rolls every test run (and the training runs) of each file out with the
    particle solver from its MD initial velocities, measures the MD-versus-model
    energy distance (:func:`collop.kinetic.diagnostics.energy_distance`) per
    run and time, tabulates ``E_s[g_r^2]`` against ``E_s[g_s^2]`` over the
    ``(u, r)`` range holding 90 % of the training pairs, prints the tables,
    writes them as JSON and draws the figures in ``--figures``.

``known-truth``
    The scatter and bias of the weak-form Landau ``c0`` over independent
    datasets made by the solver under Landau ``c0 = 1``, by frame spacing,
    time rule and residual weights (docs/metriplectic.md, "Known truth").
``cm-truth``
    CM1 and CM2 (and Landau) fitted to one known-truth Landau dataset (3 runs x ``--n``
    particles, frames 0.1 apart, cubic rule, noise weights, 24 test functions),
    with the shape each should find printed every ``--check`` steps: CM1's
    ``g_I^2(u) u`` (truth 1) and CM2's ``E_s[g_r^2] / E_s[g_s^2]`` (truth 1,
    started at 2) over the ``(u, r)`` range holding 90 % of the pairs.

Usage::

    python benchmarks/metriplectic_claims.py train [--out runs/metriplectic_claims] [--keep last|average]
    python benchmarks/metriplectic_claims.py evaluate [--out ...] [--figures docs/figures/metriplectic]
    python benchmarks/metriplectic_claims.py known-truth [--seeds 6] [--n 20000] [--solver-angle 0.05]
    python benchmarks/metriplectic_claims.py cm-truth [--n 100000] [--models cm1,cm2]
        [--curriculum 1:0.01:6000,1:0.003:2000,1:0.001:2000] [--check 500] [--keep average|last]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = {"gamma2p3": ROOT / "data" / "md_gamma2p3.nc", "gamma0p23": ROOT / "data" / "md_gamma0p23.nc"}
TRAIN = ["uniform", "bimaxwellian", "double_well"]
TEST = ["trimodal", "chi2", "radial_oscillation", "bkw"]
MODELS = ("landau", "cm1", "cm2")
#: Adam stages ``1:lr:steps`` per model (the lr decays x0.99 every 2000 steps within a stage, Appendix B)
CURRICULA = {"landau": "1:0.01:400,1:0.002:200",
             "cm1": "1:0.01:700,1:0.003:300,1:0.001:200",
             "cm2": "1:0.01:1500,1:0.003:600,1:0.001:300"}
ORDER = [("gamma2p3", "landau"), ("gamma0p23", "landau"), ("gamma2p3", "cm1"), ("gamma2p3", "cm2"),
         ("gamma0p23", "cm1"), ("gamma0p23", "cm2")]


def _finished(run_dir: Path) -> bool:
    m = run_dir / "metrics.json"
    return m.exists() and json.loads(m.read_text()).get("status") == "finished"


def train(out: Path, pairs: int, threads: int, keep: str = "last") -> None:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "train_log.jsonl"
    for preset, model in ORDER:
        run_dir = out / f"{preset}_{model}"
        if _finished(run_dir):
            print(f"{run_dir.name}: already trained")
            continue
        cmd = [sys.executable, "-m", "collop", "train", "metriplectic", str(DATA[preset]),
               "--train", ",".join(TRAIN), "--test", "bimaxwellian", "--model", model,
               "--pairs", str(pairs), "--curriculum", CURRICULA[model], "--max-points", "500",
               "--time-rule", "trapezoid", "--weights", "equal", "--estimator", "split",
               "--keep", keep, "--threads", str(threads), "--seed", "0", "--out", str(run_dir), "-q"]
        if (run_dir / "checkpoint.pt").exists():
            cmd.append("--resume")
        t0, c0 = time.time(), os.times()
        rc = subprocess.call(cmd, cwd=str(ROOT))
        c1 = os.times()
        rec = {"run": run_dir.name, "command": " ".join(cmd), "rc": rc, "wall_s": time.time() - t0,
               "cpu_s": (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)}
        with open(log, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


def _jsonable(x):
    return x.item() if hasattr(x, "item") else str(x)


def _operators(out: Path, preset: str) -> dict:
    from collop.io import open_dataset
    from collop.operators.metriplectic import Metriplectic

    ops = {}
    for model in MODELS:
        f = out / f"{preset}_{model}" / "operator.nc"
        if f.exists():
            ds = open_dataset(f, "operator")
            ops[model] = (Metriplectic.from_dataset(ds), dict(ds.attrs))
    return ops


def _mean_s_at(kernel, u, r, n_quad: int = 32):
    """``E_s[G_r], E_s[G_s]`` at points ``(u_i, r_i)`` (the average of ``gain_table_mean_s``, pointwise)."""
    import numpy as np
    import torch

    x, w = np.polynomial.legendre.leggauss(n_quad)
    x, w = 0.5 * (x + 1), 0.5 * w
    U, X = np.meshgrid(u, x, indexing="ij")
    R = np.broadcast_to(r[:, None], U.shape)
    S = U * R * np.sqrt(1 - X * X)
    t = [torch.as_tensor(np.ascontiguousarray(z).ravel(), dtype=torch.float64).to(kernel.dtype) for z in (U, R, S)]
    Gr, Gs, _ = kernel.gains(*t)
    return ((Gr.double().numpy().reshape(U.shape) * w).sum(-1), (Gs.double().numpy().reshape(U.shape) * w).sum(-1))


def _gain_claim(op, data, n_grid: int = 24) -> dict:
    """``E_s[g_r^2]`` against ``E_s[g_s^2]`` over the (u, r) range holding 90 % of the training pairs."""
    import numpy as np
    import torch

    from collop.kinetic.diagnostics import gain_table_mean_s
    from collop.objectives.weak_form_data import pair_magnitudes

    u, r = pair_magnitudes(data, 200_000, 7)
    (u_lo, u_hi), (r_lo, r_hi) = np.quantile(u, [0.05, 0.95]), np.quantile(r, [0.05, 0.95])
    uu, rr = np.linspace(u_lo, u_hi, n_grid), np.linspace(r_lo, r_hi, n_grid)
    with torch.no_grad():
        Mr, Ms = gain_table_mean_s(op.kernel, uu, rr)
        inside = (u >= u_lo) & (u <= u_hi) & (r >= r_lo) & (r <= r_hi)
        pr, ps = _mean_s_at(op.kernel, u[inside][:20_000], r[inside][:20_000])     # at sampled pairs
    ratio = Mr / Ms
    return {"u_range": [float(u_lo), float(u_hi)], "r_range": [float(r_lo), float(r_hi)],
            "grid_fraction_gr_lt_gs": float((ratio < 1).mean()), "pair_fraction_gr_lt_gs": float((pr < ps).mean()),
            "ratio_median": float(np.median(ratio)), "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max()),
            "u": uu.tolist(), "r": rr.tolist(), "Es_gr2": Mr.tolist(), "Es_gs2": Ms.tolist()}


def evaluate(out: Path, figures: Path, angle: float, max_points: int, presets=None, runs=None) -> dict:
    import numpy as np
    import torch

    from collop.io import open_dataset
    from collop.kinetic.diagnostics import distance_series, energy_distance
    from collop.kinetic.solver import CollisionSolver
    from collop.objectives.weak_form import WeakForm, run_velocities

    torch.set_num_threads(1)
    results = {}
    for preset, path in DATA.items():
        if presets and preset not in presets:
            continue
        ds = open_dataset(path, "particles")
        ops = _operators(out, preset)
        if not ops:
            print(f"{preset}: no trained operators in {out}")
            continue
        times = np.asarray(ds["time"].values, dtype=float)
        res = {"gamma": float(ds.attrs.get("gamma", np.nan)), "times": times.tolist(), "runs": {}, "models": {},
               "data": str(path.relative_to(ROOT))}
        for model, (op, attrs) in ops.items():
            res["models"][model] = {k: attrs.get(k) for k in ("c0", "curriculum", "pairs", "time_rule", "weights",
                                                              "estimator", "train_seconds", "status")}
        for k, name in enumerate(TEST + TRAIN):
            if runs and name not in runs:
                continue
            md = run_velocities(ds, name)
            half = len(md[0]) // 2
            floor = [energy_distance(md[t, :half], md[t, half:], max_points=max_points, seed=t)
                     for t in (0, len(times) - 1)]
            frozen = [energy_distance(md[0], md[t], max_points=max_points, seed=t) for t in range(len(times))]
            entry = {"split": "test" if name in TEST else "train", "floor": floor, "frozen": frozen, "models": {}}
            for model, (op, _) in ops.items():
                t0 = time.process_time()
                solver = CollisionSolver(op.kernel, angle=angle, seed=k)
                roll = solver.rollout(md[0], times)
                cpu_roll = time.process_time() - t0
                d = distance_series(roll, md, max_points=max_points, seed=k)
                entry["models"][model] = {"energy_distance": d["energy_distance"].tolist(),
                                          "speed_l1": d["speed_l1"].tolist(), "solver_steps": int(solver.steps_),
                                          "rollout_cpu_s": cpu_roll}
                np.save(out / f"{preset}_{model}_{name}_rollout.npy", roll.astype(np.float32))
                print(f"{preset} {name:18s} {model:6s} mean ED(t>0) {np.mean(d['energy_distance'][1:]):.4f} "
                      f"steps {solver.steps_} ({cpu_roll:.0f} s CPU)", flush=True)
            res["runs"][name] = entry
        if "cm2" in ops:
            data = WeakForm.load(ds, TRAIN)
            res["gains"] = {m: _gain_claim(ops[m][0], data) for m in ops}
        results[preset] = res
    fresh = dict(results)
    if (out / "claims.json").exists():                  # keep the presets evaluated by an earlier call
        results = {**json.loads((out / "claims.json").read_text()), **results}
    (out / "claims.json").write_text(json.dumps(results, default=_jsonable))
    figures.mkdir(parents=True, exist_ok=True)
    slim = {p: {k: v for k, v in r.items() if k != "gains"} | {
        "gains": {m: {k: v for k, v in g.items() if k not in ("u", "r", "Es_gr2", "Es_gs2")}
                  for m, g in r.get("gains", {}).items()}} for p, r in results.items()}
    (figures / "claims.json").write_text(json.dumps(slim, indent=1, default=_jsonable))
    print_tables(results)
    draw(fresh, out, figures)
    return results


def print_tables(results: dict) -> None:
    import numpy as np

    for preset, res in results.items():
        times = np.asarray(res["times"])
        print(f"\n== {preset} (Gamma = {res['gamma']}) ==")
        print("fitted: " + ", ".join(f"{m} ({v.get('curriculum')})" for m, v in res["models"].items()))
        if "landau" in res["models"]:
            print(f"Landau c0 = {res['models']['landau']['c0']:.4f}")
        models = list(res["models"])
        picks = [len(times) // 4, len(times) // 2, len(times) - 1]
        head = f"{'run':20s}{'floor':>8s}{'frozen':>8s}" + "".join(f"{m + ' mean':>12s}" for m in models) + "".join(
            f"{m + f' t={times[i]:g}':>14s}" for i in picks for m in models)
        print("energy distance MD vs model (v_th); mean over frames t > 0, then at three times; floor: "
              "between the two halves of the MD sample at the end; frozen: MD(t) vs MD(0), mean over t > 0")
        print(head)
        for name, e in res["runs"].items():
            row = f"{name + ('*' if e['split'] == 'train' else ''):20s}{e['floor'][1]:8.4f}"
            row += f"{np.mean(e['frozen'][1:]) if 'frozen' in e else float('nan'):8.4f}"
            row += "".join(f"{np.mean(e['models'][m]['energy_distance'][1:]):12.4f}" for m in models)
            row += "".join(f"{e['models'][m]['energy_distance'][i]:14.4f}" for i in picks for m in models)
            print(row)
        best = {m: float(np.mean([np.mean(e["models"][m]["energy_distance"][1:])
                                  for e in res["runs"].values() if e["split"] == "test"])) for m in models}
        print("mean over test runs: " + ", ".join(f"{m} {v:.4f}" for m, v in best.items()) + "  (* = training run)")
        for m, g in res.get("gains", {}).items():
            if m == "cm2":
                print(f"CM2 E_s[g_r^2]/E_s[g_s^2] over u in [{g['u_range'][0]:.2f}, {g['u_range'][1]:.2f}], "
                      f"r in [{g['r_range'][0]:.2f}, {g['r_range'][1]:.2f}]: median {g['ratio_median']:.3f}, "
                      f"range {g['ratio_min']:.3f} .. {g['ratio_max']:.3f}; g_r^2 < g_s^2 on "
                      f"{100 * g['grid_fraction_gr_lt_gs']:.0f} % of the grid, "
                      f"{100 * g['pair_fraction_gr_lt_gs']:.0f} % of the pairs")


def draw(results: dict, out: Path, figures: Path) -> None:
    """PNG figures: E_s[g_r^2], E_s[g_s^2] and their ratio (Fig. 1); speed PDFs MD vs models (Fig. 2); distances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from collop.kinetic.diagnostics import speed_pdf

    colors = {"md": "k", "landau": "tab:blue", "cm1": "tab:green", "cm2": "tab:red"}
    for preset, res in results.items():
        g = res.get("gains", {}).get("cm2")
        if g is not None:
            u, r = np.asarray(g["u"]), np.asarray(g["r"])
            Mr, Ms = np.asarray(g["Es_gr2"]), np.asarray(g["Es_gs2"])
            fig, ax = plt.subplots(1, 3, figsize=(10, 3), dpi=80, constrained_layout=True)
            lev = np.linspace(min(Mr.min(), Ms.min()), max(Mr.max(), Ms.max()), 12)
            for a, z, t in ((ax[0], Mr, "E_s[g_r^2]"), (ax[1], Ms, "E_s[g_s^2]")):
                c = a.contourf(u, r, z.T, levels=lev, cmap="viridis")
                a.set(title=t, xlabel="u (v_th)", ylabel="r (v_th)")
            fig.colorbar(c, ax=ax[:2], shrink=0.9, label="v_th^2 omega_p")
            c = ax[2].contourf(u, r, (Mr / Ms).T, levels=12, cmap="RdBu_r")
            ax[2].contour(u, r, (Mr / Ms).T, levels=[1.0], colors="k", linewidths=1)
            ax[2].set(title="E_s[g_r^2] / E_s[g_s^2]", xlabel="u (v_th)")
            fig.colorbar(c, ax=ax[2], shrink=0.9)
            fig.suptitle(f"CM2 at Gamma = {res['gamma']} (range holding 90 % of the training pairs)")
            fig.savefig(figures / f"{preset}_cm2_gains.png")
            plt.close(fig)
        times = np.asarray(res["times"])
        tests = [n for n, e in res["runs"].items() if e["split"] == "test"]
        picks = [1, max(2, len(times) // 8)]
        fig, ax = plt.subplots(len(picks), len(tests), figsize=(3.0 * len(tests), 2.4 * len(picks)), dpi=80,
                               constrained_layout=True, squeeze=False)
        edges = np.linspace(0, 4.5, 46)
        mid = 0.5 * (edges[1:] + edges[:-1])
        from collop.io import open_dataset
        from collop.objectives.weak_form import run_velocities

        ds = open_dataset(ROOT / res["data"], "particles")
        for j, name in enumerate(tests):
            md = run_velocities(ds, name)
            for i, ti in enumerate(picks):
                a = ax[i, j]
                a.plot(mid, speed_pdf(md[ti], edges), color=colors["md"], lw=2, label="MD")
                for m in res["models"]:
                    f = out / f"{preset}_{m}_{name}_rollout.npy"
                    if f.exists():
                        a.plot(mid, speed_pdf(np.load(f)[ti], edges), color=colors[m], lw=1, label=m)
                a.set_title(f"{name}, t = {times[ti]:g}", fontsize=9)
                if i == len(picks) - 1:
                    a.set_xlabel("|v| (v_th)")
        ax[0, 0].legend(fontsize=7)
        fig.suptitle(f"Speed PDFs, MD against the models, Gamma = {res['gamma']}")
        fig.savefig(figures / f"{preset}_speed_pdfs.png")
        plt.close(fig)
        fig, ax = plt.subplots(1, len(tests), figsize=(3.0 * len(tests), 2.5), dpi=80, constrained_layout=True,
                               squeeze=False)
        for j, name in enumerate(tests):
            e = res["runs"][name]
            for m in res["models"]:
                ax[0, j].plot(times, e["models"][m]["energy_distance"], color=colors[m], label=m)
            ax[0, j].axhline(e["floor"][1], color="0.5", ls=":", label="MD halves")
            if "frozen" in e:
                ax[0, j].plot(times, e["frozen"], color="0.6", ls="--", label="MD(0)")
            ax[0, j].set(title=name, xlabel="t (1/omega_p)")
        ax[0, 0].set_ylabel("energy distance (v_th)")
        ax[0, 0].legend(fontsize=7)
        fig.savefig(figures / f"{preset}_distance.png")
        plt.close(fig)


def known_truth_ensemble(seeds: int, n: int, angle: float, out: Path) -> None:
    """Scatter and bias of the weak-form Landau ``c0`` over independent known-truth datasets (c0 = 1).

    Each dataset: the three training distributions, ``n`` particles each, rolled out by the solver under
    Landau ``c0 = 1`` to ``t = 2`` with frames 0.1 apart (also analysed at 0.2: every other frame). For each
    frame spacing, time rule and weighting, ``c0`` is the least-squares minimum of the loss, with the model
    side from 6e6 pairs split into two independent halves.
    """
    import collections

    import numpy as np
    import torch

    from collop.kinetic.kernels import LandauKernel
    from collop.kinetic.rollout import known_truth
    from collop.kinetic.testfunctions import PAPER_TEST_FUNCTIONS, TestFunctions
    from collop.kinetic.weakform import TIME_RULES, md_side, time_weights
    from collop.objectives.weak_form import WeakForm, WeakFormOptions, noise_weights
    from collop.operators.metriplectic import Metriplectic

    torch.set_num_threads(1)
    rows = []
    for s in range(seeds):
        ds = known_truth(LandauKernel(1.0), runs=TRAIN, n=n, times=np.linspace(0, 2, 21), angle=angle,
                         seed=1000 + s)
        for stride in (1, 2):
            data = WeakForm.load(ds.isel(time=slice(None, None, stride)), TRAIN)
            tf = TestFunctions(PAPER_TEST_FUNCTIONS, data.v_scale)
            wf = WeakForm(WeakFormOptions(pairs=2_000_000))
            wf.prepare(data)
            op = Metriplectic(LandauKernel(1.0, data.v_scale))
            torch.manual_seed(s)
            with torch.no_grad():
                parts = [wf._frame_sums(op) for _ in range(3)]
            S = sum(p[0].double().numpy() for p in parts)
            cnt = sum(p[1].double().numpy() for p in parts)
            b = (S / cnt[..., None]).reshape(2, wf.M, wf.T, -1)
            a = md_side(data.v, data.times, tf)
            weights = {"equal": np.ones_like(a), "noise": noise_weights(data.v, data.times, tf)}
            for rule in TIME_RULES:
                x = np.einsum("lt,hmtk->hmlk", time_weights(data.times, rule), b)
                for wn, w in weights.items():
                    c0 = float((w * a * x.mean(0)).sum() / (w * x[0] * x[1]).sum())
                    rows.append({"seed": s, "dt": float(np.diff(data.times)[0]), "rule": rule, "weights": wn,
                                 "c0": c0})
        print(f"dataset {s + 1}/{seeds} done", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "known_truth_ensemble.json").write_text(json.dumps(rows))
    g = collections.defaultdict(list)
    for r in rows:
        g[(r["dt"], r["rule"], r["weights"])].append(r["c0"])
    print(f"Landau c0 (truth 1) over {seeds} datasets of 3 runs x {n} particles, solver angle {angle}")
    print(f"{'dt':>5s} {'rule':>10s} {'weights':>8s} {'mean':>8s} {'sd':>8s} {'se':>8s}")
    for (dt, rule, wn), v in sorted(g.items()):
        v = np.asarray(v)
        sd = v.std(ddof=1) if v.size > 1 else float("nan")
        print(f"{dt:5.2f} {rule:>10s} {wn:>8s} {v.mean():8.4f} {sd:8.4f} {sd / np.sqrt(v.size):8.4f}")


def sharp(out: Path, preset: str, frames: list[int], runs=None) -> None:
    """Energy distance on all particles at a few frames, from the rollouts that ``evaluate`` saved.

    With all 1e4 particles the floor (MD halves) is about half that of 1500-particle subsets.
    """
    import numpy as np

    from collop.io import open_dataset
    from collop.kinetic.diagnostics import energy_distance
    from collop.objectives.weak_form import run_velocities

    ds = open_dataset(DATA[preset], "particles")
    times = np.asarray(ds["time"].values, dtype=float)
    rows = {}
    print(f"== {preset}: energy distance on all particles (v_th) at t = {', '.join(f'{times[i]:g}' for i in frames)}")
    print(f"{'run':20s}{'model':>8s}" + "".join(f"{times[i]:>9g}" for i in frames))
    for name in runs or TEST + TRAIN:
        md = run_velocities(ds, name)
        half = md.shape[1] // 2
        lines = {"floor": [energy_distance(md[i, :half], md[i, half:], max_points=None) for i in frames],
                 "frozen": [energy_distance(md[0], md[i], max_points=None) for i in frames]}
        for model in MODELS:
            f = out / f"{preset}_{model}_{name}_rollout.npy"
            if f.exists():
                roll = np.load(f)
                lines[model] = [energy_distance(roll[i], md[i], max_points=None) for i in frames]
        for k, v in lines.items():
            print(f"{name:20s}{k:>8s}" + "".join(f"{x:9.4f}" for x in v), flush=True)
        rows[name] = lines
    (out / f"sharp_{preset}.json").write_text(json.dumps({"times": [float(times[i]) for i in frames], "runs": rows}))


def cm_truth(n: int, models: list[str], curriculum: str, check: int, pairs: int, threads: int, out: Path,
             keep: str = "last") -> None:
    """CM1 and CM2 on a known-truth Landau dataset: does the weak form find the Landau shape, and how fast.

    The dataset is the slow tests' (``tests/objectives/test_weak_form.py``): the three training
    distributions rolled out by the solver under Landau ``c0 = 1`` to ``t = 2``, frames 0.1 apart, solver
    angle 0.05, seed 0. CM1 is started at ``g_I = 1`` (its default), CM2 at ``g_r^2 = 2 g_s^2``. The
    checks show the current iterate; the last line the weights the training keeps (``keep``).
    """
    import numpy as np
    import torch

    from collop.kinetic.diagnostics import gain_table_mean_s
    from collop.kinetic.kernels import LandauKernel
    from collop.kinetic.rollout import known_truth
    from collop.kinetic.testfunctions import RICH_TEST_FUNCTIONS
    from collop.objectives.weak_form import WeakForm, WeakFormOptions
    from collop.objectives.weak_form_data import central_ranges
    from collop.operators.metriplectic import Metriplectic, MetriplecticOptions
    from collop.train import Trainer, parse_curriculum

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    ds = known_truth(LandauKernel(1.0), runs=TRAIN, n=n, times=np.linspace(0, 2, 21), angle=0.05, seed=0)
    data = WeakForm.load(ds, TRAIN)
    uq, rq = central_ranges(data)
    uu, rr = np.linspace(*uq, 24), np.linspace(*rq, 24)
    print(f"known truth: 3 runs x {n} particles, built in {time.perf_counter() - t0:.0f} s; "
          f"u in [{uq[0]:.2f}, {uq[1]:.2f}], r in [{rq[0]:.2f}, {rq[1]:.2f}] (90 % of the pairs)", flush=True)
    results = {"n": n, "curriculum": curriculum, "pairs": pairs, "u_range": list(map(float, uq)),
               "r_range": list(map(float, rq)), "models": {}}

    def shape(op, model):
        with torch.no_grad():
            if model in ("landau", "cm1"):
                g = op.isotropic_part(uu) * uu                       # g_I^2(u) u (Landau: c0), truth 1
                return {"min": float(g.min()), "max": float(g.max()), "median": float(np.median(g))}
            Mr, Ms = gain_table_mean_s(op.kernel, uu, rr)
            q = Mr / Ms                                              # truth 1
            return {"min": float(q.min()), "max": float(q.max()), "median": float(np.median(q))}

    for model in models:
        op = Metriplectic.from_options(MetriplecticOptions(model=model), data, seed=0)
        if model == "cm2":
            with torch.no_grad():
                op.kernel.net.weights()[-1][1][0].fill_(2.0 ** 0.5)      # g_r = sqrt(2) g_s at the start
        obj = WeakForm(WeakFormOptions(pairs=pairs, test_functions=";".join(RICH_TEST_FUNCTIONS),
                                       time_rule="cubic", weights="noise", keep=keep))
        log = [{"step": 0, "wall_s": 0.0, **shape(op, model)}]
        what = "E_s[g_r^2]/E_s[g_s^2]" if model == "cm2" else "g_I^2(u) u"
        print(f"== {model}: {what} over the central range (truth 1); step 0: median {log[0]['median']:.3f}",
              flush=True)
        start = time.perf_counter()

        def cb(ev, op=op, model=model, log=log, start=start):
            if ev.get("event") != "epoch" or (ev["epoch"] + 1) % check:
                return
            row = {"step": ev["epoch"] + 1, "wall_s": time.perf_counter() - start, "loss": ev["loss"],
                   **shape(op, model)}
            log.append(row)
            print(f"  step {row['step']:6d} {row['wall_s']:7.0f} s  loss {row['loss']:.3e}  "
                  f"median {row['median']:.3f}  range {row['min']:.3f} .. {row['max']:.3f}", flush=True)

        Trainer(parse_curriculum(curriculum), objective=obj, callback=cb, snapshot_every=0,
                checkpoint_every=0).fit(op, data)
        kept = shape(op, model)
        print(f"  kept ({keep}): median {kept['median']:.3f}  range {kept['min']:.3f} .. {kept['max']:.3f}",
              flush=True)
        results["models"][model] = {"log": log, "kept": kept, "keep": keep}
    out.mkdir(parents=True, exist_ok=True)
    (out / "cm_truth.json").write_text(json.dumps(results))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phase", choices=["train", "evaluate", "known-truth", "sharp", "cm-truth"])
    p.add_argument("--frames", type=lambda x: [int(i) for i in x.split(",")], default=[1, 2, 3, 5],
                   help="sharp: frame indices")
    p.add_argument("--seeds", type=int, default=6, help="known-truth: datasets")
    p.add_argument("--n", type=int, default=None,
                   help="known-truth, cm-truth: particles per run (default 20000 and 100000)")
    p.add_argument("--models", type=lambda x: x.split(","), default=["cm1", "cm2"], help="cm-truth: models")
    p.add_argument("--curriculum", default="1:0.01:6000,1:0.003:2000,1:0.001:2000", help="cm-truth: Adam stages")
    p.add_argument("--keep", choices=["last", "average"], default=None,
                   help="weights kept per stage (train: default last; cm-truth: default average)")
    p.add_argument("--check", type=int, default=500, help="cm-truth: steps between shape checks")
    p.add_argument("--solver-angle", type=float, default=0.05, help="known-truth: solver angle of the data")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "metriplectic_claims")
    p.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures" / "metriplectic")
    p.add_argument("--pairs", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--angle", type=float, default=0.1, help="solver: median pair rotation per step (rad)")
    p.add_argument("--max-points", type=int, default=2000, help="particles per sample in the energy distance")
    p.add_argument("--presets", type=lambda x: x.split(","), default=None, help="evaluate: presets (default all)")
    p.add_argument("--runs", type=lambda x: x.split(","), default=None, help="evaluate: runs (default all)")
    a = p.parse_args(argv)
    if a.phase == "train":
        train(a.out, a.pairs, a.threads, a.keep or "last")
    elif a.phase == "sharp":
        for preset in a.presets or list(DATA):
            sharp(a.out, preset, a.frames, a.runs)
    elif a.phase == "cm-truth":
        cm_truth(a.n or 100_000, a.models, a.curriculum, a.check, a.pairs, a.threads, a.out, a.keep or "average")
    elif a.phase == "known-truth":
        known_truth_ensemble(a.seeds, a.n or 20_000, a.solver_angle, a.out)
    else:
        evaluate(a.out, a.figures, a.angle, a.max_points, a.presets, a.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
