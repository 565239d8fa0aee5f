"""Recovery of a known time-dependent operator from Langevin particle data.

The full-size check (the issue's acceptance test: >= 8 populations of 3e5
particles, 121 frames, 51 x 51, full Table-2 curricula) is marked slow; the
default suite runs a smaller version of the same pipeline:
particles -> sub-populations -> histograms -> PS-Tensor / Tracks -> rollout.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from collop.data import Record
from collop.grid import VelocityGrid
from collop.metrics import coefficient_error, evaluate, speed_support
from collop.operators import FokkerPlanck
from collop.phasespace import build_phasespace
from collop.sim.langevin import default_truth, generate, truth_operator_dataset
from collop.tracks import estimate
from collop.train import Trainer

TRAIN = ["uniform_-5_5_-5_5", "normal_0_0", "normal_-1_-1", "normal_-1_0"]
TEST = ["normal_-2_0", "ring_1.0"]


@pytest.fixture(scope="module")
def small_langevin():
    """6 populations x 6e4 particles, 31 frames, 31 x 31 bins over [-5, 5]^2."""
    truth = default_truth()
    parts = generate(truth, TRAIN + TEST, n_particles=6 * 80_000, n_frames=30, seed=3)
    ps = build_phasespace(parts, TRAIN + TEST, n_bins=31, vmax=5.0, n_particles=60_000, seed=3)
    return parts, ps, truth_operator_dataset(truth, ps)


@pytest.fixture(scope="module")
def small_tensor(small_langevin):
    _, ps, _ = small_langevin
    grid = VelocityGrid.from_dataset(ps)
    op = FokkerPlanck.build("tensor", grid, ps.time.values, nt=4,
                            velocity_units=ps.velocity_units, time_units=ps.time_units)
    zero = op.to_dataset(grid, ps.time.values)
    tr = Trainer("1:1e-2:300,2:1e-2:100,5:1e-2:100,10:1e-2:100", snapshot_every=0,
                 checkpoint_every=0).fit(op, Record.from_dataset(ps, TRAIN))
    return op.to_dataset(grid, ps.time.values), tr, zero


def test_small_ps_tensor_recovers_truth(small_langevin, small_tensor):
    _, ps, truth = small_langevin
    op_ds, tr, zero = small_tensor
    assert tr.status_ == "finished"
    true = evaluate(truth, ps, TEST)["rollout_mae"]
    # the untrained (zero) operator is ~10x worse than the truth, so the bound below is
    # a real test; measured: learned 0.89x the truth (the truth is not the rollout-optimal
    # operator on 30 noisy frames), tolerance 1.5x as in the issue
    assert evaluate(zero, ps, TEST)["rollout_mae"] > 5 * true
    assert evaluate(op_ds, ps, TEST)["rollout_mae"] <= 1.5 * true
    # Coefficients where the particles are plentiful (speed shells holding >= 3% of the
    # particles): measured A_par 0.18, D_par 0.13, D_perp 0.15 (seed 3, tsc deposit; test
    # rollout 0.75x the truth's). With 6e4 particles per population on 31 x 31 bins the
    # sparse high speeds are noise-dominated, so this small set is checked only where it is
    # well sampled; tolerance 0.3.
    err = coefficient_error(op_ds, truth, speed_support(ps, "all", min_fraction=3e-2))
    assert max(err.values()) < 0.3, err
    # drift has the right sign: a sign error in A gives a relative error >= 1
    assert float(op_ds["A_par"].isel(speed=slice(1, 10)).mean()) < 0


def _pull_from_truth(ps, truth_ds, nu=1, epochs=80):
    """Start a tensor operator at the truth, train at fixed N_u, return the D errors."""
    grid = VelocityGrid.from_dataset(ps)
    op = FokkerPlanck.build("tensor", grid, ps.time.values, nt=4)
    sn, tn = op.field.nodes(0).numpy(), op.field.time_nodes.numpy()
    A, Dp, Dq = default_truth().coefficients(sn[None, :], tn[:, None])
    with torch.no_grad():
        op.field.values.copy_(torch.as_tensor(np.stack([A, Dp, Dq], -1) / op.scales.numpy()))
    Trainer([(nu, 3e-3, epochs)], snapshot_every=0, checkpoint_every=0).fit(op, Record.from_dataset(ps, TRAIN))
    err = coefficient_error(op.to_dataset(grid, ps.time.values), truth_ds,
                            speed_support(ps, "all", min_fraction=1e-3))
    return err["D_par"] + err["D_perp"]


def test_tsc_deposit_removes_most_of_the_noise_bias(small_langevin):
    """The finding behind the default deposit (README, "Noise bias"): trained from the truth at
    N_u = 1, plain histograms (ngp) pull D far from the truth because their bin-scale noise jumps
    as particles cross bin edges; tsc deposits of the same particles pull it much less.
    Measured (this set, 80 epochs): D_par + D_perp errors ngp 2.91, tsc 0.65; asserted: tsc < ngp / 2."""
    parts, ps_tsc, truth_ds = small_langevin
    ps_ngp = build_phasespace(parts, TRAIN + TEST, n_bins=31, vmax=5.0, n_particles=60_000, seed=3,
                              deposit="ngp")
    ngp, tsc = _pull_from_truth(ps_ngp, truth_ds), _pull_from_truth(ps_tsc, truth_ds)
    assert tsc < 0.5 * ngp, (tsc, ngp)


def test_small_tracks_recover_truth(small_langevin):
    parts, ps, truth = small_langevin
    op = estimate(parts, ndump=1, grid=VelocityGrid.from_dataset(ps))
    err = coefficient_error(op, truth, speed_support(ps, "all", min_fraction=1e-3))
    # Tracks average dv over every particle of a speed shell (4.8e5 particles): the
    # statistical error is ~ sqrt(2/N_shell) < 3% where the support holds; measured
    # max 0.05 (D_par at the sparsely populated high speeds). Tolerance 10%.
    assert max(err.values()) < 0.10, err
    assert evaluate(op, ps, TEST)["rollout_mae"] <= 1.5 * evaluate(truth, ps, TEST)["rollout_mae"]


def _benchmarks():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_training
    import langevin_data

    return bench_training, langevin_data


def _full_run(model: str, tmp_path, n_train: int = 5, threads: int = 2, extra=()):
    bench_training, langevin_data = _benchmarks()
    train, test = {5: (langevin_data.TRAIN, langevin_data.TEST),
                   7: (langevin_data.TRAIN_7, langevin_data.TEST_7)}[n_train]
    (r,) = bench_training.main(["--models", model, "--nt", "25", "--threads", str(threads),
                                "--train", ",".join(train), "--test", ",".join(test),
                                "--json", str(tmp_path / "bench.json"), *extra])
    assert r["status"] == "finished"
    assert r["test"]["rollout_mae"] <= 1.5 * r["truth_test"]["rollout_mae"], r
    return r


@pytest.mark.slow
def test_full_langevin_recovery_ps_nn(tmp_path):
    """The issue's acceptance test for PS-NN on the shipped full-size set (tsc deposit; about
    5-15 min on 2 cores): Table-2 curriculum, coefficients within 15% (relative L2 over the
    speeds holding >= 1e-3 of the particles, across time), test rollout within 1.5x the truth's."""
    r = _full_run("nn", tmp_path)
    assert max(r["coef_rel_l2"].values()) < 0.15, r


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "not met: PS-Tensor (N_t = 25, Table 2) recovers A_par 13-14%, D_perp 12% and a test rollout "
    "1.2x the truth's, but D_par is 27-31% off: 1.6x the truth at speeds 3-4 and 2.5x beyond "
    "5, where only the uniform training populations constrain it. A speed-smoothness penalty "
    "brings it to 15-16% but cross-validation without the truth does not choose it (README, 'Results')"))
def test_full_langevin_recovery_ps_tensor(tmp_path):
    """The same acceptance test for PS-Tensor (N_t = 25 time nodes, the paper's Fig. 15 value)."""
    r = _full_run("tensor", tmp_path)
    assert max(r["coef_rel_l2"].values()) < 0.15, r


@pytest.mark.slow
@pytest.mark.parametrize("model, threads, extra", [
    ("nn", 2, ()),
    # lambda_v = 1e-3 is what the pre-registered rule (N_train = 7, geometric-mean leave-one-
    # population-out cross-validation, benchmarks/select_reg_velocity.py) chose on the shipped
    # seed-0 set and on an independent seed-1 set; 1 thread makes the sums' order, and so the
    # result, reproducible (measured: D_par 0.146 here, 0.1495 on the seed-1 set)
    ("tensor", 1, ("--reg-velocity", "1e-3")),
])
def test_full_langevin_recovery_seven_training_populations(model, threads, extra, tmp_path):
    """Table 4's N_train = 7 column (Appendix D.4, where the paper's test error plateaus), tested
    on the other three populations: same curricula and targets as the five-population tests."""
    r = _full_run(model, tmp_path, n_train=7, threads=threads, extra=extra)
    assert max(r["coef_rel_l2"].values()) < 0.15, r


@pytest.mark.slow
def test_full_langevin_recovery_tracks(tmp_path):
    """Tracks (N_dump = 1) on the regenerated, seeded particles of the full set recover the truth."""
    from collop.io import open_dataset

    _, langevin_data = _benchmarks()

    out = langevin_data.build(tmp_path / "lv", progress=False)
    ps = open_dataset(out / "phasespace.nc")
    truth = open_dataset(out / "truth.nc")
    parts = open_dataset(out / "particles.nc", "particles", load=False, check_values=False)
    op = estimate(parts, ndump=1, grid=VelocityGrid.from_dataset(ps))
    # measured: A_par 0.023, D_par 0.024, D_perp 0.008; statistical error of 4e6 tracks is ~1%
    assert max(coefficient_error(op, truth, speed_support(ps, "all")).values()) < 0.05
    test = langevin_data.TEST
    assert evaluate(op, ps, test)["rollout_mae"] <= 1.5 * evaluate(truth, ps, test)["rollout_mae"]
