"""The Scans view's figures for one or more scan sweeps (Figs. 12-14 analogues), as PNG and JSON.

The Kernel tab's Scans view draws a scan sweep on the page; this script draws
the same figures from the sweep folders, for a paper or the docs:

- test error against the scan axis (``n_train``, ``options.nt`` or
  ``penalties.reg``), mean ± std over seeds
  (:func:`dashboards.kernel_data.scan_table`, :func:`~dashboards.kernel_plots.scan_figure`);
  the error is the sweep's own score (the rollout MAE over the points' test
  populations, all populations by default, as in the paper's Fig. 12);
- the same error over the **common held-out** populations only: those no
  point of the sweeps trained on, so every point is scored on the same
  unseen set (read from each point's ``per_population`` metrics);
- for an ``n_train`` sweep, A∥, D∥, D⊥ across seeds at chosen times, one band
  per N_dists (Fig. 13; :func:`dashboards.kernel_data.coefficient_bands`).

Usage::

    python benchmarks/scan_figures.py SWEEP [SWEEP ...] [--png scan.png] \
        [--bands-png bands.png --times 10,90,180 --groups 1,3,7] [--json scan.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collop.io import atomic_path  # noqa: E402
from collop.schema import CollopError  # noqa: E402
from collop.sweep import read_sweep  # noqa: E402
from dashboards.kernel_data import coefficient_bands, points_frame, scan_axis, scan_table  # noqa: E402
from dashboards.kernel_plots import bands_figure, scan_figure  # noqa: E402
from dashboards.kernel_scans import band_views  # noqa: E402
from dashboards.render_mpl import to_bytes  # noqa: E402

_COL = {"n_train": "n_train", "options.nt": "nt", "penalties.reg": "reg"}


def held_out(indexes: list[dict]) -> tuple[list[str], dict]:
    """The populations no finished point trained on, and each point's mean error over them.

    Parameters
    ----------
    indexes : list of dict
        Sweep indexes (:func:`collop.sweep.read_sweep`).

    Returns
    -------
    populations : list of str
        Scored by every finished point and trained on by none.
    errors : dict
        ``point id -> mean per-population rollout MAE`` over ``populations``
        (NaN where none is left).
    """
    done = [e for ix in indexes for e in ix.get("points") or []
            if isinstance(e, dict) and e.get("status") == "finished"
            and isinstance((e.get("metrics") or {}).get("per_population"), dict)]
    if not done:
        return [], {}
    trained = {str(p) for e in done for p in (e.get("spec") or {}).get("train") or ()}
    scored = set.intersection(*(set(map(str, e["metrics"]["per_population"])) for e in done))
    pops = sorted(scored - trained)
    errors = {}
    for e in done:
        per = e["metrics"]["per_population"]
        vals = [float(per[p]) for p in pops]
        errors[str(e["id"])] = float(np.mean(vals)) if vals else math.nan
    return pops, errors


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def _list(x) -> list:
    """An array as a JSON list, NaN (a speed no seed reaches) as null."""
    x = np.asarray(x, dtype=float)
    return [float(v) if math.isfinite(v) else None for v in x]


def _floats(text: str | None) -> list[float]:
    return [float(t) for t in text.split(",") if t.strip()] if text else []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", help="scan sweep folders (one scan axis, e.g. several seeds' sweeps)")
    ap.add_argument("--png", type=Path, help="test error against the scan axis")
    ap.add_argument("--bands-png", type=Path, help="coefficient bands across seeds (n_train sweeps)")
    ap.add_argument("--times", help="times of the bands, in the data's time unit (default: first, middle, last)")
    ap.add_argument("--groups", help="N_dists values drawn in the bands (default: all)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    try:
        indexes = [read_sweep(f) for f in a.sweeps]
        axes = {scan_axis(ix) for ix in indexes}
        if len(axes) != 1 or None in axes:
            raise ValueError(f"the sweeps need one common scan axis (n_train, options.nt or penalties.reg); "
                             f"found {sorted(map(str, axes))}")
        axis = axes.pop()
        points = pd.concat([points_frame(ix, f) for ix, f in zip(indexes, a.sweeps)], ignore_index=True)
    except (CollopError, OSError, ValueError, KeyError) as e:
        print(f"scan_figures: error: {e}", file=sys.stderr)
        return 2
    table = scan_table(points, axis)
    pops, errs = held_out(indexes)
    points["held_out_mae"] = points["point"].map(errs)
    col = _COL[axis]
    rows = []
    for (series, x), g in points[points["status"] == "finished"].groupby(["method", col], sort=True):
        v = g["held_out_mae"].dropna().to_numpy(float)
        rows.append({"series": series, "x": float(x), "mean": float(v.mean()) if len(v) else math.nan,
                     "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan, "n": int(len(v))})
    held = pd.DataFrame(rows, columns=["series", "x", "mean", "std", "n"])
    per_point = points[["point", "status", "method", col, "seed", "rollout_mae", "held_out_mae"]]
    pd.set_option("display.width", 200)
    print(per_point.sort_values([col, "seed"]).to_string(index=False))
    print(f"\nscored populations (sweep's test set): error against {axis}, mean ± std over seeds")
    print(table.to_string(index=False))
    print(f"\ncommon held-out populations ({', '.join(pops) or 'none'}):")
    print(held.to_string(index=False))
    if a.png:
        _write(a.png, to_bytes(scan_figure(table, axis), "png"))
    bands_out = {}
    if a.bands_png or (a.json and axis == "n_train"):
        if axis != "n_train":
            print("scan_figures: error: coefficient bands need an n_train sweep", file=sys.stderr)
            return 2
        groups = {int(g) for g in _floats(a.groups)} or None
        views, units, times = {}, None, []
        for ix, f in zip(indexes, a.sweeps):
            v, u, t = band_views(ix, f, points_frame(ix, f), groups)
            for key, lst in v.items():
                views.setdefault(key, []).extend(lst)
            units, times = units or u, times or t
        chosen = _floats(a.times) or (sorted({times[0], times[len(times) // 2], times[-1]}) if times else [])
        bands = coefficient_bands(views, chosen)
        if a.bands_png:
            _write(a.bands_png, to_bytes(bands_figure(bands, units, group="N_dists"), "png"))
        bands_out = {str(t): {g: {"n": r["n"], "speed": _list(r["speed"]),
                                  **{k: {"mean": _list(r[k][0]), "std": _list(r[k][1])}
                                     for k in ("A_par", "D_par", "D_perp")}} for g, r in per.items()}
                     for t, per in bands.items()}
    if a.json:
        out = {"axis": axis, "points": json.loads(per_point.to_json(orient="records", double_precision=15)),
               "scan": json.loads(table.to_json(orient="records", double_precision=15)),
               "held_out_populations": pops,
               "held_out": json.loads(held.to_json(orient="records", double_precision=15)),
               "bands": bands_out}
        _write(a.json, (json.dumps(out, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
