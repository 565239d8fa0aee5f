"""How much the D_xy cross term of a full Fokker-Planck operator matters on a data set.

The paper's claim that a forward k = 2 kernel "is" advection-diffusion holds
for diagonal D only: the centred cross term d_y(D_xy f) on the x-faces spans
three cells in y, which a k = 2 window cannot hold (``collop.operators.kernel``
Notes). This script takes Fokker-Planck operator files (e.g. ``collop tracks
... --symmetry full`` or ``--symmetry isotropic``; an isotropic one is first
written out on the data's grid as ``*_full.nc``), writes a copy of each with
``D_xy = D_yx = 0`` next to it (``*_nodxy.nc``), scores both with
``collop evaluate`` on the test populations, and prints

* the rollout errors with and without the cross term and their ratio;
* the size of the cross term where the data live: over the bins that hold the
  particles (weights: the summed start frames of the data file's populations),
  the weighted means of |D_xy|, D_xx and D_yy, the ratio
  <|D_xy|> / <(D_xx + D_yy)/2>, and the weighted median of
  |D_xy| / sqrt(D_xx D_yy) over bins where both diagonal entries are positive.

Usage::

    python benchmarks/kernel_cross_term.py --data data/sim3_split.nc --test POPS \\
        /tmp/tracks_n5/operator.nc [/tmp/tracks_n10/operator.nc ...] [--json OUT]

Each ``collop evaluate`` runs in its own process with one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent


def as_full(path: Path, data: Path) -> Path:
    """An isotropic operator file as a full one on the data's grid (``<stem>_full.nc``); a full one as is.

    The isotropic form ``D = D_par v_hat v_hat^T + D_perp (I - v_hat v_hat^T)`` has
    ``D_xy = (D_par - D_perp) v_x v_y / v^2``: the cross term an isotropic
    operator carries, free of the sampling noise of a full-symmetry estimate.
    """
    from collop.datasets import full_operator_dataset
    from collop.grid import VelocityGrid
    from collop.io import open_dataset, write_dataset
    from collop.operators.fokker_planck import FokkerPlanck

    ds = open_dataset(path, "operator")
    if ds.attrs.get("operator") != "fokker_planck_isotropic":
        return path
    grid = VelocityGrid.from_dataset(open_dataset(data, "phasespace"))
    t = ds["time"].values
    maps = FokkerPlanck.from_dataset(ds).coefficient_maps(grid, t).detach().numpy()        # (T, 5, N, M)
    A = maps[:, :2]
    D = np.stack([np.stack([maps[:, 2], maps[:, 4]], 1), np.stack([maps[:, 4], maps[:, 3]], 1)], 1)
    extra = {k: v for k, v in ds.attrs.items() if k not in ("collop_kind", "operator", "method", "velocity_units",
                                                               "time_units", "source")}
    full = full_operator_dataset(t, grid.vx, grid.vy, A, D, method=ds.attrs.get("method", "file"),
                                 velocity_units=ds.attrs["velocity_units"], time_units=ds.attrs["time_units"],
                                 source=str(path), attrs={**extra, "note": f"{path.name} on the grid of {data.name}"})
    out = path.with_name(path.stem + "_full.nc")
    write_dataset(full, out)
    return out


def without_cross_term(path: Path) -> Path:
    """Write ``<stem>_nodxy.nc`` beside ``path``: the same operator with ``D_xy = D_yx = 0``."""
    from collop.io import open_dataset, write_dataset

    ds = open_dataset(path, "operator").load()
    if "D" not in ds or ds.attrs.get("operator") != "fokker_planck_full":
        sys.exit(f"{path}: not a full Fokker-Planck operator (variable D(time, component, component2, vx, vy))")
    D = ds["D"].copy()
    D.loc[dict(component="x", component2="y")] = 0.0
    D.loc[dict(component="y", component2="x")] = 0.0
    out = path.with_name(path.stem + "_nodxy.nc")
    nd = ds.assign(D=D)
    nd.attrs["note"] = f"{path.name} with D_xy = D_yx = 0"
    write_dataset(nd, out)
    return out


def cross_term_size(op_path: Path, data: Path, test: list[str]) -> dict:
    """Weighted size of D_xy relative to the diagonal, where the data's particles are."""
    from collop.io import open_dataset

    op = open_dataset(op_path, "operator").load()
    ds = open_dataset(data, "phasespace")
    w = ds["f"].sel(population=test).isel(time=0).sum("population").values.astype(float)   # (vx, vy)
    D = op["D"].mean("time")                    # the estimate averaged over its time intervals
    dxx = D.sel(component="x", component2="x").values
    dyy = D.sel(component="y", component2="y").values
    dxy = D.sel(component="x", component2="y").values
    ok = np.isfinite(dxx) & np.isfinite(dyy) & np.isfinite(dxy)
    ww = np.where(ok, w, 0.0)
    ww = ww / ww.sum()
    mean = lambda a: float(np.sum(ww * np.where(ok, a, 0.0)))          # noqa: E731
    pos = ok & (dxx > 0) & (dyy > 0)
    r = np.abs(dxy[pos]) / np.sqrt(dxx[pos] * dyy[pos])
    order = np.argsort(r)
    cw = np.cumsum(ww[pos][order])
    med = float(r[order][np.searchsorted(cw, 0.5 * cw[-1])]) if r.size else float("nan")
    p90 = float(r[order][np.searchsorted(cw, 0.9 * cw[-1])]) if r.size else float("nan")
    return {"mean_abs_Dxy": mean(np.abs(dxy)), "mean_Dxx": mean(dxx), "mean_Dyy": mean(dyy),
            "abs_Dxy_over_diag": mean(np.abs(dxy)) / (0.5 * (mean(dxx) + mean(dyy))),
            "median_abs_Dxy_over_sqrt_DxxDyy": med, "p90_abs_Dxy_over_sqrt_DxxDyy": p90}


def evaluate(op: Path, data: Path, test: list[str]) -> dict:
    cmd = [sys.executable, "-m", "collop", "-q", "evaluate", "--operator", str(op), "--data", str(data),
           "--populations", ",".join(test)]
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("operators", nargs="+", type=Path, help="full Fokker-Planck operator files")
    ap.add_argument("--data", type=Path, required=True, help="phase-space file to score on")
    ap.add_argument("--test", required=True, help="test populations, comma-separated")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    a = ap.parse_args(argv)
    test = [t for t in a.test.split(",") if t]
    rows = []
    for given in a.operators:
        op = as_full(given, a.data)
        nodxy = without_cross_term(op)
        full, diag = evaluate(op, a.data, test), evaluate(nodxy, a.data, test)
        size = cross_term_size(op, a.data, test)
        attrs = xr.open_dataset(given).attrs
        row = {"operator": str(given), "form": attrs.get("operator"), "ndump": int(attrs.get("ndump", -1)),
               "with_Dxy": {k: full[k] for k in ("rollout_mae", "rollout_mae_std", "rollout_l1_rel")},
               "without_Dxy": {k: diag[k] for k in ("rollout_mae", "rollout_mae_std", "rollout_l1_rel")},
               "ratio_without_over_with": diag["rollout_mae"] / full["rollout_mae"], **size}
        rows.append(row)
        print(f"{given}  ({row['form']}, ndump {row['ndump']})")
        print(f"  rollout_mae with D_xy    {full['rollout_mae']:.4e} +- {full['rollout_mae_std']:.2e}  "
              f"l1_rel {full['rollout_l1_rel']:.4f}")
        print(f"  rollout_mae without D_xy {diag['rollout_mae']:.4e} +- {diag['rollout_mae_std']:.2e}  "
              f"l1_rel {diag['rollout_l1_rel']:.4f}")
        print(f"  ratio without / with     {row['ratio_without_over_with']:.4f}")
        print(f"  where the particles are: <|D_xy|> = {size['mean_abs_Dxy']:.3e}, <D_xx> = {size['mean_Dxx']:.3e}, "
              f"<D_yy> = {size['mean_Dyy']:.3e}; <|D_xy|> / <D_diag> = {size['abs_Dxy_over_diag']:.3f}; "
              f"|D_xy| / sqrt(D_xx D_yy): median {size['median_abs_Dxy_over_sqrt_DxxDyy']:.3f}, "
              f"90th percentile {size['p90_abs_Dxy_over_sqrt_DxxDyy']:.3f}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
