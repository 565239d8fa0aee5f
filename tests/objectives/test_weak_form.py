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
