"""The runs folder: listing (incl. starting and dead runs), rename, delete, safety."""
import json
import subprocess
import sys

import pytest

from collop.runs import RunFolder
from dashboards.runstore import RunError, delete_run, list_all, rename_run, run_dir, run_pid


def _run(root, name, status="finished"):
    r = RunFolder(root / name)
    r.create("fp", {"curriculum": "1:0.1:5", "data": "/x.nc"}, "/x.nc", method="ps-tensor")
    if status != "running":
        r.set_status(status, metrics={"rollout_mae": 0.1, "epochs": 5})
    return r


def test_list_rename_delete(tmp_path):
    _run(tmp_path, "a")
    _run(tmp_path, "b", "failed")
    assert [r["id"] for r in list_all(tmp_path)] == ["a", "b"]
    assert rename_run(tmp_path, "a", "a2") == "a2"
    assert json.loads((tmp_path / "a2" / "run.json").read_text())["id"] == "a2"
    with pytest.raises(RunError, match="exists"):
        rename_run(tmp_path, "a2", "b")
    delete_run(tmp_path, "b")
    assert [r["id"] for r in list_all(tmp_path)] == ["a2"]
    with pytest.raises(RunError, match="no such run"):
        delete_run(tmp_path, "zzz")


@pytest.mark.parametrize("bad", ["../x", "/tmp", "a/b", ".hidden", "", "a b"])
def test_run_names_are_plain(tmp_path, bad):
    with pytest.raises(RunError):
        run_dir(tmp_path, bad)
    _run(tmp_path, "a")
    with pytest.raises(RunError):
        rename_run(tmp_path, "a", bad)


def test_active_runs_are_protected_and_dead_ones_reported(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        r = _run(tmp_path, "live", "running")
        info = r.read()
        info["pid"] = live.pid
        r._write(info)
        with pytest.raises(RunError, match="stop it"):
            delete_run(tmp_path, "live")
        with pytest.raises(RunError, match="stop it"):
            rename_run(tmp_path, "live", "other")
        assert run_pid(tmp_path, "live") == live.pid
        (tmp_path / "starting").mkdir()                       # a worker that has not created run.json yet
        (tmp_path / "starting" / "job.json").write_text(json.dumps({"pid": live.pid, "method": "ps-nn"}))
        by_id = {r["id"]: r for r in list_all(tmp_path)}
        assert by_id["live"]["status"] == "running" and by_id["starting"]["status"] == "starting"
    finally:
        live.kill()
        live.wait()
    by_id = {r["id"]: r for r in list_all(tmp_path)}
    assert by_id["live"]["status"] == "failed" and "without recording" in by_id["live"]["error"]
    assert by_id["starting"]["status"] == "failed"
    assert run_pid(tmp_path, "live") is None
    delete_run(tmp_path, "live")
    assert not (tmp_path / "live").exists()


def test_names_end_at_the_end_and_reserved_names_are_refused(tmp_path):
    _run(tmp_path, "a")
    for bad in ("b\n", "b\r\n", "x" * 101):
        with pytest.raises(RunError, match="not a run name"):
            rename_run(tmp_path, "a", bad)
    for bad in ("uploads", "Uploads", "trash", "snapshots", "sweeps"):
        with pytest.raises(RunError, match="reserved"):
            rename_run(tmp_path, "a", bad)
    with pytest.raises(RunError, match="reserved"):
        rename_run(tmp_path, "a", "my-uploads", reserved=["my-uploads"])
    assert [r["id"] for r in list_all(tmp_path)] == ["a"]


def test_delete_moves_to_the_trash_restore_and_empty(tmp_path):
    from dashboards.runstore import TRASH, empty_trash, list_trash, restore_run

    _run(tmp_path, "a")
    assert delete_run(tmp_path, "a") == "a"
    assert list_all(tmp_path) == [] and (tmp_path / TRASH / "a" / "run.json").is_file()
    assert list_trash(tmp_path) == ["a"]
    _run(tmp_path, "a")                                   # a new run of the same name, deleted too
    assert delete_run(tmp_path, "a") == "a.2"
    assert sorted(list_trash(tmp_path)) == ["a", "a.2"]
    assert restore_run(tmp_path, "a.2") == "a"
    assert restore_run(tmp_path, "a") == "a-restored"     # the name is taken: restored beside it
    assert sorted(r["id"] for r in list_all(tmp_path)) == ["a", "a-restored"]
    delete_run(tmp_path, "a")
    assert empty_trash(tmp_path) == 1 and list_trash(tmp_path) == [] and not (tmp_path / TRASH / "a").exists()
    with pytest.raises(RunError, match="not in the trash"):
        restore_run(tmp_path, "zzz")
