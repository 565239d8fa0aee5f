"""Sweeps on a real dask cluster: points land as they finish, reruns resume, faults are survived.

The cluster (2 worker processes) is shared; the test that kills a worker runs last in this file.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from collop.runs import RunFolder, list_runs, run_owner
from collop.sweep import read_sweep, run_sweep, summarize, sweep_table

from .conftest import base_spec, read_json


def _events(folder: Path, call_events=None):
    evs = RunFolder(folder).events() if call_events is None else call_events
    return [e for e in evs if e.get("event") == "point"]


def _digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _wait(cond, timeout=240.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _epochs(run_dir: Path) -> int:
    return sum(e.get("event") == "epoch" for e in RunFolder(run_dir).events())


def test_sweep_indexes_its_points_and_a_rerun_skips_them(client, sweep_files, tmp_path):
    spec = {"base": base_spec(sweep_files), "axes": {"penalties.reg_velocity": [0, 1e-2], "seed": [0, 1]}}
    out = tmp_path / "sweep"
    seen = []
    res = run_sweep(spec, out, client=client, callback=seen.append)
    assert res.status == "finished" and res.counts == {"finished": 4}
    index = read_json(out / "sweep.json")
    assert index["status"] == "finished" and index["spec"]["axes"] == spec["axes"]
    assert len(index["points"]) == 4
    for e in index["points"]:
        run = out / e["id"]
        metrics = read_json(run / "metrics.json")
        assert e["status"] == "finished" and e["error"] is None and e["attempts"] == 1
        assert e["metrics"]["rollout_mae"] == metrics["rollout_mae"] > 0       # indexed as written
        assert read_json(run / "run.json")["status"] == "finished" and (run / "operator.nc").is_file()
        assert metrics["seed"] == e["values"]["seed"] and metrics["train"] == ["centre", "right"]
        assert metrics["test"] == ["down"]
    # the folder's event log: every point started once and finished once, then the sweep
    pev = _events(out)
    for e in index["points"]:
        assert [x["status"] for x in pev if x["point"] == e["id"]] == ["started", "finished"]
    assert [e["event"] for e in seen] == [e["event"] for e in RunFolder(out).events()]   # callback = file
    assert seen[-1] == {**seen[-1], "event": "sweep", "status": "finished"}
    assert len(list_runs(out)) == 4                    # each point is an ordinary run folder
    # a tidy table, and mean/std over seeds
    t = sweep_table(out)
    assert len(t) == 4 and set(t["penalties.reg_velocity"]) == {0, 1e-2}
    s = summarize(t, "penalties.reg_velocity")
    assert list(s["n"]) == [2, 2]
    mine = t[t["penalties.reg_velocity"] == 0]["rollout_mae"]
    assert s["rollout_mae_mean"].iloc[0] == pytest.approx(mine.mean(), rel=1e-12)

    # a rerun starts nothing and leaves every run folder as it was
    before = {e["id"]: (_digest(out / e["id"] / "run.json"), _digest(out / e["id"] / "operator.nc"))
              for e in index["points"]}
    again = []
    res2 = run_sweep(spec, out, client=client, callback=again.append)
    assert res2.status == "finished" and res2.counts == {"finished": 4}
    assert not [e for e in again if e.get("event") == "point"]
    assert again[0]["n_done"] == 4 and again[0]["n_todo"] == 0
    assert before == {k: (_digest(out / k / "run.json"), _digest(out / k / "operator.nc")) for k in before}


def test_a_stopped_sweep_reruns_only_its_unfinished_points(client, sweep_files, tmp_path):
    # the second point takes long enough to be stopped midway; the first finishes at once
    spec = {"base": base_spec(sweep_files),
            "axes": {"curriculum": ["1:1e-2:20", "1:1e-2:1500", "1:1e-2:25", "1:1e-2:26"]}}
    out = tmp_path / "sweep"
    stop = threading.Event()

    def callback(ev):
        if ev.get("event") == "point" and ev["status"] == "finished":
            stop.set()                                   # stop the sweep when its first point is done

    res = run_sweep(spec, out, client=client, callback=callback, stop=stop)
    assert res.status == "stopped"
    index = read_json(out / "sweep.json")
    assert index["status"] == "stopped"
    finished = {e["id"] for e in index["points"] if e["status"] == "finished"}
    unfinished = {e["id"] for e in index["points"]} - finished
    long_id = next(e["id"] for e in index["points"] if e["values"]["curriculum"] == "1:1e-2:1500")
    assert long_id in unfinished and 1 <= len(finished) <= 3
    assert read_json(out / long_id / "run.json")["status"] == "stopped"    # stopped after an epoch
    assert all(run_owner(out / i) is None for i in unfinished)            # no lock left behind
    kept = {i: _digest(out / i / "operator.nc") for i in finished}

    seen = []
    res2 = run_sweep(spec, out, client=client, callback=seen.append)
    assert res2.status == "finished"
    started = {e["point"] for e in seen if e.get("event") == "point" and e["status"] == "started"}
    assert started == unfinished                                          # only the unfinished ran
    assert kept == {i: _digest(out / i / "operator.nc") for i in finished}
    assert _epochs(out / long_id) == 1500                                 # no epoch lost or repeated


def test_a_failing_point_is_recorded_and_the_others_finish(client, sweep_files, tmp_path):
    """A point that raises (not a CollopError) is retried once (dask's retries), then recorded failed."""
    import cloudpickle

    from . import _faults

    cloudpickle.register_pickle_by_value(_faults)
    client.run(_faults.break_seed, 13)
    try:
        spec = {"base": base_spec(sweep_files), "axes": {"seed": [0, 13, 1]}}
        out = tmp_path / "sweep"
        res = run_sweep(spec, out, client=client, retries=1)
    finally:
        client.run(_faults.restore)
        cloudpickle.unregister_pickle_by_value(_faults)
    assert res.status == "incomplete" and res.counts == {"finished": 2, "failed": 1}
    index = read_json(out / "sweep.json")
    bad = next(e for e in index["points"] if e["values"]["seed"] == 13)
    assert bad["status"] == "failed" and bad["error"] == "RuntimeError: injected failure for seed 13"
    assert bad["attempts"] == 2                                         # tried, retried, recorded
    assert [e["status"] for e in index["points"] if e is not bad] == ["finished", "finished"]
    ev = [e for e in _events(out) if e["point"] == bad["id"]]
    assert [e["status"] for e in ev] == ["started", "started", "failed"] and ev[-1]["error"] == bad["error"]
    # a rerun tries only the failed point again (and, the fault gone, it finishes)
    seen = []
    res2 = run_sweep(spec, out, client=client, callback=seen.append)
    assert res2.status == "finished"
    assert {e["point"] for e in seen if e.get("event") == "point" and e["status"] == "started"} == {bad["id"]}


def test_bad_input_writes_nothing(client, sweep_files, tmp_path):
    from collop.schema import CollopError

    out = tmp_path / "sweep"
    cases = [
        ({"base": base_spec(sweep_files), "axes": {}}, "axes: empty grid"),
        ({"base": base_spec(sweep_files, data=str(tmp_path / "missing.nc")), "axes": {"seed": [0]}},
         "missing.nc"),
        ({"base": base_spec(sweep_files, test=["nowhere"]), "axes": {"seed": [0]}}, "nowhere"),
        # 10**9 time nodes pass the spec's checks but not the family's memory check on the data
        ({"base": base_spec(sweep_files), "axes": {"options.nt": [1, 10**9]}},
         "axes.options.nt[1] = 1000000000: options.nt: 1000000000 time nodes"),
    ]
    for spec, words in cases:
        with pytest.raises(CollopError) as exc:
            run_sweep(spec, out, client=client)
        assert words in str(exc.value) and "\n" not in str(exc.value)
        assert not out.exists()
    t0 = time.perf_counter()
    with pytest.raises(CollopError, match=r"scheduler tcp://127.0.0.1:1: cannot connect"):
        run_sweep({"base": base_spec(sweep_files), "axes": {"seed": [0]}}, out, scheduler="tcp://127.0.0.1:1")
    assert time.perf_counter() - t0 < 30       # a refused connection fails at once (the rest: expansion)
    assert not out.exists()


def test_killing_a_worker_mid_point_redoes_only_that_point(client, sweep_files, tmp_path):
    """A real SIGKILL of the worker process that runs a point, after its first checkpoint."""
    spec = {"base": base_spec(sweep_files),
            "axes": {"curriculum": ["1:1e-2:500", "1:1e-2:20", "1:1e-2:21", "1:1e-2:22"]}}
    out = tmp_path / "sweep"
    box = {}
    seen = []
    th = threading.Thread(target=lambda: box.update(res=run_sweep(spec, out, client=client, callback=seen.append)))
    th.start()
    try:
        _wait(lambda: (out / "sweep.json").exists(), what="the index")
        long_id = next(e["id"] for e in read_json(out / "sweep.json")["points"]
                       if e["values"]["curriculum"] == "1:1e-2:500")
        run = out / long_id
        # past its first checkpoint (every 100 epochs), still running
        _wait(lambda: (run / "checkpoint.pt").exists() and _epochs(run) >= 150, what="a checkpoint")
        owner = run_owner(run)
        live = read_sweep(out)
        assert live["status"] == "running" and live["alive"] is True        # what the app sees meanwhile
        workers = set(client.run(os.getpid).values())
        assert owner is not None and owner["pid"] in workers          # a dask worker runs it
        done_before = {e["point"] for e in seen if e.get("event") == "point" and e["status"] == "finished"}
        kept = {i: _digest(out / i / "operator.nc") for i in done_before}
        epochs_at_kill = _epochs(run)
        os.kill(owner["pid"], signal.SIGKILL)
    finally:
        th.join(timeout=600)
    res = box["res"]
    assert res.status == "finished" and res.counts == {"finished": 4}
    index = read_json(out / "sweep.json")
    e = next(x for x in index["points"] if x["id"] == long_id)
    assert e["status"] == "finished" and e["attempts"] == 2
    starts = [x for x in seen if x.get("event") == "point" and x["point"] == long_id and x["status"] == "started"]
    assert [x["resumed"] for x in starts] == [False, True]                 # resumed from its checkpoint
    assert starts[0]["pid"] == owner["pid"] != starts[1]["pid"]
    info = read_json(run / "run.json")
    assert info["status"] == "finished" and len(info["resumed"]) == 1
    assert _epochs(run) == 500 and epochs_at_kill < 500                # the log holds each epoch once
    assert kept == {i: _digest(out / i / "operator.nc") for i in kept}    # finished points untouched
    for x in index["points"]:                                             # the others ran once
        if x["id"] != long_id:
            assert x["attempts"] == 1 and read_json(out / x["id"] / "metrics.json")["status"] == "finished"
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 500
