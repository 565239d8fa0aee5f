"""Tests of :mod:`collop.runs`, the run folders that the command line writes and the app lists."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from collop.datasets import isotropic_operator_dataset
from collop.grid import VelocityGrid
from collop.io import open_dataset
from collop.operators.fokker_planck import FokkerPlanck
from collop.runs import RunFolder, list_runs


def _operator():
    s = np.linspace(0, 3, 5)
    return isotropic_operator_dataset([0.0, 1.0], s, np.zeros((2, 5)), np.ones((2, 5)), np.ones((2, 5)),
                                      method="test", velocity_units="u", time_units="t", source="test")


def test_create_status_and_read(tmp_path):
    run = RunFolder(tmp_path / "runs" / "r1")
    assert not run.exists()
    info = run.create("fp", {"model": "tensor", "reg": float("inf")}, "data.nc", method="ps-tensor")
    assert run.exists() and info["status"] == "running"
    disk = run.read()
    assert disk["id"] == "r1" and disk["kind"] == "fp" and disk["method"] == "ps-tensor"
    assert disk["dataset"] == "data.nc" and disk["pid"] == os.getpid()
    assert disk["params"] == {"model": "tensor", "reg": None}  # strict JSON: inf -> null
    assert disk["created"] == disk["updated"]
    run.set_status("finished", metrics={"rollout_mae": np.float32(0.5), "per_population": {"a": np.nan}})
    disk = run.read()
    assert disk["status"] == "finished" and disk["metrics"] == {"rollout_mae": 0.5, "per_population": {"a": None}}
    assert disk["updated"] >= disk["created"] and "error" not in disk
    run.set_status("failed", error="boom")
    assert run.read()["error"] == "boom"
    with pytest.raises(ValueError):
        run.set_status("exploded")
    # no temporary files are left behind
    assert sorted(p.name for p in run.path.iterdir()) == ["run.json"]


def test_create_again_keeps_created_and_records_resume(tmp_path):
    run = RunFolder(tmp_path / "r")
    first = run.create("fp", {}, "d.nc", method="m")
    run.set_status("stopped")
    again = run.create("fp", {}, "d.nc", method="m")
    assert again["created"] == first["created"] and again["status"] == "running"
    assert len(again["resumed"]) == 1


def test_events_append_and_skip_partial_line(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.create("fp", {}, "d.nc", method="m")
    assert run.events() == []
    run.append_event({"event": "stage", "stage": 0})
    run.append_event({"event": "epoch", "stage": 0, "epoch": 0, "loss": np.float64(0.25), "seconds": 0.1})
    with open(run.events_file, "a") as fh:
        fh.write('{"event": "epo')  # a writer killed mid-line
    ev = run.events()
    assert [e["event"] for e in ev] == ["stage", "epoch"]
    assert ev[1]["loss"] == 0.25 and "time" in ev[1]
    lines = run.events_file.read_text().splitlines()
    assert json.loads(lines[0])["event"] == "stage"


def test_snapshots_at_most_every_25_epochs(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.create("fp", {}, "d.nc", method="m")
    assert run.save_snapshot(_operator(), 25)["path"] == "snapshots/000025.nc"
    assert run.save_snapshot(_operator(), 30) is None
    grid = VelocityGrid.regular(9, 2.0)
    op = FokkerPlanck.build("tensor", grid, np.arange(4.0), velocity_units="u", time_units="t")
    ev = run.save_snapshot(op, 50, grid=grid, times=np.arange(4.0), source="d.nc", attrs={"stage": 1},
                           event={"stage": 1})
    assert ev["path"] == "snapshots/000050.nc" and ev["stage"] == 1
    snap = open_dataset(run.path / ev["path"], "operator")
    assert snap.attrs["epoch"] == 50 and snap.attrs["method"] == "ps-tensor"
    # the coefficients in float32 (a live view; operator.nc keeps float64), the coordinates exact
    full = op.to_dataset(grid, np.arange(4.0))
    for name, var in full.data_vars.items():
        assert snap[name].dtype == np.float32
        np.testing.assert_allclose(snap[name].values, var.values, rtol=1e-6, atol=0)
    assert snap["time"].dtype == np.float64 and np.array_equal(snap["time"].values, np.arange(4.0))
    assert [p.name for p in run.snapshots()] == ["000025.nc", "000050.nc"]
    assert [e["event"] for e in run.events()] == ["snapshot", "snapshot"]


def test_list_runs(tmp_path):
    assert list_runs(tmp_path / "nothing") == []
    root = tmp_path / "runs"
    a = RunFolder(root / "a")
    a.create("fp", {"x": 1}, "d.nc", method="ps-tensor")
    b = RunFolder(root / "b")
    b.create("fp", {"x": 2}, "d.nc", method="ps-nn")
    b.set_status("finished")
    (root / "not_a_run").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "run.json").write_text("{")
    runs = {r["id"]: r for r in list_runs(root)}
    assert set(runs) == {"a", "b", "broken"}
    assert runs["a"]["status"] == "running" and runs["a"]["alive"] is True  # this process
    assert runs["b"]["status"] == "finished" and "alive" not in runs["b"]
    assert runs["broken"]["status"] == "unknown" and "run.json" in runs["broken"]["error"]
    assert runs["a"]["path"] == str(root / "a")
    info = a.read()
    info["pid"] = 2 ** 22 + 12345  # beyond pid_max on most systems: no such process
    (root / "a" / "run.json").write_text(json.dumps(info))
    assert {r["id"]: r for r in list_runs(root)}["a"]["alive"] is False
