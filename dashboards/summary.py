"""Table 1 of the paper from the runs folder: per run, and per method over runs that share a test set.

The rollout error of a run is the mean over its test populations of each
population's rollout MAE (``metrics.per_population``; DESIGN section 4).
Runs are pooled into one mean per method only when they were scored on the
same dataset *and* the same test populations: a mean over different test
sets would compare different things.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd

__all__ = ["population_set", "run_summary", "method_summary", "RUN_COLUMNS", "METHOD_COLUMNS"]

RUN_COLUMNS = ["run", "method", "dataset", "test set", "populations", "rollout MAE", "std", "mean ± std",
               "epochs", "status"]
METHOD_COLUMNS = ["method", "dataset", "test set", "runs", "populations", "rollout MAE", "std", "mean ± std"]


def population_set(names) -> str:
    """A short, stable name of a set of test populations: ``3 pops: a, b, c`` or ``12 pops #1a2b3c``."""
    names = sorted(str(n) for n in names)
    if len(names) <= 3:
        return f"{len(names)} pop{'s' if len(names) != 1 else ''}: " + ", ".join(names)
    digest = hashlib.sha1("\x00".join(names).encode()).hexdigest()[:6]
    return f"{len(names)} pops #{digest}"


def _scored(runs):
    for r in runs:
        m = r.get("metrics") or {}
        per = {k: v for k, v in (m.get("per_population") or {}).items() if v is not None}
        if r.get("status") in ("finished", "stopped") and per:
            data = (r.get("params") or {}).get("data") or r.get("dataset") or ""
            yield r, m, per, os.path.basename(str(data))


def run_summary(runs: list[dict]) -> pd.DataFrame:
    """One row per scored run (finished or stopped, with per-population errors), newest first."""
    rows = []
    for r, m, per, data in _scored(runs):
        v = np.asarray(list(per.values()), float)
        rows.append({"run": r.get("id", ""), "method": str(r.get("method") or m.get("method") or "?"),
                     "dataset": data, "test set": population_set(per), "populations": int(v.size),
                     "rollout MAE": float(v.mean()), "std": float(v.std()),
                     "mean ± std": f"{v.mean():.4g} ± {v.std():.2g}",
                     "epochs": "" if r.get("method") == "tracks" else m.get("epochs"),
                     "status": r.get("status", "")})
    return pd.DataFrame(rows[::-1], columns=RUN_COLUMNS)


def method_summary(runs: list[dict]) -> pd.DataFrame:
    """Mean ± std of the per-population errors per (method, dataset, test set), pooled over runs.

    The standard deviation is over all (run, population) values of the group
    (ddof = 0), like the paper's Table 1 over populations.
    """
    groups: dict[tuple, list] = {}
    counts: dict[tuple, int] = {}
    for r, m, per, data in _scored(runs):
        key = (str(r.get("method") or m.get("method") or "?"), data, population_set(per))
        groups.setdefault(key, []).extend(float(v) for v in per.values())
        counts[key] = counts.get(key, 0) + 1
    rows = []
    for (method, data, tset), vals in sorted(groups.items()):
        v = np.asarray(vals)
        rows.append({"method": method, "dataset": data, "test set": tset, "runs": counts[(method, data, tset)],
                     "populations": int(v.size), "rollout MAE": float(v.mean()), "std": float(v.std()),
                     "mean ± std": f"{v.mean():.4g} ± {v.std():.2g}"})
    return pd.DataFrame(rows, columns=METHOD_COLUMNS)
