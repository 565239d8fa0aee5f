"""``collop rollout`` and the metriplectic workflow on the command line (train, rollout, evaluate), in-process."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import run_cli

from collop import cli
from collop.io import open_dataset, write_dataset
from collop.kinetic.kernels import LandauKernel
from collop.kinetic.rollout import known_truth

RUNS = ("uniform", "bimaxwellian", "trimodal")


@pytest.fixture(scope="module")
def md_file(tmp_path_factory):
    ds = known_truth(LandauKernel(1.0), runs=RUNS, n=1000, times=np.linspace(0, 1.0, 5), angle=0.2, seed=1)
    return write_dataset(ds, tmp_path_factory.mktemp("cli") / "md.nc")


@pytest.fixture(scope="module")
def trained(md_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cm2"
    code = cli.main(["-q", "train", "metriplectic", str(md_file), "--model", "cm2", "--train",
                     "uniform,bimaxwellian", "--test", "trimodal", "--steps", "20", "--pairs", "2000",
                     "--max-points", "200", "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_a_run_folder(trained):
    m = json.loads((trained / "metrics.json").read_text())
    assert m["method"] == "cm2" and m["epochs"] == 20 and m["train"] == ["uniform", "bimaxwellian"]
    assert np.isfinite(m["energy_distance"])
    spec = json.loads((trained / "run.json").read_text())["spec"]
    assert spec["objective"]["pairs"] == 2000 and spec["curriculum"] == "1:0.01:20"


def test_train_refuses_fewer_than_two_pairs(md_file, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "metriplectic", md_file, "--train", "uniform", "--pairs", "1",
                           "--out", tmp_path / "r")
    assert code == 2 and "--pairs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_train_refuses_unknown_runs(md_file, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "metriplectic", md_file, "--train", "uniform,nope",
                           "--out", tmp_path / "r")
    assert code == 2 and "unknown run(s) nope" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_rollout_from_md_runs(trained, md_file, tmp_path, capsys):
    out = tmp_path / "roll.nc"
    code, _, err = run_cli(capsys, "-q", "rollout", "--operator", trained / "operator.nc", "--particles", md_file,
                           "--runs", "trimodal,uniform", "--out", out)
    assert code == 0, err
    ds = open_dataset(out, "particles")
    md = open_dataset(md_file, "particles")
    assert list(ds["run"].values) == ["trimodal", "uniform"]
    assert np.allclose(ds["time"].values, md["time"].values)
    # starts from the MD run's first frame, conserves momentum and energy (float32 file: ~1e-6)
    v0 = md["v"].sel(run="trimodal").isel(time=0).values
    assert np.array_equal(ds["v"].sel(run="trimodal").isel(time=0).values, v0)
    v = ds["v"].sel(run="trimodal").values.astype(np.float64)
    e = (v * v).sum(-1).mean(-1)
    assert np.abs(e / e[0] - 1).max() < 1e-5
    assert np.abs(v.mean(1) - v[0].mean(0)).max() < 1e-5


def test_rollout_of_a_plain_particles_file(trained, md_file, tmp_path, capsys):
    md = open_dataset(md_file, "particles")
    plain = write_dataset(md.isel(run=0, drop=True).drop_vars(["solver_steps", "dt_max"], errors="ignore"),
                          tmp_path / "plain.nc")
    out = tmp_path / "roll.nc"
    code, _, err = run_cli(capsys, "-q", "rollout", "--operator", trained / "operator.nc", "--particles", plain,
                           "--t-end", "0.5", "--frames", "3", "--out", out)
    assert code == 0, err
    ds = open_dataset(out, "particles")
    assert "run" not in ds["v"].dims and np.allclose(ds["time"].values, [0, 0.25, 0.5])


@pytest.mark.parametrize("args,problem", [(["--runs", "nope"], "unknown run"),
                                          (["--frame", "99"], "--frame 99"),
                                          (["--t-end", "-1"], "--t-end"),
                                          (["--angle", "3"], "--angle")])
def test_rollout_bad_input(trained, md_file, tmp_path, capsys, args, problem):
    out = tmp_path / "roll.nc"
    code, _, err = run_cli(capsys, "rollout", "--operator", trained / "operator.nc", "--particles", md_file,
                           *args, "--out", out)
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_rollout_refuses_mismatched_units(trained, md_file, tmp_path, capsys):
    md = open_dataset(md_file, "particles")
    md.attrs["velocity_units"] = "m/s"
    other = write_dataset(md, tmp_path / "other.nc")
    code, _, err = run_cli(capsys, "rollout", "--operator", trained / "operator.nc", "--particles", other,
                           "--out", tmp_path / "roll.nc")
    assert code == 2 and "velocity_units" in err


def test_evaluate_a_metriplectic_operator(trained, md_file, capsys):
    code, out, err = run_cli(capsys, "-q", "evaluate", "--operator", trained / "operator.nc", "--data", md_file,
                             "--populations", "trimodal")
    assert code == 0, err
    res = json.loads(out)
    assert res["metric"] == "energy_distance" and res["test"] == ["trimodal"] and res["method"] == "cm2"
    assert np.isfinite(res["energy_distance"])
