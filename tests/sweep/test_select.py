"""Cross-validated selection: folds, the combining rule, the final training, the truth only as a score."""
from __future__ import annotations

import math

import numpy as np
import pytest

from collop.options import SpecError
from collop.sweep import aggregate, parse_select_spec, run_selection
from collop.sweep.select import fold_scores

from .conftest import base_spec, read_json


def test_aggregate_rules():
    e = [20.0, 5.0, 0.4, 0.35, 0.38]
    assert aggregate(e, "mean") == pytest.approx(sum(e) / 5, rel=1e-15)
    assert aggregate(e, "geometric") == pytest.approx(np.exp(np.mean(np.log(e))), rel=1e-15)
    assert math.isnan(aggregate([1.0, None], "mean")) and math.isnan(aggregate([1.0, float("nan")], "geometric"))
    assert math.isnan(aggregate([1.0, 0.0], "geometric"))
    with pytest.raises(ValueError):
        aggregate(e, "median")


def _sel(sweep_files, **kw):
    return parse_select_spec({"base": base_spec(sweep_files, train=["centre", "right", "upleft"]),
                              "axes": {"penalties.reg_velocity": [0, 1e-3, 1e-2]}, **kw})


def _folds(values_by_cand, statuses=None):
    pts = []
    for lam, errs in values_by_cand.items():
        for pop, err in zip(["centre", "right", "upleft"], errs):
            st = (statuses or {}).get((lam, pop), "finished")
            pts.append({"values": {"penalties.reg_velocity": lam, "holdout": pop}, "status": st,
                        "metrics": {"rollout_mae": err}})
    return pts


def test_the_rules_can_disagree_and_each_is_followed(sweep_files):
    # one wide fold (x50) dominates the arithmetic mean; the geometric mean weighs folds alike
    folds = _folds({0: [20.0, 0.40, 0.40], 1e-3: [21.0, 0.30, 0.30], 1e-2: [30.0, 1.0, 1.0]})
    geo = fold_scores(_sel(sweep_files), folds)
    mean = fold_scores(_sel(sweep_files, aggregate="mean"), folds)
    best = lambda cands: min((c for c in cands if c["eligible"]), key=lambda c: c["score"])["values"]  # noqa: E731
    assert best(geo) == {"penalties.reg_velocity": 1e-3}
    assert best(mean) == {"penalties.reg_velocity": 0}
    assert geo[1]["folds"] == {"centre": 21.0, "right": 0.30, "upleft": 0.30}


def test_a_candidate_with_an_unfinished_fold_is_not_eligible(sweep_files):
    folds = _folds({0: [1.0, 1.0, 1.0], 1e-3: [0.1, 0.1, 0.1], 1e-2: [2.0, 2.0, 2.0]},
                   statuses={(1e-3, "right"): "diverged"})
    c = fold_scores(_sel(sweep_files), folds)
    assert [x["eligible"] for x in c] == [True, False, True]
    assert c[1]["folds"]["right"] is None and c[1]["status"]["right"] == "diverged"


@pytest.mark.parametrize("spec, words", [
    ({"axes": {"holdout": ["centre"]}}, "axes.holdout: the selection holds populations out itself"),
    ({"axes": {"train": [["centre", "right"]]}}, "axes.train: the selection holds populations out"),
    ({"base": {"train": ["centre"]}}, "base.train: cross-validation needs a list of two or more"),
    ({"aggregate": "median"}, "aggregate: expected one of geometric, mean"),
    ({"finals": "best"}, "finals: expected one of chosen, all"),
    ({"axes": {}}, "axes: empty grid"),
])
def test_bad_selection_specs(sweep_files, spec, words):
    d = {"base": base_spec(sweep_files, train=["centre", "right", "upleft"]), "axes": {"seed": [0]}}
    if "base" in spec:
        d["base"].update(spec.pop("base"))
    d.update(spec)
    with pytest.raises(SpecError) as exc:
        parse_select_spec(d)
    assert str(exc.value).startswith(words), str(exc.value)


def test_selection_chooses_by_the_held_out_errors_and_trains_the_choice_on_all(client, sweep_files, tmp_path):
    spec = {"base": base_spec(sweep_files, train=["centre", "right"], test=["down"], curriculum="1:1e-2:15"),
            "axes": {"penalties.reg_velocity": [0, 1e-1]}}
    out = tmp_path / "sel"
    stages = []
    res = run_selection(spec, out, client=client, truth=str(sweep_files / "truth.nc"),
                        callback=lambda ev: stages.append(ev["stage"]))
    assert res.status == "finished" and set(stages) == {"folds", "final"}
    # the held-out errors, read back from the fold runs themselves
    folds = read_json(out / "folds" / "sweep.json")["points"]
    assert len(folds) == 4 and all(p["status"] == "finished" for p in folds)
    held = {}
    for p in folds:
        m = read_json(out / "folds" / p["id"] / "metrics.json")
        assert m["test"] == [p["values"]["holdout"]] and p["values"]["holdout"] not in m["train"]
        held.setdefault(p["values"]["penalties.reg_velocity"], []).append(m["rollout_mae"])
    geo = {lam: float(np.exp(np.mean(np.log(v)))) for lam, v in held.items()}
    assert res.chosen == {"penalties.reg_velocity": min(geo, key=geo.get)}
    assert [c["score"] for c in res.candidates] == pytest.approx([geo[0], geo[1e-1]], rel=1e-12)
    # the final training: the chosen setting on every training population, tested on the base's test
    assert len(res.finals) == 1 and res.finals[0]["chosen"]
    fin = read_json(out / "final" / res.finals[0]["point"] / "metrics.json")
    assert fin["train"] == ["centre", "right"] and fin["test"] == ["down"]
    run = read_json(out / "final" / res.finals[0]["point"] / "run.json")
    assert run["spec"]["penalties"]["reg_velocity"] == res.chosen["penalties.reg_velocity"]
    # the truth only scores: coefficient errors present and finite
    err = res.finals[0]["coefficient_error"]
    assert set(err) == {"A_par", "D_par", "D_perp"} and all(math.isfinite(v) for v in err.values())
    assert res.finals[0]["truth_rollout_mae"] >= 0
    saved = read_json(out / "selection.json")
    assert saved["chosen"] == res.chosen and saved["aggregate"] == "geometric" and saved["status"] == "finished"
    # a rerun trains nothing and chooses the same
    again = []
    res2 = run_selection(spec, out, client=client, callback=again.append)
    assert res2.chosen == res.chosen
    assert not [e for e in again if e.get("event") == "point"]
