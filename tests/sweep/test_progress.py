"""A running sweep's index and events (:mod:`collop.sweep.progress`), driven by hand without dask."""
from __future__ import annotations

from collop.runs import RunFolder
from collop.sweep import SweepFolder, expand, parse_sweep_spec
from collop.sweep.progress import SweepLog

from .conftest import base_spec


def _log(sweep_files, out, events):
    spec = parse_sweep_spec({"base": base_spec(sweep_files), "axes": {"seed": [0, 1, 2]}})
    points = expand(spec, out)
    folder = SweepFolder(out)
    out.mkdir(exist_ok=True)
    return SweepLog(folder, spec, points, "nowhere", events.append), points, folder


def test_a_new_sweep_is_all_pending_and_its_index_is_written(sweep_files, tmp_path):
    events = []
    log, points, folder = _log(sweep_files, tmp_path / "s", events)
    idx = folder.read()
    assert idx["status"] == "running" and idx["where"] == "nowhere" and idx["counts"] == {"pending": 3}
    assert [e["id"] for e in idx["points"]] == [p.id for p in points]
    assert not any(log.is_done(p.id) for p in points) and events == []


def test_a_rerun_starts_from_the_point_folders(sweep_files, tmp_path):
    out = tmp_path / "s"
    _, points, _ = _log(sweep_files, out, [])
    done, failed, killed = (RunFolder(p.spec.out) for p in points)
    done.create("fp", {}, "d.nc")
    done.set_status("finished", metrics={"rollout_mae": 0.25, "test": ["down"]})
    failed.create("fp", {}, "d.nc")
    failed.set_status("failed", error="boom")
    killed.create("fp", {}, "d.nc")                             # "running", owned by nobody
    log, _, _ = _log(sweep_files, out, [])
    e = log.by_id
    assert log.is_done(points[0].id) and e[points[0].id]["metrics"] == {"rollout_mae": 0.25}
    assert e[points[1].id]["status"] == "pending" and e[points[1].id]["error"] == "boom"
    assert e[points[2].id]["status"] == "pending" and e[points[2].id]["error"] is None


def test_points_start_and_end_in_the_index_and_the_events(sweep_files, tmp_path):
    events = []
    log, points, folder = _log(sweep_files, tmp_path / "s", events)
    a, b, c = (p.id for p in points)
    log.started({"point": a, "status": "started", "worker": "w1", "resumed": False})
    assert folder.read()["counts"] == {"running": 1, "pending": 2}
    log.ended(a, {"status": "finished", "metrics": {"rollout_mae": 0.1, "best_loss": 0.2, "other": 1}})
    log.started({"point": b, "status": "started"})
    log.ended(b, {"status": "failed", "error": "RuntimeError: boom"})
    log.ended(c, {"status": "skipped"})                         # a stopping sweep skipped it: no event
    idx = folder.read()
    assert idx["counts"] == {"finished": 1, "failed": 1, "pending": 1}
    assert [e["attempts"] for e in idx["points"]] == [1, 1, 0]
    assert [(ev["point"], ev["status"]) for ev in events] == [(a, "started"), (a, "finished"), (b, "started"),
                                                              (b, "failed")]
    assert events[1]["metrics"] == {"rollout_mae": 0.1, "best_loss": 0.2}   # the headline metrics only
    assert events[3]["error"] == "RuntimeError: boom"
    assert [ev["point"] for ev in folder.events()] == [a, a, b, b]          # the same events, on disk
    status, counts = log.close([], stopping=False, seconds=1.0)
    assert status == "incomplete" and counts == idx["counts"]
    assert folder.read()["status"] == "incomplete" and events[-1]["event"] == "sweep"


def test_closing_a_sweep(sweep_files, tmp_path):
    log, points, folder = _log(sweep_files, tmp_path / "s", [])
    a, b, c = (p.id for p in points)
    for pid in (a, b):
        log.ended(pid, {"status": "finished"})
    log.started({"point": c, "status": "started"})
    assert log.close([c], stopping=False, seconds=0.0) == ("stopped", {"finished": 2, "pending": 1})
    log.ended(c, {"status": "diverged", "message": "loss is NaN"})
    assert log.by_id[c]["error"] == "loss is NaN"
    assert log.close([], stopping=True, seconds=0.0)[0] == "finished"      # every point done
    assert folder.read()["status"] == "finished"
