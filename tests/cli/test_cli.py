"""Tests of the ``collop`` command line (:mod:`collop.cli`), run in-process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run_cli

from collop import cli
from collop.datasets import isotropic_operator_dataset, phasespace_dataset
from collop.grid import VelocityGrid
from collop.io import open_dataset, write_dataset
from collop.metrics import rollout
from collop.runs import RunFolder, list_runs
from collop.sim.langevin import default_truth, generate

ROOT = Path(__file__).resolve().parents[2]
CURRICULUM = "1:1e-2:5,2:1e-2:5"
METRIC_KEYS = {"rollout_mae", "rollout_mae_std", "rollout_l1_rel", "per_population", "train_seconds",
               "status", "method", "train", "test", "best_loss", "seed"}
GRID = VelocityGrid.regular(21, 4.0)
TIMES = np.arange(8.0)


def _truth_operator(velocity_units="u"):
    s = GRID.speed_nodes()
    nt = TIMES.size
    return isotropic_operator_dataset(TIMES, s, -0.05 * s[None] * np.ones((nt, 1)), np.full((nt, s.size), 0.02),
                                      np.full((nt, s.size), 0.03), method="truth",
                                      velocity_units=velocity_units, time_units="t", source="test")


def _phasespace():
    """Three Gaussians rolled forward by a known isotropic operator: 21 x 21 bins, 8 frames."""
    VX, VY = GRID.mesh()
    f0 = []
    for mx, my in [(0.0, 0.0), (-1.0, 0.0), (1.0, 1.0)]:
        f = np.exp(-((VX - mx) ** 2 + (VY - my) ** 2) / (2 * 0.5 ** 2))
        f0.append(f / (f.sum() * GRID.h ** 2))
    F = np.repeat(np.array(f0)[:, None], TIMES.size, 1)
    ds = phasespace_dataset(F, TIMES, GRID.vx, GRID.vy, ["a", "b", "c"], [1000] * 3, velocity_units="u",
                            time_units="t", source="test")
    ds["f"].values[:] = np.clip(rollout(_truth_operator(), ds, ["a", "b", "c"]).values, 0, None)
    return ds


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def data(work):
    path = work / "ps.nc"
    write_dataset(_phasespace(), path)
    return path


@pytest.fixture(scope="module")
def trained(work, data):
    """One ``train fp`` run shared by several tests: (exit status, run folder)."""
    out = work / "run_tensor"
    code = cli.main(["-q", "train", "fp", str(data), "--train", "a,b", "--model", "tensor",
                     "--curriculum", CURRICULUM, "--smooth", "1", "--reg-velocity", "1e-3",
                     "--out", str(out)])
    return code, out


# --- train fp and evaluate -------------------------------------------------------------------

def test_train_fp_writes_operator_and_metrics(trained):
    code, out = trained
    assert code == 0
    op = open_dataset(out / "operator.nc", "operator")
    assert op.attrs["operator"] == "fokker_planck_isotropic"
    assert op.attrs["method"] == "ps-tensor"
    assert op.attrs["train"] == "a,b" and op.attrs["test"] == "a,b,c"
    assert op.attrs["status"] == "finished" and op.attrs["curriculum"] == CURRICULUM
    assert op.attrs["smooth"] == 1.0
    assert (op.attrs["reg_velocity"], op.attrs["reg_velocity_order"]) == (1e-3, 2)
    speed = op["speed"].values
    assert speed[0] == 0 and GRID.corner_speed <= speed[-1] < GRID.corner_speed + GRID.h
    assert op.sizes["time"] == TIMES.size
    m = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(m)
    assert set(m["per_population"]) == {"a", "b", "c"}
    assert m["status"] == "finished" and m["train"] == ["a", "b"] and m["test"] == ["a", "b", "c"]
    assert np.isfinite(m["rollout_mae"]) and m["train_seconds"] > 0
    assert (out / "checkpoint.pt").exists()


def test_evaluate_reproduces_metrics(trained, data, capsys, tmp_path):
    _, out = trained
    res = tmp_path / "eval.json"
    code, stdout, err = run_cli(capsys, "evaluate", "--operator", out / "operator.nc", "--data", data,
                                "--out", res)
    assert code == 0, err
    printed = json.loads(stdout)
    m = json.loads((out / "metrics.json").read_text())
    assert printed["rollout_mae"] == m["rollout_mae"]
    assert printed["per_population"] == m["per_population"]
    assert json.loads(res.read_text()) == printed
    code, stdout, _ = run_cli(capsys, "evaluate", "--operator", out / "operator.nc", "--data", data,
                              "--populations", "c")
    assert code == 0 and list(json.loads(stdout)["per_population"]) == ["c"]
    assert json.loads(stdout)["rollout_mae"] == m["per_population"]["c"]


def test_run_json_and_events(trained):
    _, out = trained
    run = RunFolder(out)
    info = run.read()
    assert info["status"] == "finished" and info["kind"] == "fp" and info["method"] == "ps-tensor"
    assert info["id"] == out.name and info["pid"] == os.getpid()
    assert info["params"]["curriculum"] == CURRICULUM
    assert info["metrics"]["rollout_mae"] == json.loads((out / "metrics.json").read_text())["rollout_mae"]
    ev = run.events()
    kinds = [e["event"] for e in ev]
    assert kinds.count("stage") == 2 and kinds.count("epoch") == 10 and kinds[-1] == "done"
    assert {"stage", "epoch", "loss", "seconds"} <= set(ev[1])


def test_train_fp_full_symmetry_and_nn(work, data, capsys):
    out = work / "run_full"
    code, _, err = run_cli(capsys, "-q", "train", "fp", data, "--train", "a", "--test", "b,c", "--model",
                           "tensor", "--symmetry", "full", "--nt", "2", "--curriculum", "1:1e-2:2",
                           "--out", out)
    assert code == 0, err
    op = open_dataset(out / "operator.nc", "operator")
    assert op.attrs["operator"] == "fokker_planck_full"
    assert op["A"].dims == ("time", "component", "vx", "vy") and op.sizes["time"] == 2
    assert json.loads((out / "metrics.json").read_text())["test"] == ["b", "c"]

    out = work / "run_nn"
    code, _, err = run_cli(capsys, "train", "fp", data, "--train", "a,c", "--model", "nn", "--threads", "2",
                           "--curriculum", "1:1e-3:2", "--seed", "3", "--out", out)
    assert code == 0, err
    op = open_dataset(out / "operator.nc", "operator")
    assert op.attrs["method"] == "ps-nn" and op.attrs["operator"] == "fokker_planck_isotropic"
    assert json.loads((out / "metrics.json").read_text())["seed"] == 3


def test_threads_restored(data, tmp_path, capsys):
    before = torch.get_num_threads()
    code, _, _ = run_cli(capsys, "--threads", "1", "evaluate", "--operator", tmp_path / "missing.nc",
                         "--data", data)
    assert code == 2 and torch.get_num_threads() == before


# --- bad input ---------------------------------------------------------------------------------

def _raw_write(ds, path):
    """Write without validation (to make broken files)."""
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def _bad_files(tmp, particles):
    ps = _phasespace()
    bad = {}
    bad["wrong_kind"] = (particles, "is a particles file")
    bad["missing_f"] = (_raw_write(ps.drop_vars("f"), tmp / "nof.nc"), "missing variable 'f'")
    t = ps.copy()
    t["f"] = (("population", "time", "vy", "vx"), ps["f"].values)
    bad["transposed"] = (_raw_write(t, tmp / "transposed.nc"), "dimensions")
    r = ps.rename_dims({"vx": "u"})
    bad["renamed"] = (_raw_write(r, tmp / "renamed.nc"), "dimensions")
    for kind, val in (("nan", np.nan), ("inf", np.inf)):
        n = ps.copy(deep=True)
        n["f"].values[0, 2, 3, 4] = val
        bad[kind] = (_raw_write(n, tmp / f"{kind}.nc"), "NaN or Inf")
    bad["missing_file"] = (tmp / "does_not_exist.nc", "no such file")
    garbage = tmp / "garbage.nc"
    garbage.write_bytes(os.urandom(2048))
    bad["garbage"] = (garbage, "cannot be read")
    return bad


@pytest.fixture(scope="module")
def bad_files(work, particles):
    d = work / "bad"
    d.mkdir()
    return _bad_files(d, particles)


def _assert_one_line_error(err, *words):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("collop: error: ")
    for w in words:
        assert str(w) in lines[0], (w, lines[0])


@pytest.mark.parametrize("case", ["wrong_kind", "missing_f", "transposed", "renamed", "nan", "inf",
                                  "missing_file", "garbage"])
def test_train_fp_bad_file(case, bad_files, tmp_path, capsys):
    path, problem = bad_files[case]
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "train", "fp", path, "--train", "a", "--model", "tensor",
                           "--curriculum", "1:1e-2:1", "--out", out)
    assert code == 2
    _assert_one_line_error(err, path, problem)
    assert not out.exists()


@pytest.mark.parametrize("opt,value,word", [("--train", "a,zz,yy", "zz, yy"), ("--test", "q", "q")])
def test_train_fp_unknown_population(opt, value, word, data, tmp_path, capsys):
    out = tmp_path / "deep" / "out"
    args = ["train", "fp", data, "--model", "tensor", "--curriculum", "1:1e-2:1", "--out", out, opt, value]
    if opt == "--test":
        args += ["--train", "a"]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    _assert_one_line_error(err, data, "unknown population", word)
    assert not out.exists() and not out.parent.exists()


@pytest.mark.parametrize("extra,word", [
    (["--model", "foo"], "--model"),
    (["--model", "tensor", "--nt", "0"], "--nt"),
    (["--model", "tensor", "--reg", "-1"], "--reg"),
    (["--model", "tensor", "--curriculum", "1:x"], "--curriculum"),
    (["--model", "tensor", "--curriculum", "0:1e-2:5"], "--curriculum"),
    (["--model", "tensor", "--reg-order", "3"], "--reg-order"),
    (["--model", "tensor", "--reg-velocity", "-1"], "--reg-velocity"),
    (["--model", "tensor", "--reg-velocity-order", "0"], "--reg-velocity-order"),
])
def test_train_fp_bad_options(extra, word, data, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "train", "fp", data, "--train", "a", "--out", out, *extra)
    assert code == 2
    _assert_one_line_error(err, word)
    assert not out.exists()


def test_train_fp_refuses_existing_run(trained, data, capsys):
    _, out = trained
    before = (out / "run.json").read_text()
    code, _, err = run_cli(capsys, "train", "fp", data, "--train", "a,b", "--model", "tensor",
                           "--curriculum", CURRICULUM, "--out", out)
    assert code == 2
    _assert_one_line_error(err, "already holds a run", "--resume")
    assert (out / "run.json").read_text() == before
    code, _, err = run_cli(capsys, "train", "fp", data, "--train", "a", "--model", "tensor",
                           "--curriculum", CURRICULUM, "--resume", "--out", out)
    assert code == 2
    _assert_one_line_error(err, "train")


def test_evaluate_bad_inputs(trained, data, bad_files, work, capsys):
    _, out = trained
    op = out / "operator.nc"
    code, _, err = run_cli(capsys, "evaluate", "--operator", data, "--data", data)
    assert code == 2
    _assert_one_line_error(err, data, "is a phasespace file, expected an operator file")
    other = write_dataset(_truth_operator(velocity_units="0.01c"), work / "other_units.nc")
    code, _, err = run_cli(capsys, "evaluate", "--operator", other, "--data", data)
    assert code == 2
    _assert_one_line_error(err, other, data, "velocity_units")
    path, _ = bad_files["nan"]
    code, _, err = run_cli(capsys, "evaluate", "--operator", op, "--data", path)
    assert code == 2
    _assert_one_line_error(err, path, "NaN")
    code, _, err = run_cli(capsys, "evaluate", "--operator", op, "--data", data, "--populations", "x")
    assert code == 2
    _assert_one_line_error(err, "unknown population")


def test_no_command_and_missing_options(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2
    _assert_one_line_error(err, "no command")
    code, _, err = run_cli(capsys, "train", "fp")
    assert code == 2
    _assert_one_line_error(err, "required")


# --- stop, divergence, failure, resume -----------------------------------------------------------

def test_sigint_stops_cleanly_and_resume_finishes(work, data, capsys):
    out = work / "run_stop"
    events = out / "events.jsonl"
    long = "1:1e-2:100000"

    def interrupt():
        deadline = time.time() + 60
        while time.time() < deadline:
            if events.exists() and '"epoch"' in events.read_text():
                break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    handler = signal.getsignal(signal.SIGINT)
    th = threading.Thread(target=interrupt, daemon=True)
    th.start()
    code, _, err = run_cli(capsys, "-q", "train", "fp", data, "--train", "a", "--model", "tensor",
                           "--curriculum", long, "--out", out)
    th.join()
    assert code == 130, err
    run = RunFolder(out)
    assert run.read()["status"] == "stopped"
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "stopped" and m["epochs"] < 100000
    assert open_dataset(out / "operator.nc", "operator").attrs["status"] == "stopped"
    assert (out / "checkpoint.pt").exists()
    assert signal.getsignal(signal.SIGINT) is handler

    # a resumed run starts from the checkpoint; with another curriculum it is refused
    code, _, err = run_cli(capsys, "-q", "train", "fp", data, "--train", "a", "--model", "tensor",
                           "--curriculum", "1:1e-2:3", "--resume", "--out", out)
    assert code == 2
    _assert_one_line_error(err, "curriculum")


def test_resume_continues_a_run(work, data, capsys):
    out = work / "run_resume"
    args = ["-q", "train", "fp", data, "--train", "a", "--model", "tensor", "--curriculum", CURRICULUM,
            "--out", out]
    assert run_cli(capsys, *args)[0] == 0
    n_events = len(RunFolder(out).events())
    code, _, err = run_cli(capsys, *args, "--resume")
    assert code == 0, err
    info = RunFolder(out).read()
    assert info["status"] == "finished" and len(info["resumed"]) == 1
    ev = RunFolder(out).events()
    assert len(ev) > n_events and ev[-1]["event"] == "done"
    assert not [e for e in ev[n_events:] if e["event"] == "epoch"]  # nothing left to train


def test_a_run_from_before_estimate_every_resumes_only_with_estimate_every_1(work, data, capsys):
    # runs started before the option estimated the sub-steps every epoch: resuming one with the
    # new default (10) would not be the same training, so it asks for --estimate-every 1
    out = work / "run_legacy"
    args = ["-q", "train", "fp", data, "--train", "a", "--model", "tensor", "--curriculum", CURRICULUM,
            "--out", out]
    assert run_cli(capsys, *args)[0] == 0
    run = RunFolder(out)
    info = json.loads(run.run_file.read_text())
    del info["spec"]["objective"]["estimate_every"]
    run.run_file.write_text(json.dumps(info))
    code, _, err = run_cli(capsys, *args, "--resume")
    assert code == 2
    _assert_one_line_error(err, "objective", "estimate_every")
    code, _, err = run_cli(capsys, *args, "--estimate-every", "1", "--resume")
    assert code == 0, err
    assert RunFolder(out).read()["status"] == "finished"


def test_diverged_run_writes_best_weights(work, data, capsys, monkeypatch):
    from collop.objectives import RolloutMAE

    real = RolloutMAE.loss
    calls = {"n": 0}

    def loss(self, *a, **k):
        calls["n"] += 1
        value, info = real(self, *a, **k)
        return (value * float("nan"), info) if calls["n"] > 3 else (value, info)

    monkeypatch.setattr(RolloutMAE, "loss", loss)
    out = work / "run_diverged"
    code, _, err = run_cli(capsys, "-q", "train", "fp", data, "--train", "a", "--model", "tensor",
                           "--curriculum", CURRICULUM, "--out", out)
    assert code == 3
    _assert_one_line_error(err, "diverged")
    assert RunFolder(out).read()["status"] == "diverged"
    assert json.loads((out / "metrics.json").read_text())["status"] == "diverged"
    op = open_dataset(out / "operator.nc", "operator")
    assert op.attrs["status"] == "diverged" and np.all(np.isfinite(op["D_par"].values))


def test_failure_after_start_keeps_run_folder(work, data, capsys, monkeypatch):
    import collop.metrics

    def broken(*a, **k):
        raise RuntimeError("metric exploded")

    monkeypatch.setattr(collop.metrics, "evaluate", broken)
    out = work / "run_failed"
    code, _, err = run_cli(capsys, "-q", "train", "fp", data, "--train", "a", "--model", "tensor",
                           "--curriculum", "1:1e-2:1", "--out", out)
    assert code == 1 and "metric exploded" in err
    info = RunFolder(out).read()
    assert info["status"] == "failed" and "metric exploded" in info["error"]


def test_failure_before_start_removes_out(work, data, capsys, monkeypatch):
    from collop.operators.fokker_planck import FokkerPlanck
    from collop.schema import CollopError

    def broken(*a, **k):
        raise CollopError("cannot build")

    monkeypatch.setattr(FokkerPlanck, "build", broken)
    out = work / "run_never" / "x"
    code, _, err = run_cli(capsys, "train", "fp", data, "--train", "a", "--model", "tensor",
                           "--curriculum", "1:1e-2:1", "--out", out)
    assert code == 2
    _assert_one_line_error(err, "cannot build")
    assert not out.parent.exists()


# --- generate, phasespace, tracks ---------------------------------------------------------------

@pytest.fixture(scope="module")
def particles(work):
    path = work / "particles.nc"
    ds = generate(default_truth(), "waterbag_2", n_particles=3000, n_frames=5, seed=1)
    write_dataset(ds, path)
    return path


def test_tracks_writes_operator(particles, work, capsys):
    out = work / "tracks_iso"
    code, _, err = run_cli(capsys, "-q", "tracks", particles, "--ndump", "2", "--n-bins", "11", "--out", out)
    assert code == 0, err
    op = open_dataset(out / "operator.nc", "operator")
    assert op.attrs["method"] == "tracks" and op.attrs["ndump"] == 2
    assert op.attrs["operator"] == "fokker_planck_isotropic"
    assert not (out / "metrics.json").exists()
    # a run folder like train fp's, so the app lists CLI Tracks runs too
    info = RunFolder(out).read()
    assert info["kind"] == "tracks" and info["method"] == "tracks" and info["status"] == "finished"
    assert info["params"]["ndump"] == 2
    assert [e["event"] for e in RunFolder(out).events()] == ["stage", "done"]
    assert [r["id"] for r in list_runs(work) if r["id"] == "tracks_iso"] == ["tracks_iso"]
    code, _, err = run_cli(capsys, "-q", "tracks", particles, "--ndump", "2", "--out", out)
    assert code == 2
    _assert_one_line_error(err, str(out), "already holds a run")


def test_tracks_bad_inputs(particles, data, work, tmp_path, capsys):
    out = tmp_path / "out"
    for args, words in [(["--ndump", "9"], ["--ndump", "6 frames"]),
                        (["--ndump", "1", "--grid-from", data], [data, "velocity_units"]),
                        (["--ndump", "1", "--populations", "a"], ["--data"])]:
        code, _, err = run_cli(capsys, "tracks", particles, *args, "--out", out)
        assert code == 2
        _assert_one_line_error(err, *words)
        assert not out.exists()
    code, _, err = run_cli(capsys, "tracks", data, "--ndump", "1", "--out", out)
    assert code == 2
    _assert_one_line_error(err, data, "expected a particles file")


def test_generate_phasespace_tracks_chain(work, capsys):
    parts, truth = work / "lg.nc", work / "truth.nc"
    code, _, err = run_cli(capsys, "-q", "generate", "langevin", "--out", parts, "--n-particles", "20000",
                           "--frames", "4", "--seed", "2", "--truth-out", truth)
    assert code == 0, err
    p = open_dataset(parts, "particles")
    assert p.sizes["time"] == 5 and p.sizes["particle"] == 20000
    t = open_dataset(truth, "operator")
    assert t.attrs["method"] == "truth" and np.allclose(t["time"].values, p["time"].values)
    assert t["speed"].values[0] == 0

    ps = work / "lg_ps.nc"
    code, _, err = run_cli(capsys, "-q", "phasespace", parts, "--populations", "normal_0_0,ring_1.0",
                           "--n-particles", "2000", "--n-bins", "21", "--vmax", "3", "--out", ps)
    assert code == 0, err
    d = open_dataset(ps, "phasespace")
    assert list(d["population"].values) == ["normal_0_0", "ring_1.0"] and d.sizes["vx"] == 21
    assert d.attrs["particles_file"] == "lg.nc"          # relative to the phase-space file
    assert d.attrs["deposit"] == "tsc"                   # the default particle shape
    ps_ngp = work / "lg_ps_ngp.nc"
    code, _, err = run_cli(capsys, "-q", "phasespace", parts, "--populations", "normal_0_0,ring_1.0",
                           "--n-particles", "2000", "--n-bins", "21", "--vmax", "3", "--deposit", "ngp",
                           "--out", ps_ngp)
    assert code == 0, err
    dn = open_dataset(ps_ngp, "phasespace")
    assert dn.attrs["deposit"] == "ngp"
    # same particles, same mass; the shape spreads it (fewer empty bins)
    np.testing.assert_allclose(d["f"].sum(("vx", "vy")), dn["f"].sum(("vx", "vy")), rtol=2e-3)
    assert int((d["f"] == 0).sum()) < int((dn["f"] == 0).sum())

    out = work / "tracks_metrics"
    code, _, err = run_cli(capsys, "-q", "tracks", parts, "--ndump", "1", "--symmetry", "full",
                           "--grid-from", ps, "--data", ps, "--populations", "ring_1.0", "--out", out)
    assert code == 0, err
    op = open_dataset(out / "operator.nc", "operator")
    assert op.attrs["operator"] == "fokker_planck_full"
    assert np.allclose(op["vx"].values, d["vx"].values)
    m = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(m) and m["method"] == "tracks" and m["test"] == ["ring_1.0"]
    code, stdout, _ = run_cli(capsys, "evaluate", "--operator", out / "operator.nc", "--data", ps,
                              "--populations", "ring_1.0")
    assert code == 0 and json.loads(stdout)["rollout_mae"] == m["rollout_mae"]


def test_generate_and_phasespace_bad_inputs(particles, work, tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", "langevin", "--out", tmp_path / "p.nc", "--initial", "blob_3")
    assert code == 2
    _assert_one_line_error(err, "blob_3")
    assert not (tmp_path / "p.nc").exists()
    code, _, err = run_cli(capsys, "generate", "langevin", "--out", tmp_path / "no" / "p.nc")
    assert code == 2
    _assert_one_line_error(err, "does not exist")
    code, _, err = run_cli(capsys, "phasespace", particles, "--populations", "table4,nope_1",
                           "--out", tmp_path / "ps.nc")
    assert code == 2
    _assert_one_line_error(err, "nope_1")
    code, _, err = run_cli(capsys, "phasespace", particles, "--populations", "ring_1.0", "--t0", "6",
                           "--out", tmp_path / "ps.nc")
    assert code == 2
    _assert_one_line_error(err, "--t0")
    assert not (tmp_path / "ps.nc").exists()


def test_version_subprocess():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "collop", "--version"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    from collop import __version__
    assert r.stdout.strip() == f"collop {__version__}"
