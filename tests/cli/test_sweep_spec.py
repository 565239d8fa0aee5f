"""``collop sweep run|select`` SPEC with flags (:mod:`collop.cli.sweep.spec`): the spec they build.

The runs themselves, and bad input end to end, are in ``tests/sweep/test_cli_sweep.py``.
"""
from __future__ import annotations

import json

import pytest

from collop.cli import build_parser
from collop.cli._common import UsageError
from collop.cli.sweep.spec import sweep_spec

BASE = {"data": "ps.nc", "train": ["a", "b"], "options": {"model": "tensor"}}


def _spec(*argv):
    return sweep_spec(build_parser().parse_args(["sweep", "run", *map(str, argv)]))


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_flags_set_the_base_and_add_axes(tmp_path):
    f = _write(tmp_path / "s.json", {"base": BASE, "axes": {"seed": [0, 1]}})
    d = _spec(f, "--axis", "options.nt=5,25", "--axis", "options.scheme=forward,backward",
              "--set", "penalties.reg=1e-05", "--set", "options.tie=true", "--family", "fp",
              "--train", "a,c", "--test", "d", "--curriculum", "short", "--seed", "7", "--threads", "2")
    assert d["axes"] == {"seed": [0, 1], "options.nt": [5, 25], "options.scheme": ["forward", "backward"]}
    assert d["base"] == {"data": "ps.nc", "train": ["a", "c"], "test": ["d"], "family": "fokker_planck",
                         "curriculum": "short", "seed": 7, "threads": 2, "penalties": {"reg": 1e-05},
                         "options": {"model": "tensor", "tie": True}}


def test_axes_given_as_groups_get_the_flags_as_more_groups(tmp_path):
    f = _write(tmp_path / "s.json", {"base": BASE, "axes": {"seed": [0, 1], "options.nt": [1, 5]}, "mode": "zip"})
    d = _spec(f, "--axis", "penalties.reg=0,1e-5")
    assert "mode" not in d
    assert d["axes"] == [{"seed": [0, 1], "options.nt": [1, 5]}, {"penalties.reg": [0, 1e-5]}]


@pytest.mark.parametrize("content", [
    {"spec": BASE, "status": "finished", "id": "run-1"},           # a run.json: its spec is the base
    BASE,                                                          # a train spec
])
def test_a_training_is_a_base(tmp_path, content):
    f = _write(tmp_path / "t.json", content)
    assert _spec(f, "--axis", "seed=0,1") == {"base": BASE, "axes": {"seed": [0, 1]}}


def test_a_sweep_folder_gives_its_spec(tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    _write(folder / "sweep.json", {"spec": {"base": BASE, "axes": {"seed": [0]}}, "points": []})
    assert _spec(folder)["axes"] == {"seed": [0]}
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="a folder without sweep.json or selection.json"):
        _spec(tmp_path / "empty")


def test_a_data_file_with_train_is_a_base(tmp_path):
    d = _spec(tmp_path / "ps.nc", "--train", "a,b", "--axis", "seed=0")
    assert d == {"base": {"data": str(tmp_path / "ps.nc"), "train": ["a", "b"]}, "axes": {"seed": [0]}}


def test_yaml_spec_files(tmp_path):
    import yaml

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"base": BASE, "axes": {"seed": [0, 1]}}))
    assert _spec(f) == {"base": BASE, "axes": {"seed": [0, 1]}}
