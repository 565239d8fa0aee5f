"""Run a PIC configuration and write (stream) its particles dataset."""
from __future__ import annotations

import time as _time
from pathlib import Path

import numpy as np

from ...datasets import particles_dataset
from ...moments import component_kurtosis
from ...schema import CollopError
from .engine import PIC, PICConfig, PICError

__all__ = ["generate", "kurtosis", "VELOCITY_UNITS", "TIME_UNITS"]

VELOCITY_UNITS = "0.01c"
"""``v_th`` of the normalisation, identified with the paper's 0.01c (waterbag radius 2)."""
TIME_UNITS = "1/omega_p"


def kurtosis(v):
    """Kurtosis ``<(v_i - <v_i>)^4> / <(v_i - <v_i>)^2>^2`` of each component.

    ``v`` (..., N, C) -> (..., C). A 2D Maxwellian has 3 per component, the
    isotropic waterbag (paper eq. 7) 2. Frames are reduced one at a time (one
    float64 copy of a frame, not of the whole record).
    """
    v = np.asarray(v)
    if v.ndim > 2:
        return np.stack([kurtosis(x) for x in v])
    return component_kurtosis(v, axis=0)


def _attrs(cfg: PICConfig, backend, device, seconds=None):
    a = {"generator": "collop.sim.pic.generate", "preset": cfg.name, "seed": int(cfg.seed),
         "backend": backend, "device": str(device),
         "normalisation": "time 1/omega_p, length lambda_D = v_th/omega_p, velocity v_th "
                          "(= 0.01c of the paper; waterbag radius v_w = 2 v_th), energy per area "
                          "n0 m v_th^2, momentum per particle m v_th",
         **cfg.as_attrs()}
    if seconds is not None:
        a["wall_seconds"] = float(seconds)
    return a


def _diag_vars(diag):
    t = np.array([d["time"] for d in diag])
    out = {name: (("step_time",), np.array([d[key] for d in diag]),
                  {"units": "n0 m v_th^2 per lambda_D^2", "long_name": long})
           for name, key, long in (("kinetic_energy", "kinetic", "kinetic energy per unit area"),
                                   ("field_energy", "field", "electrostatic energy per unit area"),
                                   ("total_energy", "total", "total energy per unit area"))}
    out["momentum"] = (("step_time", "component"), np.array([d["momentum"] for d in diag]),
                       {"units": "m v_th", "long_name": "mean momentum per particle"})
    return t, out


def generate(cfg: PICConfig, out=None, *, device: str = "cpu", backend: str = "auto",
             progress: bool = False, compress: int | None = None, initial=None,
             chunk_particles: int = 1 << 18):
    """Run ``cfg`` and return (``out=None``) or write its ``particles`` dataset.

    Parameters
    ----------
    cfg : PICConfig
        The run (units: :class:`PICConfig`).
    out : path-like, optional
        Output netCDF file. Frames are streamed into a temporary file beside it
        as they are produced, renamed to ``out`` at the end; on any error or an
        interrupt nothing is left at ``out``. Without ``out`` the dataset is
        built in memory (small runs and tests).
    device : str
        ``"cpu"`` or ``"cuda"``.
    backend : {"auto", "numba", "torch"}
        Particle kernels (see :class:`~collop.sim.pic.engine.PIC`).
    progress : bool
        tqdm progress bar over the steps.
    compress : int, optional
        gzip level for ``v`` (None: uncompressed; particle velocities barely compress).
    initial : tuple of 4 arrays, optional
        ``(x, y, vx, vy)`` replacing the sampled initial state.
    chunk_particles : int
        HDF5 chunk length along ``particle`` (one frame per chunk).

    Returns
    -------
    xarray.Dataset or pathlib.Path
        A ``particles`` dataset: ``v(time, particle, component)`` float32 in
        ``0.01c`` (= ``v_th``) at the dump times (``1/omega_p``), particle ids
        ``0..N-1`` (stable), ``kurtosis(time, component)`` of the velocities and
        per-step diagnostics on ``step_time``: ``kinetic_energy``,
        ``field_energy``, ``total_energy``, ``momentum(step_time, component)``;
        the configuration in ``attrs`` (``pic_*``).
    """
    if not isinstance(cfg, PICConfig):
        raise PICError(f"cfg must be a PICConfig, got {type(cfg).__name__}")
    kw = dict(zip(("x", "y", "vx", "vy"), initial)) if initial is not None else {}
    sim = PIC(cfg, device=device, backend=backend, **kw)
    N, nf, every = cfg.n_particles, cfg.n_frames, cfg.dump_every
    times = np.arange(nf) * every * cfg.dt
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.n_steps, desc=f"pic {cfg.name}", unit="step", unit_scale=True)
    diag, kurt = [], np.zeros((nf, 2))
    t_start = _time.perf_counter()

    def frames(write):
        for k in range(cfg.n_steps + 1):
            d, v = sim.step(dump=(k % every == 0))
            diag.append(d)
            if v is not None:
                f = k // every
                kurt[f] = kurtosis(v)
                write(f, v)
            if bar is not None:
                bar.update(1 if k < cfg.n_steps else 0)

    try:
        if out is None:
            vv = np.empty((nf, N, 2), dtype=np.float32)

            def write(f, v):
                vv[f] = v
            frames(write)
            seconds = _time.perf_counter() - t_start
            ds = particles_dataset(vv, times, velocity_units=VELOCITY_UNITS, time_units=TIME_UNITS,
                                   source=f"collop.sim.pic:{cfg.name}",
                                   attrs=_attrs(cfg, sim.backend, sim.device, seconds))
            st, dv = _diag_vars(diag)
            ds = ds.assign_coords(step_time=st)
            for k, val in dv.items():
                ds[k] = val
            ds["kurtosis"] = (("time", "component"), kurt)
            return ds
        return _stream(cfg, Path(out), sim, times, frames, diag, kurt, compress, chunk_particles,
                       t_start)
    finally:
        if bar is not None:
            bar.close()


def _stream(cfg, out, sim, times, frames, diag, kurt, compress, chunk_particles, t_start):
    import h5netcdf
    import h5py

    from ...io import atomic_path, open_dataset

    if out.is_dir():
        raise CollopError(f"{out}: is a folder, expected a file name")
    if not out.absolute().parent.is_dir():
        raise CollopError(f"{out}: folder {out.absolute().parent} does not exist")
    N, nf = cfg.n_particles, len(times)
    with atomic_path(out) as tmp:
        with h5netcdf.File(tmp, "w") as fh:
            fh.dimensions = {"time": nf, "particle": N, "component": 2}
            fh.create_variable("time", ("time",), "f8", data=times)
            fh.create_variable("particle", ("particle",), "i8", data=np.arange(N, dtype=np.int64))
            fh.create_variable("component", ("component",), data=np.array(["x", "y"], dtype=object),
                               dtype=h5py.string_dtype())
            opts = {"compression": "gzip", "compression_opts": int(compress), "shuffle": True} \
                if compress else {}
            var = fh.create_variable("v", ("time", "particle", "component"), "f4",
                                     chunks=(1, min(N, chunk_particles), 2), **opts)
            var.attrs["long_name"] = "particle velocity"
            var.attrs["units"] = VELOCITY_UNITS

            def write(f, v):
                var[f] = v
            frames(write)
            seconds = _time.perf_counter() - t_start
            st, dv = _diag_vars(diag)
            fh.dimensions["step_time"] = len(st)
            fh.create_variable("step_time", ("step_time",), "f8", data=st)
            for name, (dims, data, at) in dv.items():
                v = fh.create_variable(name, dims, "f8", data=data)
                v.attrs.update(at)
            fh.create_variable("kurtosis", ("time", "component"), "f8", data=kurt)
            attrs = {"collop_kind": "particles", "velocity_units": VELOCITY_UNITS,
                     "time_units": TIME_UNITS, "source": f"collop.sim.pic:{cfg.name}",
                     **_attrs(cfg, sim.backend, sim.device, seconds)}
            for k, val in attrs.items():
                fh.attrs[k] = val
        open_dataset(tmp, "particles", load=False, check_values=False).close()
    return out
