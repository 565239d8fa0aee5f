"""Checks before a sweep writes anything (:mod:`collop.sweep.checks`): the data of every point, the folder."""
from __future__ import annotations

import pytest

from collop.options import SpecError
from collop.schema import CollopError
from collop.sweep import expand, parse_sweep_spec
from collop.sweep.checks import check_out, preflight

from .conftest import base_spec


def _points(sweep_files, tmp_path, axes, **base):
    spec = parse_sweep_spec({"base": base_spec(sweep_files, **base), "axes": axes})
    return expand(spec, tmp_path / "s"), spec


def test_good_points_pass(sweep_files, tmp_path):
    preflight(*_points(sweep_files, tmp_path, {"seed": [0, 1], "options.nt": [1, 2]}))
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("axes, base, words", [
    ({"seed": [0]}, {"test": ["nowhere"]}, "nowhere"),
    ({"holdout": ["centre", "right"]}, {"train": ["centre", "right", "gone"]}, "gone"),
    # 10**9 time nodes pass the spec's checks but not the family's memory check on the data
    ({"options.nt": [1, 10**9]}, {}, "axes.options.nt[1] = 1000000000: options.nt: 1000000000 time nodes"),
])
def test_a_point_that_cannot_run_on_its_data(sweep_files, tmp_path, axes, base, words):
    points, spec = _points(sweep_files, tmp_path, axes, **base)
    with pytest.raises(CollopError) as exc:
        preflight(points, spec)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_a_missing_data_file(sweep_files, tmp_path):
    points, spec = _points(sweep_files, tmp_path, {"seed": [0]}, data=str(tmp_path / "missing.nc"))
    with pytest.raises(CollopError, match="missing.nc"):
        preflight(points, spec)


def test_the_out_folder(tmp_path):
    check_out(tmp_path / "new")                                  # a new folder: fine, and not made
    assert not (tmp_path / "new").exists()
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    with pytest.raises(SpecError, match="holds a training run, not a sweep") as exc:
        check_out(run)
    assert exc.value.field == "out"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "sweep.json").write_text("[1, 2]")
    with pytest.raises(CollopError, match=r"sweep.json: cannot be read as a sweep index \(not a sweep index\)"):
        check_out(bad)
