"""``collop sweep run|select|show``: flags, one-line errors that write nothing, Ctrl-C, resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collop import cli

from .conftest import base_spec, read_json

ROOT = Path(__file__).resolve().parents[2]


def _main(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("collop: error: "), err
    return lines[0]


def _write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_bad_input_is_one_line_and_writes_nothing(sweep_files, tmp_path, capsys):
    out = tmp_path / "out"
    base = base_spec(sweep_files)
    cases = [
        (_write(tmp_path / "empty.json", {"base": base, "axes": {}}), [], "axes: empty grid"),
        (_write(tmp_path / "nolist.json", {"base": base, "axes": {"seed": []}}), [], "axes.seed: empty list"),
        (_write(tmp_path / "bad.json", '{"base": {'), [], "bad.json: not JSON"),
        (_write(tmp_path / "list.json", "[1, 2]"), [], "expected a JSON/YAML mapping"),
        (_write(tmp_path / "ok.json", {"base": base, "axes": {"seed": [0]}}), ["--axis", "bogus=1"],
         "axes.bogus: unknown field 'bogus'"),
        (tmp_path / "ok.json", ["--axis", "options.nt=1,0"], "axes.options.nt[1] = 0: options.nt:"),
        (tmp_path / "ok.json", ["--axis", "options.nt"], "--axis 'options.nt': expected PATH=VALUE"),
        (tmp_path / "ok.json", ["--set", "options.model=tree"], "base.options.model:"),
        (tmp_path / "ok.json", ["--train", "centre,nowhere"], "nowhere"),
        (tmp_path / "missing.json", [], "missing.json: cannot be read"),
        (sweep_files / "ps.nc", ["--axis", "seed=0,1"], "a data file needs --train"),
        (tmp_path / "ok.json", ["--scheduler", "tcp://127.0.0.1:1"],
         "--scheduler tcp://127.0.0.1:1: cannot connect"),
        (tmp_path / "ok.json", ["--scheduler", "no:such:address"], "not a scheduler address"),
        (tmp_path / "ok.json", ["--scheduler", str(tmp_path / "sched.json")], "scheduler file"),
    ]
    for spec, extra, words in cases:
        t0 = time.perf_counter()
        code, _, err = _main(["sweep", "run", spec, "--out", out, *extra], capsys)
        line = _one_line(err)
        assert code == 2 and words in line, (words, line)
        assert time.perf_counter() - t0 < 20        # e.g. an unreachable scheduler fails at once
        assert not out.exists()
    code, _, err = _main(["sweep", "run", tmp_path / "ok.json"], capsys)
    assert code == 2 and "--out: the sweep folder is required" in _one_line(err)


def test_run_show_and_resume_on_an_existing_scheduler(cluster, sweep_files, tmp_path, capsys):
    out = tmp_path / "sweep"
    addr = cluster.client.scheduler.address
    argv = ["-q", "sweep", "run", sweep_files / "ps.nc", "--train", "centre,right", "--test", "down",
            "--set", "options.model=tensor", "--set", "options.nt=1", "--curriculum", "1:1e-2:10",
            "--axis", "seed=0,1", "--axis", "penalties.reg_velocity=0,1e-2", "--out", out, "--scheduler", addr]
    code, stdout, err = _main(argv, capsys)
    assert code == 0, err
    index = read_json(out / "sweep.json")
    assert index["status"] == "finished" and len(index["points"]) == 4
    assert index["spec"]["axes"] == {"seed": [0, 1], "penalties.reg_velocity": [0, 0.01]}
    assert index["spec"]["base"]["options"] == {"model": "tensor", "nt": 1}
    code, stdout, _ = _main(["sweep", "show", out, "--by", "penalties.reg_velocity", "--json"], capsys)
    rows = json.loads(stdout)
    assert code == 0 and [r["n"] for r in rows] == [2, 2]
    maes = [p["metrics"]["rollout_mae"] for p in index["points"] if p["values"]["penalties.reg_velocity"] == 0]
    assert rows[0]["rollout_mae_mean"] == pytest.approx(sum(maes) / 2, rel=1e-12)
    # the folder is its own spec: rerunning it runs nothing
    code, stdout, _ = _main(["sweep", "run", out, "--scheduler", addr], capsys)
    assert code == 0 and stdout.startswith("finished: 4 finished")
    assert read_json(out / "sweep.json")["points"] == index["points"]


def test_select_prints_the_folds_and_the_choice(cluster, sweep_files, tmp_path, capsys):
    spec = _write(tmp_path / "sel.json", {"base": base_spec(sweep_files, curriculum="1:1e-2:10"),
                                          "axes": {"penalties.reg_velocity": [0, 1e-1]}})
    code, stdout, err = _main(["-q", "sweep", "select", spec, "--out", tmp_path / "sel", "--aggregate", "mean",
                               "--truth", sweep_files / "truth.nc", "--scheduler", cluster.client.scheduler.address],
                              capsys)
    assert code == 0, err
    saved = read_json(tmp_path / "sel" / "selection.json")
    assert saved["aggregate"] == "mean"
    chosen = saved["chosen"]["penalties.reg_velocity"]
    assert "score = arithmetic mean over 2 folds" in stdout and "<- chosen" in stdout
    assert f"final (penalties.reg_velocity={chosen:g})" in stdout and "coefficient rel. L2: A_par" in stdout


@pytest.mark.slow     # ~40 s quiet, minutes on a busy machine: two collop processes and a 3000-epoch point
def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(cluster, sweep_files, tmp_path):
    """SIGINT to ``collop sweep run``: running points stop after an epoch, exit 130, then resume."""
    spec = _write(tmp_path / "s.json", {"base": base_spec(sweep_files),
                                        "axes": {"curriculum": ["1:1e-2:10", "1:1e-2:3000", "1:1e-2:11"]}})
    out = tmp_path / "sweep"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "collop", "-q", "sweep", "run", str(spec), "--out", str(out),
            "--scheduler", cluster.client.scheduler.address]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 240
        while time.monotonic() < end:
            if (out / "sweep.json").exists() and any(
                    p["status"] == "finished" for p in read_json(out / "sweep.json")["points"]):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    index = read_json(out / "sweep.json")
    assert index["status"] == "stopped"
    long_id = next(p["id"] for p in index["points"] if p["values"]["curriculum"] == "1:1e-2:3000")
    assert read_json(out / long_id / "run.json")["status"] == "stopped"
    done = {p["id"] for p in index["points"] if p["status"] == "finished"}
    before = {i: (out / i / "operator.nc").read_bytes() for i in done}
    rerun = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    after = read_json(out / "sweep.json")
    assert after["status"] == "finished" and all(p["status"] == "finished" for p in after["points"])
    assert before == {i: (out / i / "operator.nc").read_bytes() for i in done}      # not rerun
    assert read_json(out / long_id / "metrics.json")["epochs"] == 3000
    assert len(read_json(out / long_id / "run.json")["resumed"]) == 1
