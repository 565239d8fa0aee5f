"""A sweep folder as a tidy table: the figures' groupings (error vs k per scheme, vs N_dists, ...)."""
from __future__ import annotations

import json
import math

import pytest

from collop.schema import CollopError
from collop.sweep import read_sweep, summarize, sweep_table, to_xarray


def _index(rows):
    pts = []
    for i, (k, scheme, seed, mae, status) in enumerate(rows):
        pts.append({"id": f"p{i}", "status": status, "error": None if status == "finished" else "boom",
                    "values": {"options.k": k, "options.scheme": scheme, "seed": seed},
                    "metrics": {"rollout_mae": mae, "rollout_mae_std": mae / 10, "epochs": 5,
                                "per_population": {"a": mae}} if status == "finished" else {},
                    "spec": {"train": ["a", "b", "c"], "seed": seed}})
    return {"collop_sweep": 1, "spec": {}, "points": pts}


ROWS = [(1, "forward", 0, 3.0, "finished"), (1, "forward", 1, 5.0, "finished"),
        (2, "forward", 0, 1.0, "finished"), (2, "forward", 1, 2.0, "finished"),
        (2, "backward", 0, 4.0, "finished"), (2, "backward", 1, float("nan"), "failed")]


def test_table_and_summary(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps(_index(ROWS)))
    t = sweep_table(tmp_path)
    assert list(t.columns[:8]) == ["point", "status", "error", "options.k", "options.scheme", "seed", "n_train",
                                   "rollout_mae"]
    assert list(t["n_train"]) == [3] * 6 and math.isnan(t["rollout_mae"].iloc[5])
    s = summarize(t, ["options.k", "options.scheme"])
    rows = {(r["options.k"], r["options.scheme"]): r for r in s.to_dict("records")}
    assert rows[(1, "forward")]["rollout_mae_mean"] == 4.0
    assert rows[(1, "forward")]["rollout_mae_std"] == pytest.approx(2 ** 0.5, rel=1e-12)   # ddof = 1
    assert rows[(2, "backward")]["n"] == 1 and math.isnan(rows[(2, "backward")]["rollout_mae_std"])  # failed left out
    assert list(s["options.k"]) == [1, 2, 2]
    da = to_xarray(t, ["options.k", "options.scheme", "seed"])
    assert da.sel({"options.k": 2, "options.scheme": "forward", "seed": 1}).item() == 2.0
    with pytest.raises(CollopError, match="do not identify the points"):
        to_xarray(t, ["options.k"])
    with pytest.raises(CollopError, match="no column 'options.nt'"):
        summarize(t, "options.nt")


def test_a_running_sweep_without_its_process_is_not_alive(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({**_index(ROWS), "status": "running"}))
    assert read_sweep(tmp_path)["alive"] is False          # nobody holds the folder's lock
    (tmp_path / "sweep.json").write_text(json.dumps({**_index(ROWS), "status": "finished"}))
    assert "alive" not in read_sweep(tmp_path)


def test_unreadable_sweep_folders(tmp_path):
    with pytest.raises(CollopError, match="not a sweep folder"):
        read_sweep(tmp_path)
    (tmp_path / "sweep.json").write_text("{")
    with pytest.raises(CollopError, match="cannot be read as a sweep index"):
        read_sweep(tmp_path)
    (tmp_path / "sweep.json").write_text("{}")
    with pytest.raises(CollopError, match="not a sweep index"):
        read_sweep(tmp_path)
