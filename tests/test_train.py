"""Tests of the curriculum trainer (:mod:`collop.train`).

The data are the tiny known-truth record of ``conftest.fp_data`` (21 x 21 grid,
4 Gaussian populations, 10 frames) rolled forward by an isotropic operator
with linear drag ``A_par = -0.5 v`` and ``D_par = 0.8, D_perp = 0.4``, using
forward Euler with 2 sub-steps per frame. Trainers use the same fixed
sub-step count, so the truth is an exact minimiser of the loss (up to the
float32 storage of the data) and tests are about the optimiser, not about
discretisation mismatch. Only public behaviour is tested (``fit`` results,
``history_``, events, checkpoints), so the tests survive changes of the
training-loop internals.
"""
from __future__ import annotations

import copy
import math
import threading
import tracemalloc

import numpy as np
import pytest
import torch

from collop.data import Record
from collop.datasets import phasespace_dataset
from collop.grid import VelocityGrid
from collop.metrics import evaluate
from collop.operators import FokkerPlanck
from collop.solvers import ForwardEuler, Heun
from collop.train import CURRICULA, Stage, Trainer, parse_curriculum

UNITS = dict(velocity_units="v_th", time_units="1/nu_ref")


def _solver(fp_data, **kw):
    return ForwardEuler(n_substeps=fp_data.n_sub, **kw)


def _state(op):
    return {k: v.detach().clone() for k, v in op.state_dict().items()}


def _max_diff(a, b):
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def _trainer(curriculum="ps-tensor", *, solver=None, dtype=None, reg=0.0, reg_order=1, reg_velocity=0.0,
             reg_velocity_order=2, **kw):
    """A Trainer with the rollout objective (solver, precision) and Fokker-Planck penalties."""
    from collop.objectives import RolloutMAE
    from collop.operators.fokker_planck import FokkerPlanckPenalties

    pen = FokkerPlanckPenalties(reg=reg, reg_order=reg_order, reg_velocity=reg_velocity,
                                reg_velocity_order=reg_velocity_order)
    return Trainer(curriculum, objective=RolloutMAE(penalties=pen, solver=solver, dtype=dtype), **kw)


def _loss_at(op, rec, solver, nu, dtype=torch.float32):
    """The training loss of ``op`` as the trainer computes it: one epoch with lr = 0."""
    probe = FokkerPlanck.build("tensor", rec.grid, rec.times) if op is None else op
    tr = _trainer([(nu, 0.0, 1)], solver=solver, dtype=dtype, snapshot_every=0, checkpoint_every=0)
    tr.fit(probe, rec)
    return tr.history_[0]["loss"]


@pytest.fixture(scope="module")
def record(fp_data):
    return Record.from_dataset(fp_data.ds, "all")


# --- one training run shared by several tests --------------------------------------------------

CURRICULUM = [(1, 3e-2, 400), (1, 3e-3, 100), (2, 3e-3, 100)]
SNAPSHOT_EVERY = 50


@pytest.fixture(scope="module")
def trained(fp_data, record):
    events = []
    op = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1, **UNITS)
    tr = _trainer(CURRICULUM, solver=_solver(fp_data), callback=events.append,
                 snapshot_every=SNAPSHOT_EVERY, checkpoint_every=0)
    tr.fit(op, record)
    return op, tr, events


def test_training_reduces_loss_and_rollout_error(trained, fp_data):
    op, tr, _ = trained
    assert tr.status_ == "finished"
    # measured: loss 0.046 (zero operator) -> 3.0e-4; rollout MAE 1.3e-2 -> 4.3e-5
    assert tr.best_loss_ < 0.02 * tr.history_[0]["loss"]
    zero = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1, **UNITS)
    err0 = evaluate(zero, fp_data.ds, "all", solver=_solver(fp_data))["rollout_mae"]
    err1 = evaluate(op, fp_data.ds, "all", solver=_solver(fp_data))["rollout_mae"]
    assert err1 < 0.01 * err0


def _supported_speeds(fp_data, frac):
    """Speed nodes whose shell [s - h/2, s + h/2) holds >= frac of the pooled initial mass."""
    grid = fp_data.grid
    sp = grid.speed_nodes()
    VX, VY = grid.mesh()
    shell = np.rint(np.hypot(VX, VY) / grid.h).astype(int).ravel()
    mass = np.bincount(shell, weights=fp_data.f0.sum(0).ravel(), minlength=sp.size)
    mass /= mass.sum()
    return sp[(mass >= frac) & (sp > 0)]


def _recovery_errors(op, fp_data, speeds):
    ch = op.channels(torch.as_tensor(speeds)[:, None], torch.tensor([0.0])).detach().numpy()[0]
    tr = fp_data.truth
    truth = np.stack([-tr.nu * speeds, np.full_like(speeds, tr.D_par), np.full_like(speeds, tr.D_perp)], -1)
    return np.abs(ch / truth - 1).max(0)          # max relative error of A_par, D_par, D_perp


def test_tensor_model_recovers_known_operator(trained, fp_data):
    """Where the data have mass (speed shells holding >= 5 % of it: speeds 0.38 .. 2.29), 600 epochs.

    Measured max relative errors (A_par, D_par, D_perp): (0.008, 0.043, 0.014). The optimum is
    the truth; what remains is Adam not having converged (the slow test, Table 2's curriculum,
    gets < 1.3 % on a wider support). Tolerances 0.03 / 0.1 / 0.04 (2-4x measured) fail for a
    flipped sign of A (error 2), a factor 2 in D (0.5 or 1), swapped D_par / D_perp (0.5 or 1)
    or wrong natural units (h/dt vs h^2/dt: factor 2.6).
    """
    op, _, _ = trained
    speeds = _supported_speeds(fp_data, 0.05)
    assert speeds.size >= 5
    err = _recovery_errors(op, fp_data, speeds)
    assert err[0] < 0.03 and err[1] < 0.1 and err[2] < 0.04, err


@pytest.mark.slow
def test_tensor_model_recovers_known_operator_with_table_2_curriculum(fp_data, record):
    """ps-tensor curriculum (1900 epochs, unrolls up to 9 frames): within 3 % where shells hold
    >= 1 % of the mass (speeds up to 3.05); measured <= 1.3 % (A 0.9 %, D_par 1.0 %, D_perp 1.3 %)."""
    op = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1, **UNITS)
    tr = _trainer("ps-tensor", solver=_solver(fp_data), snapshot_every=0, checkpoint_every=0).fit(op, record)
    assert tr.status_ == "finished"
    err = _recovery_errors(op, fp_data, _supported_speeds(fp_data, 0.01))
    assert (err < 0.03).all(), err


def test_callback_events(trained):
    op, tr, events = trained
    kinds = [e["event"] for e in events]
    assert set(kinds) == {"stage", "epoch", "snapshot", "done"}      # no checkpoint path: no checkpoints
    assert kinds[0] == "stage" and kinds[-1] == "done" and kinds.count("done") == 1
    stages = [e for e in events if e["event"] == "stage"]
    n = len(CURRICULUM)
    assert [(e["stage"], e["n_unroll"], e["lr"], e["epochs"], e["n_stages"]) for e in stages] == \
        [(s, nu, lr, ep, n) for s, (nu, lr, ep) in enumerate(CURRICULUM)]
    # epoch events: stage/epoch numbering and losses match history_ one to one
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [(e["stage"], e["epoch"]) for e in epochs] == \
        [(s, k) for s, (_, _, ep) in enumerate(CURRICULUM) for k in range(ep)]
    assert [(h["stage"], h["epoch"], h["loss"]) for h in tr.history_] == \
        [(e["stage"], e["epoch"], e["loss"]) for e in epochs]
    assert all(e["epochs"] == CURRICULUM[e["stage"]][2] for e in epochs)
    # each stage event comes before that stage's first epoch
    for s in range(n):
        i_stage = next(i for i, e in enumerate(events) if e["event"] == "stage" and e["stage"] == s)
        i_first = next(i for i, e in enumerate(events) if e["event"] == "epoch" and e["stage"] == s)
        assert i_stage < i_first
    # snapshots right after every 50th epoch of a stage, reporting the epochs completed
    snaps = [(i, e) for i, e in enumerate(events) if e["event"] == "snapshot"]
    assert [(e["stage"], e["epoch"]) for _, e in snaps] == \
        [(s, k) for s, (_, _, ep) in enumerate(CURRICULUM) for k in range(SNAPSHOT_EVERY, ep + 1, SNAPSHOT_EVERY)]
    for i, e in snaps:
        prev = events[i - 1]
        assert prev["event"] == "epoch" and (prev["stage"], prev["epoch"] + 1) == (e["stage"], e["epoch"])
        assert e["operator"] is op
    done = events[-1]
    assert done["status"] == "finished" and done["best_loss"] == tr.best_loss_ and done["operator"] is op


def test_keeps_best_weights_of_last_stage(trained, fp_data, record):
    op, tr, _ = trained
    last = [h["loss"] for h in tr.history_ if h["stage"] == len(CURRICULUM) - 1]
    assert tr.best_loss_ == min(last)
    # the kept weights are the ones that had that loss (lr = 0 epoch evaluates it; same arithmetic)
    probe = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1, **UNITS)
    probe.load_state_dict(op.state_dict())
    assert _loss_at(probe, record, _solver(fp_data), nu=CURRICULUM[-1][0]) == pytest.approx(tr.best_loss_, rel=1e-9)


# --- the loss itself -----------------------------------------------------------------------------

def _small_record(fp_data, times):
    """3 populations on an 11 x 11 grid at non-uniform frame times."""
    grid = VelocityGrid.regular(11, 3.0)
    rng = np.random.default_rng(0)
    f = rng.uniform(0.1, 1.0, (3, len(times), 11, 11))
    ds = phasespace_dataset(f, times, grid.vx, grid.vy, ["a", "b", "c"], [100] * 3, source="test", **UNITS)
    return Record.from_dataset(ds, "all", dtype=torch.float64)


@pytest.mark.parametrize("solver", ["euler", "euler-torch", "heun"])
def test_loss_is_eq8_unrolled_from_every_start_frame(fp_data, solver):
    """history_ loss = (1 / (N_u S P N M)) sum_t sum_u sum |f_hat(t+u) - f(t+u)|, by hand with rollout()."""
    times = np.array([0.0, 0.1, 0.25, 0.3, 0.45, 0.6, 0.8])       # non-uniform frame intervals
    rec = _small_record(fp_data, times)
    op = FokkerPlanck.build("tensor", rec.grid, times).double()   # time-dependent: one node per frame
    with torch.no_grad():
        op.field.values.copy_(torch.rand(op.field.values.shape, dtype=torch.float64,
                                         generator=torch.Generator().manual_seed(0)) * 0.5 - 0.1)
        op.project_()
    sol = {"euler": ForwardEuler(n_substeps=3), "euler-torch": ForwardEuler(n_substeps=3, backend="torch"),
           "heun": Heun(n_substeps=3)}[solver]
    nu = 3
    fs = rec.f                                                     # (P, T, N, M)
    T = fs.shape[1]
    with torch.no_grad():
        W = op.stencil(rec.grid, times[:-1], dtype=torch.float64)
        dt = torch.as_tensor(np.diff(times))
        total = 0.0
        for t in range(T - nu):
            out = sol.rollout(fs[:, t], W[t:t + nu], dt[t:t + nu], nu, n_sub=3)
            total += (out[:, 1:] - fs[:, t + 1:t + 1 + nu]).abs().sum().item()
    expected = total / (nu * (T - nu) * fs.shape[0] * fs.shape[2] * fs.shape[3])
    got = _loss_at(op, rec, sol, nu, dtype=torch.float64)
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_per_frame_substeps_loss_and_gradient(fp_data, backend):
    """Frames sub-stepped differently (1, 3, 2, ...): the fused, masked unroll equals rolling each
    start frame on its own with its frames' counts, and its adjoint equals torch autograd's."""
    times = np.array([0.0, 0.1, 0.25, 0.3, 0.45, 0.6, 0.8])
    rec = _small_record(fp_data, times)
    counts = [1, 3, 2, 1, 2, 1]
    op = FokkerPlanck.build("tensor", rec.grid, times).double()
    with torch.no_grad():
        op.field.values.copy_(torch.rand(op.field.values.shape, dtype=torch.float64,
                                         generator=torch.Generator().manual_seed(1)) * 0.5 - 0.1)
        op.project_()
    sol = ForwardEuler(n_substeps=counts, backend=backend)
    nu, fs = 3, rec.f
    T = fs.shape[1]
    with torch.no_grad():
        W = op.stencil(rec.grid, times[:-1], dtype=torch.float64)
        dt = torch.as_tensor(np.diff(times))
        total = 0.0
        for t in range(T - nu):
            out = ForwardEuler(backend="torch").rollout(fs[:, t], W[t:t + nu], dt[t:t + nu], nu,
                                                         n_sub=counts[t:t + nu])
            total += (out[:, 1:] - fs[:, t + 1:t + 1 + nu]).abs().sum().item()
    expected = total / (nu * (T - nu) * fs.shape[0] * fs.shape[2] * fs.shape[3])
    assert _loss_at(op, rec, sol, nu, dtype=torch.float64) == pytest.approx(expected, rel=1e-10)
    grads = []
    from collop.objectives import RolloutMAE

    for b in ("auto", "torch"):
        op.zero_grad()
        solver = ForwardEuler(n_substeps=counts, backend=b)
        assert list(solver.substeps(W, dt)) == counts
        obj = RolloutMAE(solver=solver, dtype=torch.float64)
        obj.prepare(rec)
        loss, info = obj.loss(op, Stage(nu, 1e-2, 1))
        assert info["n_substeps"] == max(counts)
        loss.backward()
        grads.append(op.field.values.grad.clone())
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), rtol=1e-9, atol=1e-12)


def test_fused_and_autograd_training_agree(fp_data):
    """Five Adam epochs with the default (numba) Euler path and with pure torch autograd, float64."""
    times = np.array([0.0, 0.1, 0.25, 0.3, 0.45, 0.6, 0.8])
    rec = _small_record(fp_data, times)
    finals = []
    for backend in ("auto", "torch"):
        op = FokkerPlanck.build("tensor", rec.grid, times, **UNITS)
        tr = _trainer([(1, 1e-2, 3), (3, 1e-2, 2)], solver=ForwardEuler(n_substeps=2, backend=backend),
                     dtype=torch.float64, snapshot_every=0, checkpoint_every=0).fit(op, rec)
        finals.append((_state(op), [h["loss"] for h in tr.history_]))
    (s0, l0), (s1, l1) = finals
    np.testing.assert_allclose(l0, l1, rtol=1e-10)
    # Adam steps are ~lr * sign(gradient); a wrong adjoint changes signs and moves weights by ~lr
    assert _max_diff(s0, s1) < 1e-9


# --- stop, checkpoint, resume -------------------------------------------------------------------

RESUME_CURRICULUM = [(1, 2e-2, 12), (2, 1e-2, 8)]


@pytest.mark.parametrize("stop_after", [5, 12, 15])   # inside stage 0 / at its end / inside stage 1
def test_stop_then_resume_equals_uninterrupted_run(fp_data, record, tmp_path, stop_after):
    build = lambda: FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1, **UNITS)  # noqa: E731
    ref_op = build()
    ref = _trainer(RESUME_CURRICULUM, solver=_solver(fp_data), snapshot_every=0).fit(ref_op, record)

    ck = tmp_path / "run.ckpt"
    stop = threading.Event()
    n = {"epochs": 0}

    def cb(e):
        if e["event"] == "epoch":
            n["epochs"] += 1
            if n["epochs"] == stop_after:
                stop.set()

    op1 = build()
    t1 = _trainer(RESUME_CURRICULUM, solver=_solver(fp_data), callback=cb, stop=stop, checkpoint=ck,
                 snapshot_every=0).fit(op1, record)
    assert t1.status_ == "stopped" and len(t1.history_) == stop_after and ck.exists()

    events = []
    op2 = build()                                   # a fresh operator: everything comes from the checkpoint
    t2 = _trainer(RESUME_CURRICULUM, solver=_solver(fp_data), checkpoint=ck, callback=events.append,
                 snapshot_every=0).fit(op2, record)
    assert t2.status_ == "finished"
    first = next(e for e in events if e["event"] == "epoch")
    assert (first["stage"], first["epoch"]) == {5: (0, 5), 12: (1, 0), 15: (1, 3)}[stop_after]
    assert [h["loss"] for h in t2.history_] == pytest.approx([h["loss"] for h in ref.history_], rel=1e-6)
    # Same float32 arithmetic in the same order on one thread, and the checkpoint restores weights,
    # Adam moments and best-so-far exactly, so the runs should agree bit for bit (measured: max
    # difference exactly 0 for all three stop points). 1e-6 (weights are ~0.01..0.24 here) leaves
    # room only for reduction-order noise, should the kernels ever run multi-threaded.
    assert _max_diff(_state(op2), _state(ref_op)) < 1e-6
    assert t2.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-6)


def test_resume_refuses_checkpoint_of_another_curriculum(fp_data, record, tmp_path):
    ck = tmp_path / "run.ckpt"
    op = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1)
    _trainer([(1, 1e-2, 2)], solver=_solver(fp_data), checkpoint=ck).fit(op, record)
    with pytest.raises(ValueError, match="curriculum"):
        _trainer([(1, 1e-2, 3)], solver=_solver(fp_data), checkpoint=ck).fit(op, record)


# --- divergence -------------------------------------------------------------------------------

def test_nan_operator_diverges_and_keeps_best_finite_weights(fp_data, record):
    op = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1)
    good = {}

    def corrupt(e):
        if e["event"] == "epoch" and e["epoch"] == 2:           # after the third epoch
            good.update(_state(op))
            with torch.no_grad():
                op.field.values[0, 3, 1] = float("nan")          # one D_par node -> NaN stencil

    tr = _trainer([(2, 1e-2, 10)], solver=_solver(fp_data), callback=corrupt,
                 snapshot_every=0, checkpoint_every=0).fit(op, record)
    assert tr.status_ == "diverged" and "non-finite" in tr.message_
    assert len(tr.history_) == 3
    assert all(torch.isfinite(v).all() for v in op.state_dict().values())
    assert tr.best_loss_ == min(h["loss"] for h in tr.history_)
    # the kept weights are the best seen (loss decreases here, so those of the last finite epoch,
    # i.e. the weights *before* that epoch's step), not the corrupted ones
    assert _loss_at(op, record, _solver(fp_data), nu=2) == pytest.approx(tr.best_loss_, rel=1e-9)


def test_nan_from_the_start_diverges_without_history(fp_data, record):
    op = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1)
    with torch.no_grad():
        op.field.values[0, 1, 0] = float("nan")   # speed node 1 (node 0 of A_par acts on no cell)
    tr = _trainer([(1, 1e-2, 5)], solver=_solver(fp_data), snapshot_every=0, checkpoint_every=0).fit(op, record)
    assert tr.status_ == "diverged" and tr.history_ == [] and math.isinf(tr.best_loss_)


def test_nan_operator_diverges_cheaply_with_default_substeps():
    grid = VelocityGrid.regular(11, 3.0)
    times = np.array([0.0, 0.1, 0.2, 0.3])
    f = np.random.default_rng(0).uniform(0.1, 1.0, (2, 4, 11, 11))
    rec = Record.from_dataset(phasespace_dataset(f, times, grid.vx, grid.vy, ["a", "b"], [10, 10],
                                                 source="test", **UNITS), "all")
    op = FokkerPlanck.build("tensor", grid, times, nt=1)
    with torch.no_grad():
        op.field.values[0, 2, 1] = float("nan")
    # one untraced run first: on a cold numba cache the kernels compile here, and the
    # compiler's allocations are not what this test measures
    _trainer([(1, 1e-2, 2)], snapshot_every=0, checkpoint_every=0).fit(copy.deepcopy(op), rec)
    tracemalloc.start()
    try:
        tr = _trainer([(1, 1e-2, 2)], snapshot_every=0, checkpoint_every=0).fit(op, rec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tr.status_ == "diverged"
    # the record is 8 kB; a healthy epoch needs a few copies of it per sub-step
    assert peak < 2_000_000, f"peak {peak / 1e6:.0f} MB"


# --- regularisation and seeds -------------------------------------------------------------------

def _time_roughness(op):
    """||d c / d t|| of the tensor over the time nodes the frames use (the last node is unused)."""
    v = op.field.values.detach()[:-1]
    return torch.diff(v, dim=0).norm().item()


def test_time_regularisation_makes_tensor_smoother_in_time(fp_data, record):
    ops = {}
    for reg in (0.0, 1e-2):
        op = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times)       # 10 time nodes
        _trainer([(1, 3e-2, 60)], solver=_solver(fp_data), reg=reg, reg_order=1,
                snapshot_every=0, checkpoint_every=0).fit(op, record)
        ops[reg] = op
    rough0, rough1 = _time_roughness(ops[0.0]), _time_roughness(ops[1e-2])
    # measured: 0.95 (reg = 0) -> 0.041 (reg = 1e-2); the truth is constant in time, so
    # without the penalty the time nodes wander apart independently, fitting noise
    assert rough1 < 0.2 * rough0, (rough0, rough1)


def _speed_roughness(op):
    """||d^2 c / d v^2|| of the tensor over its speed nodes."""
    return torch.diff(op.field.values.detach(), n=2, dim=1).norm().item()


def test_velocity_regularisation_makes_tensor_smoother_in_speed(fp_data, record):
    ops = {}
    for reg in (0.0, 1e-1):
        op = FokkerPlanck.build("tensor", fp_data.grid, fp_data.times, nt=1)
        _trainer([(1, 3e-2, 60)], solver=_solver(fp_data), reg_velocity=reg,
                snapshot_every=0, checkpoint_every=0).fit(op, record)
        ops[reg] = op
    rough0, rough1 = _speed_roughness(ops[0.0]), _speed_roughness(ops[1e-1])
    # measured: 1.33 (reg = 0) -> 0.034 (reg = 0.1); without the penalty the speed nodes the
    # data barely constrain move independently, fitting noise
    assert rough1 < 0.2 * rough0, (rough0, rough1)
    with pytest.raises(ValueError):
        _trainer(reg_velocity=-1.0)
    with pytest.raises(ValueError):
        _trainer(reg_velocity_order=3)


def test_nn_training_is_reproducible_with_a_seed(fp_data, record):
    def run(seed):
        op = FokkerPlanck.build("nn", fp_data.grid, fp_data.times, seed=seed)
        _trainer([(1, 1e-3, 4), (2, 1e-3, 2)], solver=_solver(fp_data), seed=seed,
                snapshot_every=0, checkpoint_every=0).fit(op, record)
        return _state(op)

    a, b, c = run(7), run(7), run(8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _max_diff(a, c) > 1e-2


# --- curricula ----------------------------------------------------------------------------------

def test_curricula_match_table_2():
    assert parse_curriculum("ps-tensor") == (Stage(1, 1e-2, 1000), Stage(2, 1e-2, 200),
                                             Stage(5, 1e-2, 200), Stage(10, 1e-2, 500))
    assert parse_curriculum("ps-nn") == (Stage(1, 1e-3, 500), Stage(1, 1e-4, 500), Stage(2, 1e-4, 200),
                                         Stage(5, 1e-4, 200), Stage(10, 1e-4, 500))
    assert CURRICULA["ps-tensor"] == parse_curriculum("ps-tensor")
    assert _trainer().curriculum == CURRICULA["ps-tensor"]


def test_parse_curriculum_forms():
    assert parse_curriculum("1:1e-2:1000,2:5e-3:20") == (Stage(1, 1e-2, 1000), Stage(2, 5e-3, 20))
    assert parse_curriculum([(3, 0.1, 4), Stage(1, 1.0, 2)]) == (Stage(3, 0.1, 4), Stage(1, 1.0, 2))
    for bad in ("1:1e-2", "a:b:c", "1:1e-2:10,"):
        with pytest.raises(ValueError):
            parse_curriculum(bad)
    with pytest.raises(ValueError):
        _trainer([])


# --- objective-provided defaults (lr decay, snapshot/checkpoint intervals, keep the last weights) ----------

class _NoisyQuadratic:
    """A toy stochastic objective: loss (w - 1)^2 + noise; declares its own Trainer defaults."""

    lr_decay = (0.5, 3)
    snapshot_every = 4
    checkpoint_every = 1000
    keep = "last"

    def prepare(self, data):
        self.k = 0

    def __call__(self, op, stage):
        self.k += 1
        noise = -10.0 if self.k == 2 else 0.0          # a lucky low loss early on
        return (op.w - 1) ** 2 + noise, {}


class _Scalar(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def project_(self):
        pass


def test_objective_defaults_decay_snapshot_and_keep_last():
    events = []
    op = _Scalar()
    tr = Trainer([Stage(1, 0.1, 8)], objective=_NoisyQuadratic(), callback=events.append).fit(op, None)
    assert tr.lr_decay == (0.5, 3)
    assert [tr._lr(Stage(1, 0.1, 8), e) for e in (0, 2, 3, 7)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert [ev["epoch"] for ev in events if ev["event"] == "snapshot"] == [4, 8]
    # the weights are those of the last epoch, not of the lucky (lowest-loss) second one
    w_last = float(op.w.detach())
    assert tr.best_loss_ == pytest.approx(tr.history_[-1]["loss"])
    # Adam moves ~lr per step: ~0.1 after the lucky epoch, ~0.45 at the start of the last one
    assert w_last > 0.3
    # explicit arguments still win over the objective's
    tr2 = Trainer([Stage(1, 0.1, 2)], objective=_NoisyQuadratic(), lr_decay=(1.0, 1), snapshot_every=1)
    assert tr2.lr_decay == (1.0, 1) and tr2.snapshot_every == 1


# --- keep = "average": the mean of the iterates over each stage's second half ------------------------------

class _NoisyGradient:
    """loss (w - 1)^2 + xi w with xi ~ N(0, 1) per epoch: an unbiased gradient with noise of sd 1."""

    keep = "average"
    checkpoint_every = 1000

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def prepare(self, data):
        pass

    def __call__(self, op, stage):
        return (op.w - 1) ** 2 + float(self.rng.normal()) * op.w, {}


def _fit_recording(objective, stages, **kw):
    op, seen = _Scalar(), []
    rec = lambda ev: seen.append(float(op.w.detach())) if ev["event"] == "epoch" else None  # noqa: E731
    tr = Trainer(stages, objective=objective, callback=rec, **kw).fit(op, None)
    return tr, float(op.w.detach()), seen


def test_keep_average_is_the_mean_of_the_second_half_of_the_last_stage():
    tr, w, seen = _fit_recording(_NoisyGradient(0), [Stage(1, 0.05, 40), Stage(1, 0.05, 101)])
    last_stage = seen[40:]
    assert len(last_stage) == 101
    assert w == pytest.approx(np.mean(last_stage[51:]), abs=1e-12)     # after epochs 51..100 of 101 (ceil(101/2) on)
    assert tr.best_loss_ == tr.history_[-1]["loss"]


def test_keep_average_scatters_less_than_the_last_iterate():
    """Over 12 seeds, 1000 Adam steps at lr 0.05: the mean of the last 500 iterates is closer to the minimiser.

    Adam's normalised steps move the iterate by up to lr each in a random direction, so the last iterate
    scatters by a few lr around w = 1; the mean of 500 (correlated) iterates by much less. Measured: RMS
    error 0.021 (mean) against 0.111 (last), a factor 5.3; the test asks for a factor 3.
    """
    err_mean, err_last = [], []
    for seed in range(12):
        _, w, seen = _fit_recording(_NoisyGradient(seed), [Stage(1, 0.05, 1000)])
        err_mean.append(w - 1)
        err_last.append(seen[-1] - 1)
    rms = lambda e: float(np.sqrt(np.mean(np.square(e))))  # noqa: E731
    assert rms(err_mean) < rms(err_last) / 3, (rms(err_mean), rms(err_last))


def test_keep_average_stopped_early_keeps_the_last_iterate():
    k = {"n": 0}

    def stop():
        k["n"] += 1
        return k["n"] > 10                                  # stops after 10 of 100 epochs: no mean yet
    tr, w, seen = _fit_recording(_NoisyGradient(1), [Stage(1, 0.05, 100)], stop=stop)
    assert tr.status_ == "stopped" and len(seen) == 10 and w == seen[-1] and w != 0.0


def test_keep_average_resumes_to_the_uninterrupted_result(tmp_path):
    stages = [Stage(1, 0.05, 60)]
    _, w_full, _ = _fit_recording(_NoisyGradient(2), stages)
    ck = tmp_path / "ck.pt"
    obj = _NoisyGradient(2)
    obj.checkpoint_every = 5
    k = {"n": 0}

    def stop():
        k["n"] += 1
        return k["n"] > 45                                  # inside the averaged half, on a checkpoint
    _fit_recording(obj, stages, stop=stop, checkpoint=ck)
    _, w_resumed, _ = _fit_recording(obj, stages, checkpoint=ck)   # same noise stream continues
    assert w_resumed == pytest.approx(w_full, abs=1e-12)


def test_unknown_keep_rule_is_refused():
    obj = _NoisyGradient(0)
    obj.keep = "median"
    with pytest.raises(ValueError, match="keep='median'"):
        Trainer([Stage(1, 0.05, 2)], objective=obj)
