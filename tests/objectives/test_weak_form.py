"""The weak-form objective (:mod:`collop.objectives.weak_form`): data checks, the loss, training, scoring.

Data are made by collop's own solver under a known Landau kernel
(:func:`collop.kinetic.rollout.known_truth`): small and fast for the default
suite, larger for the known-truth recoveries (``slow``).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from collop.io import open_dataset, write_dataset
from collop.kinetic.kernels import LandauKernel
from collop.kinetic.rollout import known_truth
from collop.kinetic.testfunctions import RICH_TEST_FUNCTIONS
from collop.objectives.weak_form import WeakForm, WeakFormOptions, landau_scale
from collop.operators.metriplectic import Metriplectic, MetriplecticOptions
from collop.options import SpecError, parse
from collop.pipeline import TrainSpec, run
from collop.schema import CollopError
from collop.train import Stage

RUNS = ("uniform", "bimaxwellian", "double_well", "trimodal")


@pytest.fixture(scope="module")
def md_file(tmp_path_factory):
    ds = known_truth(LandauKernel(1.0), runs=RUNS, n=2000, times=np.linspace(0, 1.5, 6), angle=0.2, seed=0)
    return write_dataset(ds, tmp_path_factory.mktemp("wf") / "md.nc")


@pytest.fixture(scope="module")
def md(md_file):
    return open_dataset(md_file, "particles")


# --- bad input ------------------------------------------------------------------------

def test_a_file_without_runs_is_refused(md, tmp_path):
    one = md.isel(run=0, drop=True)
    one.encoding["source"] = "one.nc"
    with pytest.raises(CollopError, match=r"^one.nc: has no 'run' dimension"):
        WeakForm.select(one, ["uniform"])


def test_unknown_runs_are_refused(md):
    with pytest.raises(CollopError, match="unknown run.*maxwellian.*the file has uniform, bimaxwellian"):
        WeakForm.select(md, ["uniform", "maxwellian"])
    assert WeakForm.select(md, "all") == list(RUNS)


def test_fewer_than_two_pairs_is_refused():
    with pytest.raises(SpecError, match=r"objective.pairs: .*greater than or equal to 2"):
        parse(WeakFormOptions, {"pairs": 1}, where="objective")


@pytest.mark.parametrize("change,problem", [({"train": ["nope"]}, "unknown run"),
                                            ({"objective": {"pairs": 1}}, "objective.pairs"),
                                            ({"objective": {"test_functions": "exp;cube"}}, "cube")])
def test_pipeline_refuses_before_writing(md_file, tmp_path, change, problem):
    spec = dict(data=str(md_file), train=["bimaxwellian"], family="metriplectic", out=str(tmp_path / "run"),
                options={"model": "landau", "steps": 2})
    spec.update(change)
    with pytest.raises((CollopError, SpecError), match=problem):
        run(TrainSpec(**spec))
    assert not (tmp_path / "run").exists()


def test_a_file_without_runs_is_refused_by_the_pipeline(md, tmp_path):
    one = md.isel(run=0, drop=True)
    path = write_dataset(one, tmp_path / "one.nc")
    with pytest.raises(CollopError, match=r"one.nc: has no 'run' dimension"):
        run(TrainSpec(data=str(path), train=["uniform"], family="metriplectic", out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


# --- the loss ------------------------------------------------------------------------------

def test_numba_and_torch_pair_terms_agree(md):
    """float32 (numba kernel) and float64 (PyTorch) contributions of the same pairs, incl. u = 0 pairs."""
    data = WeakForm.load(md, ["uniform", "bimaxwellian"])
    for model in ("landau", "cm1", "cm2"):
        op = Metriplectic.from_options(MetriplecticOptions(model=model), data)
        o32, o64 = WeakForm(WeakFormOptions(dtype="float32")), WeakForm(WeakFormOptions(dtype="float64"))
        o32.prepare(data)
        o64.prepare(data)
        g = torch.Generator().manual_seed(0)
        F, N = o32.M * o32.T, o32.N
        frame = torch.randint(0, F, (5000,), generator=g)
        i = torch.randint(0, N, (5000,), generator=g)
        j = (i + torch.randint(1, N, (5000,), generator=g)) % N
        j[:5] = i[:5]
        c32 = o32._contributions(op, frame, i, j).detach().double()
        c64 = o64._contributions(op, frame, i, j).detach()
        assert torch.isfinite(c32).all() and (c32[:5] == 0).all()
        assert (c32 - c64).abs().max() <= 2e-5 * float(c64.abs().max())     # float32 round-off of the terms


def test_split_estimator_is_unbiased(md):
    """Mean of the split loss over steps = loss of the exact model side; the plain loss is larger by its variance.

    The exact side comes from 200 times more pairs. Tolerances: 4 standard
    errors of the mean over 300 steps.
    """
    data = WeakForm.load(md, ["bimaxwellian"])
    op = Metriplectic(LandauKernel(0.5, data.v_scale), velocity_units="v", time_units="t")
    st = Stage(1, 0.01, 1)
    exact = WeakForm(WeakFormOptions(pairs=400_000, estimator="plain"))
    exact.prepare(data)
    ref = np.mean([float(exact.loss(op, st)[0].detach()) for _ in range(5)])
    losses = {}
    for est in ("split", "plain"):
        obj = WeakForm(WeakFormOptions(pairs=2000, estimator=est))
        obj.prepare(data)
        losses[est] = np.array([float(obj.loss(op, st)[0].detach()) for _ in range(300)])
    sp, pl = losses["split"], losses["plain"]
    assert abs(sp.mean() - ref) < 4 * sp.std() / np.sqrt(sp.size) + 0.02 * ref
    assert pl.mean() - ref > 4 * pl.std() / np.sqrt(pl.size)             # the plain square is biased upward


def test_landau_scale_is_positive_and_finite(md):
    data = WeakForm.load(md, ["bimaxwellian"])
    c0 = landau_scale(data)
    assert np.isfinite(c0) and c0 > 0


# --- training and scoring through the pipeline ----------------------------------------------------

@pytest.mark.parametrize("model", ["landau", "cm2"])
def test_training_writes_a_run_folder(md_file, tmp_path, model):
    events = []
    res = run(TrainSpec(data=str(md_file), train=["uniform", "bimaxwellian"], test=["trimodal"],
                        family="metriplectic", options={"model": model, "steps": 30},
                        objective={"pairs": 4000, "max_points": 300}, out=str(tmp_path / "run")),
              callback=events.append)
    assert res.status == "finished"
    for name in ("run.json", "events.jsonl", "operator.nc", "metrics.json", "checkpoint.pt"):
        assert (res.path / name).exists()
    m = json.loads((res.path / "metrics.json").read_text())
    assert m["method"] == model and m["metric"] == "energy_distance"
    assert set(m["per_population"]) == {"trimodal"} and np.isfinite(m["energy_distance"])
    assert m["epochs"] == 30
    op = open_dataset(res.path / "operator.nc", "operator")
    assert op.attrs["model"] == model and op.attrs["train"] == "uniform,bimaxwellian"
    assert sum(ev.get("event") == "epoch" for ev in events) == 30


def test_stop_and_resume(md_file, tmp_path):
    """A stopped metriplectic run resumes from its checkpoint to the planned number of steps."""
    from collop.pipeline import StopFlag

    stop = StopFlag()

    def cb(ev):
        if ev.get("event") == "epoch" and ev["epoch"] == 6:
            stop.set()

    spec = TrainSpec(data=str(md_file), train=["bimaxwellian"], test=["trimodal"], family="metriplectic",
                     options={"model": "cm1", "steps": 12}, objective={"pairs": 2000, "max_points": 200},
                     out=str(tmp_path / "run"))
    first = run(spec, callback=cb, stop=stop)
    assert first.status == "stopped" and first.info["epochs"] == 7
    second = run(spec, resume=True)
    assert second.status == "finished" and second.metrics["epochs"] == 12


def test_evaluate_scores_the_truth_better_than_a_wrong_kernel(md):
    """The true kernel's rollout is closer to the data than a kernel 4x too weak (energy distance)."""
    truth = Metriplectic(LandauKernel(1.0, 1.0), velocity_units="v_th", time_units="t")
    weak = Metriplectic(LandauKernel(0.25, 1.0), velocity_units="v_th", time_units="t")
    opts = WeakFormOptions(angle=0.2, max_points=1000)
    e_truth = WeakForm.evaluate(truth, md, ["bimaxwellian", "double_well"], opts)
    e_weak = WeakForm.evaluate(weak, md, ["bimaxwellian", "double_well"], opts)
    assert e_truth["energy_distance"] < e_weak["energy_distance"]
    assert len(e_truth["per_time"]["bimaxwellian"]) == md.sizes["time"]
    # both start from the MD particles: at t = 0 the distance is the subsampling floor, the same for both
    assert e_truth["per_time"]["bimaxwellian"][0] == e_weak["per_time"]["bimaxwellian"][0]


# --- known truth: data from the solver under Landau c0 = 1 -------------------------------------------------
#
# Measured (docs/metriplectic.md, "Known truth"): over 6 independent datasets of 3 runs x 2e4 particles
# (solver angle 0.05), the least-squares Landau c0 of the weak form with the paper's four test functions
# has, per dataset,
#   frames 0.2 apart, trapezoid rule, equal weights:           mean 0.962, sd 0.064
#   frames 0.2 apart, cubic rule, noise (inverse-variance):     mean 0.993, sd 0.034
#   frames 0.1 apart, cubic rule, noise weights:                mean 0.991, sd 0.020
# i.e. a c0 7 % low on one dataset of 3e4 particles was mostly the sampling noise of the MD side (eq. B3)
# with equal weights, plus the trapezoid rule's -(lambda dt)^2/12 bias (-2.4 % at dt = 0.2 on these data).
# The sd scales as 1/sqrt(N): with 1e5 particles per run and frames 0.1 apart it is ~0.9 %, so 3 % is
# more than 3 sd.

TRAIN = ["uniform", "bimaxwellian", "double_well"]
RICH_TESTS = ";".join(RICH_TEST_FUNCTIONS)
KNOWN = {"time_rule": "cubic", "weights": "noise"}


def test_landau_scale_recovers_c0_on_a_small_known_truth_set():
    """Fast version: closed-form weak-form Landau c0 on 3 runs x 1e4 particles, frames 0.1 apart.

    The per-dataset sd at this size is ~2.8 % (0.020 measured at 2e4, times sqrt(2));
    the tolerance 12 % is more than 4 sd.
    """
    from collop.objectives.weak_form import noise_weights
    from collop.kinetic.testfunctions import PAPER_TEST_FUNCTIONS, TestFunctions

    ds = known_truth(LandauKernel(1.0), runs=TRAIN, n=10_000, times=np.linspace(0, 2, 21), angle=0.1, seed=3)
    data = WeakForm.load(ds, TRAIN)
    w = noise_weights(data.v, data.times, TestFunctions(PAPER_TEST_FUNCTIONS, data.v_scale))
    c0 = landau_scale(data, pairs_per_frame=20_000, seed=1, time_rule="cubic", weights=w)
    assert abs(c0 - 1) < 0.12


@pytest.fixture(scope="module")
def truth_file(tmp_path_factory):
    """3 runs x 21 frames (t = 0..2, about one relaxation time) x 1e5 particles; solver angle 0.05."""
    ds = known_truth(LandauKernel(1.0), runs=TRAIN, n=100_000, times=np.linspace(0, 2, 21), angle=0.05, seed=0)
    return write_dataset(ds, tmp_path_factory.mktemp("truth") / "truth.nc")


def _central_ranges(path):
    from collop.objectives.weak_form_data import central_ranges

    data = WeakForm.load(open_dataset(path, "particles"), TRAIN)
    return (*central_ranges(data), data)


@pytest.mark.slow
def test_landau_fit_recovers_c0(truth_file):
    """The weak-form Landau fit on the known-truth data gives c0 = 1 within 3 % (issue 15; > 3 sd, see above).

    The Landau model side is linear in c0, so the fit is the exact minimiser of the loss
    (:func:`landau_scale`, 2 x 20000 pairs per frame). Adam on the same loss with 2e5 pairs per
    step does not settle there in 1000 steps: its iterate wanders (1.27 at step 250, lr 0.01;
    1.040 after 0.01:400, 0.003:300, 0.001:300 on this dataset, whose minimiser is 0.985).
    """
    from collop.kinetic.testfunctions import PAPER_TEST_FUNCTIONS, TestFunctions
    from collop.objectives.weak_form import noise_weights

    data = WeakForm.load(open_dataset(truth_file, "particles"), TRAIN)
    w = noise_weights(data.v, data.times, TestFunctions(PAPER_TEST_FUNCTIONS, data.v_scale))
    c0 = landau_scale(data, pairs_per_frame=20_000, seed=1, time_rule="cubic", weights=w)
    print(f"Landau c0 = {c0:.4f} (truth 1)")
    assert abs(c0 - 1) < 0.03


#: Known-truth CM fits: 8000 Adam steps, each stage's weights the mean of its second half's iterates
CM_CURRICULUM = "1:0.01:4000,1:0.003:2000,1:0.001:2000"


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="measured (benchmarks/metriplectic_claims.py cm-truth, the same data and "
                                        "options, 2 threads): g_I^2(u) u has median 0.972 but ranges over "
                                        "0.62 .. 1.38 on the central u range; the weak form constrains the "
                                        "ends of g_I(u) weakly")
def test_cm1_fit_recovers_one_over_u(truth_file, tmp_path):
    """CM1 on Landau data: g_I^2(u) = 1/u within 10 % over the u range holding 90 % of the pairs."""
    (u_lo, u_hi), _, _ = _central_ranges(truth_file)
    res = run(TrainSpec(data=str(truth_file), train=TRAIN, test=["bimaxwellian"], family="metriplectic",
                        options={"model": "cm1"}, objective={"pairs": 100_000, "max_points": 500,
                                                             "test_functions": RICH_TESTS, "keep": "average",
                                                             **KNOWN},
                        curriculum=CM_CURRICULUM, out=str(tmp_path / "r")))
    op = Metriplectic.from_dataset(open_dataset(res.path / "operator.nc", "operator"))
    u = np.linspace(u_lo, u_hi, 30)
    gu = op.isotropic_part(u) * u
    print(f"CM1 g_I^2(u) u over u in [{u_lo:.2f}, {u_hi:.2f}]: {gu.min():.3f} .. {gu.max():.3f} (truth 1)")
    assert np.all(np.abs(gu - 1) < 0.1)


@pytest.mark.slow
def test_cm2_fit_makes_g_r_equal_g_s(truth_file):
    """CM2 started with g_r^2 = 2 g_s^2 learns g_r^2 ~ g_s^2 on Landau data.

    E_s[g_r^2] / E_s[g_s^2] over the (u, r) range holding 90 % of the pairs:
    median within 15 % of 1. Measured at 2 threads: the iterate's median was
    0.98 .. 1.43 over the second stage and 1.06 .. 1.12 over the last; the kept
    weights, the mean of the last 1000 iterates, gave 1.117. With the last
    iterate of a 3000-step training it was 1.35.
    """
    from collop.kinetic.diagnostics import gain_table_mean_s
    from collop.train import Trainer, parse_curriculum

    (u_lo, u_hi), (r_lo, r_hi), data = _central_ranges(truth_file)
    op = Metriplectic.from_options(MetriplecticOptions(model="cm2"), data, seed=0)
    with torch.no_grad():
        op.kernel.net.weights()[-1][1][0].fill_(2.0 ** 0.5)          # g_r = sqrt(2) g_s at the start
    uu, rr = np.linspace(u_lo, u_hi, 24), np.linspace(r_lo, r_hi, 24)
    with torch.no_grad():
        Mr, Ms = gain_table_mean_s(op.kernel, uu, rr)
    assert np.median(Mr / Ms) > 1.8
    obj = WeakForm(WeakFormOptions(pairs=100_000, test_functions=RICH_TESTS, keep="average", **KNOWN))
    Trainer(parse_curriculum(CM_CURRICULUM), objective=obj, snapshot_every=0, checkpoint_every=0).fit(op, data)
    with torch.no_grad():
        Mr, Ms = gain_table_mean_s(op.kernel, uu, rr)
    ratio = Mr / Ms
    print(f"CM2 E_s[g_r^2]/E_s[g_s^2]: median {np.median(ratio):.3f}, range {ratio.min():.3f} .. {ratio.max():.3f}")
    assert abs(np.median(ratio) - 1) < 0.15


def test_cubic_rule_and_noise_weights_in_the_loss(md):
    """The loss with the cubic rule and noise weights: finite, weights of mean 1, exact for the truth on average."""
    data = WeakForm.load(md, ["bimaxwellian", "uniform"])
    obj = WeakForm(WeakFormOptions(pairs=20_000, **KNOWN))
    obj.prepare(data)
    assert obj.w.shape == obj.a.shape and abs(float(obj.w.mean()) - 1) < 1e-12 and bool((obj.w > 0).all())
    assert torch.allclose(obj.W.sum(1), torch.ones(obj.W.shape[0], dtype=obj.W.dtype))
    op = Metriplectic(LandauKernel(1.0, data.v_scale))
    loss, info = obj.loss(op, None)
    assert torch.isfinite(loss) and info["pairs"] == 20_000
