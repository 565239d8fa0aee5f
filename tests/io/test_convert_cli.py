"""``collop convert``: format detection, outputs, and bad input -> one line, exit 2, nothing written."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from synth_inputs import M_E, C, osiris_truth, write_openpmd, write_raw

from collop import cli
from collop.io import open_dataset


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_failed(capsys, out_dir, argv, path, *words):
    """Exit 2, one ``collop: error: PATH: ...`` line naming the problem, nothing in ``out_dir``."""
    before = sorted(p.name for p in out_dir.iterdir())
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"collop: error: {path}"), err
    for w in words:
        assert w.lower() in lines[0].lower(), err
    assert sorted(p.name for p in out_dir.iterdir()) == before  # no output, no temp file


@pytest.fixture
def out_dir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


def test_convert_osiris_run(capsys, osiris_run, out_dir):
    root, tags, p = osiris_run
    code, out, err = run_cli(capsys, "convert", root, "--out", out_dir / "p.nc")
    assert code == 0, err
    assert "particles" in out and "p.nc" in out
    ds = open_dataset(out_dir / "p.nc", "particles")
    assert ds.sizes == {"time": 3, "particle": 40, "component": 3}
    assert ds.attrs["velocity_units"] == "m_e c"


def test_convert_refcode_and_openpmd(capsys, refcode_dir, tmp_path, out_dir):
    code, out, err = run_cli(capsys, "convert", refcode_dir[0], "--out", out_dir / "ps.nc",
                             "--format", "refcode")
    assert code == 0, err
    assert open_dataset(out_dir / "ps.nc", "phasespace").sizes["population"] == 2
    rng = np.random.default_rng(0)
    p = [rng.normal(0, 0.01 * M_E * C, (10, 3)) for _ in range(2)]
    pattern = write_openpmd(tmp_path / "o" / "d_%T.h5", times=[0, 1], ids=[np.arange(10)] * 2,
                            p_si=p, species=("e", "i"))
    code, out, err = run_cli(capsys, "convert", pattern, "--out", out_dir / "o.nc", "--species", "i")
    assert code == 0, err
    ds = open_dataset(out_dir / "o.nc", "particles")
    assert ds.attrs["velocity_units"] == "m/s" and ds.attrs["openpmd_species"] == "i"


def test_convert_prints_warnings_on_one_line(capsys, tmp_path, out_dir):
    tags, p = osiris_truth(n=10, nt=2)
    folder = tmp_path / "run" / "MS" / "RAW" / "electrons"
    write_raw(folder / "RAW-electrons-000000.h5", time=0, iteration=0, tags=tags, p=p[0])
    write_raw(folder / "RAW-electrons-000001.h5", time=1, iteration=1, tags=tags[:9], p=p[1][:9])
    code, out, err = run_cli(capsys, "convert", tmp_path / "run", "--out", out_dir / "p.nc", "-q")
    assert code == 0, err
    assert err.startswith("collop: warning: kept the 9 particles") and err.count("\n") == 1
    assert out == ""


def test_convert_truncated_hdf5(capsys, osiris_run, out_dir):
    root, _, _ = osiris_run
    f = root / "MS" / "RAW" / "electrons" / "RAW-electrons-000001.h5"
    f.write_bytes(f.read_bytes()[:3000])
    assert_failed(capsys, out_dir, ["convert", root, "--out", out_dir / "p.nc"], f, "truncated")
    assert_failed(capsys, out_dir, ["convert", f, "--out", out_dir / "p.nc"], f, "truncated")


def test_convert_foreign_hdf5(capsys, tmp_path, out_dir):
    f = tmp_path / "thing.h5"
    with h5py.File(f, "w") as h:
        h["temperature"] = np.ones(5)
    assert_failed(capsys, out_dir, ["convert", f, "--out", out_dir / "p.nc"], f,
                  "neither an OSIRIS RAW dump", "openPMD")
    assert_failed(capsys, out_dir, ["convert", f, "--out", out_dir / "p.nc", "--format", "osiris"], f,
                  "not an OSIRIS RAW file")
    assert_failed(capsys, out_dir, ["convert", f, "--out", out_dir / "p.nc", "--format", "openpmd"], f,
                  "not openPMD")


def test_convert_missing_tag(capsys, osiris_run, out_dir):
    root, tags, p = osiris_run
    f = write_raw(root / "MS" / "RAW" / "electrons" / "RAW-electrons-000000.h5", time=0, iteration=0,
                  tags=tags, p=p[0], with_tag=False)
    assert_failed(capsys, out_dir, ["convert", root, "--out", out_dir / "p.nc"], f, "no 'tag'")


def test_convert_counts_differ_without_matching_ids(capsys, tmp_path, out_dir):
    tags, p = osiris_truth(n=10, nt=2)
    folder = tmp_path / "run" / "MS" / "RAW" / "electrons"
    write_raw(folder / "RAW-electrons-000000.h5", time=0, iteration=0, tags=tags, p=p[0])
    moved = tags[:7].copy()
    moved[:, 1] += 500
    f = write_raw(folder / "RAW-electrons-000001.h5", time=1, iteration=1, tags=moved, p=p[1][:7])
    assert_failed(capsys, out_dir, ["convert", tmp_path / "run", "--out", out_dir / "p.nc"], f,
                  "no particle id is common", "10 particles", "7 in this one")
    rng = np.random.default_rng(0)
    pattern = write_openpmd(tmp_path / "o" / "d_%T.h5", times=[0, 1], ids=None, with_id=False,
                            p_si=[rng.normal(0, 1e-24, (10, 3)), rng.normal(0, 1e-24, (8, 3))])
    assert_failed(capsys, out_dir, ["convert", pattern, "--out", out_dir / "o.nc"], tmp_path / "o",
                  "no 'id' record", "counts differ")


def test_convert_refcode_missing_frames(capsys, refcode_dir, out_dir):
    root, _ = refcode_dir
    (root / "normal_-2_0" / "f" / "000006.npy").unlink()
    assert_failed(capsys, out_dir, ["convert", root, "--out", out_dir / "ps.nc"],
                  root / "normal_-2_0" / "f", "missing frame", "000006.npy")


@pytest.mark.parametrize("text, words", [
    ("dt: 0.5\n  i_start: : 5\n", ("not valid YAML",)),
    ("dt: 0.5\nn_bins: 11\nt_start: 2.5\nv_range: [-5, 5, -5, 5]\nv_range_units: v\n",
     ("missing 'i_start'",)),
    ("dt: -1\ni_start: 5\nn_bins: 11\nt_start: 2.5\nv_range: [-5, 5, -5, 5]\nv_range_units: v\n",
     ("'dt'", "positive")),
    ("dt: 0.5\ni_start: 5\nn_bins: 11\nt_start: 2.5\nv_range: [5, -5, -5, 5]\nv_range_units: v\n",
     ("'v_range'",)),
])
def test_convert_refcode_malformed_args_yaml(capsys, refcode_dir, out_dir, text, words):
    root, _ = refcode_dir
    args = root / "ring_1.0" / "f" / "args.yaml"
    args.write_text(text)
    assert_failed(capsys, out_dir, ["convert", root, "--out", out_dir / "ps.nc"], args,
                  "malformed args.yaml", *words)


def test_convert_failure_keeps_existing_output(capsys, refcode_dir, out_dir):
    root, _ = refcode_dir
    old = out_dir / "ps.nc"
    old.write_bytes(b"previous result")
    (root / "ring_1.0" / "f" / "args.yaml").write_text("[unclosed")
    assert_failed(capsys, out_dir, ["convert", root, "--out", old], root / "ring_1.0" / "f" / "args.yaml",
                  "not valid YAML")
    assert old.read_bytes() == b"previous result"


def test_convert_bad_command_lines(capsys, refcode_dir, tmp_path, out_dir):
    assert_failed(capsys, out_dir, ["convert", tmp_path / "nope", "--out", out_dir / "x.nc"],
                  tmp_path / "nope", "no such file")
    assert_failed(capsys, out_dir, ["convert", refcode_dir[0], "--out", out_dir / "x.nc",
                                    "--species", "e"], refcode_dir[0], "--species")
    assert_failed(capsys, out_dir, ["convert", refcode_dir[0], "--out", tmp_path / "no" / "x.nc"],
                  tmp_path / "no" / "x.nc", "does not exist")
    code, _, err = run_cli(capsys, "convert", refcode_dir[0], "--out", out_dir / "x.nc", "--format", "vtk")
    assert code == 2 and "invalid choice" in err and err.count("\n") == 1
