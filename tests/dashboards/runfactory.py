"""Finished run folders made directly (no training), for the app's tests and screenshots.

A run folder here holds what a finished training leaves (``run.json`` with
``params``, ``metrics.json``, ``events.jsonl`` with stage and epoch events,
``operator.nc``), written through :class:`collop.runs.RunFolder`. The
operator is the shipped true Langevin operator with its coefficients scaled,
and the per-population errors are made-up fixture numbers: these runs test
the app's handling of runs, not physics.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from collop.io import write_dataset
from collop.runs import RunFolder, to_json

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "langevin.nc"
TRUTH = ROOT / "data" / "langevin_truth.nc"
TRAIN = ["uniform_-5_5_-5_5", "uniform_-5_0_-5_0", "normal_0_0", "normal_-1_-1", "normal_-1_0"]
TEST = ["normal_-2_-2", "normal_-2_0", "normal_rot45", "ring_1.0", "ring_1.5"]


def make_run(runs_root, run_id: str, *, method: str = "ps-tensor", data=DATA, train=TRAIN, test=TEST,
             scale: float = 1.0, curriculum: str = "1:0.01:40,2:0.01:20", errors=None, seed: int = 0,
             symmetry: str = "isotropic", status: str = "finished") -> Path:
    """A finished run of ``method`` on ``data`` whose operator is the true one with D scaled by ``scale``."""
    folder = RunFolder(Path(runs_root) / run_id)
    model = {"ps-tensor": "tensor", "ps-nn": "nn"}.get(method)
    if method == "tracks":
        params = {"data": str(data), "particles": str(Path(data).with_name("langevin_particles.nc")),
                  "test": list(test), "ndump": 1, "symmetry": symmetry}
        stages = [(0, 0)]
    else:
        params = {"data": str(data), "train": list(train), "test": list(test), "family": "fokker_planck",
                  "model": model, "symmetry": symmetry, "nt": None, "reg": 0.0, "reg_velocity": 0.0,
                  "smooth": 0.0, "seed": seed, "curriculum": curriculum, "threads": 1}
        stages = [(int(s.split(":")[2]), int(s.split(":")[0])) for s in curriculum.split(",")]
    folder.create("tracks" if method == "tracks" else "train", params, str(data), method=method)
    with xr.open_dataset(TRUTH) as t:
        op = t.load()
    op = op.assign(D_par=op["D_par"] * scale, D_perp=op["D_perp"] * scale)
    op.attrs.update(method=method, source=f"tests/dashboards/runfactory.py ({run_id})")
    if method == "tracks":
        n = np.where(op["speed"].values < 3.0, 500.0, 0.0)[None, :] * np.ones((op.sizes["time"], 1))
        op["n_samples"] = (("time", "speed"), n)
        op.attrs["min_count"] = 10
        for name in ("A_par", "D_par", "D_perp"):
            op[name] = op[name].where(n >= 10, 0.0)          # what the estimator leaves where it has no particles
    write_dataset(op, folder.path / "operator.nc")
    total = 0
    for s, (epochs, nu) in enumerate(stages):
        folder.append_event({"event": "stage", "stage": s, "n_stages": len(stages), "n_unroll": nu, "lr": 0.01,
                             "epochs": epochs})
        for e in range(epochs):
            total += 1
            folder.append_event({"event": "epoch", "stage": s, "epoch": e, "loss": 0.05 * np.exp(-total / 30),
                                 "seconds": 0.05 * total})
    errs = errors or {p: 0.01 * (1 + k) * scale for k, p in enumerate(test)}
    vals = np.asarray(list(errs.values()))
    metrics = {"rollout_mae": float(vals.mean()), "rollout_mae_std": float(vals.std()),
               "per_population": errs, "epochs": total, "method": method}
    (folder.path / "metrics.json").write_text(to_json(metrics) + "\n")
    folder.append_event({"event": "done", "status": status, "message": ""})
    folder.set_status(status, metrics=metrics)
    info = json.loads(folder.run_file.read_text())
    assert info["status"] == status
    return folder.path
