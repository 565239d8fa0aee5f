"""Inputs that used to succeed silently or crash: each is one clear line, exit 2, nothing written."""
from __future__ import annotations

import numpy as np
import pytest

from collop.cli import main
from collop.datasets import isotropic_operator_dataset, particles_dataset
from collop.io import open_dataset, write_dataset

from .conftest import GRID


def _err(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("collop: error: ") and "Traceback" not in err, err
    return lines[0]


def _train(tiny, out, *extra):
    return ["train", "fp", tiny / "ps.nc", "--train", "a", "--out", out, *extra]


@pytest.fixture
def zero_files(tmp_path, tiny):
    ds = open_dataset(tiny / "ps.nc", "phasespace")
    one = ds.copy(deep=True)
    one["f"].values[1] = 0.0                       # population "b" is empty
    allz = ds.copy(deep=True)
    allz["f"].values[:] = 0.0
    write_dataset(one, tmp_path / "one_zero.nc")
    write_dataset(allz, tmp_path / "all_zero.nc")
    return tmp_path


def test_empty_populations_are_refused(zero_files, tmp_path, capsys):
    line = _err(capsys, "train", "fp", zero_files / "one_zero.nc", "--train", "a,b", "--out", tmp_path / "o")
    assert "one_zero.nc" in line and " b " in line and "no particles" in line
    line = _err(capsys, "train", "fp", zero_files / "all_zero.nc", "--train", "a", "--out", tmp_path / "o")
    assert "all_zero.nc" in line and "no particles" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("extra, words", [
    (["--curriculum", ""], ["--curriculum", "empty"]),
    (["--curriculum", "1:1e-2:0"], ["--curriculum", "epochs >= 1"]),
    (["--curriculum", "1:0:5"], ["--curriculum", "learning rate > 0"]),
    (["--nt", "1000000000000"], ["--nt", "GiB"]),
    (["--smooth", "1e9"], ["--smooth"]),
    (["--smooth", "40"], ["smooth 40", "wider than the grid"]),
    (["--seed", "-1"], ["--seed"]),
    (["--seed", "4294967296"], ["--seed"]),
    (["--threads", "100000"], ["threads", "CPU"]),
])
def test_bad_training_options(tiny, tmp_path, capsys, extra, words):
    line = _err(capsys, *_train(tiny, tmp_path / "o", *extra))
    for w in words:
        assert w in line, line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, words", [
    (["generate", "langevin", "--seed", "-3"], ["--seed"]),
    (["generate", "langevin", "--seed", "99999999999"], ["--seed"]),
    (["generate", "langevin", "--dt", "1000"], ["unstable", "--dt"]),
    (["generate", "langevin", "--n-particles", "1000000000000"], ["GiB"]),
])
def test_bad_generate_options(tmp_path, capsys, argv, words):
    line = _err(capsys, *argv, "--out", tmp_path / "p.nc")
    for w in words:
        assert w in line, line
    assert not (tmp_path / "p.nc").exists()


def test_generate_checks_every_output_first(tmp_path, capsys):
    """An unwritable --truth-out fails before the particles are computed or written."""
    line = _err(capsys, "generate", "langevin", "--n-particles", "100", "--frames", "2", "--out", tmp_path / "p.nc",
                "--truth-out", "/proc/collop-truth.nc")
    assert "/proc/collop-truth.nc" in line and "--truth-out" in line
    assert not (tmp_path / "p.nc").exists() and not list(tmp_path.iterdir())


def test_errors_name_the_final_file_not_a_temporary_one(tmp_path, capsys):
    target = tmp_path / "sub" / "p.nc"
    line = _err(capsys, "generate", "langevin", "--n-particles", "10", "--frames", "1", "--out", target)
    assert str(target) in line and ".tmp" not in line


def test_phasespace_seed_range_matches_the_other_commands(tmp_path, capsys):
    line = _err(capsys, "phasespace", tmp_path / "none.nc", "--populations", "normal_0_0", "--seed", "-1",
                "--out", tmp_path / "ps.nc")
    assert "--seed" in line


def test_evaluate_refuses_an_operator_it_cannot_advance(tiny, tmp_path, capsys):
    s = GRID.speed_nodes()
    bad = isotropic_operator_dataset([0.0], s, np.zeros((1, s.size)), np.full((1, s.size), -50.0),
                                     np.full((1, s.size), -50.0), method="hand", velocity_units="u",
                                     time_units="t", source="test")
    write_dataset(bad, tmp_path / "bad.nc")
    line = _err(capsys, "evaluate", "--operator", tmp_path / "bad.nc", "--data", tiny / "ps.nc")
    assert "bad.nc" in line and "not finite" in line


def test_evaluate_needs_two_frames(tiny, tmp_path, capsys):
    ds = open_dataset(tiny / "ps.nc", "phasespace").isel(time=[0])
    write_dataset(ds, tmp_path / "one.nc")
    line = _err(capsys, "evaluate", "--operator", tiny / "truth.nc", "--data", tmp_path / "one.nc")
    assert "one.nc" in line and "1 frame" in line


def test_tracks_refuses_zero_particles_and_too_few_bins(tmp_path, capsys):
    empty = particles_dataset(np.zeros((4, 0, 2)), np.arange(4.0), velocity_units="u", time_units="t",
                              source="test")
    write_dataset(empty, tmp_path / "empty.nc")
    line = _err(capsys, "tracks", tmp_path / "empty.nc", "--ndump", "1", "--out", tmp_path / "t")
    assert "empty.nc" in line and "no particles" in line
    some = particles_dataset(np.random.default_rng(0).normal(size=(4, 50, 2)), np.arange(4.0),
                             velocity_units="u", time_units="t", source="test")
    write_dataset(some, tmp_path / "some.nc")
    line = _err(capsys, "tracks", tmp_path / "some.nc", "--ndump", "1", "--n-bins", "2", "--out", tmp_path / "t")
    assert "--n-bins" in line
    assert not (tmp_path / "t").exists()


def test_convert_refuses_what_training_would_refuse(tmp_path, capsys):
    """A reference-code folder with non-square bins is refused at conversion, not at training."""
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "io"))
    from synth_inputs import refcode_counts, write_refcode_population

    write_refcode_population(tmp_path / "ds" / "normal_0_0", refcode_counts(), v_range=(-5.0, 5.0, -2.5, 2.5))
    line = _err(capsys, "convert", tmp_path / "ds", "--out", tmp_path / "ps.nc")
    assert "non-square" in line
    assert not (tmp_path / "ps.nc").exists()
