"""A run folder cannot lose data: one owner at a time, clean stops, safe checkpoints, clean resumes.

These tests run ``collop`` in real processes and signal or kill them.
"""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from collop.cli import main
from collop.runs import RunFolder, run_owner, signal_run

from .conftest import LONG, collop_process, n_epochs, wait_for


def _train_argv(tiny, out, curriculum=LONG, *extra):
    return ["train", "fp", tiny / "ps.nc", "--train", "a,b", "--test", "c", "--model", "tensor", "--nt", "2",
            "--curriculum", curriculum, "--out", out, *extra]


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("collop: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_a_second_claimant_is_refused_and_sigterm_stops_cleanly(tiny, tmp_path):
    out = tmp_path / "run"
    a = collop_process("-q", *_train_argv(tiny, out))
    try:
        wait_for(lambda: (out / "events.jsonl").exists() and n_epochs(out) >= 3, proc=a)
        for extra in ([], ["--resume"]):       # a fresh start and a resume both see the owner
            b = collop_process("-q", *_train_argv(tiny, out), *extra)
            _, err = b.communicate(timeout=120)
            assert b.returncode == 2
            line = _one_line(err)
            assert f"process {a.pid}" in line and "in use" in line
        assert RunFolder(out).read()["pid"] == a.pid          # run.json still describes run A
        a.send_signal(signal.SIGTERM)
        _, err = a.communicate(timeout=120)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 130 and "Traceback" not in err
    info = RunFolder(out).read()
    assert info["status"] == "stopped"
    assert (out / "operator.nc").exists() and json.loads((out / "metrics.json").read_text())["status"] == "stopped"
    assert run_owner(out) is None                              # the lock was given back


@pytest.mark.parametrize("delay", [0.3, 1.5, 3.0])
def test_ctrl_c_at_any_moment_prints_no_traceback(tiny, tmp_path, delay):
    """Early (imports, validation) or late (training): one line at most, never a traceback."""
    out = tmp_path / "run"
    p = collop_process("-q", *_train_argv(tiny, out))
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:      # a clean stop waits for the epoch: ask once more
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    assert "Traceback" not in err, err
    # 130, or death by SIGINT, which a shell also reports as 130: CPython re-raises SIGINT at exit
    # when the interrupt landed inside code that a C extension ran with PyRun_* during an import
    assert p.returncode in (130, -signal.SIGINT), err
    if out.exists() and (out / "run.json").exists():           # it had started: a clean stop
        assert RunFolder(out).read()["status"] == "stopped"
    else:                                                        # interrupted before: nothing left
        assert not out.exists()


def test_resume_after_sigkill_leaves_no_orphans_or_duplicated_epochs(tiny, tmp_path):
    out = tmp_path / "run"
    curriculum = "1:1e-3:250,2:1e-3:150"
    p = collop_process("-q", *_train_argv(tiny, out, curriculum))
    wait_for(lambda: (out / "checkpoint.pt").exists() and n_epochs(out) >= 130, proc=p)
    p.kill()
    p.wait()
    (out / ".operator.nc.x1y2z3.tmp").write_bytes(b"half a file")          # a writer killed mid-write
    (out / "snapshots" / ".000150.nc.abcd.tmp").write_bytes(b"half a file")
    assert RunFolder(out).read()["status"] == "running" and run_owner(out) is None
    q = collop_process("-q", *_train_argv(tiny, out, curriculum), "--resume")
    _, err = q.communicate(timeout=300)
    assert q.returncode == 0, err
    assert not list(out.glob(".*.tmp")) and not list((out / "snapshots").glob(".*.tmp"))
    ev = RunFolder(out).events()
    epochs = [(e["stage"], e["epoch"]) for e in ev if e["event"] == "epoch"]
    assert len(epochs) == len(set(epochs)) == 400
    assert [e["event"] for e in ev].count("done") == 1 and ev[-1]["event"] == "done"
    info = RunFolder(out).read()
    assert info["status"] == "finished" and len(info["resumed"]) == 1


class _Payload:
    """Unpickling this runs ``touch MARKER``: what a crafted checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _finished_run(tiny, out):
    assert main(["-q", *map(str, _train_argv(tiny, out, "1:1e-2:3"))]) == 0


def _resume_in_process(tiny, out, capsys):
    """``collop train ... --resume`` in this process: (exit status, stderr)."""
    capsys.readouterr()
    code = main(["-q", *map(str, _train_argv(tiny, out, "1:1e-2:3")), "--resume"])
    return code, capsys.readouterr().err


def test_a_crafted_checkpoint_is_inert(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    _finished_run(tiny, out)
    marker = tmp_path / "pwned"
    torch.save({"operator": _Payload(marker), "optimizer": {}, "state": {}, "curriculum": []},
               out / "checkpoint.pt", pickle_module=pickle)
    before = (out / "run.json").read_bytes()
    code, err = _resume_in_process(tiny, out, capsys)
    assert code == 2 and "checkpoint.pt" in _one_line(err)
    assert not marker.exists()                          # nothing in the file was executed
    assert (out / "run.json").read_bytes() == before


def test_a_truncated_checkpoint_names_the_file_and_keeps_run_json(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    _finished_run(tiny, out)
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    before = (out / "run.json").read_bytes()
    code, err = _resume_in_process(tiny, out, capsys)
    assert code == 2
    line = _one_line(err)
    assert str(ck) in line and "checkpoint" in line
    assert (out / "run.json").read_bytes() == before      # still 'finished'


def test_stop_signals_only_the_process_that_owns_the_run(tiny, tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    out = tmp_path / "run"
    try:
        # a finished run whose files name a live, unrelated process: nothing is signalled
        _finished_run(tiny, out)
        info = json.loads((out / "run.json").read_text())
        (out / "run.json").write_text(json.dumps({**info, "status": "running", "pid": bystander.pid}))
        (out / ".lock").write_text(json.dumps({"pid": bystander.pid, "host": info["host"]}))
        assert "not running" in signal_run(out)
        # a live run whose lock file was rewritten to name the bystander: refused, bystander untouched
        live = tmp_path / "live"
        a = collop_process("-q", *_train_argv(tiny, live))
        try:
            wait_for(lambda: (live / "events.jsonl").exists() and n_epochs(live) >= 1, proc=a)
            owner = run_owner(live)
            assert owner["pid"] == a.pid
            with open(live / ".lock", "r+") as fh:       # same inode: the owner's lock stays held
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps({**owner, "pid": bystander.pid}))
            msg = signal_run(live)
            assert "not signalled" in msg and a.poll() is None
        finally:
            a.kill()
            a.wait()
        time.sleep(0.2)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
