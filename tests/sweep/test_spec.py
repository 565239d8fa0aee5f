"""Sweep specs (:mod:`collop.sweep.spec`): parsing, round trips, spec files and malformed grids."""
from __future__ import annotations

import json

import pytest

from collop.options import SpecError
from collop.sweep import expand, load_sweep_spec, parse_sweep_spec
from collop.sweep.select import load_select_spec
from collop.sweep.spec import read_spec_file

from .conftest import base_spec


def _spec(sweep_files, axes, **kw):
    return {"base": base_spec(sweep_files), "axes": axes, **kw}


def test_spec_round_trips_through_json_and_yaml(sweep_files, tmp_path):
    spec = parse_sweep_spec(_spec(sweep_files, {"options.nt": [1, 2], "seed": [0, 1]}, name="demo"))
    again = parse_sweep_spec(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.size() == 4 and again.name == "demo"
    grouped = parse_sweep_spec(_spec(sweep_files, [{"options.nt": [1, 2], "penalties.reg": [0, 1e-5]},
                                                   {"seed": [0]}]))
    assert parse_sweep_spec(grouped.to_dict()) == grouped
    import yaml

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(spec.to_dict()))
    assert load_sweep_spec(f) == spec


@pytest.mark.parametrize("axes, kw, words", [
    ({}, {}, "axes: empty grid"),
    ([], {}, "axes: empty grid"),
    ({"seed": []}, {}, "axes.seed: empty list of values"),
    ({"seed": 3}, {}, "axes.seed: expected a list of values, got int"),
    ("seed", {}, "axes: expected a mapping"),
    ([{"seed": [0]}, "x"], {}, "axes[1]: a group is a non-empty mapping"),
    ({"bogus": [1]}, {}, "axes.bogus: unknown field 'bogus'"),
    ({"options.nt.x": [1]}, {}, "axes.options.nt.x: unknown field"),
    ({"seed.x": [1]}, {}, "axes.seed.x: unknown field"),
    ({"out": ["a"]}, {}, "axes.out: cannot be varied"),
    ({"threads": [1, 2]}, {}, "axes.threads: cannot be varied"),
    ({"seed": [0, 0]}, {}, "axes.seed: value 0 appears twice"),
    ({"seed": [0, 1], "options.nt": [1]}, {"mode": "zip"}, "zipped axes need lists of one length"),
    ({"seed": [0]}, {"mode": "grid"}, "mode: expected 'product' or 'zip'"),
    ({"n_train": [1], "holdout": ["centre"]}, {}, "n_train and holdout cannot be combined"),
])
def test_malformed_grids_are_one_line_errors(sweep_files, tmp_path, axes, kw, words):
    with pytest.raises(SpecError) as exc:
        expand(_spec(sweep_files, axes, **kw), tmp_path / "s")
    assert words in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "s").exists()


def test_unreadable_spec_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match=r"bad.json: not JSON \(Expecting property name"):
        load_sweep_spec(bad)
    with pytest.raises(SpecError, match="cannot be read"):
        load_sweep_spec(tmp_path / "missing.json")
    y = tmp_path / "bad.yaml"
    y.write_text("base: [unclosed\n")
    with pytest.raises(SpecError, match="bad.yaml: not YAML"):
        load_sweep_spec(y)


def test_spec_files_of_folders_are_their_indexes(sweep_files, tmp_path):
    spec = parse_sweep_spec(_spec(sweep_files, {"seed": [0, 1]}))
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"spec": spec.to_dict(), "points": []}))
    assert read_spec_file(folder, "sweep.json")["points"] == []
    assert load_sweep_spec(folder) == spec                       # the spec a sweep folder was run with
    sel = tmp_path / "selection"
    sel.mkdir()
    (sel / "selection.json").write_text(json.dumps({"spec": {**spec.to_dict(), "aggregate": "mean"},
                                                    "candidates": []}))
    assert load_select_spec(sel).aggregate == "mean"
    with pytest.raises(SpecError, match=r"selection: cannot be read"):
        load_sweep_spec(sel)                                     # no sweep.json in it
