"""Sweep grids (:mod:`collop.sweep.grid`): points over any train spec field, validated before anything runs."""
from __future__ import annotations

import json

import pytest

from collop.options import SpecError
from collop.sweep import expand, point_label

from .conftest import base_spec


def _spec(sweep_files, axes, **kw):
    return {"base": base_spec(sweep_files), "axes": axes, **kw}


def test_product_zip_and_groups(sweep_files, tmp_path):
    axes = {"penalties.reg_velocity": [0, 1e-3, 1e-2], "seed": [0, 1]}
    prod = expand(_spec(sweep_files, axes), tmp_path / "s")
    assert len(prod) == 6
    assert [p.values for p in prod[:2]] == [{"penalties.reg_velocity": 0, "seed": 0},
                                           {"penalties.reg_velocity": 0, "seed": 1}]   # last axis fastest
    assert prod[3].spec.penalties == {"reg_velocity": 1e-3} and prod[3].spec.seed == 1
    zipped = expand(_spec(sweep_files, {"options.nt": [1, 5], "penalties.reg": [0, 1e-5]}, mode="zip"),
                    tmp_path / "s")
    assert [(p.spec.options["nt"], p.spec.penalties["reg"]) for p in zipped] == [(1, 0), (5, 1e-5)]
    # zipped groups crossed with a seed axis; a zipped value may repeat across combinations
    groups = [{"options.nt": [5, 5, 1], "penalties.reg": [0, 1e-5, 0]}, {"seed": [0, 1, 2]}]
    pts = expand(_spec(sweep_files, groups), tmp_path / "s")
    assert len(pts) == 9 and len({p.id for p in pts}) == 9
    # base options survive an axis on another option of the same group
    assert all(p.spec.options["model"] == "tensor" for p in pts)


def test_points_run_in_the_sweep_folder_with_stable_ids(sweep_files, tmp_path):
    spec = _spec(sweep_files, {"seed": [0, 1]})
    a, b = expand(spec, tmp_path / "s"), expand(json.dumps(spec), tmp_path / "s")
    assert [p.id for p in a] == [p.id for p in b]
    assert all(p.spec.out == str((tmp_path / "s" / p.id).absolute()) for p in a)
    assert a[0].id.startswith("seed0-") and a[1].id.startswith("seed1-")
    # the id changes with anything that changes the training, not with threads
    other = expand({"base": base_spec(sweep_files, curriculum="1:1e-2:31"), "axes": {"seed": [0, 1]}},
                   tmp_path / "s")
    assert {p.id for p in other}.isdisjoint({p.id for p in a})
    threads = expand({"base": base_spec(sweep_files, threads=2), "axes": {"seed": [0, 1]}}, tmp_path / "s")
    assert [p.id for p in threads] == [p.id for p in a]


def test_extending_a_grid_keeps_the_ids_of_its_points(sweep_files, tmp_path):
    small = expand(_spec(sweep_files, {"seed": [0, 1]}), tmp_path / "s")
    big = expand(_spec(sweep_files, {"seed": [0, 1, 2]}), tmp_path / "s")
    assert {p.id for p in small} < {p.id for p in big}


def test_derived_population_axes(sweep_files, tmp_path):
    base = base_spec(sweep_files, train=["centre", "right", "upleft"], test=["down"])
    n = expand({"base": base, "axes": {"n_train": [1, 3]}}, tmp_path / "s")
    assert [list(p.spec.train) for p in n] == [["centre"], ["centre", "right", "upleft"]]
    assert all(list(p.spec.test) == ["down"] for p in n)
    folds = expand({"base": base, "axes": {"holdout": ["centre", "upleft"]}}, tmp_path / "s")
    assert [(list(p.spec.train), list(p.spec.test)) for p in folds] == [
        (["right", "upleft"], ["centre"]), (["centre", "right"], ["upleft"])]
    lists = expand({"base": base, "axes": {"train": [["centre"], ["centre", "right"]]}}, tmp_path / "s")
    assert [len(p.spec.train) for p in lists] == [1, 2] and lists[0].id.startswith("train-1items")


def test_base_out_is_ignored_and_paths_made_absolute(sweep_files, tmp_path, monkeypatch):
    monkeypatch.chdir(sweep_files)
    base = base_spec(sweep_files, data="ps.nc", out="somewhere/else")
    pts = expand({"base": base, "axes": {"seed": [3]}}, "rel")
    assert pts[0].spec.data == str(sweep_files / "ps.nc")
    assert pts[0].spec.out == str(sweep_files / "rel" / pts[0].id)


def test_point_label_is_file_name_safe():
    label = point_label({"options.scheme": "forward", "penalties.reg": 1e-05, "holdout": "uniform_-5_0_-5_0",
                         "data": "/a b/c.nc", "options.tie": True})
    assert "/" not in label and " " not in label
    assert label == "scheme-forward_reg1e-05_out-uniform_-5_0_-5_0_data-a-b-c.nc_tie-True"


@pytest.mark.parametrize("axes, words", [
    ({"options.bogus": [1]}, "axes.options.bogus[0] = 1: options.bogus: unknown field"),
    ({"options.nt": [1, 0]}, "axes.options.nt[1] = 0: options.nt: Input should be greater than or equal to 1"),
    ({"options.model": ["tensor", "tree"]}, "axes.options.model[1] = 'tree'"),
    ({"family": ["fokker_planck", "nope"]}, "axes.family[1] = 'nope': family: unknown operator family"),
    ({"curriculum": ["1:1e-2:5", "1:x:5"]}, "axes.curriculum[1] = '1:x:5': curriculum"),
    ({"seed": [0, -1]}, "axes.seed[1] = -1: seed"),
    ({"n_train": [1, 5]}, "axes.n_train: 5 is not a number of populations from 1 to 2"),
    ({"holdout": ["down"]}, "axes.holdout: 'down' is not one of the base's training populations"),
])
def test_bad_values_name_their_axis(sweep_files, tmp_path, axes, words):
    with pytest.raises(SpecError) as exc:
        expand(_spec(sweep_files, axes), tmp_path / "s")
    assert words in str(exc.value), str(exc.value)


@pytest.mark.parametrize("spec, words", [
    ({"axes": {"seed": [0]}}, "base: missing"),
    ({"base": [], "axes": {"seed": [0]}}, "base: expected a train spec"),
    ({"base": {"data": "x.nc", "train": ["a"]}, "axes": {"seed": [0]}, "extra": 1}, "extra: unknown field"),
    ({"base": {"data": "x.nc"}, "axes": {"seed": [0]}}, "base.train: "),
    ({"base": {"data": "x.nc", "train": ["a"], "options": {"model": "tree"}}, "axes": {"seed": [0]}},
     "base.options.model: "),
    ({"base": {"kind": "tracks"}, "axes": {"seed": [0]}}, "base.kind: a sweep runs train jobs"),
])
def test_bad_specs_name_the_field(tmp_path, spec, words):
    with pytest.raises(SpecError) as exc:
        expand(spec, tmp_path / "s")
    assert str(exc.value).startswith(words), str(exc.value)


def test_any_registered_family_s_options_are_axes(sweep_files, tmp_path):
    base = base_spec(sweep_files, family="kernel", options={"model": "tensor"}, curriculum="kernel")
    pts = expand({"base": base, "axes": {"options.k": [1, 2, 3], "options.scheme": ["forward", "backward"]}},
                 tmp_path / "s")
    assert len(pts) == 6 and pts[-1].spec.options == {"model": "tensor", "k": 3, "scheme": "backward"}
    with pytest.raises(SpecError, match=r"^axes.options.k\[1\] = 0: options.k: "):
        expand({"base": base, "axes": {"options.k": [1, 0]}}, tmp_path / "s")
    with pytest.raises(SpecError, match=r"^axes.options.scheme\[0\] = 'upwind': options.scheme"):
        expand({"base": base, "axes": {"options.scheme": ["upwind"]}}, tmp_path / "s")
