"""Writers of small synthetic inputs in each foreign layout (OSIRIS RAW, openPMD, reference code),
and the check of a reader's one-line error.

Imported by ``conftest.py`` (fixtures) and the tests of ``tests/io``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

M_E = 9.1093837e-31  # kg
C = 299_792_458.0  # m/s


def write_raw(path, *, time, iteration, tags, p, species="electrons", with_tag=True,
              per_dataset_units=False):
    """One OSIRIS RAW dump as OSIRIS 4 writes it: attributes are 1-element arrays of bytes."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = p.shape[0]
    quants = ["x1", "x2", "p1", "p2", "p3", "q", "ene"] + (["tag"] if with_tag else [])
    units = ["c / \\omega_p", "c / \\omega_p", "m_e c", "m_e c", "m_e c", "e", "m_e c^2"] + \
        ([""] if with_tag else [])
    with h5py.File(path, "w") as f:
        f.attrs["NAME"] = np.array([species.encode()])
        f.attrs["TYPE"] = np.array([b"particles"])
        f.attrs["TIME"] = np.array([float(time)])
        f.attrs["ITER"] = np.array([int(iteration)], dtype=np.int32)
        f.attrs["TIME UNITS"] = np.array([b"1 / \\omega_p"])
        f.attrs["QUANTS"] = np.array([q.encode() for q in quants])
        f.attrs["UNITS"] = np.array([u.encode() for u in units])
        f.attrs["LABELS"] = np.array([q.encode() for q in quants])
        sim = f.create_group("SIMULATION")
        sim.attrs["DT"] = np.array([0.05])
        sim.attrs["NDIMS"] = np.array([2], dtype=np.int32)
        sim.attrs["XMIN"] = np.array([0.0, 0.0])
        sim.attrs["XMAX"] = np.array([10.0, 10.0])
        rng = np.random.default_rng(int(iteration))
        f["x1"] = rng.uniform(0, 10, n).astype(np.float32)
        f["x2"] = rng.uniform(0, 10, n).astype(np.float32)
        for k, name in enumerate(("p1", "p2", "p3")):
            f[name] = p[:, k].astype(np.float32)
            if per_dataset_units:
                f[name].attrs["UNITS"] = np.array([b"m_e c"])
        f["q"] = -np.ones(n, dtype=np.float32)
        f["ene"] = (np.sqrt(1 + (p ** 2).sum(1)) - 1).astype(np.float32)
        if with_tag:
            f["tag"] = np.asarray(tags, dtype=np.int32)
    return path


def osiris_truth(n=40, nt=3, seed=0):
    """Tags ``(node, id)`` and momenta ``p[time, particle, 3]`` of ``n`` particles."""
    rng = np.random.default_rng(seed)
    tags = np.stack([rng.integers(1, 4, n), np.arange(1, n + 1)], axis=1)
    p = rng.normal(0, 0.02, (nt, n, 3)).astype(np.float32)
    return tags, p


def write_openpmd(pattern, *, times, ids, p_si, species=("electrons",), with_id=True,
                  mass=M_E, time_unit_si=1e-15, unit_si=1.0):
    """A file-based openPMD series; ``p_si[k]`` are the momenta (kg m/s) of iteration k."""
    import openpmd_api as io

    s = io.Series(str(pattern), io.Access.create)
    for k, t in enumerate(times):
        it = s.iterations[100 * k]
        it.time = float(t)
        it.dt = 1.0
        it.time_unit_SI = time_unit_si
        for name in species:
            sp = it.particles[name]
            mom = sp["momentum"]
            mom.unit_dimension = {io.Unit_Dimension.L: 1, io.Unit_Dimension.M: 1,
                                  io.Unit_Dimension.T: -1}
            pk = np.ascontiguousarray(p_si[k] / unit_si, dtype=np.float64)
            for c, comp in enumerate("xyz"):
                a = np.ascontiguousarray(pk[:, c])
                rc = mom[comp]
                rc.reset_dataset(io.Dataset(a.dtype, a.shape))
                rc.store_chunk(a)
                rc.unit_SI = unit_si
            if with_id:
                idk = np.ascontiguousarray(ids[k], dtype=np.uint64)
                rid = sp["id"][io.Record_Component.SCALAR]
                rid.reset_dataset(io.Dataset(idk.dtype, idk.shape))
                rid.store_chunk(idk)
            if mass is not None:
                m = sp["mass"][io.Record_Component.SCALAR]
                m.reset_dataset(io.Dataset(np.dtype("float64"), [pk.shape[0]]))
                m.make_constant(float(mass))
                sp["mass"].unit_dimension = {io.Unit_Dimension.M: 1}
            s.flush()
        it.close()
    s.close()
    return str(pattern)


def write_refcode_population(folder, counts, *, i_start=5, dt=0.5, t_start=2.5, n_bins=None,
                             v_range=(-5.0, 5.0, -5.0, 5.0), args_text=None, args_in="f"):
    """A reference-code population ``folder/f/NNNNNN.npy`` + ``args.yaml`` (in ``f/`` by default)."""
    folder = Path(folder)
    hist = folder / "f"
    hist.mkdir(parents=True, exist_ok=True)
    for k, c in enumerate(counts):
        np.save(hist / f"{i_start + k:06d}.npy", np.asarray(c))
    nb = n_bins if n_bins is not None else np.asarray(counts[0]).shape[0]
    if args_text is None:
        args_text = (f"dt: {dt}\nfdist_name: {folder.name}\nfdist_subname: f\nfps: 15\ni_end: -1\n"
                     f"i_start: {i_start}\nindex: 0\nn_bins: {nb}\nt_start: {t_start}\nv_max: 5.0\n"
                     f"v_max_c: 0.05\nv_range:\n" + "".join(f"- {v}\n" for v in v_range)
                     + "v_range_c:\n- -0.05\n- 0.05\n- -0.05\n- 0.05\nv_range_c_units: '[c]'\n"
                     "v_range_units: '[v_th]'\n")
    if args_in is not None:
        (hist if args_in == "f" else folder.parent if args_in == "top" else folder).joinpath(
            "args.yaml").write_text(args_text)
    return folder


def refcode_counts(nt=4, nb=11, seed=0, n=2000):
    """Raw-count histograms (nt, nb, nb) of ``n`` particles drifting out of the grid."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(nt):
        v = rng.normal(0.0, 1.5 + 0.5 * k, (n, 2))
        h, _, _ = np.histogram2d(v[:, 0], v[:, 1], bins=nb, range=[[-5, 5], [-5, 5]])
        out.append(h.astype(np.int64))
    return np.stack(out)


def assert_one_line_naming(exc_info, path, *words):
    """The error of ``exc_info`` is one line that names ``path`` and holds every word (any case)."""
    msg = str(exc_info.value)
    assert "\n" not in msg
    assert str(path) in msg, msg
    for w in words:
        assert w.lower() in msg.lower(), msg
