"""Job specs: JSON round trips, and one line naming the field for every bad one."""
from __future__ import annotations

import dataclasses
import json

import pytest

from collop.cli import main
from collop.options import SpecError
from collop.pipeline import TracksSpec, TrainSpec, resolve, run, spec_from_json, spec_to_json


def test_specs_round_trip_through_json():
    spec = TrainSpec(data="d.nc", train=["a", "b"], test=["c"], out="runs/x",
                     options={"model": "nn", "nt": 1}, penalties={"reg": 1e-3}, objective={"smooth": 0.5},
                     curriculum="1:1e-2:3", seed=7, threads=1)
    back = spec_from_json(spec_to_json(spec))
    assert back == spec and dataclasses.is_dataclass(back)
    tr = TracksSpec(particles="p.nc", ndump=2, out="runs/t", test=["c"])
    assert spec_from_json(spec_to_json(tr)) == tr
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 3


def test_resolve_fills_the_family_defaults():
    res = resolve(TrainSpec(data="d.nc", train=["a"], out="o", options={"model": "nn"}))
    d = res.to_dict()
    assert d["options"] == {"model": "nn", "symmetry": "isotropic", "nt": None, "hidden": 32, "layers": 3}
    assert d["curriculum"] == "ps-nn" and res.method == "ps-nn"
    assert d["penalties"]["reg_velocity_order"] == 2 and d["objective"]["dtype"] == "float32"


@pytest.mark.parametrize("patch, field", [
    ({"family": "no_such_family"}, "family"),
    ({"options": {"model": "tensor", "bogus": 1}}, "options.bogus"),
    ({"options": {"nt": "3"}}, "options.nt"),
    ({"options": {"nt": 2.5}}, "options.nt"),
    ({"options": {"model": "mlp"}}, "options.model"),
    ({"penalties": {"reg": -1.0}}, "penalties.reg"),
    ({"objective": {"smooth": True}}, "objective.smooth"),
    ({"curriculum": ""}, "curriculum"),
    ({"curriculum": "1:1e-2:0"}, "curriculum"),
])
def test_bad_family_fields_name_the_field(patch, field, tmp_path):
    spec = TrainSpec(data="d.nc", train=["a"], out=str(tmp_path / "o"), **patch)
    with pytest.raises(SpecError) as info:
        run(spec)
    msg = str(info.value)
    assert info.value.field == field and msg.startswith(field) and "\n" not in msg
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text, field", [
    ('{"data": "d", "train": ["a"], "out": "o", "seed": -1}', "seed"),
    ('{"data": "d", "train": ["a"], "out": "o", "seed": 4294967296}', "seed"),
    ('{"data": "d", "train": [], "out": "o"}', "train"),
    ('{"data": "d", "train": ["a"], "out": "o", "threads": "2"}', "threads"),
    ('{"data": "d", "train": ["a"], "out": "o", "surprise": 1}', "surprise"),
    ('{"kind": "sweep"}', "kind"),
])
def test_bad_spec_json_names_the_field(text, field):
    with pytest.raises(SpecError) as info:
        spec_from_json(text)
    assert info.value.field == field and str(info.value).startswith(field)


def test_cli_names_the_flag_of_a_bad_field(tiny, tmp_path, capsys):
    code = main(["train", "fp", str(tiny / "ps.nc"), "--train", "a", "--nt", "0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("collop: error: --nt: ")
    assert not (tmp_path / "o").exists()


def test_collop_run_takes_a_spec_file_and_names_it_in_errors(tiny, tmp_path, capsys):
    spec = {"data": str(tiny / "ps.nc"), "train": ["a"], "out": str(tmp_path / "r"), "curriculum": "1:1e-2:2",
            "options": {"nt": 1}}
    f = tmp_path / "spec.json"
    f.write_text(json.dumps(spec))
    assert main(["-q", "run", str(f)]) == 0
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "finished" and info["spec"]["options"]["nt"] == 1
    # a run.json is a spec file too: run it again into another folder
    assert main(["-q", "run", str(tmp_path / "r" / "run.json"), "--out", str(tmp_path / "r2")]) == 0
    capsys.readouterr()
    f.write_text(json.dumps({**spec, "options": {"nt": "x"}}))
    assert main(["-q", "run", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(f) in err[0] and "options.nt" in err[0]
