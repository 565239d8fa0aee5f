"""Readers of foreign formats (:mod:`collop.io.osiris`, :mod:`collop.io.openpmd`,
:mod:`collop.io.refcode`) and :func:`collop.io.convert`, on small synthetic inputs
written in each layout."""
from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from synth_inputs import (C, M_E, assert_one_line_naming, osiris_truth, refcode_counts, write_openpmd,
                          write_raw, write_refcode_population)

from collop.io import (ReaderError, ReaderWarning, convert, detect_format, open_dataset,
                       read_openpmd, read_osiris, read_refcode)
from collop.schema import SchemaError, validate


def _ids(tags):
    return (np.abs(tags[:, 0]).astype(np.int64) << 32) | tags[:, 1].astype(np.int64)


# --- OSIRIS ---------------------------------------------------------------------------------

def test_osiris_run_matches_tags_across_shuffled_dumps(osiris_run):
    root, tags, p = osiris_run
    ds = read_osiris(root)
    validate(ds, "particles")
    assert ds.attrs["velocity_units"] == "m_e c"
    assert ds.attrs["time_units"] == "1 / \\omega_p"
    np.testing.assert_allclose(ds["time"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(ds["iteration"], [0, 10, 20])
    assert list(ds["component"].values) == ["x", "y", "z"]
    ids = _ids(tags)
    order = np.argsort(ids)
    np.testing.assert_array_equal(ds["particle"], ids[order])
    np.testing.assert_array_equal(ds["tag_node"], tags[order, 0])
    np.testing.assert_array_equal(ds["tag_id"], tags[order, 1])
    # every particle keeps its own momenta at every time
    np.testing.assert_array_equal(ds["v"].values, p[:, order, :])


def test_osiris_species_folder_file_and_components(osiris_run, tmp_path):
    root, tags, p = osiris_run
    folder = root / "MS" / "RAW" / "electrons"
    a = read_osiris(folder, components=2)
    assert list(a["component"].values) == ["x", "y"]
    one = read_osiris(folder / "RAW-electrons-000001.h5")
    assert one.sizes["time"] == 1 and float(one["time"][0]) == 0.5
    ids = _ids(tags)
    np.testing.assert_array_equal(one["v"].values[0], p[1][np.argsort(ids)])


def test_osiris_as_velocity(osiris_run):
    root, tags, p = osiris_run
    ds = read_osiris(root, as_velocity=True)
    assert ds.attrs["velocity_units"] == "c"
    order = np.argsort(_ids(tags))
    u = p[:, order, :].astype(np.float64)
    np.testing.assert_allclose(ds["v"].values, u / np.sqrt(1 + (u ** 2).sum(-1, keepdims=True)),
                               rtol=1e-6)


def test_osiris_particle_missing_in_a_dump_is_dropped(tmp_path):
    tags, p = osiris_truth(n=20)
    folder = tmp_path / "MS" / "RAW" / "e"
    for k in range(3):
        keep = np.arange(20) != 7 if k == 1 else np.ones(20, bool)  # particle 7 left in dump 1
        write_raw(folder / f"RAW-e-{k:06d}.h5", time=k, iteration=k, tags=tags[keep], p=p[k][keep],
                  species="e", per_dataset_units=True)
    with pytest.warns(ReaderWarning, match="kept the 19 particles"):
        ds = read_osiris(tmp_path)
    ids = _ids(tags)
    assert ids[7] not in ds["particle"].values and ds.sizes["particle"] == 19
    keep = np.sort(ids[np.arange(20) != 7])
    sel = np.searchsorted(np.sort(ids), keep)
    np.testing.assert_array_equal(ds["v"].values, p[:, np.argsort(ids)][:, sel])


def test_osiris_several_species_need_a_choice(osiris_run):
    root, tags, p = osiris_run
    write_raw(root / "MS" / "RAW" / "ions" / "RAW-ions-000000.h5", time=0, iteration=0,
              tags=tags, p=p[0], species="ions")
    with pytest.raises(ReaderError) as e:
        read_osiris(root)
    assert_one_line_naming(e, root, "several species", "electrons", "ions")
    assert read_osiris(root, "ions").sizes["time"] == 1
    with pytest.raises(ReaderError, match="no species 'muons'; found electrons, ions"):
        read_osiris(root, "muons")


def test_osiris_truncated_dump(osiris_run):
    root, _, _ = osiris_run
    f = root / "MS" / "RAW" / "electrons" / "RAW-electrons-000002.h5"
    f.write_bytes(f.read_bytes()[:1500])
    with pytest.raises(ReaderError) as e:
        read_osiris(root)
    assert_one_line_naming(e, f, "truncated")


def test_osiris_foreign_hdf5(tmp_path):
    f = tmp_path / "RAW-electrons-000000.h5"
    with h5py.File(f, "w") as h:
        h["density"] = np.zeros((4, 4))
    with pytest.raises(ReaderError) as e:
        read_osiris(f)
    assert_one_line_naming(e, f, "not an OSIRIS RAW file")
    g = tmp_path / "RAW-electrons-000001.h5"
    g.write_text("not hdf5 at all")
    with pytest.raises(ReaderError) as e:
        read_osiris(g)
    assert_one_line_naming(e, g, "not an HDF5 file")


def test_osiris_missing_tag(osiris_run):
    root, tags, p = osiris_run
    f = root / "MS" / "RAW" / "electrons" / "RAW-electrons-000001.h5"
    write_raw(f, time=0.5, iteration=10, tags=tags, p=p[1], with_tag=False)
    with pytest.raises(ReaderError) as e:
        read_osiris(root)
    assert_one_line_naming(e, f, "no 'tag' dataset", "add_tag")


def test_osiris_counts_differ_without_matching_tags(tmp_path):
    tags, p = osiris_truth(n=10)
    folder = tmp_path / "MS" / "RAW" / "electrons"
    write_raw(folder / "RAW-electrons-000000.h5", time=0, iteration=0, tags=tags, p=p[0])
    other = tags[:8].copy()
    other[:, 1] += 1000  # 8 particles, none with a tag of the first dump
    f = folder / "RAW-electrons-000001.h5"
    write_raw(f, time=1, iteration=1, tags=other, p=p[1][:8])
    with pytest.raises(ReaderError) as e:
        read_osiris(tmp_path)
    assert_one_line_naming(e, f, "no particle id is common", "10 particles", "8 in this one")


def test_osiris_repeated_tag_and_time(tmp_path):
    tags, p = osiris_truth(n=6)
    folder = tmp_path / "MS" / "RAW" / "electrons"
    bad = tags.copy()
    bad[1] = bad[0]
    f = write_raw(folder / "RAW-electrons-000000.h5", time=0, iteration=0, tags=bad, p=p[0])
    with pytest.raises(ReaderError) as e:
        read_osiris(tmp_path)
    assert_one_line_naming(e, f, "repeated particle id")
    write_raw(f, time=0, iteration=0, tags=tags, p=p[0])
    g = write_raw(folder / "RAW-electrons-000001.h5", time=0, iteration=1, tags=tags, p=p[1])
    with pytest.raises(ReaderError) as e:
        read_osiris(tmp_path)
    assert_one_line_naming(e, g, "same TIME")


# --- openPMD --------------------------------------------------------------------------------

def _opmd_truth(n=25, nt=3, seed=0):
    rng = np.random.default_rng(seed)
    ids = [rng.permutation(n) + 100 for _ in range(nt)]
    base = rng.normal(0, 0.05 * M_E * C, (n, 3))  # momenta of particle id 100 + j
    base[0] = [0.9 * M_E * C, 0, 0]  # one relativistic particle: gamma matters
    p = [base[i - 100] * (1 + 0.1 * k) for k, i in enumerate(ids)]
    return ids, p, base


def _velocity(p_si):
    gamma = np.sqrt(1 + (p_si ** 2).sum(-1, keepdims=True) / (M_E * C) ** 2)
    return p_si / (gamma * M_E)


def test_openpmd_series_velocities_ids_times(tmp_path):
    ids, p, base = _opmd_truth()
    pattern = write_openpmd(tmp_path / "diags" / "openpmd_%06T.h5", times=[0.0, 2.0, 4.0], ids=ids,
                            p_si=p, unit_si=M_E * C)
    for src in (pattern, tmp_path / "diags", str(tmp_path / "diags" / "openpmd_%T.h5")):
        ds = read_openpmd(src)
        validate(ds, "particles")
        assert ds.attrs["velocity_units"] == "m/s" and ds.attrs["time_units"] == "s"
        np.testing.assert_allclose(ds["time"], [0.0, 2e-15, 4e-15])
        np.testing.assert_array_equal(ds["iteration"], [0, 100, 200])
        np.testing.assert_array_equal(ds["particle"], np.arange(100, 125))
        want = np.stack([_velocity(base * (1 + 0.1 * k)) for k in range(3)])
        np.testing.assert_allclose(ds["v"].values, want, rtol=1e-6)
    assert float(ds["v"].sel(particle=100, component="x")[0]) == pytest.approx(
        0.9 / np.sqrt(1 + 0.81) * C, rel=1e-6)
    one = read_openpmd(tmp_path / "diags" / "openpmd_000100.h5")
    assert one.sizes["time"] == 1 and int(one["iteration"][0]) == 100


def test_openpmd_species_choice(tmp_path):
    ids, p, _ = _opmd_truth(nt=2)
    pattern = write_openpmd(tmp_path / "d_%T.h5", times=[0, 1], ids=ids, p_si=p,
                            species=("electrons", "positrons"))
    with pytest.raises(ReaderError) as e:
        read_openpmd(pattern)
    assert_one_line_naming(e, pattern, "several particle species", "--species")
    assert read_openpmd(pattern, "positrons").attrs["openpmd_species"] == "positrons"
    with pytest.raises(ReaderError, match="no particle species 'ions'"):
        read_openpmd(pattern, "ions")


def test_openpmd_without_id(tmp_path):
    ids, p, _ = _opmd_truth(nt=2)
    same = write_openpmd(tmp_path / "a" / "d_%T.h5", times=[0, 1], ids=ids, p_si=p, with_id=False)
    with pytest.warns(ReaderWarning, match="no 'id' record"):
        ds = read_openpmd(same)
    np.testing.assert_array_equal(ds["particle"], np.arange(25))
    np.testing.assert_allclose(ds["v"].values[1], _velocity(p[1]), rtol=1e-6)
    differ = write_openpmd(tmp_path / "b" / "d_%T.h5", times=[0, 1], ids=ids,
                           p_si=[p[0], p[1][:20]], with_id=False)
    with pytest.raises(ReaderError) as e:
        read_openpmd(differ)
    assert_one_line_naming(e, tmp_path / "b", "no 'id' record", "counts differ", "25", "20")


def test_openpmd_ids_matched_and_missing_dropped(tmp_path):
    ids, p, base = _opmd_truth(nt=2)
    keep = ids[1] != 110
    pattern = write_openpmd(tmp_path / "d_%T.h5", times=[0, 1], ids=[ids[0], ids[1][keep]],
                            p_si=[p[0], p[1][keep]])
    with pytest.warns(ReaderWarning, match="kept the 24 particles"):
        ds = read_openpmd(pattern)
    assert 110 not in ds["particle"].values
    np.testing.assert_allclose(ds["v"].sel(particle=111).values[1], _velocity(base[11] * 1.1), rtol=1e-6)


def test_openpmd_without_mass_keeps_momentum(tmp_path):
    ids, p, _ = _opmd_truth(nt=1)
    pattern = write_openpmd(tmp_path / "d_%T.h5", times=[0], ids=ids, p_si=p, mass=None)
    with pytest.warns(ReaderWarning, match="no 'mass' record"):
        ds = read_openpmd(pattern)
    assert ds.attrs["velocity_units"] == "kg m/s"
    np.testing.assert_allclose(ds["v"].values[0], p[0][np.argsort(ids[0])], rtol=1e-6)


def test_openpmd_truncated_and_foreign(tmp_path):
    ids, p, _ = _opmd_truth(nt=2)
    write_openpmd(tmp_path / "s" / "d_%T.h5", times=[0, 1], ids=ids, p_si=p)
    f = tmp_path / "s" / "d_100.h5"
    f.write_bytes(f.read_bytes()[:2000])
    with pytest.raises(ReaderError) as e:
        read_openpmd(tmp_path / "s" / "d_%T.h5")
    assert_one_line_naming(e, f, "truncated")
    g = tmp_path / "foreign.h5"
    with h5py.File(g, "w") as h:
        h["x"] = np.arange(3)
    with pytest.raises(ReaderError) as e:
        read_openpmd(g)
    assert_one_line_naming(e, g, "not openPMD")


# --- reference code -------------------------------------------------------------------------

def test_refcode_folder_to_density(refcode_dir):
    root, counts = refcode_dir
    ds = read_refcode(root)
    validate(ds, "phasespace")
    assert list(ds["population"].values) == ["normal_-2_0", "ring_1.0"]
    assert ds.attrs["velocity_units"] == "v_th" and ds.attrs["time_units"] == "1/omega_p"
    np.testing.assert_allclose(ds["time"], 2.5 + 0.5 * np.arange(4))
    np.testing.assert_array_equal(ds["frame"], [5, 6, 7, 8])
    edges = np.linspace(-5, 5, 12)
    np.testing.assert_allclose(ds["vx"], 0.5 * (edges[1:] + edges[:-1]))
    np.testing.assert_allclose(ds["vy"], ds["vx"])
    dv = 10 / 11
    for name, c in counts.items():
        n0 = c[0].sum()
        assert int(ds["n_particles"].sel(population=name)) == n0
        f = ds["f"].sel(population=name).values
        np.testing.assert_allclose(f, c / (n0 * dv * dv), rtol=1e-6)
        # data contract: sum(f) dv^2 = fraction of the particles inside the grid
        np.testing.assert_allclose(f.sum((1, 2)) * dv * dv, c.sum((1, 2)) / n0, rtol=1e-5)
        assert f[0].sum() * dv * dv == pytest.approx(1.0, rel=1e-5)
    assert ds.attrs["velocity_unit_in_c"] == pytest.approx(0.01)


def test_refcode_axis_order_and_single_population(tmp_path):
    c = np.zeros((2, 5, 5), dtype=np.int64)
    c[:, 4, 0] = 10  # vx high, vy low
    pop = write_refcode_population(tmp_path / "normal_2_-2", c, i_start=0, t_start=0.0, dt=1.0,
                                   v_range=(-5.0, 5.0, -5.0, 5.0))
    for src in (pop, pop / "f"):
        ds = read_refcode(src)
        assert list(ds["population"].values) == ["normal_2_-2"]
        ix, iy = np.unravel_index(int(np.argmax(ds["f"].values[0, 0])), (5, 5))
        assert float(ds["vx"][ix]) == 4.0 and float(ds["vy"][iy]) == -4.0


def test_refcode_args_yaml_at_top_level(tmp_path):
    root = tmp_path / "dataset"
    write_refcode_population(root / "ring_0.5", refcode_counts(nt=3), args_in="top")
    write_refcode_population(root / "ring_1.5", refcode_counts(nt=3, seed=2), args_in=None)
    ds = read_refcode(root)
    assert ds.sizes["population"] == 2 and ds.sizes["time"] == 3


def test_refcode_i_end_limits_frames(tmp_path):
    c = refcode_counts(nt=5)
    pop = write_refcode_population(tmp_path / "ds" / "a", c)
    text = (pop / "f" / "args.yaml").read_text().replace("i_end: -1", "i_end: 8")
    (pop / "f" / "args.yaml").write_text(text)
    ds = read_refcode(tmp_path / "ds")
    np.testing.assert_array_equal(ds["frame"], [5, 6, 7])


@pytest.mark.parametrize("population, frame", [("ring_1.0", "000007.npy"),      # a frame inside the record
                                               ("normal_-2_0", "000005.npy")])  # the first frame
def test_refcode_missing_frame(refcode_dir, population, frame):
    root, _ = refcode_dir
    (root / population / "f" / frame).unlink()
    with pytest.raises(ReaderError) as e:
        read_refcode(root)
    assert_one_line_naming(e, root / population / "f", "missing frame", frame)


@pytest.mark.parametrize("text, words", [
    ("dt: [0.5\ni_start: 5\n", ("not valid YAML",)),
    ("- just\n- a list\n", ("expected a mapping",)),
    ("dt: 0.5\ni_start: 5\nn_bins: 11\nt_start: 2.5\nv_range_units: '[v_th]'\n", ("missing 'v_range'",)),
    ("dt: fast\ni_start: 5\nn_bins: 11\nt_start: 2.5\nv_range: [-5, 5, -5, 5]\nv_range_units: v\n",
     ("'dt'", "expected a number")),
    ("dt: 0.5\ni_start: 5\nn_bins: 11\nt_start: 2.5\nv_range: [-5, 5]\nv_range_units: v\n",
     ("'v_range'", "4 numbers")),
    ("dt: 0.5\ni_start: 5\nn_bins: 12\nt_start: 2.5\nv_range: [-5, 5, -5, 5]\nv_range_units: v\n",
     ("shape",)),
])
def test_refcode_malformed_args_yaml(refcode_dir, text, words):
    root, _ = refcode_dir
    args = root / "normal_-2_0" / "f" / "args.yaml"
    args.write_text(text)
    with pytest.raises(ReaderError) as e:
        read_refcode(root)
    where = root / "normal_-2_0" / "f" if words == ("shape",) else args
    assert_one_line_naming(e, where, *words)


def test_refcode_populations_must_agree(refcode_dir):
    root, _ = refcode_dir
    args = root / "ring_1.0" / "f" / "args.yaml"
    args.write_text(args.read_text().replace("dt: 0.5", "dt: 0.25"))
    with pytest.raises(ReaderError) as e:
        read_refcode(root)
    assert_one_line_naming(e, args, "dt 0.25 differs")


# --- detection and convert ------------------------------------------------------------------

def test_detect_format(osiris_run, refcode_dir, tmp_path):
    root, _, _ = osiris_run
    assert detect_format(root) == "osiris"
    assert detect_format(root / "MS" / "RAW" / "electrons") == "osiris"
    assert detect_format(root / "MS" / "RAW" / "electrons" / "RAW-electrons-000000.h5") == "osiris"
    assert detect_format(refcode_dir[0]) == "refcode"
    ids, p, _ = _opmd_truth(nt=1)
    pattern = write_openpmd(tmp_path / "o" / "x_%T.h5", times=[0], ids=ids, p_si=p)
    assert detect_format(pattern) == "openpmd"
    assert detect_format(tmp_path / "o") == "openpmd"
    assert detect_format(tmp_path / "o" / "x_0.h5") == "openpmd"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReaderError, match="unknown format"):
        detect_format(tmp_path / "empty")
    with pytest.raises(ReaderError, match="no such file"):
        detect_format(tmp_path / "nope")


def test_convert_writes_valid_files(osiris_run, refcode_dir, tmp_path):
    root, tags, p = osiris_run
    out = tmp_path / "parts.nc"
    convert(root, out)
    back = open_dataset(out, "particles")
    np.testing.assert_array_equal(back["v"].values, p[:, np.argsort(_ids(tags))])
    np.testing.assert_array_equal(back["tag_node"], np.sort(_ids(tags)) >> 32)
    out2 = tmp_path / "ps.nc"
    convert(refcode_dir[0], out2, "refcode")
    assert open_dataset(out2, "phasespace").sizes["population"] == 2


def test_convert_failure_leaves_nothing(refcode_dir, tmp_path):
    root, _ = refcode_dir
    shutil.rmtree(root / "ring_1.0" / "f")
    (root / "ring_1.0" / "f").mkdir()
    np.save(root / "ring_1.0" / "f" / "000006.npy", np.zeros((11, 11)))
    (root / "ring_1.0" / "f" / "args.yaml").write_text((root / "normal_-2_0" / "f" / "args.yaml").read_text())
    out = tmp_path / "out" / "ps.nc"
    out.parent.mkdir()
    with pytest.raises(SchemaError):
        convert(root, out)
    assert list(out.parent.iterdir()) == []
