"""Reproduce the paper's Section 3.1 / Appendix D comparisons on a phase-space file.

For each dataset (default ``data/sim1.nc`` and ``data/sim2.nc``):

- **Fig. 7 analogue.** Tracks (``collop tracks``) for every ``N_dump`` in
  ``--ndump``, overlapping and non-overlapping intervals, scored by the
  rollout error on all populations.
- **Table 1 / Table 5 analogue.** Rollout error (mean +- std over the test
  populations) of Tracks at its best ``N_dump``, PS-Tensor and PS-NN
  (``collop train fp`` with the full Table-2 curricula, trained on the
  ``N_dists = 5`` populations of Table 4, tested on all of them).
- **Fig. 2 analogue.** A_par, D_par, D_perp against speed at several times
  for the three methods, and the radial distribution f(v) of one population
  at several times.

Every training and every Tracks estimate is a ``collop`` command run in its
own process (``--workers`` at a time, one thread each), so the figures are
those a user gets from the command line. Run folders go to ``--runs``; the
figures and a JSON summary go to ``--out``; a markdown summary is printed.

Usage::

    python benchmarks/reproduce_pic.py [--data data/sim1.nc,data/sim2.nc]
        [--ndump 1,2,5,10,20] [--workers 2] [--quick] [--out docs/figures]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from collop.io import open_dataset  # noqa: E402
from collop.metrics import speed_support  # noqa: E402
from collop.moments import radial_distribution  # noqa: E402
from collop.phasespace import TABLE4  # noqa: E402

#: Table 4, N_dists = 5: the training populations of the paper's main results.
TRAIN = TABLE4[:5]
QUICK_CURRICULA = {"tensor": "1:1e-2:200,2:1e-2:50,5:1e-2:50", "nn": "1:1e-3:150,2:1e-4:50,5:1e-4:50"}


def _collop(args, log: Path) -> tuple[int, float]:
    """Run ``collop ARGS`` (one thread, quiet) in a new process; return (exit status, seconds)."""
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with open(log, "w") as fh:
        rc = subprocess.call([sys.executable, "-m", "collop", "--threads", "1", "-q", *args],
                             stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return rc, time.perf_counter() - t0


def _metrics(run: Path) -> dict | None:
    path = run / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def _jobs(data: Path, particles: Path, ndumps, runs: Path, quick: bool, smooth: float, seed: int,
          methods=("ps-tensor", "ps-nn", "tracks"), curricula=None):
    """(name, args, run folder) of every command for one dataset."""
    jobs = []
    for model in ("tensor", "nn"):
        if f"ps-{model}" not in methods:
            continue
        run = runs / f"ps-{model}"
        args = ["train", "fp", str(data), "--train", ",".join(TRAIN), "--model", model,
                "--seed", str(seed), "--smooth", str(smooth), "--out", str(run)]
        spec = (curricula or {}).get(model) or (QUICK_CURRICULA[model] if quick else None)
        if spec:
            args += ["--curriculum", spec]
        jobs.append((f"ps-{model}", args, run))
    if "tracks" not in methods:
        return jobs
    for n in ndumps:
        for overlap in (False, True):
            run = runs / f"tracks-nd{n}{'-overlap' if overlap else ''}"
            args = ["tracks", str(particles), "--ndump", str(n), "--grid-from", str(data),
                    "--data", str(data), "--out", str(run)] + (["--overlap"] if overlap else [])
            jobs.append((run.name, args, run))
    return jobs


def plan(data: Path, ndumps, runs: Path, quick: bool, smooth: float, seed: int, particles: Path | None = None,
         methods=("ps-tensor", "ps-nn", "tracks"), curricula=None):
    """The commands for one dataset: (jobs, particles file, N_dump values used)."""
    ds = open_dataset(data, "phasespace", load=False)
    pfile = ds.attrs.get("particles_file") or f"{data.stem}_particles.nc"
    n_frames = ds.sizes["time"]
    ds.close()
    particles = Path(particles) if particles else (data.parent / pfile).resolve()
    if not particles.exists():
        raise SystemExit(f"{data}: no particles file {particles} for Tracks")
    ndumps = [n for n in ndumps if n < n_frames]
    runs.mkdir(parents=True, exist_ok=True)
    return _jobs(data, particles, ndumps, runs, quick, smooth, seed, methods, curricula), particles


def execute(jobs, workers: int, force: bool) -> None:
    """Run the commands whose metrics are missing (or all with ``force``), ``workers`` at a time."""
    todo = [j for j in jobs if force or _metrics(j[2]) is None]
    print(f"{len(jobs)} commands, {len(todo)} to run ({workers} at a time)", flush=True)

    def work(job):
        name, args, run = job
        if run.exists():
            shutil.rmtree(run)
        rc, sec = _collop(args, run.parent / f"{name}.log")
        print(f"  {run.parent.name}/{name}: exit {rc}, {sec:.0f} s", flush=True)

    # trainings first: they are the long poles
    todo.sort(key=lambda j: not j[0].startswith("ps-"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, todo))


def summarize(data: Path, particles: Path, jobs, quick: bool, smooth: float, seed: int) -> dict:
    """Rollout errors of every command's run folder; the best non-overlapping Tracks; ratios."""
    out = {"data": str(data), "particles": str(particles), "train": TRAIN, "quick": quick,
           "smooth": smooth, "seed": seed, "tracks": {}, "methods": {}}
    for name, _, run in jobs:
        m = _metrics(run)
        if m is None:
            out.setdefault("failed", []).append(name)
            continue
        entry = {"rollout_mae": m["rollout_mae"], "rollout_mae_std": m["rollout_mae_std"],
                 "rollout_l1_rel": m.get("rollout_l1_rel"), "seconds": m.get("train_seconds"),
                 "per_population": m.get("per_population"), "run": str(run)}
        if name.startswith("tracks"):
            entry.update(ndump=m["ndump"], overlap=m["overlap"])
            out["tracks"][name] = entry
        else:
            out["methods"][name] = entry
    non = {k: v for k, v in out["tracks"].items() if not v["overlap"]}
    if non:
        best = min(non, key=lambda k: non[k]["rollout_mae"])
        out["methods"]["tracks"] = {**non[best], "best_of": sorted(v["ndump"] for v in non.values())}
    if "tracks" in out["methods"]:
        for k in ("ps-tensor", "ps-nn"):
            if k in out["methods"]:
                out["methods"][k]["ratio_to_best_tracks"] = (out["methods"][k]["rollout_mae"]
                                                             / out["methods"]["tracks"]["rollout_mae"])
    return out


def figures(summary: dict, out: Path) -> list[Path]:
    """Fig. 7 and Fig. 2 analogues for one dataset (matplotlib, PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = Path(summary["data"])
    stem = data.stem
    paths = []

    # Fig. 7: Tracks rollout error against N_dump, with the learned methods as lines
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for overlap, style in ((False, "o-"), (True, "s--")):
        pts = sorted((v["ndump"], v["rollout_mae"]) for v in summary["tracks"].values()
                     if v["overlap"] == overlap)
        if pts:
            ax.plot(*zip(*pts), style, label=f"Tracks, {'overlapping' if overlap else 'non-overlapping'}")
    for k, color in (("ps-tensor", "C2"), ("ps-nn", "C3")):
        if k in summary["methods"]:
            ax.axhline(summary["methods"][k]["rollout_mae"], color=color, label=k.upper())
    ax.set(xscale="log", yscale="log", xlabel="N_dump", ylabel="rollout MAE", title=f"{stem}: Tracks vs N_dump")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / f"{stem}_fig7_tracks_ndump.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # Fig. 2: coefficients at several times, and radial f(v)
    ds = open_dataset(data, "phasespace")
    support = speed_support(ds, "all", min_fraction=1e-3)
    T = ds["time"].values
    times = T[np.linspace(0, T.size - 2, 4).round().astype(int)]
    ops = {}
    for k in ("tracks", "ps-tensor", "ps-nn"):
        if k in summary["methods"]:
            ops[k] = open_dataset(Path(summary["methods"][k]["run"]) / "operator.nc", "operator")
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    styles = {"tracks": ":", "ps-tensor": "--", "ps-nn": "-"}
    for ax, name in zip(axes[:3], ("A_par", "D_par", "D_perp")):
        for i, t in enumerate(times):
            sup = support.sel(time=t, method="nearest")
            vmax = float(sup["speed"].values[sup.values].max()) if sup.values.any() else None
            for k, op in ops.items():
                da = op[name]
                da = da.interp(time=np.clip(t, da.time.values[0], da.time.values[-1])) if da.sizes["time"] > 1 \
                    else da.isel(time=0)
                sel = da.sel(speed=slice(0, vmax))
                ax.plot(sel["speed"], sel, styles[k], color=f"C{i}",
                        label=f"{k}, t={t:g}" if name == "A_par" else None)
        ax.set(xlabel=f"|v| ({ds.attrs['velocity_units']})", title=name)
    axes[0].legend(fontsize=6, ncol=2)
    pop = TRAIN[0]
    fr = radial_distribution(ds["f"].sel(population=pop).isel(time=np.linspace(0, T.size - 1, 5).round().astype(int)))
    for t in fr["time"].values:
        axes[3].plot(fr["speed"], fr.sel(time=t), label=f"t={t:g}")
    axes[3].set(xlabel=f"|v| ({ds.attrs['velocity_units']})", title=f"f(v) of {pop}")
    axes[3].legend(fontsize=7)
    fig.suptitle(f"{stem}: coefficients ({', '.join(ops)}) and radial distribution", fontsize=9)
    fig.tight_layout()
    paths.append(out / f"{stem}_fig2_coefficients.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def markdown(summary: dict) -> str:
    """The Table 1 analogue and the Tracks sweep of one dataset, as markdown."""
    name = Path(summary["data"]).stem
    lines = [f"### {name}", "", "| method | rollout MAE (mean +- std) | rollout L1 rel | ratio to best Tracks | seconds |",
             "|---|---|---|---|---|"]
    for k in ("tracks", "ps-tensor", "ps-nn"):
        m = summary["methods"].get(k)
        if m is None:
            continue
        label = f"Tracks (N_dump={m['ndump']})" if k == "tracks" else k.upper()
        ratio = f"{m['ratio_to_best_tracks']:.2f}" if "ratio_to_best_tracks" in m else "1"
        l1 = f"{m['rollout_l1_rel']:.4f}" if m.get("rollout_l1_rel") is not None else "-"
        sec = f"{m['seconds']:.0f}" if m.get("seconds") is not None else "-"
        lines.append(f"| {label} | {m['rollout_mae']:.3e} +- {m['rollout_mae_std']:.1e} | {l1} | {ratio} | {sec} |")
    lines += ["", "| N_dump | non-overlapping | overlapping |", "|---|---|---|"]
    nd = sorted({v["ndump"] for v in summary["tracks"].values()})
    for n in nd:
        cell = {v["overlap"]: f"{v['rollout_mae']:.3e}" for v in summary["tracks"].values() if v["ndump"] == n}
        lines.append(f"| {n} | {cell.get(False, '-')} | {cell.get(True, '-')} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/sim1.nc,data/sim2.nc")
    p.add_argument("--ndump", default="1,2,5,10,20")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="short curricula (a smoke run, not the result)")
    p.add_argument("--smooth", type=float, default=0.0, help="--smooth of collop train fp (default 0, the paper's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs/reproduce")
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--force", action="store_true", help="rerun commands whose metrics exist")
    p.add_argument("--methods", default="ps-tensor,ps-nn,tracks", help="which methods to run (all are summarised)")
    p.add_argument("--tensor-curriculum", default=None, help="curriculum of PS-Tensor (default Table 2)")
    p.add_argument("--nn-curriculum", default=None, help="curriculum of PS-NN (default Table 2)")
    p.add_argument("--particles", default=None,
                   help="particles file(s) for Tracks, one per --data (default: the file's particles_file, "
                        "e.g. the shipped subset; the full dumps give the paper's Tracks)")
    a = p.parse_args(argv)
    out = (ROOT / a.out) if not os.path.isabs(a.out) else Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ndumps = [int(x) for x in a.ndump.split(",")]
    datas = [(ROOT / d) if not os.path.isabs(d) else Path(d) for d in a.data.split(",")]
    parts = a.particles.split(",") if a.particles else [None] * len(datas)
    if len(parts) != len(datas):
        raise SystemExit("--particles needs one file per --data file")
    runs_root = ROOT / a.runs if not os.path.isabs(a.runs) else Path(a.runs)
    methods = a.methods.split(",")
    curricula = {"tensor": a.tensor_curriculum, "nn": a.nn_curriculum}
    plans = [(d, *plan(d, ndumps, runs_root / d.stem, a.quick, a.smooth, a.seed, pf, methods, curricula))
             for d, pf in zip(datas, parts)]
    execute([j for _, jobs, _ in plans for j in jobs], a.workers, a.force)
    for data, _, particles in plans:
        # the summary covers every method's run folder, also those of earlier invocations
        jobs, _ = plan(data, ndumps, runs_root / data.stem, a.quick, a.smooth, a.seed, particles,
                       ("ps-tensor", "ps-nn", "tracks"), curricula)
        s = summarize(data, particles, jobs, a.quick, a.smooth, a.seed)
        s["figures"] = [str(x.relative_to(ROOT) if x.is_relative_to(ROOT) else x) for x in figures(s, out)]
        (out / f"{data.stem}_reproduce.json").write_text(json.dumps(s, indent=2) + "\n")
        print(markdown(s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
