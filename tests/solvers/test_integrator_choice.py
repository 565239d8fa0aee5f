"""Choosing the time integrator: ``make_solver``, the rollout objective's ``integrator`` /
``substeps`` / ``stability`` options, their record in the operator file and run folder, the
integrator ``collop evaluate`` uses, and the bad-input cases of issue #13 (a bad name; a fixed
sub-step count below the stability estimate)."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

from collop import cli
from collop.io import open_dataset, write_dataset
from collop.objectives import RolloutMAE
from collop.objectives.rollout import RolloutOptions
from collop.options import SpecError, parse
from collop.pipeline import TrainSpec, evaluate_file, run
from collop.solvers import RKL2, ForwardEuler, fp_stencil_weights, make_solver

from synthetic import tiny_phasespace



def _data(tmp_path):
    path = tmp_path / "ps.nc"
    write_dataset(tiny_phasespace()[0], path)
    return path


def _stiff_stencil(n=15, D=1.0, h=0.1):
    c = torch.zeros(1, 5, n, n, dtype=torch.float64)
    c[:, 2] = D
    c[:, 3] = D
    return fp_stencil_weights(c, h)


# --- names -------------------------------------------------------------------------------------

def test_make_solver_names():
    assert isinstance(make_solver("euler"), ForwardEuler)
    assert isinstance(make_solver("rkl2"), RKL2)
    assert make_solver("euler", 1).n_substeps == 1
    assert make_solver("euler", stability="gershgorin").stability == "gershgorin"
    with pytest.raises(ValueError, match="unknown integrator 'rk4'"):
        make_solver("rk4")
    with pytest.raises(ValueError, match="stability"):
        make_solver("euler", stability="exact")


@pytest.mark.parametrize("field,value", [("integrator", "rk4"), ("substeps", 0), ("stability", "exact"),
                                         ("substeps", 1.5)])
def test_bad_solver_option_is_one_line_naming_the_field(field, value):
    with pytest.raises(SpecError) as exc:
        parse(RolloutOptions, {field: value}, where="objective")
    assert exc.value.field == f"objective.{field}"
    assert "\n" not in str(exc.value) and str(exc.value).startswith(f"objective.{field}:")


def test_bad_integrator_name_on_the_command_line_exits_2(tmp_path, capsys):
    data = _data(tmp_path)
    code = cli.main(["-q", "train", "fp", str(data), "--train", "a", "--integrator", "rk4",
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--integrator" in err[0] and "rk4" in err[0]
    assert not (tmp_path / "run").exists()
    code = cli.main(["evaluate", "--operator", str(data), "--data", str(data), "--integrator", "rk4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--integrator" in err[0]


def test_bad_integrator_in_a_job_spec_names_the_field(tmp_path):
    spec = TrainSpec(data=str(_data(tmp_path)), train=("a",), out=str(tmp_path / "run"),
                     objective={"integrator": "rk4"})
    with pytest.raises(SpecError) as exc:
        run(spec)
    assert exc.value.field == "objective.integrator"
    assert not (tmp_path / "run").exists()


# --- reusing the spectral estimate in training (estimate_every) ------------------------------------

def _frames(scales, n=15):
    """A stiff diffusion stencil per frame, frame ``t`` scaled by ``scales[t]``."""
    W = _stiff_stencil(n)
    return torch.cat([W * s for s in scales])


def test_held_estimate_is_reused_for_hold_calls_and_equals_a_fresh_one():
    W = _frames([1.0, 0.5, 0.2])
    fresh = ForwardEuler().substeps(W, 1.0)
    solver = ForwardEuler(hold=3)
    counts = [solver.substeps(W, 1.0) for _ in range(7)]
    assert solver.frames_estimated == 3 * 3                            # calls 1, 4 and 7: all 3 frames
    for c in counts:
        assert (c == fresh).all()
    every = ForwardEuler()
    for _ in range(4):
        every.substeps(W, 1.0)
    assert every.frames_estimated == 4 * 3                             # hold=1: every call


def test_a_frame_whose_gershgorin_count_grows_is_reestimated_at_once():
    solver = ForwardEuler(hold=100)
    small = _frames([0.2, 0.2])
    first = solver.substeps(small, 1.0)
    assert solver.frames_estimated == 2
    grown = _frames([0.2, 1.0])                                        # frame 1's coefficients grew 5x
    got = solver.substeps(grown, 1.0)
    assert solver.frames_estimated == 3                                # frame 1 only
    assert (got == ForwardEuler().substeps(grown, 1.0)).all() and got[1] > first[1]


def test_a_held_count_never_exceeds_the_current_gershgorin_count():
    from collop.solvers import stable_substeps
    solver = ForwardEuler(hold=100)
    solver.substeps(_frames([1.0, 1.0]), 1.0)
    shrunk = _frames([1.0, 0.001])                                     # frame 1 nearly switched off
    got = solver.substeps(shrunk, 1.0)
    assert solver.frames_estimated == 2                                # held: no count grew
    assert stable_substeps(shrunk, 1.0, per_frame=True)[1] == 1
    assert got[1] == 1 < got[0]


def test_ritz_values_of_a_frame_do_not_depend_on_which_frames_are_computed():
    import numpy as np

    from collop.solvers.stability import ritz_values
    W = _frames([1.0, 0.5, 0.2])
    full = ritz_values(W, 1.0)
    part = ritz_values(W, 1.0, frames=np.array([False, True, False]))
    assert np.isnan(part[[0, 2]]).all()
    np.testing.assert_array_equal(part[1], full[1])                    # same start vector, same steps


def test_bad_estimate_every_is_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="hold must be >= 1"):
        ForwardEuler(hold=0)
    code = cli.main(["-q", "train", "fp", str(_data(tmp_path)), "--train", "a", "--estimate-every", "0",
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--estimate-every" in err[0]
    assert not (tmp_path / "run").exists()


# --- a fixed count below the estimate ------------------------------------------------------------

def test_unstable_fixed_substeps_warn_once_and_the_rollout_shows_it():
    W = _stiff_stencil()
    need = ForwardEuler().substeps(W, 1.0)[0]
    assert need > 10                                                   # D dt / h^2 = 100: stiff
    solver = ForwardEuler(n_substeps=1)
    f0 = torch.rand(1, 15, 15, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.warns(RuntimeWarning, match=r"substeps=1 is below the spectral stability estimate"):
        out = solver.rollout(f0, W.expand(3, -1, -1, -1), 1.0, 3)
    assert out[0, -1].abs().max() > 100 * f0.abs().max()               # what the warning announced
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                 # once per solver
        solver.rollout(f0, W.expand(3, -1, -1, -1), 1.0, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                 # a stable fixed count is silent
        ForwardEuler(n_substeps=int(need)).rollout(f0, W.expand(2, -1, -1, -1), 1.0, 2)


def test_rkl2_with_one_fixed_substep_is_stable_through_its_stages():
    W = _stiff_stencil()
    f0 = torch.rand(1, 15, 15, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    solver = RKL2(n_substeps=1)
    plan = solver.plan(W, 1.0)
    assert plan.substeps[0] == 1 and plan.stages[0] > 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = solver.rollout(f0, W.expand(3, -1, -1, -1), 1.0, 3)
    assert out.abs().max() <= f0.abs().max() * (1 + 1e-6)             # bounded: no growth


# --- recorded and used ---------------------------------------------------------------------------

def test_integrator_is_recorded_and_used_by_evaluate(tmp_path):
    data = _data(tmp_path)
    out = tmp_path / "run"
    res = run(TrainSpec(data=str(data), train=("a", "b"), out=str(out), curriculum="1:1e-2:3,2:1e-2:2",
                        objective={"integrator": "rkl2", "substeps": 2}))
    assert res.status == "finished"
    op = open_dataset(out / "operator.nc", "operator")
    assert op.attrs["integrator"] == "rkl2" and int(op.attrs["substeps"]) == 2
    params = json.loads((out / "run.json").read_text())["params"]
    assert params["integrator"] == "rkl2" and params["substeps"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    recorded = evaluate_file(out / "operator.nc", data)                # the file's integrator
    assert recorded["rollout_mae"] == pytest.approx(metrics["rollout_mae"], rel=1e-12)
    direct = RolloutMAE.evaluate(op, open_dataset(data, "phasespace"), ["a", "b", "c"],
                                 RolloutOptions(integrator="rkl2", substeps=2))
    assert direct["rollout_mae"] == pytest.approx(recorded["rollout_mae"], rel=1e-12)
    euler = evaluate_file(out / "operator.nc", data, integrator="euler")   # the override
    assert euler["rollout_mae"] != recorded["rollout_mae"]
    euler_opts = RolloutMAE.options_from_file(op, integrator="euler")
    assert (euler_opts.integrator, euler_opts.substeps) == ("euler", 2)


def test_file_without_a_recorded_integrator_gets_the_defaults():
    opts = RolloutMAE.options_from_file(object())
    assert (opts.integrator, opts.substeps, opts.stability) == ("euler", None, "spectral")
