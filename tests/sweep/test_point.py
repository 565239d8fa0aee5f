"""One point's state and record (:mod:`collop.sweep.point`), read from its run folder without dask."""
from __future__ import annotations

from collop.runs import RunFolder
from collop.sweep.point import DONE, compact_metrics, point_state


def test_point_state_follows_the_run_folder(tmp_path):
    run = RunFolder(tmp_path / "p")
    assert point_state(run.path) == ("pending", {})             # no folder yet
    run.path.mkdir()
    (run.path / "run.json").write_text("{half")
    assert point_state(run.path) == ("pending", {})             # an unreadable run.json: run it again
    (run.path / "run.json").unlink()
    run.create("fp", {}, "d.nc")
    assert point_state(run.path)[0] == "interrupted"            # running, but no process owns it
    run.claim()
    try:
        assert point_state(run.path)[0] == "running"            # owned (here, by this process)
    finally:
        run.release()
    run.set_status("finished", metrics={"rollout_mae": 0.5})
    status, info = point_state(run.path)
    assert status == "finished" and status in DONE and info["metrics"] == {"rollout_mae": 0.5}


def test_compact_metrics_keeps_scalars_and_per_population():
    m = {"rollout_mae": 0.1, "epochs": 30, "diverged": False, "note": None, "family": "fp",
         "per_population": {"a": {"rollout_mae": 0.1}}, "test": ["a", "b"], "curve": {"x": [1, 2]}}
    assert compact_metrics(m) == {"rollout_mae": 0.1, "epochs": 30, "diverged": False, "note": None,
                                  "family": "fp", "per_population": {"a": {"rollout_mae": 0.1}}}
    assert compact_metrics(None) == {} and compact_metrics({}) == {}
