"""Table 1 per run and per method, never pooling runs scored on different test populations."""
import numpy as np
import pytest

from dashboards.summary import method_summary, population_set, run_summary


def _r(rid, method, per, data="/d/a.nc", status="finished"):
    return {"id": rid, "method": method, "status": status, "params": {"data": data},
            "metrics": {"per_population": per, "epochs": 5}}


def test_runs_with_different_test_sets_are_not_merged():
    runs = [_r("1", "ps-tensor", {"a": 1.0, "b": 3.0}), _r("2", "ps-tensor", {"a": 2.0, "b": 2.0}),
            _r("3", "ps-tensor", {"a": 9.0}), _r("4", "tracks", {"a": 0.5, "b": 0.5}),
            _r("5", "ps-nn", {"a": 1.0}, status="failed"), _r("6", "ps-nn", {"a": 1.0}, data="/d/other.nc")]
    per_run = run_summary(runs)
    assert list(per_run["run"]) == ["6", "4", "3", "2", "1"]                 # newest first, failed left out
    assert per_run.set_index("run").loc["1", "rollout MAE"] == pytest.approx(2.0)
    m = method_summary(runs)
    rows = {(r["method"], r["dataset"], r["test set"]): r for _, r in m.iterrows()}
    both = rows[("ps-tensor", "a.nc", "2 pops: a, b")]
    assert both["runs"] == 2 and both["populations"] == 4
    assert both["rollout MAE"] == pytest.approx(2.0) and both["std"] == pytest.approx(np.std([1, 3, 2, 2]))
    assert rows[("ps-tensor", "a.nc", "1 pop: a")]["rollout MAE"] == 9.0     # its own row, not pooled
    assert ("ps-nn", "other.nc", "1 pop: a") in rows


def test_population_set_names():
    assert population_set(["b", "a"]) == population_set(["a", "b"]) == "2 pops: a, b"
    big = [f"p{i}" for i in range(12)]
    assert population_set(big).startswith("12 pops #") and population_set(big) == population_set(big[::-1])
    assert population_set(big) != population_set(big[:-1] + ["q"])
