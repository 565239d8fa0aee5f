"""The Pareto plot over k from several sweep folders (one per sampling of the data), as PNG and JSON.

The Kernel tab draws one sweep folder; a Pareto study across samplings of the
populations is often run as several sweeps (one per data file, or one sweep
resumed with more samplings). This script pools their kernel points, and the
PS-Tensor points of baseline sweeps, into the tab's own tables and figure
(:func:`dashboards.kernel_data.pareto_table`, :func:`~dashboards.kernel_plots.pareto_figure`):
mean and sample standard deviation over the samplings of each (k, scheme).

Points scored by an earlier sweep whose folder is gone can be added from a
JSON list of records (``--records``: ``{"k", "scheme", "data", "rollout_mae",
"status"}`` plus any provenance fields), so that the pooled table says where
every number came from.

Usage::

    python benchmarks/pareto_samplings.py SWEEP [SWEEP ...] [--baseline SWEEP ...] \
        [--records seed0.json] --png pareto.png --json pareto.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collop.io import atomic_path  # noqa: E402
from collop.schema import CollopError  # noqa: E402
from collop.sweep import read_sweep  # noqa: E402
from dashboards.kernel_data import baseline_table, pareto_table, points_frame  # noqa: E402
from dashboards.kernel_plots import pareto_figure  # noqa: E402
from dashboards.render_mpl import to_bytes  # noqa: E402


def _frame(folders) -> pd.DataFrame:
    frames = [points_frame(read_sweep(f), f).assign(source=f"sweep {Path(f).name}") for f in folders]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _records(path) -> pd.DataFrame:
    recs = json.loads(Path(path).read_text())
    rows = []
    for r in recs:
        row = {"point": r.get("point", f"k{r['k']}_{r['scheme']}_{r['data']}"), "family": "kernel",
               "status": r.get("status", "finished"), "k": int(r["k"]), "scheme": r["scheme"],
               "data": r["data"], "rollout_mae": float(r["rollout_mae"]) if r.get("rollout_mae") is not None
               else math.nan, "source": r.get("source", str(path))}
        rows.append(row)
    return pd.DataFrame(rows)


def _relative(path) -> str:
    """A data path relative to the repository when it lies inside it (the tables name files, not machines)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", help="kernel sweep folders")
    ap.add_argument("--baseline", nargs="*", default=[], help="PS-Tensor sweep folders (horizontal lines)")
    ap.add_argument("--records", help="JSON list of points scored elsewhere (see the module docstring)")
    ap.add_argument("--title", default="Test error against k (mean ± std over samplings)")
    ap.add_argument("--png", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    try:
        points = _frame(a.sweeps)
        if a.records:
            points = pd.concat([points, _records(a.records)], ignore_index=True)
        base_pts = _frame(a.baseline) if a.baseline else pd.DataFrame()
    except (CollopError, OSError, ValueError, KeyError) as e:
        print(f"pareto_samplings: error: {e}", file=sys.stderr)
        return 2
    if not len(points):
        print("pareto_samplings: error: no kernel points in " + ", ".join(a.sweeps), file=sys.stderr)
        return 2
    table = pareto_table(points)
    ker = points[points["family"] == "kernel"]
    test = next((t for t in ker.get("test", pd.Series(dtype=object)) if isinstance(t, tuple) and t), ())
    base = baseline_table(base_pts, tuple(test)) if len(base_pts) else None
    per_point = ker[["scheme", "k", "data", "status", "rollout_mae", "source"]].copy()
    per_point["k"] = per_point["k"].astype(int)
    per_point["data"] = per_point["data"].map(_relative)
    per_point = per_point.sort_values(["scheme", "k", "data"])
    pd.set_option("display.width", 200)
    print(per_point.to_string(index=False))
    print()
    print(table.to_string(index=False))
    if base is not None and len(base):
        print()
        print(base.to_string(index=False))
    if a.png:
        _write(a.png, to_bytes(pareto_figure(table, base, title=a.title), "png"))
    if a.json:
        out = {"points": json.loads(per_point.to_json(orient="records", double_precision=15)),
               "pareto": json.loads(table.to_json(orient="records", double_precision=15)),
               "baselines": json.loads(base.to_json(orient="records", double_precision=15)) if base is not None else [],
               "baseline_points": json.loads(base_pts[["symmetry", "data", "status", "rollout_mae"]]
                                             .assign(data=base_pts["data"].map(_relative))
                                             .to_json(orient="records", double_precision=15)) if len(base_pts) else []}
        _write(a.json, (json.dumps(out, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
